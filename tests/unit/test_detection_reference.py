"""The detection and segmentation reference (edgesdk.processing) against independent
implementations: OpenCV's NMSBoxes / NMSBoxesBatched, ONNX Runtime's NonMaxSuppression op and
Pillow's nearest resize; and the decode options against each other."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from PIL import Image

from edgesdk.manifest.schema import post_step
from edgesdk.processing import Geometry, ProcessingError, detection, run_postprocess, run_preprocess, segmentation

DECODE = post_step("decode_boxes", box="xyxy")
NMS = post_step("nms", pre_nms_topk=100000)
MASK = post_step("mask")


def _random_boxes(rng: np.random.Generator, n: int, extent: int = 64) -> np.ndarray:
    """Integer corner boxes (exact in every float format), many overlapping. Not empty: OpenCV
    counts two empty boxes as IoU 1 (jaccardDistance), the contract as 0 (torchvision's NaN)."""
    x0 = rng.integers(0, extent, n)
    y0 = rng.integers(0, extent, n)
    return np.stack([x0, y0, x0 + rng.integers(1, 24, n), y0 + rng.integers(1, 24, n)], axis=1).astype(np.float32)


def _tied_scores(rng: np.random.Generator, shape) -> np.ndarray:
    """Scores on a 0.1 grid: many exact ties."""
    return (rng.integers(0, 11, shape) / 10).astype(np.float32)


def _candidates(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> detection.Candidates:
    return detection.Candidates(boxes.astype(np.float64).reshape(-1, 4), scores, classes, int(classes.max(initial=0)) + 1)


@pytest.mark.parametrize("seed", range(40))
def test_class_agnostic_nms_equals_opencv(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    boxes, scores = _random_boxes(rng, n), _tied_scores(rng, n)
    iou_threshold = float(rng.choice([0.3, 0.45, 0.5, 0.7]))  # 0.5 and 0.3 are met exactly by some pairs
    keep = scores > 0.25
    cand = _candidates(boxes[keep], scores[keep], np.zeros(int(keep.sum()), np.int64))
    ours = np.flatnonzero(keep)[detection.nms(cand, {**NMS, "class_agnostic": True, "iou_threshold": iou_threshold})]
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    theirs = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.25, iou_threshold)
    assert list(ours) == [int(i) for i in np.asarray(theirs).reshape(-1)]


@pytest.mark.parametrize("seed", range(20))
def test_class_aware_nms_equals_opencv_batched(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 150))
    boxes, scores, classes = _random_boxes(rng, n, 40), _tied_scores(rng, n), rng.integers(0, 3, n)
    keep = scores > 0.25
    cand = _candidates(boxes[keep], scores[keep], classes[keep]) if keep.any() else None
    ours = list(np.flatnonzero(keep)[detection.nms(cand, NMS)]) if cand else []
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    theirs = [int(i) for i in np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores.tolist(), classes.tolist(), 0.25, 0.45)).reshape(-1)]
    # NMSBoxesBatched returns the kept boxes grouped by its offset trick; the set and each
    # class's order (score descending) must agree.
    assert sorted(ours) == sorted(theirs)
    for c in range(3):
        assert [i for i in ours if classes[i] == c] == sorted((i for i in theirs if classes[i] == c), key=lambda i: (-scores[i], i))


def _ort_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, score_threshold: float) -> set[tuple[int, int]]:
    """ONNX Runtime's NonMaxSuppression (per class), as (class, box) pairs."""
    graph = helper.make_graph(
        [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "score"], ["selected"], center_point_box=0)],
        "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, None, 4]), helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, None, None])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])],
        initializer=[
            helper.make_tensor("max", TensorProto.INT64, [1], [100000]),
            helper.make_tensor("iou", TensorProto.FLOAT, [1], [iou_threshold]),
            helper.make_tensor("score", TensorProto.FLOAT, [1], [score_threshold]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    yxyx = boxes[:, [1, 0, 3, 2]][None]
    (selected,) = session.run(None, {"boxes": yxyx, "scores": scores.T[None].copy()})
    return {(int(c), int(b)) for _, c, b in selected}


@pytest.mark.parametrize("seed", range(15))
def test_multi_label_class_aware_equals_onnxruntime(seed):
    rng = np.random.default_rng(200 + seed)
    n, classes = int(rng.integers(1, 80)), int(rng.integers(1, 5))
    boxes = _random_boxes(rng, n, 48)
    scores = rng.permutation(np.linspace(0.01, 0.99, n * classes)).astype(np.float32).reshape(n, classes)  # no ties: ORT's order for ties is its own
    rows = np.concatenate([boxes, scores], axis=1)[None]
    found = detection.detect([rows], {**DECODE, "multi_label": True}, {**NMS, "score_threshold": 0.3, "max_detections": 10000}, Geometry.identity(1000, 1000), (1000, 1000))
    ours = set()
    for box, cls in zip(found.boxes, found.classes):
        ours.add((int(cls), int(np.flatnonzero((boxes == box).all(axis=1))[0])))
    assert ours == _ort_nms(boxes, scores, 0.45, 0.3)


def test_order_ties_and_limits():
    # Five equal-score boxes, far apart: the result keeps candidate order; pre_nms_topk and
    # max_detections cut from the front of that order.
    boxes = np.array([[i * 10, 0, i * 10 + 5, 5] for i in range(5)], np.float32)
    rows = np.concatenate([boxes, np.full((5, 1), 0.5, np.float32)], axis=1)[None]
    geo = Geometry.identity(100, 100)
    assert detection.detect([rows], DECODE, NMS, geo, (100, 100)).boxes[:, 0].tolist() == [0, 10, 20, 30, 40]
    assert detection.detect([rows], DECODE, {**NMS, "pre_nms_topk": 2}, geo, (100, 100)).boxes[:, 0].tolist() == [0, 10]
    assert detection.detect([rows], DECODE, {**NMS, "max_detections": 3}, geo, (100, 100)).boxes[:, 0].tolist() == [0, 10, 20]


def test_iou_exactly_at_threshold_is_kept_and_score_at_threshold_is_dropped():
    # IoU of [0,0,10,10] and [0,0,10,5] is 0.5 exactly: suppression needs IoU > threshold.
    rows = np.array([[[0, 0, 10, 10, 0.9], [0, 0, 10, 5, 0.8], [20, 20, 30, 30, 0.25]]], np.float32)
    found = detection.detect([rows], DECODE, {**NMS, "iou_threshold": 0.5}, Geometry.identity(40, 40), (40, 40))
    assert found.scores.tolist() == pytest.approx([0.9, 0.8])
    found = detection.detect([rows], DECODE, {**NMS, "iou_threshold": 0.49}, Geometry.identity(40, 40), (40, 40))
    assert found.scores.tolist() == pytest.approx([0.9])


def test_layouts_decode_alike():
    rng = np.random.default_rng(7)
    n, classes = 50, 4
    centers = rng.uniform(10, 150, (n, 2)).astype(np.float32)
    sizes = rng.uniform(4, 40, (n, 2)).astype(np.float32)
    objectness = rng.uniform(0, 1, (n, 1)).astype(np.float32)
    cls = rng.uniform(0, 1, (n, classes)).astype(np.float32)
    geo, hw = Geometry.identity(160, 160), (160, 160)
    cxcywh = np.concatenate([centers, sizes], axis=1)
    xyxy = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    base = detection.detect([np.concatenate([cxcywh, objectness, cls], 1)[None]], {**DECODE, "box": "cxcywh", "objectness": True}, NMS, geo, hw)
    transposed = detection.detect([np.concatenate([cxcywh, objectness, cls], 1).T[None]], {**DECODE, "box": "cxcywh", "objectness": True, "transposed": True}, NMS, geo, hw)
    normalized = detection.detect([np.concatenate([cxcywh / 160, objectness, cls], 1)[None]], {**DECODE, "box": "cxcywh", "objectness": True, "normalized": True}, NMS, geo, hw)
    corners = detection.detect([np.concatenate([xyxy, objectness * cls], 1)[None]], DECODE, NMS, geo, hw)
    logits = detection.detect(
        [np.concatenate([cxcywh, np.log(objectness / (1 - objectness)), np.log(cls / (1 - cls))], 1)[None]],
        {**DECODE, "box": "cxcywh", "objectness": True, "score_activation": "sigmoid"},
        NMS,
        geo,
        hw,
    )
    two_outputs = detection.detect([xyxy[None], (objectness * cls)[None]], {**DECODE, "format": "boxes_scores", "scores_index": 1}, NMS, geo, hw)
    assert len(base.scores) > 3
    for other in (transposed, normalized, corners, logits, two_outputs):
        assert other.classes.tolist() == base.classes.tolist()
        np.testing.assert_allclose(other.boxes, base.boxes, atol=1e-3)
        np.testing.assert_allclose(other.scores, base.scores, atol=1e-5)
    np.testing.assert_array_equal(transposed.boxes, base.boxes)  # the same numbers, only read differently


def test_multi_label_numbering_and_best_class():
    rows = np.array([[[0, 0, 10, 10, 0.6, 0.6, 0.1], [50, 50, 60, 60, 0.2, 0.9, 0.9]]], np.float32)
    geo = Geometry.identity(100, 100)
    single = detection.detect([rows], DECODE, NMS, geo, (100, 100))
    assert single.classes.tolist() == [1, 0] and single.scores.tolist() == pytest.approx([0.9, 0.6])  # ties: lowest class
    multi = detection.detect([rows], {**DECODE, "multi_label": True}, NMS, geo, (100, 100))
    assert multi.classes.tolist() == [1, 2, 0, 1]  # 0.9 (box 1 class 1), 0.9 (box 1 class 2), then box 0 by class


def test_nan_scores_never_win_and_are_never_kept():
    rows = np.array([[[0, 0, 10, 10, np.nan, 0.5], [20, 20, 30, 30, np.nan, np.nan]]], np.float32)
    found = detection.detect([rows], DECODE, NMS, Geometry.identity(40, 40), (40, 40))
    assert found.classes.tolist() == [1] and found.scores.tolist() == [0.5]


def test_boxes_map_back_through_letterbox_and_clip():
    image = np.zeros((30, 80, 3), np.uint8)  # letterboxed into 64x64: scale 0.8, 24 x 64, top 20
    pre = run_preprocess(image, "rgb", [{"op": "letterbox", "size": [64, 64], "pad_value": [114.0] * 3, "interpolation": "bilinear", "align": "center"}, {"op": "layout", "layout": "nchw"}])
    assert pre.input_hw == (64, 64)
    rows = np.array([[[0, 20, 64, 44, 0.9], [-5, 10, 8, 30, 0.8], [32, 32, 40, 40, 0.7]]], np.float32)
    found = detection.detect([rows], DECODE, NMS, pre.geometry, pre.input_hw)
    np.testing.assert_allclose(found.boxes[0], [0, 0, 80, 30], atol=1e-5)  # the whole image
    np.testing.assert_allclose(found.boxes[1], [0, 0, 10, 12.5], atol=1e-5)  # clipped at the top-left
    np.testing.assert_allclose(found.boxes[2], [40, 15, 50, 25], atol=1e-5)


def test_detection_result_json_and_labels():
    rows = np.array([[[0, 0, 10, 10, 0.2, 0.7]]], np.float32)
    post = {"output_index": 0, "steps": [DECODE, NMS], "labels": ["cat", "dog"]}
    result = run_postprocess([rows], "detection", post, Geometry.identity(20, 20), (20, 20)).to_json()
    assert result == {"detections": [{"box": [0.0, 0.0, 10.0, 10.0], "label": "dog", "index": 1, "score": pytest.approx(0.7)}]}
    with pytest.raises(ProcessingError, match="3 labels for 2 classes"):
        run_postprocess([rows], "detection", {**post, "labels": ["a", "b", "c"]}, Geometry.identity(20, 20), (20, 20))
    with pytest.raises(ProcessingError, match=r"\[N, 4 \+ classes\]"):
        run_postprocess([rows[:, :, :4]], "detection", post, Geometry.identity(20, 20), (20, 20))


# ---- segmentation ---------------------------------------------------------------------------
@pytest.mark.parametrize(("src", "mask"), [((37, 53), (16, 16)), ((16, 16), (16, 16)), ((1, 90), (8, 8)), ((64, 1), (32, 32)), ((100, 75), (25, 25))])
def test_mask_back_to_a_resized_image_equals_pillow_nearest(src, mask):
    # Only a resize (no letterbox): mapping back is a nearest resize of the class map to the
    # original size, which Pillow computes independently.
    h, w = src
    pre = run_preprocess(np.zeros((h, w, 3), np.uint8), "rgb", [{"op": "resize", "size": [32, 32], "interpolation": "bilinear", "keep_ratio": False}, {"op": "layout", "layout": "nchw"}])
    rng = np.random.default_rng(h * 1000 + w)
    cells = rng.integers(0, 5, mask).astype(np.uint8)
    ours = segmentation.to_original(cells, pre.geometry, pre.input_hw)
    theirs = np.asarray(Image.fromarray(cells).resize((w, h), Image.Resampling.NEAREST))
    assert ours.shape == (h, w)
    # Where a pixel center falls exactly on a cell edge ((2x + 1) * mask / (2 * size) is an
    # integer), the contract's float64 chain and Pillow's may pick either neighbour; elsewhere
    # they must agree exactly.
    rows = [(2 * y + 1) * mask[0] % (2 * h) != 0 for y in range(h)]
    cols = [(2 * x + 1) * mask[1] % (2 * w) != 0 for x in range(w)]
    np.testing.assert_array_equal(ours[np.ix_(rows, cols)], theirs[np.ix_(rows, cols)])


def test_mask_argmax_sigmoid_none_and_layouts():
    rng = np.random.default_rng(3)
    scores = _tied_scores(rng, (1, 4, 6, 5))
    ids = segmentation.class_map(scores, MASK)
    np.testing.assert_array_equal(ids, np.argmax(scores[0], axis=0))  # numpy's argmax: lowest index on ties
    np.testing.assert_array_equal(segmentation.class_map(scores.transpose(0, 2, 3, 1), {**MASK, "layout": "nhwc"}), ids)
    logits = rng.normal(size=(1, 1, 6, 5)).astype(np.float32)
    logit_t = float(np.log(0.3 / 0.7))
    np.testing.assert_array_equal(
        segmentation.class_map(logits, {**MASK, "activation": "sigmoid", "threshold": 0.3, "logit_threshold": logit_t}), (1 / (1 + np.exp(-logits[0, 0].astype(np.float64))) > 0.3).astype(np.uint8)
    )
    np.testing.assert_array_equal(segmentation.class_map(ids[None].astype(np.int64), {**MASK, "activation": "none"}), ids)
    with pytest.raises(ProcessingError, match="class ids 0..255"):
        segmentation.class_map(np.full((1, 2, 2), 1.5, np.float32), {**MASK, "activation": "none"})
    with pytest.raises(ProcessingError, match="one byte"):
        segmentation.class_map(np.zeros((1, 257, 2, 2), np.float32), MASK)


def test_mask_through_letterbox_skips_padding():
    # 20 x 40 letterboxed into 40 x 40: the image is rows 10..29. A mask whose pad rows hold
    # class 9 must not show 9 anywhere in the original image.
    pre = run_preprocess(
        np.zeros((20, 40, 3), np.uint8), "rgb", [{"op": "letterbox", "size": [40, 40], "pad_value": [0.0] * 3, "interpolation": "nearest", "align": "center"}, {"op": "layout", "layout": "nchw"}]
    )
    cells = np.full((20, 20), 9, np.uint8)
    cells[5:15] = np.arange(20, dtype=np.uint8)[None] % 4
    out = segmentation.to_original(cells, pre.geometry, pre.input_hw)
    assert out.shape == (20, 40) and 9 not in out
    np.testing.assert_array_equal(out[0], np.repeat(np.arange(20) % 4, 2))


def test_segmentation_result_counts_by_label():
    scores = np.zeros((1, 3, 2, 2), np.float32)
    scores[0, 2, 0, 0] = 1
    post = {"output_index": 0, "steps": [MASK], "labels": ["bg", "a", "b"]}
    result = run_postprocess([scores], "segmentation", post, Geometry.identity(2, 2), (2, 2))
    assert result.to_json() == {"mask": {"width": 2, "height": 2, "class_pixels": {"bg": 3, "b": 1}}}
    with pytest.raises(ProcessingError, match="palette has 2 colors for 3 classes"):
        run_postprocess([scores], "segmentation", {**post, "steps": [{**MASK, "palette": [[0, 0, 0], [1, 1, 1]]}]}, Geometry.identity(2, 2), (2, 2))


def test_onnx_nms_graph_is_valid():
    # The ORT comparison above builds its graph by hand; make sure it is a valid model.
    boxes = np.array([[0, 0, 1, 1]], np.float32)
    assert _ort_nms(boxes, np.array([[0.9]], np.float32), 0.5, 0.1) == {(0, 0)}
    onnx.checker.check_model(helper.make_model(helper.make_graph([], "empty", [], [])))


def test_score_threshold_compares_in_float64():
    # float32(0.3) = 0.30000001192...: over a 0.3 threshold in float64, equal to it in float32.
    rows = np.array([[[0, 0, 10, 10, 0.3], [20, 20, 30, 30, 0.29999998]]], np.float32)
    found = detection.detect([rows], DECODE, {**NMS, "score_threshold": 0.3}, Geometry.identity(40, 40), (40, 40))
    assert found.scores.tolist() == [np.float32(0.3)]
