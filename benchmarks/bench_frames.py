"""Per-frame cost of turning a 1280x720 camera frame into the model input, measured in one run.

The generated C++ SDK (Release, the SDK's own flags) and the generated Kotlin core (host JVM) run
the example classifier's pre-processing (resize 256 keep_ratio bilinear, center_crop 224,
normalize, nchw) on: an NV21 frame rotated 90 degrees (YUV -> RGB, rotation, then the steps), the
same frame as RGB bytes rotated 90, RGB bytes upright and (C++) RGBA / (Kotlin) ARGB ints upright.
The ratios to `rgb` say what the camera-frame path adds. Medians over --runs calls, cases
interleaved. This is the host CPU, not a phone.
Usage: python benchmarks/bench_frames.py [--runs N] [--out results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from cpp.conftest import context  # noqa: E402

from edgesdk import hosttest_kotlin, naming, render  # noqa: E402
from edgesdk.backends.onnxruntime import package_root  # noqa: E402

NAME = "frames bench"
STEPS = [
    {"op": "resize", "size": [256, 256], "interpolation": "bilinear", "keep_ratio": True},
    {"op": "center_crop", "size": [224, 224]},
    {"op": "normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "scale": 1.0},
    {"op": "layout", "layout": "nchw"},
]

CPP_MAIN = r"""
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "{snake}/{snake}.hpp"

namespace sdk = {namespace};

int main(int argc, char** argv) {{
  const int runs = std::atoi(argv[2]);
  auto model = sdk::Model::load(argv[1]);
  if (!model.ok()) return std::printf("%s\n", model.error().message.c_str()), 1;
  const int w = 1280, h = 720;
  unsigned seed = 12345;
  auto next = [&] {{ seed = seed * 1103515245u + 12345u; return static_cast<uint8_t>(seed >> 16); }};
  std::vector<uint8_t> nv21(w * h * 3 / 2), rgb(w * h * 3), rgba(w * h * 4);
  for (auto* v : {{&nv21, &rgb, &rgba}}) for (auto& b : *v) b = next();
  const sdk::YuvFrame frame = sdk::YuvFrame::nv21(nv21.data(), nv21.size(), w, h);
  const sdk::Image rgb_image{{rgb.data(), w, h, w * 3, sdk::PixelFormat::RGB8}};
  const sdk::Image rgba_image{{rgba.data(), w, h, w * 4, sdk::PixelFormat::RGBA8}};
  const sdk::Orientation turned{{90, false, false, {{}}}};
  std::vector<std::pair<std::string, std::function<bool()>>> cases{{
      {{"nv21_rot90", [&] {{ return model.value().preprocess(frame, turned).ok(); }}}},
      {{"rgb_rot90", [&] {{ return model.value().preprocess(rgb_image, turned).ok(); }}}},
      {{"rgb", [&] {{ return model.value().preprocess(rgb_image).ok(); }}}},
      {{"rgba", [&] {{ return model.value().preprocess(rgba_image).ok(); }}}},
  }};
  std::map<std::string, std::vector<double>> times;
  for (int i = 0; i < 3; ++i) for (auto& c : cases) if (!c.second()) return 1;
  for (int r = 0; r < runs; ++r) {{
    for (auto& c : cases) {{
      const auto t0 = std::chrono::steady_clock::now();
      c.second();
      times[c.first].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }}
  }}
  std::string out = "{{";
  for (auto& c : cases) {{
    auto& v = times[c.first];
    std::sort(v.begin(), v.end());
    out += (out.size() > 1 ? ", \"" : "\"") + c.first + "\": " + std::to_string(v[v.size() / 2]);
  }}
  std::printf("%s}}\n", out.c_str());
  return 0;
}}
"""


def identity_model() -> bytes:
    """float32 [1, 3, 224, 224] -> the same: the SDK needs a model to load; inference is not timed."""
    from onnx import TensorProto, helper

    shape = [1, 3, 224, 224]
    image, out = (helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("image", "out"))
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["out"])], "bench", [image], [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10).SerializeToString()


def bench_cpp(tmp: Path, runs: int) -> dict[str, float]:
    model = identity_model()
    io = [{"name": "image", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    ctx = context(NAME, model, task="custom", inputs=io, outputs=[{**io[0], "name": "out"}], input_color="rgb", pre=STEPS, post=[], labels=[])
    render.render_sdk(tmp / "sdk" / "cpp", "cpp", "onnxruntime", ctx)
    (tmp / "model.onnx").write_bytes(model)
    app = tmp / "app"
    app.mkdir()
    snake = ctx["ident"]["snake"]
    (app / "main.cpp").write_text(CPP_MAIN.format(snake=snake, namespace=ctx["cpp_namespace"]))
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(frames_bench LANGUAGES CXX)\nset(CMAKE_BUILD_TYPE Release)\n"
        'add_subdirectory("${CMAKE_CURRENT_SOURCE_DIR}/../sdk/cpp" "${CMAKE_CURRENT_BINARY_DIR}/sdk")\n'
        f"add_executable(frames_bench main.cpp)\ntarget_compile_features(frames_bench PRIVATE cxx_std_17)\ntarget_link_libraries(frames_bench PRIVATE {snake}_sdk)\n"
    )
    env = dict(os.environ, ONNXRUNTIME_ROOT=str(package_root()))
    for cmd in (["cmake", "-S", "app", "-B", "build", "-DCMAKE_BUILD_TYPE=Release"], ["cmake", "--build", "build", "-j2"]):
        subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)
    out = subprocess.run([str(tmp / "build" / "frames_bench"), str(tmp / "model.onnx"), str(runs)], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def bench_kotlin(tmp: Path, runs: int) -> dict[str, float]:
    ctx = {
        "name": NAME,
        "ident": {"snake": naming.snake(NAME), "pascal": naming.pascal(NAME), "camel": naming.camel(NAME)},
        "cpp_namespace": naming.cpp_namespace(NAME),
        "version": "1.0.0",
        "task": "custom",
        "target": "android",
        "runtime": "onnxruntime",
        "runtime_version": "1.29.0",
        "edgesdk_version": "0.1.0",
        "model": {"file": "model.onnx", "sha256": hashlib.sha256(b"").hexdigest(), "encrypted": False},
        "inputs": [{"name": "image", "shape": [1, 3, 224, 224], "dtype": "float32"}],
        "outputs": [{"name": "out", "shape": [1, 3, 224, 224], "dtype": "float32"}],
        "preprocess": {"input_color": "rgb", "steps": STEPS},
        "postprocess": {"output_index": 0, "steps": [], "labels": []},
    }
    ctx["adapter"] = render.adapter_fragments("onnxruntime", "kotlin", ctx)
    render.render_tree(render.TEMPLATES_DIR / "kotlin", tmp / "kotlin", ctx)
    package = hosttest_kotlin.package_of(NAME)
    sources = hosttest_kotlin.core_sources(tmp / "kotlin") + [hosttest_kotlin.write_runner(package, tmp / "runner", REPO / "benchmarks" / "FramesBench.kt")]
    hosttest_kotlin.compile_kotlin(sources, tmp / "bench.jar")
    out = subprocess.run(["java", "-cp", str(tmp / "bench.jar"), f"{package}.golden.FramesBenchKt", str(runs)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for language, bench in (("cpp", bench_cpp), ("kotlin", bench_kotlin)):
            folder = Path(tmp) / language
            folder.mkdir()
            ms = bench(folder, args.runs)
            results[language] = {"median_ms": ms, "ratio_to_rgb": {k: round(v / ms["rgb"], 3) for k, v in ms.items()}}
            print(f"{language}: " + ", ".join(f"{k} {v:.2f} ms (x{v / ms['rgb']:.2f})" for k, v in ms.items()))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
