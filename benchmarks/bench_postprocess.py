"""Detection post-processing time per image (decode_boxes + nms), measured in one run: the Python
reference (edgesdk.processing) against the generated C++ SDK code (its post-processing sources
built with the SDK's Release flags into a small driver, tests/cpp/post_driver.py), on the outputs
of a 640x640 YOLO head: 8,400 candidates x 80 classes. Goal: C++ < 1 ms per image.

Cases: YOLOv8 layout ([1, 84, 8400], class scores already activated) with a realistic score
distribution (a few hundred candidates over the threshold, clustered around ~40 objects), the
same with raw logits (score_activation: sigmoid), the YOLOv5 row layout with objectness
([1, 8400, 85]), and a dense worst case where every candidate passes the threshold (NMS sees
pre_nms_topk = 1000 boxes). Timings are medians over --runs calls after a warm-up.
Usage: python benchmarks/bench_postprocess.py [--runs N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from cpp.post_driver import Case, build  # noqa: E402

from edgesdk.manifest.schema import post_step  # noqa: E402

N, C, SIDE = 8400, 80, 640
# A 1280x720 frame letterboxed into 640x640.
GEOMETRY = {"scale_x": 0.5, "scale_y": 0.5, "pad_left": 0.0, "pad_top": 140.0, "src_width": 1280, "src_height": 720, "input_width": SIDE, "input_height": SIDE}


def decode(**kw) -> dict:
    return post_step("decode_boxes", **{"transposed": True, **kw})


NMS = post_step("nms")


def yolo_rows(rng, *, dense: bool, logits: bool) -> np.ndarray:
    """[N, 4 + C] rows: boxes around ~40 objects, scores mostly near 0 (or everywhere, dense)."""
    objects = rng.uniform(40, 600, (40, 2))
    owner = rng.integers(0, len(objects), N)
    centers = objects[owner] + rng.normal(0, 6, (N, 2))
    sizes = rng.uniform(20, 120, (len(objects), 2))[owner] * rng.uniform(0.8, 1.2, (N, 2))
    if dense:
        scores = rng.uniform(0.26, 1.0, (N, C))
    else:
        scores = rng.beta(0.3, 30, (N, C))  # ~0.3% of values over 0.25
        hits = rng.random(N) < 0.05  # 420 candidates near an object score high for its class
        scores[hits, owner[hits] % C] = rng.uniform(0.3, 0.95, hits.sum())
    if logits:
        scores = np.log(scores / (1 - np.clip(scores, 1e-6, 1 - 1e-6)))
    return np.concatenate([centers, sizes, scores], 1).astype(np.float32)


def cases(rng) -> list[tuple[Case, str]]:
    """(case, what it is)"""
    sparse = yolo_rows(rng, dense=False, logits=False)
    logit = yolo_rows(rng, dense=False, logits=True)
    dense = yolo_rows(rng, dense=True, logits=False)
    objectness = np.concatenate([sparse[:, :4], rng.uniform(0.5, 1.0, (N, 1)).astype(np.float32), sparse[:, 4:]], 1)
    t = lambda rows: np.ascontiguousarray(rows.T[None])  # noqa: E731
    return [
        (Case("yolov8", [t(sparse)], [decode(), NMS], GEOMETRY), "[1, 84, 8400], scores activated"),
        (Case("yolov8_sigmoid", [t(logit)], [decode(score_activation="sigmoid"), NMS], GEOMETRY), "[1, 84, 8400], raw logits, sigmoid"),
        (Case("yolov5_objectness", [objectness[None]], [decode(transposed=False, objectness=True), NMS], GEOMETRY), "[1, 8400, 85], objectness"),
        (Case("dense_worst_case", [t(dense)], [decode(), NMS], GEOMETRY), "every candidate over the threshold"),
    ]


def python_ms(case: Case, runs: int) -> tuple[float, list]:
    """Median ms of the Python reference's post-processing, and its detections."""
    from edgesdk.processing import run_postprocess
    from edgesdk.processing.geometry import Geometry

    g = case.geometry
    geometry = Geometry(g["scale_x"], g["scale_y"], g["pad_left"], g["pad_top"], g["src_width"], g["src_height"])
    post = {"output_index": 0, "steps": case.steps, "labels": []}
    call = lambda: run_postprocess(case.outputs, "detection", post, geometry, input_hw=(g["input_height"], g["input_width"]))  # noqa: E731
    result = call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times)), result.detections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    todo = cases(rng)
    with tempfile.TemporaryDirectory() as tmp:
        driver = build("detection", [c for c, _ in todo], Path(tmp), optimize="-O3")  # CMake Release: -O3
        cpp_us = driver.time(Path(tmp) / "run", args.runs)
        cpp_found = driver.run(Path(tmp) / "check")
    rows = []
    for case, what in todo:
        py_ms, py_found = python_ms(case, max(5, args.runs // 10))
        cpp_ms = cpp_us[case.id] / 1e3
        got = cpp_found[case.id]
        # The same answer, or the timing compares different work.
        same = [d[0] for d in got] == [d.index for d in py_found] and all(np.allclose(d[2], w.box, atol=1e-4) and abs(d[1] - w.score) <= 1e-6 for d, w in zip(got, py_found))
        rows.append({"case": case.id, "what": what, "python_ms": py_ms, "cpp_ms": cpp_ms, "speedup": py_ms / cpp_ms, "detections": len(got), "same_detections": same})
        print(f"{case.id:20s} {what:40s} python {py_ms:8.3f} ms   C++ {cpp_ms:7.3f} ms   x{py_ms / cpp_ms:6.1f}   {len(got)} detections, {'the same' if same else 'DIFFERENT'}")
    goal = all(r["cpp_ms"] < 1.0 for r in rows if r["case"] != "dense_worst_case")
    print(f"goal C++ < 1 ms per image (realistic cases): {'met' if goal else 'NOT met'}")
    if args.out:
        args.out.write_text(json.dumps({"candidates": N, "classes": C, "runs": args.runs, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
