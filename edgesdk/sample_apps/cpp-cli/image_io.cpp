#include "image_io.hpp"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <sys/stat.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

namespace {

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

// Ancillary chunks (ICC profiles, text) larger than this are refused: their size comes from
// the file, and libpng decompresses them in memory.
constexpr png_alloc_size_t kMaxPngChunkBytes = 8u << 20;
// libjpeg-turbo decodes a progressive file scan by scan; a crafted one with thousands of tiny
// scans would take minutes. Real encoders write fewer than 20.
constexpr int kMaxJpegScans = 1000;

std::string size_text(uint64_t width, uint64_t height) { return std::to_string(width) + "x" + std::to_string(height); }

// The declared size against the limits, before the decoder allocates for it.
bool check_size(uint64_t width, uint64_t height, const DecodeLimits& limits, std::string& error) {
  if (width == 0 || height == 0) return error = "declares an empty image (" + size_text(width, height) + ")", false;
  if (width > static_cast<uint64_t>(limits.max_side) || height > static_cast<uint64_t>(limits.max_side)) {
    error = "declares a " + size_text(width, height) + " image, over the side limit max_image_side = " + std::to_string(limits.max_side);
    return false;
  }
  if (width * height > static_cast<uint64_t>(limits.max_pixels)) {
    error = "declares a " + size_text(width, height) + " image, over the pixel limit max_image_pixels = " + std::to_string(limits.max_pixels);
    return false;
  }
  return true;
}

uint32_t read32(const unsigned char* p, bool little) {
  return little ? (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[0]}
                : (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint32_t read16(const unsigned char* p, bool little) { return little ? (uint32_t{p[1]} << 8) | p[0] : (uint32_t{p[0]} << 8) | p[1]; }

uint32_t big_endian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// libpng reports errors by longjmp; the message is kept in a buffer set before setjmp.
struct PngState {
  char message[200] = "";
};

void png_fail(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

bool decode_png(std::FILE* file, const unsigned char* head, const DecodeLimits& limits, DecodedImage& image, std::string& error) {
  // IHDR is the first chunk: its size is refused here, before libpng allocates anything.
  if (std::memcmp(head + 12, "IHDR", 4) != 0) return error = "corrupt PNG: the first chunk is not IHDR", false;
  if (!check_size(big_endian32(head + 16), big_endian32(head + 20), limits, error)) return false;

  const auto state = std::make_unique<PngState>();
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state.get(), png_fail, png_ignore_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw std::bad_alloc();
  }
  // Buffers live behind a pointer set before setjmp, so their state stays determinate on the
  // error path.
  struct Buffers {
    std::vector<png_bytep> rows;
    std::vector<uint8_t> pixels;
  };
  const auto buffers = std::make_unique<Buffers>();
  std::vector<png_bytep>& rows = buffers->rows;
  std::vector<uint8_t>& pixels = buffers->pixels;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    error = std::string("corrupt PNG: ") + state->message;
    return false;
  }
  png_set_user_limits(png, static_cast<png_uint_32>(limits.max_side), static_cast<png_uint_32>(limits.max_side));
  png_set_chunk_malloc_max(png, kMaxPngChunkBytes);
  // As Pillow: a bad checksum is an error in every chunk, and so is short image data.
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_set_benign_errors(png, 0);
  png_init_io(png, file);
  png_read_info(png, info);
  png_uint_32 exif_size = 0;
  png_bytep exif = nullptr;
  if (png_get_eXIf_1(png, info, &exif_size, &exif) != 0 && exif != nullptr) image.exif_orientation = exif_orientation_of(exif, exif_size);
  const png_byte color = png_get_color_type(png, info);
  const png_byte depth = png_get_bit_depth(png, info);
  // Pillow reads 16-bit gray as mode I;16 and clips it to 255 when converting to RGB; every
  // other 16-bit image keeps the high byte of each sample.
  const bool gray16 = depth == 16 && color == PNG_COLOR_TYPE_GRAY;
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && !gray16) png_set_strip_16(png);
  if (gray16) png_set_swap(png);  // host-order 16-bit samples
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  // Whatever channels the transforms leave (a tRNS chunk may add alpha to a palette or gray
  // image), gray is the first sample of a pixel and RGB the first three; alpha is skipped.
  const int width = static_cast<int>(png_get_image_width(png, info));
  const int height = static_cast<int>(png_get_image_height(png, info));
  const int channels = png_get_channels(png, info);
  const int sample_bytes = png_get_bit_depth(png, info) == 16 ? 2 : 1;
  const int pixel_bytes = channels * sample_bytes;
  const std::size_t row_bytes = png_get_rowbytes(png, info);
  if (row_bytes != static_cast<std::size_t>(width) * pixel_bytes) png_error(png, "unexpected row layout");
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<std::size_t>(width) * height * 3);
  const bool gray = channels <= 2;
  auto to_rgb = [&](int y, const uint8_t* row) {
    uint8_t* out = &image.rgb[static_cast<std::size_t>(y) * width * 3];
    for (int x = 0; x < width; ++x, out += 3) {
      const uint8_t* in = row + static_cast<std::size_t>(x) * pixel_bytes;
      if (gray16) {
        uint16_t v;
        std::memcpy(&v, in, 2);
        out[0] = out[1] = out[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
      } else if (gray) {
        out[0] = out[1] = out[2] = in[0];
      } else {
        std::memcpy(out, in, 3);
      }
    }
  };
  if (png_get_interlace_type(png, info) == PNG_INTERLACE_NONE) {
    // Row by row: the file's rows never all sit in memory next to the RGB image.
    pixels.resize(row_bytes);
    for (int y = 0; y < height; ++y) {
      png_read_row(png, pixels.data(), nullptr);
      to_rgb(y, pixels.data());
    }
  } else {
    // Adam7 fills every row in seven passes: the whole image is needed at once.
    pixels.resize(row_bytes * height);
    rows.resize(height);
    for (int y = 0; y < height; ++y) rows[y] = pixels.data() + y * row_bytes;
    png_read_image(png, rows.data());
    for (int y = 0; y < height; ++y) to_rgb(y, rows[y]);
  }
  png_destroy_read_struct(&png, &info, nullptr);
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

// libjpeg only warns when the file ends early and fills the rest of the image with gray; Pillow
// refuses such a file, and so does this decoder. Other warnings (recoverable corrupt data) are
// ignored, as Pillow ignores them.
void jpeg_warn(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

void jpeg_count_scans(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(err->message, sizeof err->message, "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(err->jump, 1);
  }
}

// Default libjpeg-turbo settings (islow DCT, fancy upsampling) are the ones Pillow uses.
bool decode_jpeg(std::FILE* file, const DecodeLimits& limits, DecodedImage& image, std::string& error) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  jpeg_progress_mgr progress{};
  const auto line_buffer = std::make_unique<std::vector<uint8_t>>();  // set before setjmp, see decode_png
  std::vector<uint8_t>& line = *line_buffer;
  cinfo.err = jpeg_std_error(&err.manager);
  err.manager.error_exit = jpeg_fail;
  err.manager.emit_message = jpeg_warn;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    error = std::string("corrupt JPEG: ") + err.message;
    return false;
  }
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = jpeg_count_scans;
  cinfo.progress = &progress;
  jpeg_stdio_src(&cinfo, file);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);  // APP1: EXIF
  jpeg_read_header(&cinfo, TRUE);
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      image.exif_orientation = exif_orientation_of(m->data + 6, m->data_length - 6);
      break;
    }
  }
  if (!check_size(cinfo.image_width, cinfo.image_height, limits, error)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    error = "CMYK JPEG images are not supported (convert the file to RGB)";
    return false;
  }
  // A progressive file keeps every coefficient in memory: 2 bytes per sample, three samples
  // per pixel at most, plus working space.
  cinfo.mem->max_memory_to_use = static_cast<long>(limits.max_pixels) * 6 + (64L << 20);
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

ExifTurn exif_turn(int orientation) {
  static constexpr ExifTurn kTurns[9] = {{0, false}, {0, false}, {0, true}, {180, false}, {180, true}, {90, true}, {90, false}, {270, true}, {270, false}};
  return orientation >= 1 && orientation <= 8 ? kTurns[orientation] : kTurns[1];
}

int exif_orientation_of(const unsigned char* tiff, std::size_t size) {
  if (size < 8) return 1;
  const bool little = tiff[0] == 'I' && tiff[1] == 'I';
  if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
  const uint32_t ifd = read32(tiff + 4, little);
  if (ifd > size - 2) return 1;
  const uint32_t count = read16(tiff + ifd, little);
  for (uint32_t i = 0; i < count; ++i) {
    const std::size_t at = ifd + 2 + 12 * static_cast<std::size_t>(i);
    if (at + 12 > size) return 1;
    if (read16(tiff + at, little) != 0x0112) continue;
    const uint32_t type = read16(tiff + at + 2, little);
    const uint32_t value = type == 3 ? read16(tiff + at + 8, little) : type == 4 ? read32(tiff + at + 8, little) : 1;
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

bool decode_image_stream(std::FILE* file, const DecodeLimits& limits, DecodedImage& image, std::string& error) {
  image.exif_orientation = 1;
  unsigned char head[24] = {};
  const std::size_t got = std::fread(head, 1, sizeof head, file);
  if (std::fseek(file, 0, SEEK_SET) != 0) return error = "cannot rewind the image file", false;
  if (got >= 8 && png_sig_cmp(head, 0, 8) == 0) {
    if (got < sizeof head) return error = "corrupt PNG: the file ends inside its header", false;
    return decode_png(file, head, limits, image, error);
  }
  if (got >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return decode_jpeg(file, limits, image, error);
  return error = "not a PNG or JPEG file", false;
}

bool decode_image(const std::string& path, const DecodeLimits& limits, DecodedImage& image, std::string& error) {
  File file(std::fopen(path.c_str(), "rb"), &std::fclose);
  bool ok = false;
  struct stat st;
  if (!file) {
    error = "cannot open image";
  } else if (fstat(fileno(file.get()), &st) != 0 || !S_ISREG(st.st_mode)) {
    // The decoders read the header twice (size check, then the library): a pipe cannot rewind.
    error = "a seekable regular file is needed (got a pipe, socket or device); write the image to a file first";
  } else {
    ok = decode_image_stream(file.get(), limits, image, error);
  }
  if (!ok) error = path + ": " + error;
  return ok;
}

bool write_mask_png(const std::string& path, int width, int height, const std::vector<uint8_t>& ids,
                    const std::vector<std::array<uint8_t, 3>>& palette, std::string& error) {
  if (width <= 0 || height <= 0 || ids.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height)) {
    return error = "cannot write an empty mask to " + path, false;
  }
  File file(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!file) return error = "cannot write " + path, false;
  PngState state;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, png_fail, png_ignore_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return error = "out of memory writing " + path, false;
  }
  // A palette must cover every class id in the mask: classes past its end are written black.
  std::vector<png_color> colors;
  if (!palette.empty()) {
    const std::size_t used = static_cast<std::size_t>(*std::max_element(ids.begin(), ids.end())) + 1;
    colors.resize(std::max(palette.size(), used), png_color{0, 0, 0});
    for (std::size_t i = 0; i < palette.size() && i < colors.size(); ++i) colors[i] = png_color{palette[i][0], palette[i][1], palette[i][2]};
    colors.resize(std::min<std::size_t>(colors.size(), 256));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return error = "cannot write " + path + ": " + state.message, false;
  }
  png_init_io(png, file.get());
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               colors.empty() ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!colors.empty()) png_set_PLTE(png, info, colors.data(), static_cast<int>(colors.size()));
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, ids.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(width));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fflush(file.get()) != 0) return error = "cannot write " + path, false;
  return true;
}
