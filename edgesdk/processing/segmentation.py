"""Segmentation post-processing of docs/processing.md: the `mask` step and the way back to the
original image."""

from __future__ import annotations

import numpy as np

from .errors import ProcessingError
from .geometry import Geometry
from .outputs import drop_batch

MAX_CLASSES = 256  # class ids are one byte


def _plane(t: np.ndarray, what: str) -> np.ndarray:
    """[h, w] or [1, h, w] -> [h, w]."""
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2 or 0 in t.shape:
        raise ProcessingError(f"mask: {what} needs an output of [h, w] or [1, h, w] after the batch dimension, got shape {list(t.shape)}")
    return t


def class_count(output_shape: tuple[int, ...], step: dict) -> int | None:
    """How many classes a mask step over an output of this (batched) shape distinguishes; None
    when the class ids come from the model (activation none)."""
    if step["activation"] == "sigmoid":
        return 2
    if step["activation"] == "none":
        return None
    return int(output_shape[1] if step["layout"] == "nchw" else output_shape[-1])


def class_map(output: np.ndarray, step: dict) -> np.ndarray:
    """The model's per-cell class ids, uint8 [h, w], at the output's resolution."""
    t = drop_batch(output, "mask: the output")
    activation = step["activation"]
    if activation == "argmax":
        scores = t.astype(np.float32)
        if scores.ndim != 3 or 0 in scores.shape:
            layout = "[C, h, w]" if step["layout"] == "nchw" else "[h, w, C]"
            raise ProcessingError(f"mask: argmax ({step['layout']}) needs a {layout} output after the batch dimension, got shape {list(scores.shape)}")
        if step["layout"] == "nhwc":
            scores = scores.transpose(2, 0, 1)
        if scores.shape[0] > MAX_CLASSES:
            raise ProcessingError(f"mask: {scores.shape[0]} classes; class ids are one byte (at most {MAX_CLASSES})")
        # NaN never wins; the lowest index wins ties.
        return np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=0).astype(np.uint8)
    if activation == "sigmoid":
        logits = _plane(t, "sigmoid").astype(np.float32).astype(np.float64)
        return (logits > step["logit_threshold"]).astype(np.uint8)
    ids = _plane(t, "activation none")
    values = ids.astype(np.float64)
    if not np.all((values >= 0) & (values < MAX_CLASSES) & (values == np.floor(values))):
        raise ProcessingError(f"mask: activation none needs class ids 0..{MAX_CLASSES - 1} in the output")
    return values.astype(np.uint8)


def cell_indices(size: int, scale: float, pad: float, mask_size: int, input_size: int) -> np.ndarray:
    """For each original pixel along one axis, the mask cell whose area holds its center."""
    centers = np.arange(size, dtype=np.float64) + 0.5
    cells = np.floor((centers * scale + pad) * mask_size / input_size)
    return np.clip(cells, 0, mask_size - 1).astype(np.int64)


def to_original(cells: np.ndarray, geometry: Geometry, input_hw: tuple[int, int]) -> np.ndarray:
    """The class map brought to the original image size (nearest, undoing letterbox/resize/crop)."""
    mask_h, mask_w = cells.shape
    ys = cell_indices(geometry.src_height, geometry.scale_y, geometry.pad_top, mask_h, input_hw[0])
    xs = cell_indices(geometry.src_width, geometry.scale_x, geometry.pad_left, mask_w, input_hw[1])
    return np.ascontiguousarray(cells[ys[:, None], xs[None, :]])
