"""iOS model formats for the example classifier, measured in one run: size on disk and conversion
time of the Core ML .mlpackage (float32, fp16 compute, int8 linear weights, palettized weights at 8
and 6 bits) against ExecuTorch's XNNPACK .pte and the ONNX model the onnxruntime backend ships,
each as a ratio to the float32 .mlpackage of the same run. Conversion is from the example's
TorchScript source, after one untimed warm-up conversion per backend; a compressed package's time
includes the float32 conversion it starts from.
(Core ML cannot predict on Linux: accuracy and latency need a Mac; see docs/coreml.md.)
Usage: python benchmarks/bench_ios_models.py [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples" / "classifier"))

from edgesdk.backends import get_backend  # noqa: E402
from edgesdk.manifest import load_manifest  # noqa: E402
from edgesdk.sources import load_source  # noqa: E402


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _project(folder: Path, quantization: dict | None = None) -> Path:
    """The example classifier (its own training code) with an ios manifest."""
    import shutil

    from classifier_model import trained_classifier

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "model.pt").is_file():
        torch.jit.script(trained_classifier()).save(str(folder / "model.pt"))
        shutil.copy(REPO / "examples" / "classifier" / "labels.txt", folder / "labels.txt")
    data = yaml.safe_load((REPO / "examples" / "classifier" / "edgesdk.yaml").read_text(encoding="utf-8"))
    data["target"] = "ios"
    if quantization:
        data["quantization"] = quantization
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def measure(work: Path) -> list[dict]:
    from edgesdk.backends import coreml
    from edgesdk.quantize.coreml import TRANSLATOR

    project = work / "project"
    manifest = load_manifest(_project(project))
    source = load_source(manifest)
    rows = []

    def timed(label: str, fn) -> Path:
        start = time.perf_counter()
        path = fn()
        rows.append({"format": label, "size_bytes": _size(path), "seconds": time.perf_counter() - start})
        return path

    def float_package(out: Path) -> Path:
        return get_backend("coreml").convert(source, manifest, out).main_path

    # One untimed conversion per backend first: imports and first-call setup are not conversion time.
    for runtime in ("coreml", "executorch", "onnxruntime"):
        get_backend(runtime).convert(source, manifest, work / f"warmup-{runtime}")
    fp32 = timed(".mlpackage float32", lambda: float_package(work / "fp32"))
    timed(".mlpackage fp16 compute", lambda: (coreml.write_package(source, manifest, work / "fp16" / coreml.MODEL_DIR, "float16"), work / "fp16" / coreml.MODEL_DIR)[1])
    for label, quantization in (
        (".mlpackage int8 linear weights", {"mode": "int8-dynamic"}),
        (".mlpackage palettized 8-bit", {"mode": "palettize", "bits": 8}),
        (".mlpackage palettized 6-bit", {"mode": "palettize", "bits": 6}),
    ):
        m = load_manifest(_project(project, quantization))
        name = label.split(" ", 1)[1].replace(" ", "-")

        def compressed(m=m, name=name) -> Path:
            base = float_package(work / f"{name}-float")
            plan = TRANSLATOR.plan(base, m.quantization.mode, True, None, work, source=source, manifest=m)
            return plan.quantize(work / name / coreml.MODEL_DIR)

        timed(label, compressed)
    timed(".pte ExecuTorch XNNPACK", lambda: get_backend("executorch").convert(source, manifest, work / "pte").main_path)
    timed(".onnx (onnxruntime backend)", lambda: get_backend("onnxruntime").convert(source, manifest, work / "onnx").main_path)
    base = _size(fp32)
    for row in rows:
        row["size_ratio_vs_fp32_mlpackage"] = round(row["size_bytes"] / base, 4)
        row["seconds"] = round(row["seconds"], 2)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-ios-") as tmp:
        rows = measure(Path(tmp))
    print(f"{'format':<34} {'size (bytes)':>12} {'ratio':>7} {'convert (s)':>11}")
    for r in rows:
        print(f"{r['format']:<34} {r['size_bytes']:>12} {r['size_ratio_vs_fp32_mlpackage']:>7.3f} {r['seconds']:>11.2f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
