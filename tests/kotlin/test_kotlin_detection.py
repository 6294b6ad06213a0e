"""Detection and segmentation in the Kotlin SDK: bundles built from small models with each output
layout of docs/processing.md; their pure-Kotlin cores run on the host JVM on images of odd sizes,
on the models' own outputs and on made-up outputs full of ties, NaNs and boxes exactly at the IoU
threshold, against the Python reference, OpenCV's NMSBoxes and a per-pixel mask written from the
documented formula; errors name the output and its layout; `edgesdk test` passes (the Android
layer and sample app compile-checked); an 8400 x 80 YOLO head post-processes fast."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from detection_models import BoxesScoresHead, SegNet, YoloHead, write_project
from PIL import Image
from toolchains import need

from edgesdk import api, hosttest_kotlin
from edgesdk.cli import main
from edgesdk.errors import ToolchainError
from edgesdk.golden import SAMPLE_IMAGES_DIR
from edgesdk.manifest import load_manifest
from edgesdk.processing import run_preprocess
from edgesdk.processing.postprocess import run_postprocess

pytestmark = pytest.mark.kotlin

SCALE = {"normalize": {"mean": [0, 0, 0], "std": [255, 255, 255]}}
NCHW = {"layout": "nchw"}


@dataclass
class Spec:
    model: Any
    input_hw: tuple[int, int]
    outputs: list[str]
    task: str
    pre: list[dict]
    post: list[dict]
    labels: int | None = None
    synthetic: dict[str, Any] = field(default_factory=dict)


SPECS = {
    # YOLOv8's export: [1, 4 + C, N], centers, sigmoid of raw class logits; letterboxed input.
    "det-yolo-t": Spec(
        lambda: YoloHead(5, objectness=False, transposed=True),
        (64, 80),
        ["out"],
        "detection",
        [{"letterbox": {"size": [64, 80], "pad_value": 114}}, SCALE, NCHW],
        [{"decode_boxes": {"transposed": True, "score_activation": "sigmoid"}}, {"nms": {"score_threshold": 0.8, "iou_threshold": 0.45}}],
    ),
    # YOLOv5-style rows [1, N, 4 + 1 + C] with objectness, corners as fractions of the input, every class a candidate.
    "det-yolo-obj": Spec(
        lambda: YoloHead(3, objectness=True, transposed=False, box="xyxy", normalized=True, logits=False),
        (48, 48),
        ["rows"],
        "detection",
        [{"resize": {"size": [60, 60], "keep_ratio": True}}, {"center_crop": {"size": [48, 48]}}, SCALE, NCHW],
        [{"decode_boxes": {"box": "xyxy", "objectness": True, "normalized": True, "multi_label": True}}, {"nms": {"score_threshold": 0.3, "iou_threshold": 0.5, "pre_nms_topk": 50}}],
    ),
    # Two outputs, the scores first: the step names them.
    "det-bs": Spec(
        lambda: BoxesScoresHead(4),
        (56, 72),
        ["scores", "boxes"],
        "detection",
        [{"resize": {"size": [56, 72]}}, SCALE, NCHW],
        [
            {"decode_boxes": {"format": "boxes_scores", "box": "xyxy", "boxes": "boxes", "scores": "scores"}},
            {"nms": {"score_threshold": 0.3, "iou_threshold": 0.45, "class_agnostic": True, "max_detections": 7, "pre_nms_topk": 15}},
        ],
        labels=4,
    ),
    "seg-nchw": Spec(
        lambda: SegNet(4, "nchw"),
        (64, 80),
        ["scores"],
        "segmentation",
        [{"letterbox": {"size": [64, 80], "pad_value": 0}}, SCALE, NCHW],
        [{"mask": {"activation": "argmax", "palette": [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]}}],
        labels=4,
    ),
    "seg-nhwc": Spec(lambda: SegNet(3, "nhwc"), (48, 64), ["scores"], "segmentation", [{"resize": {"size": [48, 64]}}, SCALE, NCHW], [{"mask": {"layout": "nhwc"}}]),
    "seg-sigmoid": Spec(
        lambda: SegNet(1, "sigmoid"),
        (48, 48),
        ["logit"],
        "segmentation",
        [{"resize": {"size": [50, 50], "keep_ratio": True}}, {"center_crop": {"size": [48, 48]}}, SCALE, NCHW],
        [{"mask": {"activation": "sigmoid", "threshold": 0.3}}],
        labels=2,
    ),
    "seg-ids": Spec(lambda: SegNet(5, "ids"), (40, 56), ["ids"], "segmentation", [{"letterbox": {"size": [40, 56], "align": "top_left"}}, SCALE, NCHW], [{"mask": {"activation": "none"}}]),
}


def _need_kotlin():
    need(hosttest_kotlin.toolchain_problem())


@dataclass
class Built:
    name: str
    bundle: Path
    manifest: Any  # edgesdk.manifest.Manifest
    labels: list[str]

    @property
    def post_spec(self) -> dict[str, Any]:
        return {"output_index": self.manifest.post_output_index(), "steps": self.manifest.post_steps(), "labels": self.labels}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("kotlin-detection")
    out = {}
    for name, spec in SPECS.items():
        path = write_project(root / name, name, spec.model(), spec.input_hw, spec.outputs, spec.task, spec.pre, spec.post, spec.labels)
        bundle = api.build(path, target="android", runtime="onnxruntime", out=root / name / "dist").bundle
        labels = (root / name / "labels.txt").read_text(encoding="utf-8").splitlines() if spec.labels else []
        out[name] = Built(name, bundle, load_manifest(path), labels)
    return out


@pytest.fixture(scope="module")
def cores(built, tmp_path_factory) -> Path:
    """One kotlinc run for every bundle's core (kotlinc takes about a minute per run here)."""
    _need_kotlin()
    folder = tmp_path_factory.mktemp("kotlin-detection-cores")
    sources = []
    for b in built.values():
        sources += hosttest_kotlin.core_sources(b.bundle / "sdk" / "kotlin")
        sources.append(hosttest_kotlin.write_runner(hosttest_kotlin.package_of(b.name), folder / "runners"))
    seconds = hosttest_kotlin.compile_kotlin(sources, folder / "cores.jar")
    print(f"one kotlinc compile of {len(built)} cores: {seconds:.1f} s")
    return folder / "cores.jar"


def _photos() -> list[np.ndarray]:
    """Sample photos at odd sizes the golden vectors never had (tall, wide, tiny, square)."""
    sizes = [(91, 37), (33, 120), (65, 65), (150, 201), (7, 5)]
    srcs = sorted(SAMPLE_IMAGES_DIR.glob("*.png"))
    return [np.asarray(Image.open(srcs[i % len(srcs)]).convert("RGB").resize((w, h), Image.BILINEAR)) for i, (w, h) in enumerate(sizes)]


def _model_outputs(b: Built, tensor: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    sdk = json.loads((b.bundle / "sdk.json").read_text())
    session = ort.InferenceSession(str(b.bundle / sdk["model"]["file"]), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: tensor})


# ---- made-up detection outputs ----------------------------------------------------------------
def _made_up_candidates(rng: np.random.Generator, n: int, classes: int, in_w: int, in_h: int, iou_threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Corner boxes on a half-pixel grid (exact in float32) and class probabilities drawn from a few
    values (ties everywhere, some exactly at the score threshold); with `iou_threshold`, groups of
    boxes whose IoU is exactly the threshold and just above it; duplicates, zero-area boxes, boxes
    outside the input, NaN scores."""
    x0 = rng.integers(-8, in_w, n).astype(np.float64)
    y0 = rng.integers(-8, in_h, n).astype(np.float64)
    # One zero-area box only: OpenCV gives two of them an IoU of 1, the contract 0 (no union).
    w = rng.integers(1, 30, n) / 2.0
    h = rng.integers(1, 24, n) / 2.0
    boxes = np.stack([x0, y0, x0 + w, y0 + h], 1)
    levels = np.float32([0.2, 0.25, 0.3, 0.45, 0.6, 0.6, 0.9, 1.0])
    scores = levels[rng.integers(0, len(levels), (n, classes))]
    if iou_threshold is not None:
        # IoU of a 20 x 10 box with the k x 10 box inside it is k / 20: 0.45 exactly for k = 9, 0.5 for k = 10.
        k = round(iou_threshold * 20)
        assert k / 20 == iou_threshold
        for i in range(0, n - 5, 9):
            x, y = float(rng.integers(0, in_w - 20)), float(rng.integers(0, in_h - 10))
            boxes[i] = [x, y, x + 20, y + 10]
            boxes[i + 1] = [x, y, x + k, y + 10]  # exactly at the threshold: kept
            boxes[i + 2] = [x + 20 - k - 1, y, x + 20, y + 10]  # just above: suppressed
            boxes[i + 3] = boxes[i]  # a duplicate
            scores[i : i + 4] = scores[i]
    boxes[n - 1] = [10, 10, 10, 20]  # zero area
    scores[n - 2, 0] = np.nan
    return boxes, scores


def _encode(boxes: np.ndarray, scores: np.ndarray, step: dict, in_w: int, in_h: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The made-up candidates in the layout `step` decodes (and its model outputs' order)."""
    b = boxes.copy()
    if step["box"] == "cxcywh":
        b = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    if step["normalized"]:
        b = b / np.array([in_w, in_h, in_w, in_h])
    s = scores.astype(np.float64)
    if step["score_activation"] == "sigmoid":
        with np.errstate(divide="ignore"):
            s = np.log(s / (1 - s))  # logits: sigmoid brings the ties back
    if step["format"] == "boxes_scores":
        out = {step["boxes_index"]: b[None].astype(np.float32), step["scores_index"]: s[None].astype(np.float32)}
        return [out[i] for i in range(len(out))]
    parts = [b]
    if step["objectness"]:
        # objectness x class score: 0.5 x levels, and 1.0 keeps the levels themselves.
        objectness = np.where(rng.random(len(b)) < 0.5, 0.5, 1.0)
        parts.append(objectness[:, None])
    rows = np.concatenate(parts + [s], 1).astype(np.float32)
    return [(rows.T if step["transposed"] else rows)[None]]


def _cv2_detections(candidates: list[tuple], nms: dict) -> list[tuple]:
    """What OpenCV's NMSBoxes keeps of (number, box, score, class) candidates, per class unless
    class_agnostic, after the same pre_nms_topk, merged by score and number, max_detections."""
    ranked = sorted(candidates, key=lambda c: (-c[2], c[0]))[: nms["pre_nms_topk"]]
    groups = [ranked] if nms["class_agnostic"] else [[c for c in ranked if c[3] == k] for k in sorted({c[3] for c in ranked})]
    kept = []
    for group in groups:
        if not group:
            continue
        rects = [[float(c[1][0]), float(c[1][1]), float(c[1][2] - c[1][0]), float(c[1][3] - c[1][1])] for c in group]
        picked = np.asarray(cv2.dnn.NMSBoxes(rects, [float(c[2]) for c in group], 0.0, nms["iou_threshold"])).ravel()
        kept += [group[i] for i in picked]
    return sorted(kept, key=lambda c: (-c[2], c[0]))[: nms["max_detections"]]


def _independent_candidates(outputs: list[np.ndarray], decode: dict, threshold: float, in_w: int, in_h: int) -> list[tuple]:
    """(number, corners, score, class) of each candidate above the threshold, read from the
    encoded outputs one row at a time (plain Python box arithmetic, numpy float32 scores)."""
    outputs = [o.astype(np.float32) for o in outputs]
    if decode["format"] == "yolo":
        rows = outputs[decode["boxes_index"]][0]
        rows = rows.T if decode["transposed"] else rows
        first = 5 if decode["objectness"] else 4
        raw, objectness, classes = rows[:, :4], rows[:, 4] if decode["objectness"] else None, rows[:, first:]
    else:
        raw, objectness, classes = outputs[decode["boxes_index"]][0], None, outputs[decode["scores_index"]][0]
    if decode["score_activation"] == "sigmoid":
        with np.errstate(over="ignore"):
            classes = np.float32(1) / (np.float32(1) + np.exp(-classes))
            objectness = None if objectness is None else np.float32(1) / (np.float32(1) + np.exp(-objectness))
    out = []
    for i in range(len(raw)):
        a, b, c, d = (float(v) for v in raw[i])
        corners = [a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d] if decode["box"] == "cxcywh" else [a, b, c, d]
        if decode["normalized"]:
            corners = [corners[0] * in_w, corners[1] * in_h, corners[2] * in_w, corners[3] * in_h]
        s = classes[i] if objectness is None else objectness[i] * classes[i]
        picks = range(len(s)) if decode["multi_label"] else [int(np.argmax(np.where(np.isnan(s), -np.inf, s)))]
        out += [(len(out), corners, float(s[c]), c) for c in picks if float(s[c]) > threshold]
    return out


# ---- the runs ---------------------------------------------------------------------------------
def _run(jar: Path, b: Built, cases: dict[str, tuple[np.ndarray, list[np.ndarray]]], work: Path) -> tuple[Path, dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    lines = []
    for case_id, (image, outputs) in cases.items():
        np.save(work / f"{case_id}.npy", image)
        paths = []
        for i, o in enumerate(outputs):
            np.save(work / f"{case_id}.out{i}.npy", np.ascontiguousarray(o))  # the .npy reader takes C order
            paths.append(work / f"{case_id}.out{i}.npy")
        lines.append(hosttest_kotlin.case_line(case_id, work / f"{case_id}.npy", image.shape[1], image.shape[0], paths))
    return hosttest_kotlin.run_runner(jar, hosttest_kotlin.package_of(b.name), lines, work)


def _reference(b: Built, image: np.ndarray, outputs: list[np.ndarray]):
    pre = run_preprocess(image, "rgb", b.manifest.pre_steps())
    return pre, run_postprocess(outputs, b.manifest.task, b.post_spec, pre.geometry, pre.input_hw)


def _assert_same_detections(got: list[dict], want: list[dict], where: str, score_tol: float) -> None:
    assert [(d["label"], d["index"]) for d in got] == [(d["label"], d["index"]) for d in want], where
    for g, w in zip(got, want):
        assert np.float32(g["box"]).tobytes() == np.float32(w["box"]).tobytes(), (where, g, w)
        assert abs(np.float32(g["score"]) - np.float32(w["score"])) <= score_tol, (where, g, w)


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.task == "detection"])
def test_kotlin_detection_matches_the_reference_and_opencv(built, cores, name, tmp_path):
    b = built[name]
    decode, nms = b.manifest.post_steps()
    in_h, in_w = SPECS[name].input_hw
    rng = np.random.default_rng(sum(map(ord, name)))
    cases = {}
    for i, photo in enumerate(_photos()):
        pre = run_preprocess(photo, "rgb", b.manifest.pre_steps())
        cases[f"photo{i}"] = (photo, _model_outputs(b, pre.tensor))
    classes = len(b.labels) or 5
    for i in range(8):
        photo = _photos()[i % 5]
        # Normalized corners are not exact in float32: no boxes exactly at the IoU threshold there.
        boxes, scores = _made_up_candidates(rng, int(rng.integers(20, 200)), classes, in_w, in_h, None if decode["normalized"] else nms["iou_threshold"])
        outputs = _encode(boxes, scores, decode, in_w, in_h, rng)
        # Any numeric dtype is read as float32: one case in float16.
        cases[f"made{i}"] = (photo, [o.astype(np.float16) for o in outputs] if i == 7 else outputs)
    _dump, printed = _run(cores, b, cases, tmp_path)
    # sigmoid: Java's exp and numpy's float32 exp may differ by one ulp.
    score_tol = 1e-6 if decode["score_activation"] == "sigmoid" else 0.0
    kept = at_threshold = 0
    for case_id, (image, outputs) in cases.items():
        pre, want = _reference(b, image, outputs)
        got = printed[case_id]["result"]["detections"]
        _assert_same_detections(got, want.to_json()["detections"], f"{name} {case_id}", score_tol)
        kept += len(got)
        expected = _cv2_detections(_independent_candidates(outputs, decode, nms["score_threshold"], in_w, in_h), nms)
        assert [c[3] for c in expected] == [d["index"] for d in got], f"{name} {case_id}: OpenCV keeps other boxes"
        at_threshold += sum(_iou(a[1], c[1]) == nms["iou_threshold"] for i, a in enumerate(expected) for c in expected[i + 1 :] if nms["class_agnostic"] or a[3] == c[3])
        g = pre.geometry
        for c, d in zip(expected, got):
            x = np.clip((np.array([c[1][0], c[1][2]]) - g.pad_left) / g.scale_x, 0, g.src_width)
            y = np.clip((np.array([c[1][1], c[1][3]]) - g.pad_top) / g.scale_y, 0, g.src_height)
            assert np.allclose([x[0], y[0], x[1], y[1]], d["box"], rtol=0, atol=1e-4) and abs(np.float32(c[2]) - np.float32(d["score"])) <= score_tol, (name, case_id, c, d)
    print(f"{name}: {len(cases)} cases, {kept} detections ({at_threshold} pairs kept at IoU = the threshold), identical to the reference and OpenCV")
    assert kept > 0 and (at_threshold > 0 or decode["normalized"])


def _iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _mask_by_formula(cells: np.ndarray, geometry, input_hw: tuple[int, int]) -> np.ndarray:
    """docs/processing.md's mapping, one pixel at a time in plain Python floats."""
    mh, mw = cells.shape
    out = np.zeros((geometry.src_height, geometry.src_width), np.uint8)
    for y in range(geometry.src_height):
        my = min(max(math.floor(((y + 0.5) * geometry.scale_y + geometry.pad_top) * mh / input_hw[0]), 0), mh - 1)
        for x in range(geometry.src_width):
            mx = min(max(math.floor(((x + 0.5) * geometry.scale_x + geometry.pad_left) * mw / input_hw[1]), 0), mw - 1)
            out[y, x] = cells[my, mx]
    return out


def _made_up_mask_output(step: dict, rng: np.random.Generator, classes: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(model output, the class of each cell) at a resolution of its own, with ties and NaNs."""
    if step["activation"] == "argmax":
        scores = rng.integers(0, 3, (classes, h, w)).astype(np.float32)  # ties: the lowest class wins
        scores[:, 0, 0] = np.nan
        scores[1:, 0, 1] = np.nan  # NaN never wins: class 0
        masked = np.where(np.isnan(scores), -np.inf, scores)
        cells = np.argmax(masked, 0).astype(np.uint8)
        out = scores if step["layout"] == "nchw" else scores.transpose(1, 2, 0)
        return out[None], cells
    if step["activation"] == "sigmoid":
        t = step["logit_threshold"]
        logits = rng.choice(np.float32([np.nextafter(np.float32(t), np.float32(-9)), np.float32(t), np.nextafter(np.float32(t), np.float32(9)), -3, 3, np.nan]), (1, h, w))
        return logits[None].astype(np.float32), (logits[0].astype(np.float64) > t).astype(np.uint8)
    ids = rng.integers(0, 7, (h, w))
    return ids[None].astype(np.int64), ids.astype(np.uint8)


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.task == "segmentation"])
def test_kotlin_segmentation_matches_the_reference_and_the_formula(built, cores, name, tmp_path):
    b = built[name]
    (step,) = b.manifest.post_steps()
    rng = np.random.default_rng(sum(map(ord, name)))
    cases, cells = {}, {}
    photos = _photos()
    for i, photo in enumerate(photos):
        pre = run_preprocess(photo, "rgb", b.manifest.pre_steps())
        cases[f"photo{i}"] = (photo, _model_outputs(b, pre.tensor))
    for i, (h, w) in enumerate([(7, 11), (64, 80), (1, 2), (33, 5)]):
        output, cell = _made_up_mask_output(step, rng, len(b.labels) or 3, h, w)
        if i == 3:  # any numeric dtype is read as float32 (class ids as they are)
            output = output.astype(np.float64 if step["activation"] == "sigmoid" else np.float16 if step["activation"] == "argmax" else np.uint8)
        cases[f"made{i}"] = (photos[i], [output])
        cells[f"made{i}"] = cell
    dump, printed = _run(cores, b, cases, tmp_path)
    for case_id, (image, outputs) in cases.items():
        pre, want = _reference(b, image, outputs)
        meta = json.loads((dump / case_id / "dump.json").read_text())["mask"]
        assert meta["name"] == "mask" and meta["dtype"] == "uint8" and meta["shape"] == [image.shape[0], image.shape[1]]
        got = np.fromfile(dump / case_id / meta["file"], np.uint8).reshape(meta["shape"])
        assert got.tobytes() == want.mask.class_ids, f"{name} {case_id}: {np.mean(got.ravel() != np.frombuffer(want.mask.class_ids, np.uint8))} of pixels differ"
        assert printed[case_id]["result"] == want.to_json(), (name, case_id)
        if case_id in cells:
            assert np.array_equal(got, _mask_by_formula(cells[case_id], pre.geometry, pre.input_hw)), (name, case_id)
    print(f"{name}: {len(cases)} masks, identical to the reference")


# ---- bad outputs: one clear error naming the output and the layout it must have ----------------
BAD_OUTPUTS = [
    ("det-yolo-t", [np.zeros((1, 4, 30), np.float32)], "decode_boxes (yolo): output 'out' must be [1, 4 box values, C class scores, N] with C >= 1"),
    ("det-yolo-t", [np.zeros((1, 84), np.float32)], "output 'out' must be [1, 4 box values, C class scores, N]"),
    ("det-yolo-obj", [np.zeros((1, 2, 9, 30), np.float16)], "output 'rows' must be [1, N, 4 box values, objectness, C class scores] with C >= 1, got [1, 2, 9, 30]"),
    ("det-bs", [np.zeros((1, 30, 5), np.float32), np.zeros((1, 30, 4), np.float32)], "4 labels for 5 classes in output 'scores'"),
    ("det-bs", [np.zeros((1, 30, 4), np.float32), np.zeros((1, 31, 4), np.float32)], "scores output 'scores' must be [1, N, C] with N = 31 (the boxes' N)"),
    ("det-bs", [np.zeros((1, 30, 4), np.float32)], "decode_boxes reads outputs 1 (boxes) and 0 (scores)"),
    ("seg-nchw", [np.zeros((1, 4, 5), np.float32)], "mask (argmax): output 'scores' must be [1, C, h, w]"),
    ("seg-nhwc", [np.zeros((1, 5, 5, 300), np.float32)], "[1, h, w, C] has C = 300 classes; 1..256 fit a mask"),
    ("seg-sigmoid", [np.zeros((1, 2, 5, 5), np.float32)], "mask (sigmoid): output 'logit' must be [1, 1, h, w] or [1, h, w]"),
    ("seg-ids", [np.full((1, 5, 5), 256, np.int64)], "mask (none): output 'ids' holds 256.0 at element 0; class ids are integers 0..255"),
    ("seg-ids", [np.full((1, 5, 5), 1.5, np.float32)], "holds 1.5 at element 0"),
]


@pytest.mark.parametrize(("name", "outputs", "message"), BAD_OUTPUTS, ids=[f"{n}-{i}" for i, (n, _o, _m) in enumerate(BAD_OUTPUTS)])
def test_bad_outputs_are_one_clear_error(built, cores, name, outputs, message, tmp_path):
    with pytest.raises(ToolchainError) as info:
        _run(cores, built[name], {"bad": (_photos()[2], outputs)}, tmp_path)
    assert message in str(info.value)
    assert "InvalidInputException" in str(info.value)


def test_a_yolov8_head_of_8400_x_80_post_processes_fast(built, cores, tmp_path):
    """[1, 84, 8400] with sigmoid (672,000 scores, argmax per row) and [1, 8400, 85] multi_label
    (some 470,000 candidates to sort): the time is the JVM's own, JIT warm after the first runs."""
    rng = np.random.default_rng(3)
    n = 8400
    transposed = np.concatenate([rng.uniform(0, 80, (2, n)), rng.uniform(1, 30, (2, n)), rng.normal(-4, 2, (80, n))]).astype(np.float32)[None]
    rows = np.concatenate([rng.uniform(0, 1, (n, 4)), rng.uniform(0, 1, (n, 81))], 1).astype(np.float32)[None]
    photo = _photos()[0]
    timings = {}
    for name, output in (("det-yolo-t", transposed), ("det-yolo-obj", rows)):
        cases = {f"r{i}": (photo, [output]) for i in range(8)}
        _dump, printed = _run(cores, built[name], cases, tmp_path / name)
        ms = sorted(printed[f"r{i}"]["post_ms"] for i in range(3, 8))
        timings[name] = ms[len(ms) // 2]
        _pre, want = _reference(built[name], photo, [output])
        decode = built[name].manifest.post_steps()[0]
        _assert_same_detections(printed["r7"]["result"]["detections"], want.to_json()["detections"], name, 1e-6 if decode["score_activation"] == "sigmoid" else 0.0)
    print("median post-processing ms:", timings)
    assert timings["det-yolo-t"] < 500 and timings["det-yolo-obj"] < 500


# ---- the whole bundle: `edgesdk test` with the Android layer and the sample app compiled ---------
@pytest.mark.parametrize("name", ["det-bs", "seg-nchw"])
def test_edgesdk_test_passes(built, name, capsys):
    _need_kotlin()
    assert main(["test", str(built[name].bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["language"] == "kotlin" and len(report["cases"]) >= 3
    assert "compile-checked" in json.dumps(report)


def test_android_layer_has_the_task_api(built):
    det = (built["det-bs"].bundle / "sdk/kotlin/src/main/kotlin/ai/edgesdk/det_bs/DetBs.kt").read_text()
    seg = (built["seg-nchw"].bundle / "sdk/kotlin/src/main/kotlin/ai/edgesdk/seg_nchw/SegNchw.kt").read_text()
    options = "orientation: ai.edgesdk.{0}.core.Orientation = ai.edgesdk.{0}.core.Orientation(), options: ai.edgesdk.{0}.core.RunOptions = ai.edgesdk.{0}.core.RunOptions.DEFAULT"
    assert f"fun detect(bitmap: Bitmap, {options.format('det_bs')}): List<ai.edgesdk.det_bs.core.Detection>" in det and "fun classify" not in det and "fun segment" not in det
    assert re.search(r"fun detect\(\s+frame: android.media.Image,\s+rotationDegrees: Int,\s+mirror: Boolean = false", det)  # camera frames
    assert f"fun segment(bitmap: Bitmap, {options.format('seg_nchw')}): ai.edgesdk.seg_nchw.core.Mask" in seg and "fun detect" not in seg
    core = built["det-bs"].bundle / "sdk/kotlin/src/main/kotlin/ai/edgesdk/det_bs/core"
    assert (core / "Detect.kt").is_file() and not (core / "Segment.kt").exists()
    presentation = (built["seg-nchw"].bundle / "sample_app/app/src/main/kotlin/ai/edgesdk/sample/Presentation.kt").read_text()
    assert "0x0000FF" in presentation  # the manifest's palette
