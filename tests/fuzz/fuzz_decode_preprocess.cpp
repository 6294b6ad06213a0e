// libFuzzer harness: bytes -> the sample app's PNG/JPEG decoder -> the generated SDK's
// pre-processing (every pixel format), under AddressSanitizer and UBSan. Built and run by
// tests/fuzz/test_fuzz.py; EDGESDK_FUZZ_MODEL names the model file the SDK loads once.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "image_io.hpp"
#include "fuzz_sdk.hpp"

namespace sdk = FUZZ_SDK_NAMESPACE;

namespace {

// Smaller than the shipped defaults: the fuzzer should explore formats, not spend its time
// decoding (legitimately) large images.
constexpr DecodeLimits kDecodeLimits{1024, 1 << 18};

sdk::Model& model() {
  static sdk::Model* loaded = [] {
    const char* path = std::getenv("EDGESDK_FUZZ_MODEL");
    sdk::LoadOptions options;
    options.limits.max_intermediate_side = 4096;
    options.limits.max_intermediate_pixels = 1 << 20;
    auto result = sdk::Model::load(path ? path : "", options);
    if (!result.ok()) {
      std::fprintf(stderr, "fuzz harness: cannot load the model: %s\n", result.error().message.c_str());
      std::abort();
    }
    return new sdk::Model(std::move(result).value());
  }();
  return *loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sdk::Model& m = model();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(fmemopen(const_cast<uint8_t*>(data), size, "rb"), &std::fclose);
  if (!file) return 0;
  DecodedImage image;
  std::string error;
  if (!decode_image_stream(file.get(), kDecodeLimits, image, error)) return 0;
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != static_cast<std::size_t>(image.width) * image.height * 3) std::abort();
  // The decoded bytes viewed as each pixel format the SDK takes (same rows, other widths).
  const sdk::PixelFormat formats[] = {sdk::PixelFormat::RGB8, sdk::PixelFormat::BGR8, sdk::PixelFormat::RGBA8,
                                      sdk::PixelFormat::BGRA8, sdk::PixelFormat::GRAY8};
  const int channels[] = {3, 3, 4, 4, 1};
  const int pick = size ? data[size - 1] % 5 : 0;
  const int stride = image.width * 3;
  const int width = stride / channels[pick];
  if (width < 1) return 0;
  auto tensor = m.preprocess({image.rgb.data(), width, image.height, stride, formats[pick]});
  if (tensor.ok() && tensor.value().bytes.empty()) std::abort();
  return 0;
}
