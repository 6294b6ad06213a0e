// PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit RGB, and class-id masks written as PNG.
//
// Decoding to 8-bit RGB, matching Pillow's
// Image.open(path).convert("RGB") pixel for pixel: gray is replicated, alpha and transparency
// (tRNS) are dropped, palettes are looked up, 16-bit samples keep their high byte except 16-bit
// gray, which is clipped to 255. Every PNG colour type, bit depth and interlacing; baseline and
// progressive JPEG, gray or YCbCr/RGB. CMYK JPEG is refused. The EXIF orientation (JPEG APP1, PNG
// eXIf) is reported, not applied: the app passes it to the SDK as rotation + mirror.
//
// The input is untrusted: the declared size is checked against `limits` before anything sized
// by it is allocated, and a truncated or corrupt file is an error (as in Pillow), never a
// partly gray image.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

struct DecodedImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3, rows packed
  int exif_orientation = 1;  // EXIF tag 274, 1..8 (1: upright, also without EXIF or for an unknown value)
};

// The (rotation clockwise, mirror) that turns an image with this EXIF orientation upright
// (docs/processing.md, "Orientation and region of interest"; Pillow's ImageOps.exif_transpose).
struct ExifTurn {
  int rotation;
  bool mirror;
};
ExifTurn exif_turn(int orientation);

// The orientation value (1..8) in a TIFF-structured EXIF block ("II*\0..." or "MM\0*..."), 1
// when it has none or is malformed.
int exif_orientation_of(const unsigned char* tiff, std::size_t size);

// Largest image a file may declare (the SDK's Limits::max_image_side / max_image_pixels).
struct DecodeLimits {
  int max_side;
  int64_t max_pixels;
};

// Returns false and sets `error` (naming the file) when the file cannot be read, is not a
// seekable regular file, is not a PNG/JPEG, is corrupt or truncated, or declares a size over
// `limits`. Throws std::bad_alloc only when memory runs out below the limits.
bool decode_image(const std::string& path, const DecodeLimits& limits, DecodedImage& image, std::string& error);

// The same on an open, seekable stream positioned at the image's first byte (the fuzz harness
// decodes from memory with fmemopen); `error` does not name a file.
bool decode_image_stream(std::FILE* file, const DecodeLimits& limits, DecodedImage& image, std::string& error);

// Writes a class-id mask (row-major, width * height bytes) as an 8-bit PNG: a palette PNG with
// `palette` (one color per class; ids past its end are black) or, without one, gray levels equal
// to the class ids. Returns false and sets `error` (naming the file) when it cannot.
bool write_mask_png(const std::string& path, int width, int height, const std::vector<uint8_t>& ids,
                    const std::vector<std::array<uint8_t, 3>>& palette, std::string& error);
