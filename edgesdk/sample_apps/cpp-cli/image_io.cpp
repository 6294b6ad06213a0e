#include "image_io.hpp"

#include <jpeglib.h>
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

namespace {

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

bool decode_png(std::FILE* file, DecodedImage& image, std::string& error) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    error = "out of memory";
    return false;
  }
  // libpng reports errors by longjmp: buffers live behind a pointer that is set before setjmp,
  // so their state stays determinate on the error path.
  struct Buffers {
    std::vector<png_bytep> rows;
    std::vector<uint8_t> pixels;
  };
  const auto buffers = std::make_unique<Buffers>();
  std::vector<png_bytep>& rows = buffers->rows;
  std::vector<uint8_t>& pixels = buffers->pixels;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    error = "corrupt PNG";
    return false;
  }
  png_init_io(png, file);
  png_read_info(png, info);
  const png_byte color = png_get_color_type(png, info);
  const png_byte depth = png_get_bit_depth(png, info);
  // Pillow reads 16-bit gray as mode I;16 and clips it to 255 when converting to RGB.
  const bool gray16 = depth == 16 && color == PNG_COLOR_TYPE_GRAY;
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && !gray16) png_set_strip_16(png);
  if (gray16) png_set_swap(png);  // host-order 16-bit samples
  if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const int width = static_cast<int>(png_get_image_width(png, info));
  const int height = static_cast<int>(png_get_image_height(png, info));
  const int channels = png_get_channels(png, info);
  const std::size_t row_bytes = png_get_rowbytes(png, info);
  pixels.resize(row_bytes * height);
  rows.resize(height);
  for (int y = 0; y < height; ++y) rows[y] = pixels.data() + y * row_bytes;
  png_read_image(png, rows.data());
  png_destroy_read_struct(&png, &info, nullptr);

  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<std::size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* out = &image.rgb[(static_cast<std::size_t>(y) * width + x) * 3];
      if (gray16) {
        uint16_t v;
        std::memcpy(&v, rows[y] + 2 * x, 2);
        out[0] = out[1] = out[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
      } else if (channels == 1) {
        out[0] = out[1] = out[2] = rows[y][x];
      } else {
        std::memcpy(out, rows[y] + 3 * x, 3);
      }
    }
  }
  return true;
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Default libjpeg-turbo settings (islow DCT, fancy upsampling) are the ones Pillow uses.
bool decode_jpeg(std::FILE* file, DecodedImage& image, std::string& error) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  const auto line_buffer = std::make_unique<std::vector<uint8_t>>();  // set before setjmp, see decode_png
  std::vector<uint8_t>& line = *line_buffer;
  cinfo.err = jpeg_std_error(&err.manager);
  err.manager.error_exit = jpeg_fail;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    error = std::string("corrupt JPEG: ") + err.message;
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, file);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    error = "CMYK JPEG images are not supported";
    return false;
  }
  const bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  image.rgb.resize(static_cast<std::size_t>(image.width) * image.height * 3);
  line.resize(static_cast<std::size_t>(image.width) * cinfo.output_components);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* out = &image.rgb[static_cast<std::size_t>(cinfo.output_scanline) * image.width * 3];
    JSAMPROW row = line.data();
    jpeg_read_scanlines(&cinfo, &row, 1);
    for (int x = 0; x < image.width; ++x) {
      if (gray) {
        out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = line[x];
      } else {
        std::memcpy(out + 3 * x, &line[3 * x], 3);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

bool decode_image(const std::string& path, DecodedImage& image, std::string& error) {
  File file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    error = "cannot open image " + path;
    return false;
  }
  unsigned char magic[8] = {};
  const std::size_t got = std::fread(magic, 1, sizeof magic, file.get());
  std::rewind(file.get());
  bool ok;
  if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) {
    ok = decode_png(file.get(), image, error);
  } else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
    ok = decode_jpeg(file.get(), image, error);
  } else {
    error = "not a PNG or JPEG file";
    ok = false;
  }
  if (!ok) error = path + ": " + error;
  return ok;
}
