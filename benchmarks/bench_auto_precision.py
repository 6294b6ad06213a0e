"""`quantization: {mode: auto}` on the ResNet-18 layout (benchmarks/models.py, 224x224, random
weights with BN statistics) for the x86 runtimes: which mode it builds, why, and the table of
candidates it chose from (size, accuracy against the float model, latency in the runtime's own
runner on this machine), from reports/quantization-auto.json.

The weights are random, so the budget is the outputs' cosine to the float model (top-1 of 1000
random logits says little) and the int8 gate's top-1 minimum is lifted; the rest of the gate holds.
Usage: python benchmarks/bench_auto_precision.py [--runtimes onnxruntime,openvino] [--calib 32] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_quantization import project  # noqa: E402

from edgesdk import api  # noqa: E402
from edgesdk.quantize import auto  # noqa: E402

BUDGET = {"metric": "cosine", "min": 0.99}


def build_auto(manifest_path: Path, runtime: str, calib: int, out: Path) -> tuple[dict, dict]:
    """Build the project at `manifest_path` for x86/`runtime` with mode auto; (sdk.json, the auto report)."""
    data = yaml.safe_load(manifest_path.read_text())
    data["quantization"] = {"mode": "auto", "calibration": {"data": "calib", "samples": calib, "method": "minmax"}, "accuracy_budget": BUDGET}
    data["parity"] = {"top1_agreement_min": 0.0}  # random weights: see the module's docstring
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = api.build(manifest_path, target="x86", runtime=runtime, out=out, force=True)
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    report = json.loads((result.bundle / "reports" / auto.REPORT_FILE).read_text())
    return sdk, report


def table(report: dict) -> str:
    lines = [f"{'mode':14} {'size MB':>8} {'cosine':>8} {'ms':>8} {'x float':>8}  eligible"]
    for c in report["candidates"]:
        cosine = c["metrics"].get("cosine")
        eligible = "yes" if c["meets_budget"] and (c["mode"] == "none" or c["speedup_vs_float"] >= report["min_speedup"]) else "no: " + "; ".join(c.get("failures") or ["too slow"])
        lines.append(f"{c['mode']:14} {c['size_bytes'] / 1e6:8.2f} {'-' if cosine is None else f'{cosine:.5f}':>8} {c['latency_ms']:8.2f} {c['speedup_vs_float']:8.2f}  {eligible}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default="onnxruntime,openvino")
    parser.add_argument("--calib", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="edgesdk-auto-") as tmp_name:
        tmp = Path(tmp_name)
        manifest_path = project(tmp, "resnet18-like", args.calib)
        for runtime in args.runtimes.split(","):
            sdk, report = build_auto(manifest_path, runtime, args.calib, tmp / "dist" / runtime)
            results[runtime] = report
            print(f"\nx86/{runtime}: chose {report['chosen']} ({report['why']}); sdk.json mode {sdk['quantization']['mode']}")
            print(table(report), flush=True)
    print(f"\nload average (1, 5, 15 min): {tuple(round(v, 1) for v in os.getloadavg())}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
