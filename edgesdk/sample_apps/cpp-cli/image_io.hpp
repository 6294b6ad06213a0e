// PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit RGB, matching Pillow's
// Image.open(path).convert("RGB"): gray is replicated, alpha and transparency are dropped,
// 16-bit RGB keeps the high byte and 16-bit gray is clipped to 255. EXIF orientation is ignored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct DecodedImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3, rows packed
};

// Returns false and sets `error` when the file cannot be read or is not a PNG/JPEG.
bool decode_image(const std::string& path, DecodedImage& image, std::string& error);
