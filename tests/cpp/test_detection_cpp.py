"""Generated C++ detection and segmentation post-processing (decode_boxes, nms, mask) against the
independent transcription of docs/processing.md in tests/cpp/reference.py, OpenCV's NMSBoxes /
NMSBoxesBatched and edgesdk.processing. One compile per task covers every step option: the
cases' raw outputs are chosen directly (ties, boxes exactly at the IoU threshold, NaN, shapes the
step must refuse)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from toolchains import need

from edgesdk.manifest.schema import post_step
from edgesdk.processing import ProcessingError, run_postprocess
from edgesdk.processing.geometry import Geometry

from . import reference
from .conftest import cpp_toolchain_missing
from .post_driver import Case, build

pytestmark = pytest.mark.cpp


def decode_step(**kw) -> dict:
    return post_step("decode_boxes", **kw)


def nms_step(**kw) -> dict:
    # Not validated: some cases go past the manifest's range (a negative threshold) on purpose.
    return {**post_step("nms"), **kw}


def mask_step(**kw) -> dict:
    return post_step("mask", **kw)


def geometry(scale_x=1.0, scale_y=1.0, pad_left=0.0, pad_top=0.0, src=(64, 48), size=(64, 48)) -> dict:
    return {"scale_x": scale_x, "scale_y": scale_y, "pad_left": pad_left, "pad_top": pad_top, "src_width": src[0], "src_height": src[1], "input_width": size[0], "input_height": size[1]}


# Letterbox of a 37x23 image into 64x48: s = min(48/23, 64/37), nw = 64, nh = round(23 * 64/37) = 40.
LETTERBOX = geometry(64 / 37, 40 / 23, 0.0, 4.0, src=(37, 23))


def grid_boxes(rng, n: int, size: int = 40) -> np.ndarray:
    """cxcywh boxes on an integer grid with even sides: many pairs overlap with IoU exactly 1/2,
    1/3, 0.45-ish..., every corner exact in float64."""
    cx, cy = rng.integers(4, size, n), rng.integers(4, size, n)
    w, h = rng.integers(1, 8, n) * 2, rng.integers(1, 8, n) * 2
    return np.stack([cx, cy, w, h], 1).astype(np.float32)


def tied_scores(rng, n: int, classes: int) -> np.ndarray:
    """Scores from a few levels (k / 8): ties everywhere, some exactly at the 0.25 threshold."""
    return (rng.integers(0, 8, (n, classes)) / 8).astype(np.float32)


def detection_cases() -> list[tuple[Case, dict]]:
    rng = np.random.default_rng(17)
    cases = []

    def add(cid, outputs, decode, nms, geo=LETTERBOX, labels=None, cv=False):
        cases.append((Case(cid, outputs, [decode, nms], geo, labels or []), {"cv": cv}))

    n, c = 300, 4
    boxes, scores = grid_boxes(rng, n), tied_scores(rng, n, c)
    rows = np.concatenate([boxes, scores], 1)[None]
    add("yolo_plain", [rows], decode_step(), nms_step(), labels=["cat", "dog", "emu", "yak"], cv=True)
    add("yolo_agnostic_topk", [rows], decode_step(), nms_step(class_agnostic=True, pre_nms_topk=37, max_detections=9), cv=True)
    add("yolo_transposed", [np.ascontiguousarray(rows.transpose(0, 2, 1))], decode_step(transposed=True), nms_step(iou_threshold=0.5), cv=True)
    # IoU exactly 1/3 and 1/2 against thresholds equal to them: kept (suppression needs IoU > threshold).
    add("yolo_iou_exact_half", [rows], decode_step(), nms_step(iou_threshold=0.5, score_threshold=0.0, max_detections=1000), cv=True)
    add("yolo_iou_exact_third", [rows], decode_step(), nms_step(iou_threshold=1 / 3, score_threshold=0.125, max_detections=1000), cv=True)

    obj = (rng.integers(0, 5, (n, 1)) / 4).astype(np.float32)
    rows_obj = np.concatenate([boxes, obj, scores], 1)[None]
    add("yolo_objectness", [rows_obj], decode_step(objectness=True), nms_step(score_threshold=0.1))
    add("yolo_objectness_transposed_multi", [np.ascontiguousarray(rows_obj.transpose(0, 2, 1))], decode_step(objectness=True, transposed=True, multi_label=True), nms_step(score_threshold=0.1))

    # Raw logits with sigmoid; xyxy corners as fractions of the model input.
    logits = rng.normal(0, 2, (n, 6)).astype(np.float32)
    logits[::7] = 3.0  # whole rows tied
    logits[5, :] = 40.0  # saturates to 1.0 in float32: ties made by the activation itself
    x0, y0 = rng.integers(0, 56, n), rng.integers(0, 40, n)
    xyxy = np.stack([x0 / 64, y0 / 48, (x0 + rng.integers(1, 16, n)) / 64, (y0 + rng.integers(1, 16, n)) / 48], 1).astype(np.float32)
    raw_obj = rng.normal(0, 2, (n, 1)).astype(np.float32)
    sig_rows = np.concatenate([xyxy, raw_obj, logits], 1)[None]
    add("yolo_sigmoid_xyxy_normalized", [sig_rows], decode_step(box="xyxy", normalized=True, objectness=True, score_activation="sigmoid"), nms_step(score_threshold=0.3))
    add("yolo_sigmoid_multi", [sig_rows], decode_step(box="xyxy", normalized=True, objectness=True, score_activation="sigmoid", multi_label=True), nms_step(score_threshold=0.3, max_detections=50))

    # Raw objectness without an activation: negative values reverse the class order.
    neg = rows_obj.copy()
    neg[0, :, 4] = rng.normal(0, 1, n).astype(np.float32)
    add("yolo_negative_objectness", [neg], decode_step(objectness=True), nms_step(score_threshold=-0.2))

    # NaN and infinities in scores: NaN is never kept and never wins a class.
    bad = rows.copy()
    bad[0, ::5, 4] = np.nan
    bad[0, ::11, 4:] = np.nan
    bad[0, 3::13, 5] = np.inf
    bad[0, 4::17, 6] = -np.inf
    add("yolo_nan_inf", [bad], decode_step(), nms_step())
    add("yolo_nan_inf_transposed", [np.ascontiguousarray(bad.transpose(0, 2, 1))], decode_step(transposed=True), nms_step())

    # boxes_scores: two outputs, in either order.
    bs_boxes = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)[None].astype(np.float32)
    bs_scores = tied_scores(rng, n, 3)[None]
    add("boxes_scores", [bs_boxes, bs_scores], decode_step(format="boxes_scores", box="xyxy", boxes_index=0, scores_index=1), nms_step(), cv=True)
    add(
        "boxes_scores_swapped_agnostic", [bs_scores, bs_boxes], decode_step(format="boxes_scores", box="xyxy", boxes_index=1, scores_index=0), nms_step(class_agnostic=True, iou_threshold=0.5), cv=True
    )

    # Every candidate the same box and score: one survivor per class, the lowest candidate number.
    same = np.tile(np.array([[20, 20, 10, 10, 0.5, 0.5, 0.5]], np.float32), (50, 1))[None]
    add("all_tied", [same], decode_step(), nms_step(), cv=True)
    add("all_tied_multi", [same], decode_step(multi_label=True), nms_step(max_detections=7))
    # Boxes beyond the image are clipped; identity geometry of a 1-pixel-wide image.
    far = np.array([[[-5, -5, 30, 30, 0.9], [0.5, 20, 1, 50, 0.8], [0, 0, 0, 0, 0.7]]], np.float32)
    add("clip_one_pixel_wide", [far], decode_step(), nms_step(), geometry(src=(1, 40), size=(1, 40)))
    add("no_candidates", [np.zeros((1, 0, 6), np.float32)], decode_step(), nms_step())
    # Outputs of other dtypes are read as float32.
    add("yolo_float64", [rows.astype(np.float64)], decode_step(), nms_step())
    add("yolo_float16_transposed", [np.ascontiguousarray(rows.transpose(0, 2, 1)).astype(np.float16)], decode_step(transposed=True), nms_step())
    # The threshold compares in float64: float32(0.3) = 0.30000001 > 0.3 is kept, 0.29999998 is not.
    at = np.float32(0.3)
    edge = np.array([[[10, 10, 4, 4, at, 0], [30, 30, 4, 4, np.nextafter(at, np.float32(0)), 0], [50, 30, 4, 4, 0, at]]], np.float32)
    add("threshold_widened", [edge], decode_step(), nms_step(score_threshold=0.3))
    add("threshold_widened_transposed", [np.ascontiguousarray(edge.transpose(0, 2, 1))], decode_step(transposed=True), nms_step(score_threshold=0.3))

    # Shapes the step must refuse, each naming the output and the layout.
    add("err_row_too_short", [np.zeros((1, 10, 5), np.float32)], decode_step(objectness=True), nms_step())
    add("err_rank", [np.zeros((1, 10), np.float32)], decode_step(), nms_step())
    add("err_labels", [rows], decode_step(), nms_step(), labels=["a", "b"])
    add("err_boxes_scores_rows", [bs_boxes, bs_scores[:, :-1]], decode_step(format="boxes_scores", box="xyxy", boxes_index=0, scores_index=1), nms_step())
    add("err_missing_output", [rows], decode_step(format="boxes_scores", boxes_index=0, scores_index=1), nms_step())
    cases.append((Case("err_truncated", [rows], [decode_step(), nms_step()], LETTERBOX, truncate=4), {"cv": False}))
    return cases


DETECTION_CASES = detection_cases()
ERRORS = {
    "err_row_too_short": "decode_boxes: output 'out0' must be [1, N, 4 + 1 + C] (yolo, objectness, C >= 1), got float32[1, 10, 5]",
    "err_rank": "output 'out0' must be [1, N, 4 + C] (yolo, C >= 1), got float32[1, 10]",
    "err_labels": "the model gives 4 class scores per box but the manifest has 2 labels",
    "err_boxes_scores_rows": "output 'out1' must be [1, 300, C] (boxes_scores: scores, one row per box, C >= 1), got float32[1, 299, 3]",
    "err_missing_output": "decode_boxes needs model output 1 (scores), got 1 outputs",
    "err_truncated": "output 'out0' float32[1, 300, 8] holds 9596 bytes, not its shape's elements",
}


def edgesdk_reference(case: Case, task: str):
    """edgesdk.processing's TaskResult for the case (the reference the golden files hold)."""
    g = case.geometry
    geometry = Geometry(g["scale_x"], g["scale_y"], g["pad_left"], g["pad_top"], g["src_width"], g["src_height"])
    post = {"output_index": case.output_index, "steps": case.steps, "labels": case.labels}
    return run_postprocess(case.outputs, task, post, geometry, input_hw=(g["input_height"], g["input_width"]))


@pytest.fixture(scope="module")
def detection_results(tmp_path_factory):
    need(cpp_toolchain_missing())
    folder = tmp_path_factory.mktemp("detection")
    driver = build("detection", [c for c, _ in DETECTION_CASES], folder)
    return driver.run(folder / "run")


def _assert_same(got, want, cid):
    assert [(d[0], d[3]) for d in got] == [(d[0], d[3]) for d in want], cid
    for g, w in zip(got, want):
        assert g[1] == pytest.approx(w[1], abs=1e-6), cid
        np.testing.assert_allclose(g[2], w[2], atol=1e-4, err_msg=cid)


def _refused_alike(case, got, errors: dict[str, str], task: str) -> bool:
    """An err_ case: the C++ error names what it must, and the reference refuses the same outputs.
    Any other case must have produced a result. True when the case was an error case."""
    if not case.id.startswith("err_"):
        assert not isinstance(got, str), got
        return False
    assert isinstance(got, str) and errors[case.id] in got, got
    if not case.truncate:  # the reference sees whole arrays
        with pytest.raises(ProcessingError):
            edgesdk_reference(case, task)
    return True


@pytest.mark.parametrize("case, extra", DETECTION_CASES, ids=[c.id for c, _ in DETECTION_CASES])
def test_detection_matches_reference(detection_results, case, extra):
    got = detection_results[case.id]
    if _refused_alike(case, got, ERRORS, "detection"):
        return
    decode, nms = case.steps
    want = reference.detect(case.outputs, decode, nms, case.geometry, case.labels)
    _assert_same(got, want, case.id)
    edgesdk = [(d.index, d.score, d.box, d.label) for d in edgesdk_reference(case, "detection").detections]
    _assert_same(got, edgesdk, case.id)
    if extra["cv"]:
        assert [d[0] for d in got] == [d[0] for d in _opencv(case)]


def _opencv(case):
    """The kept (class, corners in model pixels) of OpenCV's NMS, for cases without objectness,
    activation or multi_label (what NMSBoxes can express)."""
    import cv2

    decode, nms = case.steps
    if decode["format"] == "yolo":
        rows = case.outputs[0][0].T if decode["transposed"] else case.outputs[0][0]
        boxes, scores = rows[:, :4].astype(np.float64), rows[:, 4:]
    else:
        boxes, scores = case.outputs[decode["boxes_index"]][0].astype(np.float64), case.outputs[decode["scores_index"]][0]
    if decode["box"] == "cxcywh":
        boxes = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
    classes = np.argmax(scores, 1)
    best = scores[np.arange(len(scores)), classes]
    rects = [(float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])) for b in boxes]
    args = (nms["score_threshold"], nms["iou_threshold"], 1.0, nms["pre_nms_topk"])
    if nms["class_agnostic"]:
        kept = cv2.dnn.NMSBoxes(rects, best.tolist(), *args)
    else:
        kept = cv2.dnn.NMSBoxesBatched(rects, best.tolist(), classes.tolist(), *args)
    kept = np.asarray(kept, np.int64).reshape(-1)[: nms["max_detections"]]
    return [(int(classes[i]), boxes[i]) for i in kept]


def test_exact_iou_threshold_cases_are_reached(detection_results):
    """Pairs at IoU exactly 1/2 and 1/3 decide those cases: one ulp less of threshold suppresses
    more boxes, so a `>=` for the contract's `>` cannot pass them."""
    for cid, threshold in (("yolo_iou_exact_half", 0.5), ("yolo_iou_exact_third", 1 / 3)):
        case = next(c for c, _ in DETECTION_CASES if c.id == cid)
        decode, nms = case.steps
        stricter = reference.detect(case.outputs, decode, {**nms, "iou_threshold": math.nextafter(threshold, 0.0)}, case.geometry, [])
        assert len(stricter) < len(detection_results[cid]), cid


def segmentation_cases() -> list[Case]:
    rng = np.random.default_rng(23)
    cases = []

    def add(cid, output, step, geo, labels=None):
        cases.append(Case(cid, [output], [step], geo, labels or []))

    # Few score levels: ties between classes everywhere (the lowest class wins).
    scores = (rng.integers(0, 4, (1, 5, 12, 16)) / 4).astype(np.float32)
    scores[0, :, 0, 0] = np.nan  # every class NaN: class 0
    scores[0, 0, 1, :] = np.nan  # NaN counts as -inf: it never beats a number
    scores[0, 1:, 1, :3] = -np.inf
    add("argmax_nchw_letterbox", scores, mask_step(), LETTERBOX | {"input_width": 64, "input_height": 48}, ["a", "b", "c", "d", "e"])
    add("argmax_float16", scores.astype(np.float16), mask_step(), geometry(src=(15, 9), size=(64, 48)))
    add("argmax_nhwc", np.ascontiguousarray(scores.transpose(0, 2, 3, 1)), mask_step(layout="nhwc"), geometry(0.5, 0.25, 3.0, -2.0, src=(101, 77), size=(64, 48)))
    # 1-pixel axes, exact-edge sizes (the mask as large as the input, and larger).
    add("argmax_one_pixel_wide", scores, mask_step(), geometry(64.0, 48 / 7, 0.0, 0.0, src=(1, 7)))
    add("argmax_one_pixel_tall", scores, mask_step(), geometry(64 / 9, 48.0, 0.0, 0.0, src=(9, 1)))
    big = (rng.integers(0, 3, (1, 3, 48, 64)) / 2).astype(np.float32)
    add("argmax_mask_equals_input", big, mask_step(), geometry())
    add("argmax_256_classes", rng.normal(0, 1, (1, 256, 3, 4)).astype(np.float32), mask_step(), geometry(src=(5, 3), size=(4, 3)))
    # sigmoid: values at and around logit(0.3) in float32.
    t = math.log(0.3 / 0.7)
    at = np.float32(t)
    levels = np.array([np.nextafter(at, np.float32(-1)), at, np.nextafter(at, np.float32(1)), 0.0, -5.0, np.nan], np.float32)
    add("sigmoid_threshold", levels[rng.integers(0, 6, (1, 1, 10, 9))], mask_step(activation="sigmoid", threshold=0.3), geometry(src=(13, 11), size=(9, 10)), ["bg", "fg"])
    add("sigmoid_rank3", levels[rng.integers(0, 6, (1, 10, 9))], mask_step(activation="sigmoid", threshold=0.3), geometry(1.5, 1.5, 0.5, 0.5, src=(6, 7), size=(9, 10)))
    ids = rng.integers(0, 7, (1, 1, 6, 8))
    add("none_uint8", ids.astype(np.uint8), mask_step(activation="none"), geometry(src=(17, 19), size=(8, 6)))
    add("none_int64_rank3", ids[:, 0].astype(np.int64), mask_step(activation="none"), geometry(src=(3, 2), size=(8, 6)))
    add("none_float", ids.astype(np.float32), mask_step(activation="none"), geometry(src=(8, 6), size=(8, 6)))
    # Refused: the message names the output and the layout.
    add("err_257_classes", np.zeros((1, 257, 2, 2), np.float32), mask_step(), geometry())
    add("err_argmax_rank", np.zeros((1, 4, 4), np.float32), mask_step(), geometry())
    add("err_sigmoid_channels", np.zeros((1, 2, 4, 4), np.float32), mask_step(activation="sigmoid"), geometry())
    add("err_none_fraction", np.full((1, 4, 4), 1.5, np.float32), mask_step(activation="none"), geometry())
    add("err_none_256", np.full((1, 4, 4), 256, np.int32), mask_step(activation="none"), geometry())
    add("err_labels", scores, mask_step(), geometry(), ["a", "b"])
    cases.append(Case("err_truncated", [ids.astype(np.int32)], [mask_step(activation="none")], geometry(), truncate=1))
    return cases


SEGMENTATION_CASES = segmentation_cases()
MASK_ERRORS = {
    "err_257_classes": "mask: output 'out0' must be [1, C, h, w] (argmax, nchw, 1 <= C <= 256), got float32[1, 257, 2, 2]",
    "err_argmax_rank": "got float32[1, 4, 4]",
    "err_sigmoid_channels": "must be [1, 1, h, w] or [1, h, w] (sigmoid: one class), got float32[1, 2, 4, 4]",
    "err_none_fraction": "holds 1.500000 at cell 0; activation none needs class ids 0..255",
    "err_none_256": "holds 256.000000 at cell 0",
    "err_labels": "gives 5 classes but the manifest has 2 labels",
    "err_truncated": "output 'out0' int32[1, 1, 6, 8] holds 191 bytes",
}


@pytest.fixture(scope="module")
def segmentation_results(tmp_path_factory):
    need(cpp_toolchain_missing())
    folder = tmp_path_factory.mktemp("segmentation")
    driver = build("segmentation", SEGMENTATION_CASES, folder)
    return driver.run(folder / "run")


@pytest.mark.parametrize("case", SEGMENTATION_CASES, ids=[c.id for c in SEGMENTATION_CASES])
def test_mask_matches_reference(segmentation_results, case):
    got = segmentation_results[case.id]
    if _refused_alike(case, got, MASK_ERRORS, "segmentation"):
        return
    want = reference.mask(case.outputs[0], case.steps[0], case.geometry)
    assert got.shape == (case.geometry["src_height"], case.geometry["src_width"])
    np.testing.assert_array_equal(got, want)
    mask = edgesdk_reference(case, "segmentation").mask
    np.testing.assert_array_equal(got, np.frombuffer(mask.class_ids, np.uint8).reshape(mask.height, mask.width))
