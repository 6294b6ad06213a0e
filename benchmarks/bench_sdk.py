"""Benchmark of the x86 / ONNX Runtime slice, as ratios measured in one run:

(a) build time of the example classifier, per stage;
(b) the generated C++ SDK end to end (pre + infer + post) and its infer stage against a bare
    ONNX Runtime C++ session on the same tensor: the glue's overhead (goal: infer stage < 5%);
(c) the Python reference pipeline (numpy pre/post + onnxruntime) against the C++ SDK.
Run for the example and for a ResNet-18-like model, where inference dominates.
Usage: python benchmarks/bench_sdk.py [--runs N] [--threads T] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples" / "classifier"))
sys.path.insert(0, str(REPO / "benchmarks"))

from edgesdk import api  # noqa: E402
from edgesdk.benchmark import bench_bundle  # noqa: E402


def _project(tmp: Path, name: str) -> Path:
    """Write a manifest (and model) for `name` into tmp; return the manifest path."""
    from models import write_project

    folder, data = write_project(tmp, name)
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for name in ("example", "resnet18-like"):
            manifest = _project(tmp, name)
            start = time.perf_counter()
            built = api.build(manifest, out=tmp / "dist" / name)
            build_s = time.perf_counter() - start
            bench = bench_bundle(built.bundle, runs=args.runs, threads=args.threads)
            results[name] = {"build_seconds": round(build_s, 3), "build_stages_seconds": {k: round(v, 3) for k, v in built.stages.items()}, **bench}
            r = bench["ratios"]
            print(f"\n== {name} ({args.runs} runs, {args.threads} thread(s)) ==")
            print(f"build: {build_s:.2f} s  ({', '.join(f'{k} {v:.2f}s' for k, v in built.stages.items())})")
            c, b, p = bench["cpp_sdk_ms"], bench["bare_session_ms"], bench["python_pipeline_ms"]
            print(f"C++ SDK   : e2e {c['e2e']:.3f} ms = pre {c['preprocess']:.3f} + infer {c['infer']:.3f} + post {c['postprocess']:.3f}")
            print(f"bare ORT  : {b:.3f} ms")
            print(f"python    : e2e {p['e2e']:.3f} ms = pre {p['preprocess']:.3f} + infer {p['infer']:.3f} + post {p['postprocess']:.3f}")
            print(
                f"ratios    : SDK infer / bare {r['sdk_infer_vs_bare_session']:.3f} (glue overhead {100 * (r['sdk_infer_vs_bare_session'] - 1):+.1f}%), "
                f"SDK e2e / bare {r['sdk_e2e_vs_bare_session']:.3f}, python e2e / SDK e2e {r['python_e2e_vs_sdk_e2e']:.2f}x, "
                f"python pre / SDK pre {r['python_preprocess_vs_sdk_preprocess']:.2f}x"
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
