// One Model, one load, images of several sizes: a dynamic-shape bundle's SDK must run each at its
// own size without reloading, and refuse (not crash on) an image outside the model's bounds.
// Built against a bundle's sdk/cpp with SDK_HEADER and SDK_NAMESPACE defined (test_dynamic_shapes.py).
// Usage: session_check MODEL_PATH CASE...   CASE = RGB_FILE:WIDTH:HEIGHT:EXPECTED_F32_FILE
//        EXPECTED_F32_FILE "-" expects an invalid-input error instead of outputs.
// Prints per case: "<i> shape=<d0>x<d1>... max_abs=<v>" or "<i> error=<code> <message>".
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include SDK_HEADER

namespace sdk = SDK_NAMESPACE;

namespace {

std::vector<uint8_t> read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == sep) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  auto loaded = sdk::Model::load(argv[1]);
  if (!loaded.ok()) {
    std::printf("load error: %s\n", loaded.error().message.c_str());
    return 1;
  }
  sdk::Model& model = loaded.value();
  // preprocess_into's tensor, kept across the sizes (resized from one to the next).
  sdk::Tensor kept;
  for (int i = 2; i < argc; ++i) {
    const std::vector<std::string> f = split(argv[i], ':');
    if (f.size() != 4) return 2;
    const std::vector<uint8_t> rgb = read(f[0]);
    const int w = std::atoi(f[1].c_str()), h = std::atoi(f[2].c_str());
    const sdk::Image image{rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8};
    auto tensor = model.preprocess(image);
    sdk::Result<std::vector<sdk::Tensor>> raw = tensor.ok() ? model.infer(tensor.value()) : sdk::Result<std::vector<sdk::Tensor>>(tensor.error());
    // The same through preprocess_into and through run() (its kept inputs): the same tensor, or
    // the same refusal.
    auto into = model.preprocess_into(image, kept);
    auto run = model.run(image);
    const bool into_same = tensor.ok() ? into.ok() && kept.shape == tensor.value().shape && kept.bytes == tensor.value().bytes : !into.ok() && into.error().message == tensor.error().message;
    const bool run_same = raw.ok() ? run.ok() && run.value().raw[0].bytes == raw.value()[0].bytes : !run.ok() && run.error().message == raw.error().message;
    std::printf("%d into=%s run=%s ", i - 2, into_same ? "same" : "differs", run_same ? "same" : "differs");
    if (!raw.ok()) {
      std::printf("error=%s %s\n", raw.error().code == sdk::ErrorCode::InvalidInput ? "invalid_input" : "other", raw.error().message.c_str());
      continue;
    }
    const sdk::Tensor& out = raw.value()[0];
    std::string shape;
    for (const int64_t d : out.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    const std::vector<uint8_t> want = read(f[3]);
    double max_abs = want.size() == out.bytes.size() ? 0.0 : INFINITY;
    for (std::size_t k = 0; std::isfinite(max_abs) && k < want.size() / 4; ++k) {
      float a, b;
      std::memcpy(&a, want.data() + 4 * k, 4);
      std::memcpy(&b, out.bytes.data() + 4 * k, 4);
      max_abs = std::fmax(max_abs, std::fabs(static_cast<double>(a) - b));
    }
    std::printf("shape=%s max_abs=%g\n", shape.c_str(), max_abs);
  }
  return 0;
}
