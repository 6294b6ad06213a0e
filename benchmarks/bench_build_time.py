"""Build time of the ResNet-18 layout (benchmarks/models.py, 224x224, 32 calibration photos), fp32
and int8, per runtime, with each build's stage times (api.BuildResult.stages), in one process.

Each bundle is built twice: cold (an empty build cache, edgesdk/buildcache.py) and warm (the
cache the earlier builds filled: calibration tensors, reference outputs). The table prints both
and the total; run it on the code before a change (PYTHONPATH pointing at that checkout) for the
"before" column. Timings on a shared machine swing with its load: the load average is printed.
The int8 column of each runtime is the int8 mode it has (static `int8`, else `int8-dynamic`: Core ML)
with a calibration method it honours (`minmax` where it can, else the translator's own: MNN and
TensorRT take `entropy`), calibrated on the photos where the runtime runs the model here.
`--jobs N` runs the builds of each pass on N processes of their own (spawned: a fresh interpreter
each, as `edgesdk matrix --jobs` gives every cell), the slowest builds first, and prints the pass's
wall time beside the sum of the builds' times: what building every runtime takes on all the
machine's cores. The processes share the build cache on disk, as parallel builds do; what a build
keeps in memory (one torch.export per source) stays in its process.
Usage: python benchmarks/bench_build_time.py [--runtimes all | onnxruntime:x86,openvino:x86] [--calib 32] [--jobs 1] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_quantization import project  # noqa: E402

from edgesdk import api  # noqa: E402

# One target per runtime (the runtime builds the same model for each of its targets).
ALL_RUNTIMES = "onnxruntime:x86,openvino:x86,tflite:android,executorch:android,ncnn:arm,mnn:arm,coreml:ios,tensorrt:jetson"


def int8_quantization(runtime: str, calib: int) -> dict:
    """The manifest's `quantization` block of the runtime's int8 build, as its translator allows it."""
    from edgesdk import quantize

    modes = _translator(runtime).modes
    mode = "int8" if "int8" in modes else "int8-dynamic"
    translator = quantize.get_translator(runtime, mode)
    if not getattr(translator, "runs_model", True):
        return {"mode": mode}  # weights only: the runtime refuses calibration data it cannot run
    method = quantize.honoured_methods(translator, mode, "minmax")[0]
    return {"mode": mode, "calibration": {"data": "calib", "samples": calib, "method": method}}


def _translator(runtime: str):
    import importlib

    from edgesdk import quantize

    return importlib.import_module(quantize.translator_modules()[runtime]).TRANSLATOR


def build(manifest_path: Path, runtime: str, target: str, mode: str, calib: int, out: Path) -> dict:
    # Each build writes a manifest of its own beside the project's (builds may run at once).
    manifest_path = shutil.copyfile(manifest_path, manifest_path.with_name(f"edgesdk-{runtime}-{mode}.yaml"))
    data = yaml.safe_load(manifest_path.read_text())
    data["quantization"] = {"mode": "none"} if mode == "none" else int8_quantization(runtime, calib)
    data["parity"] = {} if mode == "none" else {"top1_agreement_min": 0.0, "cosine_min": 0.9}  # random weights: not gated on top-1
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    start = time.perf_counter()
    result = api.build(manifest_path, target=target, runtime=runtime, out=out, force=True)
    return {"seconds": time.perf_counter() - start, "stages": {k: round(v, 2) for k, v in result.stages.items()}, "zip_sha256": result.zip_sha256}


# The slowest builds first, so that N processes finish close together (measured cold, 2026-11-29).
SLOWEST_FIRST = ["executorch", "tensorrt", "mnn", "coreml", "openvino", "tflite", "ncnn", "onnxruntime"]


def _build_job(job: tuple) -> dict:
    return build(*job)


def _run(jobs: list[tuple], processes: int):
    """(job, result) of every build: in this process, or on `processes` spawned ones, slowest first."""
    if processes == 1:
        for job in jobs:
            yield job, build(*job)
        return
    ordered = sorted(jobs, key=lambda job: (SLOWEST_FIRST.index(job[1]) if job[1] in SLOWEST_FIRST else len(SLOWEST_FIRST), job[3] == "none"))
    with multiprocessing.get_context("spawn").Pool(processes, maxtasksperchild=None) as pool:
        yield from zip(ordered, pool.imap(_build_job, ordered))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default="all", help=f"runtime:target pairs, or all ({ALL_RUNTIMES})")
    parser.add_argument("--modes", default="none,int8")
    parser.add_argument("--calib", type=int, default=32)
    parser.add_argument("--passes", default="cold,warm")
    parser.add_argument("--jobs", type=int, default=1, help="processes building at once (default 1: every build in this process)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    pairs = (ALL_RUNTIMES if args.runtimes == "all" else args.runtimes).split(",")
    load_before = os.getloadavg()
    rows: dict[str, dict[str, dict]] = {}
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edgesdk-buildtime-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["EDGESDK_BUILD_CACHE"] = str(tmp / "cache")  # cold means cold: a cache of its own
        manifest_path = project(tmp, "resnet18-like", args.calib)
        builds = [(pair.split(":")[0], pair.split(":")[1], mode) for pair in pairs for mode in args.modes.split(",")]
        for phase in args.passes.split(","):
            jobs = [(manifest_path, runtime, target, mode, args.calib, tmp / "dist" / phase / f"{runtime}-{mode}") for runtime, target, mode in builds]
            start = time.perf_counter()
            for (_, runtime, _, mode, _, _), row in _run(jobs, args.jobs):
                label = f"{runtime} {'fp32' if mode == 'none' else 'int8'}"
                rows.setdefault(label, {})[phase] = row
                print(f"{phase:5} {label:22} {row['seconds']:7.1f} s  {row['stages']}", flush=True)
            walls[phase] = time.perf_counter() - start
    phases = args.passes.split(",")
    print(f"\n{'bundle':22} " + " ".join(f"{p + ' s':>9}" for p in phases))
    for label, by_phase in rows.items():
        print(f"{label:22} " + " ".join(f"{by_phase[p]['seconds']:9.1f}" for p in phases))
    print(f"{'total':22} " + " ".join(f"{sum(r[p]['seconds'] for r in rows.values()):9.1f}" for p in phases))
    print(f"{f'wall, {args.jobs} process' + ('es' if args.jobs > 1 else ''):22} " + " ".join(f"{walls[p]:9.1f}" for p in phases))
    print(f"load average (1, 5, 15 min): before {tuple(round(v, 1) for v in load_before)}, after {tuple(round(v, 1) for v in os.getloadavg())}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "jobs": args.jobs, "wall_seconds": walls, "load_average": {"before": load_before, "after": os.getloadavg()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
