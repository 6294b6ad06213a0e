// Drives the generated C++ API directly: every PixelFormat (with padded strides) must give the
// tensor of the equivalent packed RGB image, and bad images must come back as InvalidInput.
#include <cstdio>
#include <vector>

#include "flower_classifier/flower_classifier.hpp"

namespace sdk = edgesdk::flower_classifier;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto model = sdk::Model::load(argv[1]);
  if (!model.ok()) return std::printf("load: %s\n", model.error().message.c_str()), 1;
  const int w = 45, h = 41, pad = 7;
  std::vector<uint8_t> rgb(w * h * 3), gray(w * h);
  for (int i = 0; i < w * h; ++i) {
    gray[i] = static_cast<uint8_t>(i * 37 % 251);
    for (int c = 0; c < 3; ++c) rgb[3 * i + c] = static_cast<uint8_t>((i * 7 + c * 91) % 256);
  }
  auto reference = model.value().preprocess({rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8});
  if (!reference.ok()) return std::printf("rgb: %s\n", reference.error().message.c_str()), 1;

  struct Case { sdk::PixelFormat format; int channels; int order[4]; };
  const Case cases[] = {{sdk::PixelFormat::BGR8, 3, {2, 1, 0, -1}}, {sdk::PixelFormat::RGBA8, 4, {0, 1, 2, -1}},
                        {sdk::PixelFormat::BGRA8, 4, {2, 1, 0, -1}}};
  for (const Case& k : cases) {
    const int stride = w * k.channels + pad;
    std::vector<uint8_t> px(stride * h, 0xAB);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < k.channels; ++c)
          px[y * stride + x * k.channels + c] = k.order[c] < 0 ? 0x55 : rgb[(y * w + x) * 3 + k.order[c]];
    auto got = model.value().preprocess({px.data(), w, h, stride, k.format});
    if (!got.ok() || got.value().bytes != reference.value().bytes) return std::printf("format %d differs\n", k.channels), 1;
  }
  std::vector<uint8_t> gray3(w * h * 3);
  for (int i = 0; i < w * h; ++i) gray3[3 * i] = gray3[3 * i + 1] = gray3[3 * i + 2] = gray[i];
  auto gray_ref = model.value().preprocess({gray3.data(), w, h, w * 3, sdk::PixelFormat::RGB8});
  auto gray_got = model.value().preprocess({gray.data(), w, h, w, sdk::PixelFormat::GRAY8});
  if (!gray_got.ok() || gray_got.value().bytes != gray_ref.value().bytes) return std::printf("gray differs\n"), 1;

  auto empty = model.value().preprocess({nullptr, 0, 0, 0, sdk::PixelFormat::RGB8});
  auto narrow = model.value().preprocess({rgb.data(), w, h, w, sdk::PixelFormat::RGB8});
  if (empty.ok() || empty.error().code != sdk::ErrorCode::InvalidInput) return std::printf("empty accepted\n"), 1;
  if (narrow.ok() || narrow.error().code != sdk::ErrorCode::InvalidInput) return std::printf("stride accepted\n"), 1;
  auto wrong = model.value().infer(sdk::Tensor{"image", {1, 3, 8, 8}, sdk::DType::Float32, std::vector<uint8_t>(3 * 64 * 4)});
  if (wrong.ok() || wrong.error().code != sdk::ErrorCode::InvalidInput) return std::printf("bad tensor accepted\n"), 1;
  std::printf("%s\n", wrong.error().message.c_str());

  // Options are checked at load; limits are the app's to set, and each names itself when hit.
  sdk::LoadOptions threads;
  threads.intra_op_threads = 1000000;
  auto refused = sdk::Model::load(argv[1], threads);
  if (refused.ok() || refused.error().code != sdk::ErrorCode::InvalidInput) return std::printf("threads accepted\n"), 1;
  std::printf("%s\n", refused.error().message.c_str());
  sdk::LoadOptions zero;
  zero.limits.max_intermediate_pixels = 0;
  auto refused_zero = sdk::Model::load(argv[1], zero);
  if (refused_zero.ok() || refused_zero.error().code != sdk::ErrorCode::InvalidInput) return std::printf("zero limit accepted\n"), 1;
  std::printf("%s\n", refused_zero.error().message.c_str());
  sdk::LoadOptions small;
  small.limits.max_image_side = 44;
  auto strict = sdk::Model::load(argv[1], small);
  if (!strict.ok()) return std::printf("load: %s\n", strict.error().message.c_str()), 1;
  auto too_wide = strict.value().run({rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8});
  if (too_wide.ok() || too_wide.error().code != sdk::ErrorCode::InvalidInput) return std::printf("limit not applied\n"), 1;
  std::printf("%s\n", too_wide.error().message.c_str());
  small.limits.max_image_side = 45;
  small.limits.max_image_pixels = w * h - 1;
  auto too_many = sdk::Model::load(argv[1], small).value().run({rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8});
  if (too_many.ok()) return std::printf("pixel limit not applied\n"), 1;
  std::printf("%s\n", too_many.error().message.c_str());

  auto classes = model.value().classify({rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8});
  if (!classes.ok() || classes.value().size() != 3) return std::printf("classify failed\n"), 1;
  sdk::Model moved = std::move(model).value();
  return moved.run({rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8}).ok() ? 0 : 1;
}
