"""Memory of loading a ~100 MB model through the C++ SDK: mapped vs copied.

Builds a classifier whose weights are ~100 MB (benchmarks/models.py `wide-mlp`) for x86 (ONNX
Runtime), compiles benchmarks/model_memory.cpp against the bundle's SDK and loads the model in a
fresh process per way:
- `none`: the process without a model (the baseline, measured in the same run);
- `path`: `Model::load(path)`, which maps the file (no heap copy of it);
- `copied`: the app reads the file into a std::vector and calls `Model::load(ModelBuffer)`;
- `mapped`: the app maps the file and calls `Model::load(ModelBuffer)`.
Prints peak RSS (VmHWM, file pages included), peak anonymous RSS while loading (the heap: what the
system cannot reclaim), and anonymous and file-backed RSS after the load, each over the baseline;
the anonymous figures also as a ratio to the model's size.
The Kotlin side (benchmarks/ModelMemoryBench.kt, the generated core on the host JVM; ONNX Runtime's
Android library does not run here) measures the SDK's own part: the model's bytes as the runtime
gets them plus their SHA-256 check, `ModelBuffers.map` (what the SDK does) vs `File.readBytes` + a
direct buffer, as peak Java heap, direct-buffer memory and peak anonymous RSS.
Usage: python benchmarks/bench_model_memory.py [--runs N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "kotlin"))
sys.path.insert(0, str(REPO))

from core_context import core_context  # noqa: E402

from edgesdk import api, hosttest, hosttest_kotlin, naming, render  # noqa: E402
from edgesdk.bundle import load_sdk_json  # noqa: E402

MODES = ("none", "path", "copied", "mapped")


def build_loader(bundle: Path, build: Path) -> Path:
    """model_memory.cpp compiled against the bundle's SDK, as an app would link it."""
    name = load_sdk_json(bundle)["name"]
    snake = naming.cpp_ident(naming.snake(name))
    app = build / "app"
    app.mkdir(parents=True)
    (app / "main.cpp").write_text((REPO / "benchmarks" / "model_memory.cpp").read_text())
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(model_memory LANGUAGES CXX)\n"
        f'add_subdirectory("{bundle / "sdk" / "cpp"}" "${{CMAKE_CURRENT_BINARY_DIR}}/sdk")\n'
        "add_executable(model_memory main.cpp)\ntarget_compile_features(model_memory PRIVATE cxx_std_17)\n"
        f'target_compile_definitions(model_memory PRIVATE SDK_HEADER="{snake}/{snake}.hpp" SDK_NAMESPACE={naming.cpp_namespace(name)})\n'
        f"target_link_libraries(model_memory PRIVATE {snake}_sdk)\n"
    )
    definitions = hosttest.cpp_package("onnxruntime").cmake_definitions
    subprocess.run(["cmake", "-S", str(app), "-B", str(build / "out"), "-DCMAKE_BUILD_TYPE=Release", *definitions], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build / "out"), "-j2"], check=True, capture_output=True)
    return build / "out" / "model_memory"


def measure(binary: Path, mode: str, model: Path) -> dict:
    env = hosttest.cpp_package("onnxruntime").run_env()
    out = subprocess.run([str(binary), mode, str(model)], capture_output=True, text=True, env=env)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    if not row["ok"]:
        raise SystemExit(f"{mode}: {row['error']}")
    return row


KOTLIN_MODES = ("none", "copied", "mapped")


def bench_kotlin(model: Path, sha256: str, tmp: Path, runs: int) -> dict[str, dict]:
    """Per mode, the smallest of `runs` JVM processes' figures."""
    name = "model-memory"
    render.render_tree(render.TEMPLATES_DIR / "kotlin", tmp / "kotlin", core_context(name, "rgb", [{"op": "layout", "layout": "nchw"}]))
    package = hosttest_kotlin.package_of(name)
    runner = hosttest_kotlin.write_runner(package, tmp / "runner", REPO / "benchmarks" / "ModelMemoryBench.kt")
    hosttest_kotlin.compile_kotlin([*hosttest_kotlin.core_sources(tmp / "kotlin"), runner], tmp / "bench.jar")
    samples: dict[str, list[dict]] = {m: [] for m in KOTLIN_MODES}
    for _ in range(runs):
        for mode in KOTLIN_MODES:
            out = subprocess.run(["java", "-cp", str(tmp / "bench.jar"), f"{package}.golden.ModelMemoryBenchKt", mode, str(model), sha256], capture_output=True, text=True, check=True)
            samples[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {m: {k: min(s[k] for s in rs) for k in ("heap_peak_kib", "direct_kib", "peak_kib", "anon_kib")} for m, rs in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from models import write_project

    with tempfile.TemporaryDirectory(prefix="edgesdk-modelmem-") as tmp_name:
        tmp = Path(tmp_name)
        folder, data = write_project(tmp, "wide-mlp")
        manifest = folder / "edgesdk.yaml"
        manifest.write_text(yaml.safe_dump(data, sort_keys=False))
        bundle = api.build(manifest, target="x86", runtime="onnxruntime", out=tmp / "dist").bundle
        model = bundle / load_sdk_json(bundle)["model"]["file"]
        binary = build_loader(bundle, tmp / "build")
        # Interleaved rounds, the smallest of each: page-cache state and the other core's load vary.
        samples: dict[str, list[dict]] = {m: [] for m in MODES}
        for _ in range(args.runs):
            for mode in MODES:
                samples[mode].append(measure(binary, mode, model))
        rows = {m: {k: min(s[k] for s in runs) for k in ("peak_kib", "peak_anon_kib", "anon_kib", "file_kib")} for m, runs in samples.items()}
        model_mib = model.stat().st_size / 2**20
        kotlin = bench_kotlin(model, load_sdk_json(bundle)["model"]["sha256"], tmp / "kotlin", args.runs)
    base = rows["none"]
    print(f"C++ SDK, ONNX Runtime, a {model_mib:.1f} MiB model; min of {args.runs} runs; MiB over the model-less process")
    print(f"{'load':8} {'peak':>8} {'peak anon':>10} {'/model':>7} {'anon after':>11} {'/model':>7} {'file after':>11}")
    for mode, row in rows.items():
        over = {k: (row[k] - base[k]) / 1024 for k in ("peak_kib", "peak_anon_kib", "anon_kib", "file_kib")}
        row.update({f"{k[:-4]}_over_base_mib": round(v, 1) for k, v in over.items()})
        row["peak_anon_vs_model"] = round(over["peak_anon_kib"] / model_mib, 2)
        row["anon_vs_model"] = round(over["anon_kib"] / model_mib, 2)
        print(f"{mode:8} {over['peak_kib']:>8.1f} {over['peak_anon_kib']:>10.1f} {row['peak_anon_vs_model']:>7.2f} {over['anon_kib']:>11.1f} {row['anon_vs_model']:>7.2f} {over['file_kib']:>11.1f}")
    kbase = kotlin["none"]
    print("Kotlin core on the JVM (the SDK's part of a load); MiB over the model-less JVM")
    print(f"{'load':8} {'heap peak':>10} {'direct':>8} {'peak RSS':>9} {'anon':>8}")
    for mode, row in kotlin.items():
        over = {k: (row[k] - kbase[k]) / 1024 for k in ("heap_peak_kib", "direct_kib", "peak_kib", "anon_kib")}
        row.update({f"{k[:-4]}_over_base_mib": round(v, 1) for k, v in over.items()})
        print(f"{mode:8} {over['heap_peak_kib']:>10.1f} {over['direct_kib']:>8.1f} {over['peak_kib']:>9.1f} {over['anon_kib']:>8.1f}")
    if args.out:
        args.out.write_text(json.dumps({"model_mib": model_mib, "cpp": rows, "kotlin": kotlin}, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
