"""Detection post-processing of docs/processing.md: `decode_boxes` then `nms`.

Box arithmetic is float64 from the float32 model outputs, scores stay float32; every comparison
and tie-break below is the one the generated C++, Kotlin and Swift code make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ProcessingError
from .geometry import Geometry
from .outputs import drop_batch


@dataclass(frozen=True)
class Candidates:
    """Candidates above the score threshold, in candidate-number order."""

    boxes: np.ndarray  # [K, 4] float64 corners (x0, y0, x1, y1) in model-input pixels
    scores: np.ndarray  # [K] float32
    classes: np.ndarray  # [K] int64
    class_count: int


def _item(outputs: Sequence[np.ndarray], index: int, what: str) -> np.ndarray:
    if not 0 <= index < len(outputs):
        raise ProcessingError(f"decode_boxes: {what} output {index} is out of range for {len(outputs)} model outputs")
    return drop_batch(outputs[index], f"decode_boxes: {what} output {index}").astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-x))


def _split(outputs: Sequence[np.ndarray], step: dict) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(raw boxes [N, 4], objectness [N] or None, class scores [N, C]) as float32."""
    if step["format"] == "yolo":
        rows = _item(outputs, step["boxes_index"], "yolo")
        first = 5 if step["objectness"] else 4
        layout = f"[{first} + classes, N]" if step["transposed"] else f"[N, {first} + classes]"
        if rows.ndim != 2:
            raise ProcessingError(f"decode_boxes: a yolo output is {layout} after the batch dimension, got shape {list(rows.shape)}")
        if step["transposed"]:
            rows = rows.T
        if rows.shape[1] <= first:
            raise ProcessingError(f"decode_boxes: a yolo output is {layout} with at least one class, got {rows.shape[1]} values per candidate")
        return rows[:, :4], rows[:, 4] if step["objectness"] else None, rows[:, first:]
    boxes = _item(outputs, step["boxes_index"], "boxes")
    scores = _item(outputs, step["scores_index"], "scores")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ProcessingError(f"decode_boxes: the boxes output is [N, 4] after the batch dimension, got shape {list(boxes.shape)}")
    if scores.ndim != 2 or scores.shape[0] != boxes.shape[0] or scores.shape[1] < 1:
        raise ProcessingError(f"decode_boxes: the scores output is [N, classes] with N = {boxes.shape[0]} (the boxes' N), got shape {list(scores.shape)}")
    return boxes, None, scores


def _corners(raw: np.ndarray, step: dict, input_hw: tuple[int, int]) -> np.ndarray:
    b = raw.astype(np.float64)
    if step["box"] == "cxcywh":
        half_w, half_h = 0.5 * b[:, 2], 0.5 * b[:, 3]
        b = np.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], axis=1)
    if step["normalized"]:
        height, width = input_hw
        b = b * np.array([width, height, width, height], dtype=np.float64)
    return b


def best_class(scores: np.ndarray) -> np.ndarray:
    """Per row, the lowest index of the largest non-NaN score (0 when every score is NaN)."""
    return np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)


def decode_boxes(outputs: Sequence[np.ndarray], step: dict, score_threshold: float, input_hw: tuple[int, int]) -> Candidates:
    raw, objectness, classes = _split(outputs, step)
    if step["score_activation"] == "sigmoid":
        classes = _sigmoid(classes)
        objectness = None if objectness is None else _sigmoid(objectness)
    scores = classes if objectness is None else objectness[:, None] * classes
    threshold = np.float64(score_threshold)
    if step["multi_label"]:
        # np.nonzero walks row-major: candidate i class c, then i class c + 1, then i + 1.
        rows, cls = np.nonzero(scores.astype(np.float64) > threshold)
        kept_scores = scores[rows, cls]
    else:
        cls_all = best_class(scores)
        best = scores[np.arange(scores.shape[0]), cls_all]
        rows = np.nonzero(best.astype(np.float64) > threshold)[0]
        cls, kept_scores = cls_all[rows], best[rows]
    boxes = _corners(raw[rows], step, input_hw)
    return Candidates(boxes, kept_scores.astype(np.float32), cls.astype(np.int64), scores.shape[1])


def area(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, boxes[..., 2] - boxes[..., 0]) * np.maximum(0.0, boxes[..., 3] - boxes[..., 1])


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one corner box with each of `others`, float64, in the documented operation order."""
    inter_w = np.maximum(0.0, np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]))
    inter_h = np.maximum(0.0, np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]))
    inter = inter_w * inter_h
    union = area(box) + area(others) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(candidates: Candidates, step: dict) -> np.ndarray:
    """Indices into `candidates` of the kept boxes, best first."""
    order = np.argsort(-candidates.scores, kind="stable")[: step["pre_nms_topk"]]
    kept: list[int] = []
    for i in order:
        if len(kept) >= step["max_detections"]:
            break
        rivals = np.asarray(kept, dtype=np.int64)
        if not step["class_agnostic"] and rivals.size:
            rivals = rivals[candidates.classes[rivals] == candidates.classes[i]]
        if rivals.size and np.any(iou(candidates.boxes[i], candidates.boxes[rivals]) > step["iou_threshold"]):
            continue
        kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def to_original(boxes: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Model-input corner boxes -> original-image pixels, clipped to the image, then moved by the
    image's origin in the upright frame (a region of interest), float32."""
    x = (boxes[:, [0, 2]] - geometry.pad_left) / geometry.scale_x
    y = (boxes[:, [1, 3]] - geometry.pad_top) / geometry.scale_y
    x = np.clip(x, 0.0, float(geometry.src_width))
    y = np.clip(y, 0.0, float(geometry.src_height))
    x = x + float(geometry.origin_x)
    y = y + float(geometry.origin_y)
    return np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # [K, 4] float32, original-image pixels
    scores: np.ndarray  # [K] float32
    classes: np.ndarray  # [K] int64
    class_count: int


def detect(outputs: Sequence[np.ndarray], decode_step: dict, nms_step: dict, geometry: Geometry, input_hw: tuple[int, int]) -> Detections:
    candidates = decode_boxes(outputs, decode_step, nms_step["score_threshold"], input_hw)
    kept = nms(candidates, nms_step)
    return Detections(to_original(candidates.boxes[kept].reshape(-1, 4), geometry), candidates.scores[kept], candidates.classes[kept], candidates.class_count)
