// Drives the generated C++ API directly: every PixelFormat (with padded strides) must give the
// tensor of the equivalent packed RGB image, and bad images must come back as InvalidInput.
#include <algorithm>
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

  // preprocess_into: the tensor of preprocess(), into a tensor the caller keeps. One tensor goes
  // through every case: first holding another dtype, shape and byte size (replaced, resized),
  // then the right size full of 0xFF (every byte rewritten, none left from before), then the bytes
  // of another image (reused as they are).
  auto same = [](const sdk::Tensor& a, const sdk::Tensor& b) {
    return a.name == b.name && a.shape == b.shape && a.dtype == b.dtype && a.bytes == b.bytes;
  };
  sdk::Tensor kept{"stale", {2, 5}, sdk::DType::Int64, std::vector<uint8_t>(80, 0x11)};
  const sdk::Image rgb_image{rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8};
  sdk::Geometry into_geometry, geometry;
  auto fresh = model.value().preprocess(rgb_image, &geometry);
  auto into = model.value().preprocess_into(rgb_image, kept, &into_geometry);
  if (!into.ok() || !same(kept, fresh.value())) return std::printf("preprocess_into differs from preprocess\n"), 1;
  if (into_geometry.scale_x != geometry.scale_x || into_geometry.input_width != geometry.input_width) return std::printf("preprocess_into geometry\n"), 1;
  const uint8_t* buffer = kept.bytes.data();
  std::fill(kept.bytes.begin(), kept.bytes.end(), 0xFF);
  if (!model.value().preprocess_into(rgb_image, kept).ok() || !same(kept, fresh.value())) return std::printf("preprocess_into left bytes\n"), 1;
  if (!model.value().preprocess_into({gray3.data(), w, h, w * 3, sdk::PixelFormat::RGB8}, kept).ok() || !same(kept, gray_ref.value())) {
    return std::printf("preprocess_into of a second image differs\n"), 1;
  }
  if (kept.bytes.data() != buffer) return std::printf("preprocess_into reallocated a buffer of the right size\n"), 1;
  const sdk::Orientation turned{90, true, false, {}};
  auto turned_ref = model.value().preprocess(rgb_image, turned);
  if (!model.value().preprocess_into(rgb_image, turned, kept).ok() || !same(kept, turned_ref.value())) return std::printf("preprocess_into oriented\n"), 1;
  std::vector<uint8_t> nv21(w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2));
  for (std::size_t i = 0; i < nv21.size(); ++i) nv21[i] = static_cast<uint8_t>(i * 13 % 256);
  const sdk::YuvFrame frame = sdk::YuvFrame::nv21(nv21.data(), nv21.size(), w, h);
  auto frame_ref = model.value().preprocess(frame);
  kept.bytes.resize(kept.bytes.size() + 3);
  if (!frame_ref.ok() || !model.value().preprocess_into(frame, kept).ok() || !same(kept, frame_ref.value())) return std::printf("preprocess_into frame\n"), 1;
  auto refused_into = model.value().preprocess_into({nullptr, 0, 0, 0, sdk::PixelFormat::RGB8}, kept);
  if (refused_into.ok() || refused_into.error().code != sdk::ErrorCode::InvalidInput) return std::printf("preprocess_into accepted an empty image\n"), 1;
  std::printf("%s\n", refused_into.error().message.c_str());
  // run() reuses its input tensor between calls: the same results, call after call.
  auto first_run = model.value().run(rgb_image), second_run = model.value().run(rgb_image);
  if (!first_run.ok() || !second_run.ok() || first_run.value().raw[0].bytes != second_run.value().raw[0].bytes) return std::printf("run() repeated differs\n"), 1;
  auto gray_run = model.value().run({gray3.data(), w, h, w * 3, sdk::PixelFormat::RGB8});
  auto gray_raw = model.value().infer(gray_ref.value());
  if (!gray_run.ok() || !gray_raw.ok() || gray_run.value().raw[0].bytes != gray_raw.value()[0].bytes) return std::printf("run() after run() differs\n"), 1;

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
