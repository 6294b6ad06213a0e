"""Wall time of one `edgesdk matrix` on this machine: local processes with --jobs 1 and --jobs 2,
and Ray on this machine (ray.init with this machine's CPUs), ratios against --jobs 1 of the same
run; plus --jobs 2 without the shared work, which is what sharing saves.

The matrix is the example classifier for x86 with ONNX Runtime and OpenVINO in three precisions
(none, fp16, int8 calibrated on 8 images): 6 cells. Every run builds into a fresh folder; all
runs must give the same bundle digests.
The per-cell figures (mean build time, the shared-work task's time, the time a cell spends on
what it would otherwise compute itself) feed the N-node estimate in docs/matrix.md.
Usage: python benchmarks/bench_matrix.py [--out results.json] [--skip-ray] [--saving-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "classifier"
CALIBRATION = {"data": "calib/", "samples": 8, "method": "minmax"}


def make_project(root: Path) -> Path:
    """The example (model.pt written by its own code) with calibration images; returns the matrix file."""
    sys.path.insert(0, str(EXAMPLE))
    import torch
    from classifier_model import trained_classifier
    from PIL import Image

    from edgesdk.golden import SAMPLE_IMAGES_DIR

    project = root / "classifier"
    project.mkdir(parents=True)
    for name in ("edgesdk.yaml", "labels.txt"):
        shutil.copy(EXAMPLE / name, project / name)
    torch.jit.script(trained_classifier()).save(str(project / "model.pt"))
    (project / "calib").mkdir()
    for photo in sorted(SAMPLE_IMAGES_DIR.glob("*.png")):
        image = Image.open(photo).convert("RGB")
        image.save(project / "calib" / photo.name)
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(project / "calib" / f"{photo.stem}-mirrored.png")
    matrix = {
        "schema_version": 1,
        "manifests": ["classifier/edgesdk.yaml"],
        "axes": {"targets": ["x86"], "runtimes": ["onnxruntime", "openvino"], "quantization": ["none", "fp16", {"mode": "int8", "calibration": CALIBRATION}]},
        "resources": {"num_cpus": 1, "memory_mb": 1024},
    }
    path = root / "matrix.yaml"
    path.write_text(yaml.safe_dump(matrix, sort_keys=False), encoding="utf-8")
    return path


def run(label: str, matrix: Path, out: Path, **kwargs) -> dict:
    from edgesdk.matrix import run_matrix

    result = run_matrix(matrix, out=out / label, **kwargs)
    if result.failed:
        raise SystemExit(f"{label}: cells failed: {result.failed}")
    ok = [c for c in result.cells if c["status"] == "ok"]
    figures = {
        "label": label,
        "wall_s": round(result.seconds, 2),
        "shared_work_s": round(result.shared_seconds, 2),
        "cells_ok": len(ok),
        "cell_build_s_mean": round(statistics.mean(c["seconds"] for c in ok), 2),
        "cell_build_s_sum": round(sum(c["seconds"] for c in ok), 2),
        "shared_hits": sum(c["shared_hits"] for c in ok),
        "digests": {c["name"]: c["bundle_sha256"] for c in ok},
        "cells": [{k: c[k] for k in ("name", "seconds", "stages", "shared_hits", "size_bytes")} for c in ok],
    }
    print(f"{label:<24} wall {figures['wall_s']:7.1f} s  shared work {figures['shared_work_s']:5.1f} s  mean cell {figures['cell_build_s_mean']:5.1f} s", file=sys.stderr)
    return figures


def shared_work_saving(matrix: Path, rounds: int = 5) -> dict:
    """What a cell saves, measured in one warm process (so not at the mercy of other load on the
    machine): computing the shared work (calibration tensors, reference outputs) against loading
    the .npz the matrix hands the cell. Medians of `rounds`."""
    import time

    from edgesdk import api, workcache
    from edgesdk.matrix import load_matrix
    from edgesdk.matrix.cell import cell_manifest

    cell = next(c for c in load_matrix(matrix).cells if c.precision == "int8")
    manifest = cell_manifest(cell)
    entries = api.shared_work(manifest, cell.target, cell.runtime)  # warm: imports, the model's first run
    npz = matrix.parent / "shared.npz"
    workcache.save(entries, npz)
    computed, loaded = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        api.shared_work(manifest, cell.target, cell.runtime)
        computed.append(time.perf_counter() - start)
        start = time.perf_counter()
        workcache.load(npz)
        loaded.append(time.perf_counter() - start)
    return {
        "entries": len(entries),
        "npz_bytes": npz.stat().st_size,
        "compute_s": round(statistics.median(computed), 3),
        "load_s": round(statistics.median(loaded), 3),
        "saving_per_cell_s": round(statistics.median(computed) - statistics.median(loaded), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    parser.add_argument("--skip-ray", action="store_true", help="local processes only")
    parser.add_argument("--saving-only", action="store_true", help="only the in-process shared-work measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-matrix-") as tmp:
        root = Path(tmp)
        matrix = make_project(root)
        if args.saving_only:
            print(json.dumps(shared_work_saving(matrix), indent=2))
            return
        runs = [
            run("jobs1", matrix, root, jobs=1),
            run("jobs2", matrix, root, jobs=2),
            run("jobs2-no-shared-work", matrix, root, jobs=2, share_work=False),
        ]
        saving = shared_work_saving(matrix)
        if not args.skip_ray:
            import ray

            ray.init(include_dashboard=False, object_store_memory=128 * 1024 * 1024, log_to_driver=False)
            try:
                runs.append(run("ray", matrix, root, ray_address="auto"))
            finally:
                ray.shutdown()
    base = runs[0]["wall_s"]
    for r in runs:
        r["ratio_vs_jobs1"] = round(r["wall_s"] / base, 3)
    identical = all(r["digests"] == runs[0]["digests"] for r in runs)
    shared, unshared = runs[1], runs[2]
    summary = {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),  # other work on the machine during the runs
        "runs": [{k: v for k, v in r.items() if k not in ("digests", "cells")} for r in runs],
        "identical_bundles": identical,
        # What a cell no longer computes itself, and what computing it once costs.
        "shared_saving_per_cell_s": round((unshared["cell_build_s_sum"] - shared["cell_build_s_sum"]) / shared["cells_ok"], 2),
        "shared_work_task_s": shared["shared_work_s"],
        "shared_work_in_process": saving,
        "cells": runs[0]["cells"],
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if not identical:
        raise SystemExit("bundle digests differ between runs")


if __name__ == "__main__":
    main()
