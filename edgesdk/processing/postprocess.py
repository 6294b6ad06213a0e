"""Post-processing steps of docs/processing.md and the per-task result builder (float32)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results import Classification, TaskResult
from .errors import ProcessingError

ELEMENTWISE_OPS = ("softmax", "sigmoid")
SELECT_OPS = ("argmax", "topk")
OPS = ELEMENTWISE_OPS + SELECT_OPS


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
    """Unknown ops, a selection step before the end, or a selection step for `custom` are errors."""
    for n, step in enumerate(steps):
        op = step.get("op") if isinstance(step, dict) else None
        if op not in OPS:
            raise ProcessingError(f"postprocess.steps[{n}]: unknown op {op!r} (expected one of {OPS})")
        if op in SELECT_OPS and task != "classification":
            raise ProcessingError(f"postprocess.steps[{n}].{op}: only applies to classification, not {task!r}")
        if op in SELECT_OPS and n != len(steps) - 1:
            raise ProcessingError(f"postprocess.steps[{n}].{op}: must be the last step")


def _drop_batch(tensor: np.ndarray) -> np.ndarray:
    if tensor.ndim < 1 or tensor.shape[0] != 1:
        raise ProcessingError(f"the model output must have a batch dimension of 1, got shape {tensor.shape}")
    return tensor[0]


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


def run_postprocess(outputs: Sequence[np.ndarray], task: str, post: dict) -> TaskResult:
    """Turn raw model outputs into the task's typed result.

    post = {"output_index", "steps", "labels"} as in the render context.
    """
    steps = post.get("steps", [])
    check_steps(steps, task)
    index = post.get("output_index", 0)
    if not 0 <= index < len(outputs):
        raise ProcessingError(f"output_index {index} is out of range for {len(outputs)} model outputs")
    if task == "classification":
        scores = _drop_batch(np.asarray(outputs[index], dtype=np.float32))
        return TaskResult(task=task, classifications=_classify(scores, steps, post.get("labels") or []))
    if task == "custom":
        tensors = [np.asarray(t) for t in outputs]
        if steps:
            selected = _drop_batch(tensors[index])
            for step in steps:
                selected = _apply_elementwise(selected, step)
            tensors[index] = selected[None]
        return TaskResult(task=task, tensors=tensors)
    raise ProcessingError(f"task {task!r} is not implemented in schema_version 1")
