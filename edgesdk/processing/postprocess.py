"""Post-processing steps of docs/processing.md and the per-task result builder (float32)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results import Classification, Detection, Mask, TaskResult
from . import detection, segmentation
from .errors import ProcessingError
from .geometry import Geometry
from .outputs import drop_batch

ELEMENTWISE_OPS = ("softmax", "sigmoid")
SELECT_OPS = ("argmax", "topk")
OPS = ELEMENTWISE_OPS + SELECT_OPS + ("decode_boxes", "nms", "mask")
# The steps of each task, in the only order they may take for detection and segmentation.
TASK_STEPS = {
    "classification": ELEMENTWISE_OPS + SELECT_OPS,
    "custom": ELEMENTWISE_OPS,
    "detection": ("decode_boxes", "nms"),
    "segmentation": ("mask",),
}


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """e = exp(x - max(x)), y = e / sum(e) along axis, float32."""
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + exp(-x)), float32; exp overflowing to inf correctly gives 0."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", under="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-x))


def argmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Index of the largest value along axis; the lowest index wins ties."""
    return np.argmax(np.asarray(x, dtype=np.float32), axis=axis)


def topk(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of the k largest along the last axis, descending, ties lower index first.

    k is clamped to the axis length.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ProcessingError(f"topk: k must be a positive integer, got {k!r}")
    x = np.asarray(x, dtype=np.float32)
    # A stable sort of the negated scores orders descending and keeps equal scores by index.
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order


def _apply_elementwise(x: np.ndarray, step: dict) -> np.ndarray:
    if step["op"] == "softmax":
        return softmax(x, step.get("axis", -1))
    return sigmoid(x)


def check_steps(steps: Sequence[dict], task: str) -> None:
    """Unknown ops, steps of another task, a selection step before the end, or a detection /
    segmentation pipeline other than its fixed steps are errors."""
    for n, step in enumerate(steps):
        op = step.get("op") if isinstance(step, dict) else None
        if op not in OPS:
            raise ProcessingError(f"postprocess.steps[{n}]: unknown op {op!r} (expected one of {OPS})")
        if op not in TASK_STEPS.get(task, ()):
            raise ProcessingError(f"postprocess.steps[{n}].{op}: only applies to {_tasks_of(op)}, not {task!r}")
        if op in SELECT_OPS and n != len(steps) - 1:
            raise ProcessingError(f"postprocess.steps[{n}].{op}: must be the last step")
    if task in ("detection", "segmentation") and [s["op"] for s in steps] != list(TASK_STEPS[task]):
        raise ProcessingError(f"{task} needs exactly the steps {list(TASK_STEPS[task])}, got {[s['op'] for s in steps]}")


def _tasks_of(op: str) -> str:
    return " and ".join(task for task, ops in TASK_STEPS.items() if op in ops)


def _classify(scores: np.ndarray, steps: Sequence[dict], labels: Sequence[str]) -> list[Classification]:
    if scores.ndim != 1 or scores.size == 0:
        raise ProcessingError(f"classification needs one score vector per image, got shape {scores.shape}")
    if labels and len(labels) != scores.size:
        raise ProcessingError(f"{len(labels)} labels for {scores.size} classes")
    k = scores.size
    for step in steps:
        if step["op"] in ELEMENTWISE_OPS:
            scores = _apply_elementwise(scores, step)
        elif step["op"] == "argmax":
            k = 1
        else:
            k = step.get("k", 5)
    values, indices = topk(scores, k)
    return [Classification(label=labels[i] if labels else str(i), index=int(i), score=float(v)) for v, i in zip(values, indices)]


def _label(labels: Sequence[str], index: int) -> str:
    return labels[index] if index < len(labels) else str(index)


def _detect(outputs: Sequence[np.ndarray], steps: Sequence[dict], labels: Sequence[str], geometry: Geometry, input_hw: tuple[int, int]) -> list[Detection]:
    found = detection.detect(outputs, steps[0], steps[1], geometry, input_hw)
    if labels and len(labels) != found.class_count:
        raise ProcessingError(f"{len(labels)} labels for {found.class_count} classes")
    return [
        Detection(box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])), label=_label(labels, int(c)), index=int(c), score=float(s)) for b, s, c in zip(found.boxes, found.scores, found.classes)
    ]


def _segment(output: np.ndarray, step: dict, labels: Sequence[str], geometry: Geometry, input_hw: tuple[int, int]) -> Mask:
    classes = segmentation.class_count(np.shape(output), step)
    if labels and classes is not None and len(labels) != classes:
        raise ProcessingError(f"{len(labels)} labels for {classes} classes")
    if step.get("palette") and classes is not None and len(step["palette"]) < classes:
        raise ProcessingError(f"mask: the palette has {len(step['palette'])} colors for {classes} classes")
    ids = segmentation.to_original(segmentation.class_map(output, step), geometry, input_hw)
    counts = np.bincount(ids.ravel(), minlength=1)
    pixels = {_label(labels, i): int(n) for i, n in enumerate(counts) if n}
    return Mask(width=int(ids.shape[1]), height=int(ids.shape[0]), class_ids=ids.tobytes(), class_pixels=pixels, x=geometry.origin_x, y=geometry.origin_y)


def run_postprocess(outputs: Sequence[np.ndarray], task: str, post: dict, geometry: Geometry | None = None, input_hw: tuple[int, int] | None = None) -> TaskResult:
    """Turn raw model outputs into the task's typed result.

    post = {"output_index", "steps", "labels"} as in the render context. Detection and
    segmentation map back to the original image: they need the pre-processing's `geometry` and
    the model input's (height, width).
    """
    steps = post.get("steps", [])
    check_steps(steps, task)
    index = post.get("output_index", 0)
    if not 0 <= index < len(outputs):
        raise ProcessingError(f"output_index {index} is out of range for {len(outputs)} model outputs")
    if task == "classification":
        scores = drop_batch(np.asarray(outputs[index], dtype=np.float32))
        return TaskResult(task=task, classifications=_classify(scores, steps, post.get("labels") or []))
    if task == "custom":
        tensors = [np.asarray(t) for t in outputs]
        if steps:
            selected = drop_batch(tensors[index])
            for step in steps:
                selected = _apply_elementwise(selected, step)
            tensors[index] = selected[None]
        return TaskResult(task=task, tensors=tensors)
    if task not in ("detection", "segmentation"):
        raise ProcessingError(f"task {task!r} is not part of schema_version 1")
    if geometry is None or input_hw is None:
        raise ProcessingError(f"{task} maps results back to the original image: it needs the pre-processing geometry and the model input size")
    labels = post.get("labels") or []
    if task == "detection":
        return TaskResult(task=task, detections=_detect(outputs, steps, labels, geometry, input_hw))
    return TaskResult(task=task, mask=_segment(outputs[index], steps[0], labels, geometry, input_hw))
