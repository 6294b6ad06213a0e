// An app outside the bundle, linked through the installed CMake package (find_package), in a
// release build: loading from a path and from memory, the acceleration report, raw outputs left
// untouched, run options, concurrent run on one Model, and Result::value() of an error.
// Usage: app_check MODEL RGB_FILE WIDTH HEIGHT  -> prints the classifications as JSON, exit 0
//        app_check --misuse MODEL_PATH          -> reads value() of a failed load (must abort)
#ifndef NDEBUG
#error "app_check must be built as a release (NDEBUG) build: Result::value() must not rely on assert"
#endif

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "flower_classifier/flower_classifier.hpp"

namespace sdk = edgesdk::flower_classifier;

namespace {

std::vector<uint8_t> read(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int failed(const char* what, const std::string& detail = "") {
  std::printf("FAILED %s %s\n", what, detail.c_str());
  return 1;
}

// Prints "<label>: <message>" for an expected error with `code`; false when it was not that error.
template <class T>
bool expect_error(const sdk::Result<T>& result, sdk::ErrorCode code, const char* label) {
  if (result.ok() || result.error().code != code) return false;
  std::printf("%s: %s\n", label, result.error().message.c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--misuse") == 0) {
    auto model = sdk::Model::load(argv[2]);
    std::printf("loaded: %d\n", model.ok() ? 1 : 0);
    std::fflush(stdout);
    sdk::Model& used = model.value();  // an error: must abort with the message, never run on
    std::printf("value() of an error returned (%p)\n", static_cast<void*>(&used));
    return 0;
  }
  if (argc != 5) return 2;
  const std::vector<uint8_t> model_bytes = read(argv[1]);
  const std::vector<uint8_t> rgb = read(argv[2]);
  const int w = std::atoi(argv[3]), h = std::atoi(argv[4]);
  const sdk::Image image{rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8};

  auto from_file = sdk::Model::load(argv[1]);
  if (!from_file.ok()) return failed("load(path)", from_file.error().message);
  auto from_memory = sdk::Model::load(sdk::ModelBuffer{model_bytes.data(), model_bytes.size()});
  if (!from_memory.ok()) return failed("load(buffer)", from_memory.error().message);
  sdk::Model& model = from_memory.value();

  // The integrity check runs on caller bytes too.
  std::vector<uint8_t> tampered = model_bytes;
  tampered[tampered.size() / 2] ^= 0x10;
  if (!expect_error(sdk::Model::load(sdk::ModelBuffer{tampered.data(), tampered.size()}), sdk::ErrorCode::IntegrityMismatch, "tampered buffer")) {
    return failed("tampered buffer accepted");
  }

  // Acceleration: the default, a fallback that is reported, and a refusal with Fallback::Fail.
  const sdk::AccelerationReport& report = model.acceleration();
  if (report.active != "cpu" || report.asked != std::vector<std::string>{"cpu"} || !report.skipped.empty() || report.precision != "float32") {
    return failed("default acceleration report", report.active + " " + report.precision);
  }
  sdk::LoadOptions coreml;
  coreml.accelerators = {sdk::Accelerator::CoreMl, sdk::Accelerator::Cpu};
  auto fell_back = sdk::Model::load(argv[1], coreml);
  if (!fell_back.ok()) return failed("fallback load", fell_back.error().message);
  const sdk::AccelerationReport& fb = fell_back.value().acceleration();
  if (fb.active != "cpu" || fb.skipped.size() != 1 || fb.skipped[0].accelerator != "coreml") return failed("fallback report");
  std::printf("skipped coreml: %s\n", fb.skipped[0].reason.c_str());
  coreml.accelerators = {sdk::Accelerator::CoreMl};
  coreml.fallback = sdk::Fallback::Fail;
  if (!expect_error(sdk::Model::load(argv[1], coreml), sdk::ErrorCode::Unsupported, "coreml with Fail")) return failed("Fallback::Fail loaded");
  sdk::LoadOptions none;
  none.accelerators.clear();
  if (!expect_error(sdk::Model::load(argv[1], none), sdk::ErrorCode::InvalidInput, "no accelerators")) return failed("empty accelerators accepted");
  sdk::LoadOptions twice;
  twice.accelerators = {sdk::Accelerator::Cpu, sdk::Accelerator::Cpu};
  if (!expect_error(sdk::Model::load(argv[1], twice), sdk::ErrorCode::InvalidInput, "cpu twice")) return failed("duplicate accelerator accepted");

  // Raw outputs stay as the runtime returned them; the scores are the manifest's softmax of a copy.
  auto input = model.preprocess(image);
  if (!input.ok()) return failed("preprocess", input.error().message);
  auto raw = model.infer(input.value());
  if (!raw.ok()) return failed("infer", raw.error().message);
  auto output = model.postprocess(raw.value());
  if (!output.ok()) return failed("postprocess", output.error().message);
  if (output.value().raw.size() != 1 || output.value().raw[0].bytes != raw.value()[0].bytes) return failed("Output::raw was modified");
  const float* logits = raw.value()[0].data<float>();
  double sum = 0.0;
  for (int i = 0; i < 5; ++i) sum += std::exp(static_cast<double>(logits[i]));
  const sdk::Classification& best = output.value().classifications.at(0);
  if (std::fabs(best.score - std::exp(static_cast<double>(logits[best.index])) / sum) > 1e-6) return failed("score is not softmax(raw)");

  // Run options: top_k and score_threshold per call, validated.
  sdk::RunOptions one;
  one.top_k = 1;
  auto top1 = model.run(image, {}, one);
  if (!top1.ok() || top1.value().classifications.size() != 1 || top1.value().classifications[0].index != best.index) return failed("top_k 1");
  sdk::RunOptions all_above;
  all_above.top_k = 5;
  all_above.score_threshold = best.score;  // keeps the best class (>=), drops every lower one
  auto thresholded = model.classify(image, {}, all_above);
  if (!thresholded.ok() || thresholded.value().empty()) return failed("threshold", thresholded.ok() ? "nothing kept" : thresholded.error().message);
  for (const auto& c : thresholded.value()) {
    if (c.score < best.score) return failed("class below the threshold kept");
  }
  sdk::RunOptions bad_k;
  bad_k.top_k = 6;
  if (!expect_error(model.run(image, {}, bad_k), sdk::ErrorCode::InvalidInput, "top_k 6")) return failed("top_k 6 accepted");
  sdk::RunOptions bad_t;
  bad_t.score_threshold = 1.0f;
  if (!expect_error(model.run(image, {}, bad_t), sdk::ErrorCode::InvalidInput, "threshold 1")) return failed("threshold 1 accepted");
  bad_t.score_threshold = std::nanf("");
  if (!expect_error(model.run(image, {}, bad_t), sdk::ErrorCode::InvalidInput, "threshold nan")) return failed("threshold NaN accepted");

  // ONNX Runtime allows concurrent Run: four threads on one Model give the single-threaded bytes.
  const std::vector<uint8_t> want = output.value().raw[0].bytes;
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto got = model.run(image);
        if (!got.ok() || got.value().raw[0].bytes != want) ++mismatches[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int m : mismatches) {
    if (m != 0) return failed("concurrent run differs");
  }

  std::string json = "[";
  auto classes = from_file.value().classify(image);
  if (!classes.ok()) return failed("classify", classes.error().message);
  for (const auto& c : classes.value()) {
    char item[128];
    std::snprintf(item, sizeof item, "%s{\"index\": %d, \"score\": %.9g}", json.size() > 1 ? ", " : "", c.index, c.score);
    json += item;
  }
  std::printf("classifications %s]\n", json.c_str());
  return 0;
}
