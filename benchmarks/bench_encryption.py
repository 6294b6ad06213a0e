"""Decryption + load vs plain load of an encrypted model, in Python and in the generated C++ SDK,
measured in one run for a ~10 MB and a ~100 MB model (ratios against the plain load of the same
run). The issue's goal: under 5% added to load time for the 10 MB model.

For each size, one ONNX model (Flatten -> MatMul with seeded random weights -> [1, classes]) is
built twice with `edgesdk build --target x86`: plain and encrypted with a fresh key. Python: read
the file + `onnxruntime.InferenceSession(bytes)` vs read + `envelope.open_sealed` + the same
session. C++: a small harness linked against each bundle's generated SDK times `Model::load`
(read, sha256 check, [decrypt,] ONNX Runtime session from memory). The two contenders take turns
round by round so drift hits both alike; medians are reported.
Usage: python benchmarks/bench_encryption.py [--runs 15] [--sizes 10,100] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import yaml
from onnx import TensorProto, helper, numpy_helper

from edgesdk import api, hosttest
from edgesdk.crypto import envelope, keys
from edgesdk.naming import cpp_namespace, snake

SIDE = 32  # input [1, 3, 32, 32]: 3072 features into the MatMul

HARNESS = r"""
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>
#include "@SNAKE@/@SNAKE@.hpp"
namespace sdk = @NAMESPACE@;
int main(int argc, char** argv) {
  const std::string model = argv[1];
  const int runs = std::stoi(argv[2]);
  sdk::LoadOptions options;
#ifdef ENCRYPTED
  std::vector<uint8_t> key(32);
  std::ifstream(argv[3], std::ios::binary).read(reinterpret_cast<char*>(key.data()), 32);
  options.key = sdk::key_from_buffer(key.data(), key.size());
#endif
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto loaded = sdk::Model::load(model, options);
    const auto t1 = std::chrono::steady_clock::now();
    if (!loaded.ok()) { std::fprintf(stderr, "%s\n", loaded.error().message.c_str()); return 1; }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  for (double m : ms) std::printf("%.4f\n", m);
  return 0;
}
"""


def _model(folder: Path, megabytes: int) -> Path:
    classes = max(8, megabytes * 1_000_000 // (4 * 3 * SIDE * SIDE))
    rng = np.random.default_rng(megabytes)
    weights = rng.normal(0, 0.02, (3 * SIDE * SIDE, classes)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "big",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "big.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _manifest(folder: Path, name: str, classes: int, encrypted: bool) -> Path:
    data = {
        "schema_version": 1,
        "name": name,
        "version": "1.0.0",
        "model": {"source": "big.onnx", "inputs": [{"name": "image", "shape": [1, 3, SIDE, SIDE]}], "outputs": [{"name": "logits", "shape": [1, classes]}]},
        "task": "classification",
        "preprocess": {"input_color": "rgb", "steps": [{"resize": {"size": [SIDE, SIDE], "interpolation": "bilinear"}}, {"normalize": {"mean": [127.5] * 3, "std": [64.0] * 3}}, {"layout": "nchw"}]},
        "postprocess": {"steps": [{"softmax": {"axis": -1}}, {"topk": {"k": 5}}]},
        "target": "x86",
        "golden": {"count": 1},
        **({"encryption": {"enabled": True, "key": "file:model.key"}} if encrypted else {}),
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _harness(bundle: Path, build: Path, encrypted: bool) -> Path:
    sdk = json.loads((bundle / "sdk.json").read_text(encoding="utf-8"))
    src = build / "src"
    src.mkdir(parents=True)
    (src / "main.cpp").write_text(HARNESS.replace("@SNAKE@", snake(sdk["name"])).replace("@NAMESPACE@", cpp_namespace(sdk["name"])), encoding="utf-8")
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(bench_load LANGUAGES CXX)\n"
        f'add_subdirectory("{bundle / "sdk" / "cpp"}" "${{CMAKE_CURRENT_BINARY_DIR}}/sdk")\n'
        "add_executable(bench_load main.cpp)\ntarget_compile_features(bench_load PRIVATE cxx_std_17)\n"
        f"target_link_libraries(bench_load PRIVATE {snake(sdk['name'])}_sdk)\n" + ("target_compile_definitions(bench_load PRIVATE ENCRYPTED)\n" if encrypted else ""),
        encoding="utf-8",
    )
    definitions = hosttest.cpp_package("onnxruntime").cmake_definitions
    subprocess.run(["cmake", "-S", str(src), "-B", str(build / "out"), "-DCMAKE_BUILD_TYPE=Release", *definitions], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build / "out"), "-j", "2"], check=True, capture_output=True)
    return build / "out" / "bench_load"


def _cpp_loads(binary: Path, model: Path, runs: int, key: Path | None) -> list[float]:
    cmd = [str(binary), str(model), str(runs), *([str(key)] if key else [])]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=hosttest.cpp_package("onnxruntime").run_env()).stdout
    return [float(line) for line in out.split()]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def bench_size(tmp: Path, megabytes: int, runs: int) -> dict:
    folder = tmp / f"{megabytes}mb"
    folder.mkdir()
    model = _model(folder, megabytes)
    classes = int(ort.InferenceSession(str(model)).get_outputs()[0].shape[1])
    key_path = folder / "model.key"
    keys.write_key_file(key_path, keys.generate_key())
    key = key_path.read_bytes()
    plain = api.build(_manifest(folder, f"plain-{megabytes}", classes, False), out=folder / "dist").bundle
    sealed = api.build(_manifest(folder, f"sealed-{megabytes}", classes, True), out=folder / "dist").bundle
    plain_file = plain / "model" / "model.onnx"
    sealed_file = sealed / "model" / "model.onnx.enc"
    sdk = json.loads((sealed / "sdk.json").read_text(encoding="utf-8"))
    binding = envelope.Binding(**sdk["model"]["encryption"]["aad"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1

    def py_plain():
        ort.InferenceSession(plain_file.read_bytes(), options, providers=["CPUExecutionProvider"])

    def py_sealed():
        ort.InferenceSession(envelope.open_sealed(key, sealed_file.read_bytes(), binding), options, providers=["CPUExecutionProvider"])

    def py_decrypt_only():
        envelope.open_sealed(key, sealed_file.read_bytes(), binding)

    py: dict[str, list[float]] = {"plain": [], "encrypted": [], "decrypt_only": []}
    py_plain(), py_sealed()  # warm-up
    for _ in range(runs):
        py["plain"].append(_timed(py_plain))
        py["encrypted"].append(_timed(py_sealed))
        py["decrypt_only"].append(_timed(py_decrypt_only))
    plain_bin = _harness(plain, folder / "cpp-plain", False)
    sealed_bin = _harness(sealed, folder / "cpp-sealed", True)
    cpp: dict[str, list[float]] = {"plain": [], "encrypted": []}
    _cpp_loads(plain_bin, plain_file, 1, None), _cpp_loads(sealed_bin, sealed_file, 1, key_path)  # warm-up (page cache)
    for _ in range(runs):  # rounds alternate between the two binaries
        cpp["plain"] += _cpp_loads(plain_bin, plain_file, 1, None)
        cpp["encrypted"] += _cpp_loads(sealed_bin, sealed_file, 1, key_path)
    med = {lang: {k: statistics.median(v) for k, v in d.items()} for lang, d in (("python", py), ("cpp", cpp))}
    return {
        "model_mb": round(plain_file.stat().st_size / 1e6, 2),
        "median_ms": med,
        "added_load_time": {lang: med[lang]["encrypted"] / med[lang]["plain"] - 1 for lang in med},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", default="10,100", help="model sizes in MB, comma-separated")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-encryption-") as tmp:
        results = {f"{mb}MB": bench_size(Path(tmp), int(mb), args.runs) for mb in args.sizes.split(",")}
    text = json.dumps({"runs": args.runs, "results": results}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
