"""Resampling per docs/processing.md: per-axis index/weight tables and separable interpolation.

Tables are computed in float64 with the exact operation order of the contract, so every
language that follows it gets the same indices and (float32) weights.
"""

from __future__ import annotations

import numpy as np

from .errors import ProcessingError

INTERPOLATIONS = ("nearest", "bilinear")


def _check_lengths(n_in: int, n_out: int) -> None:
    if n_in < 1 or n_out < 1:
        raise ProcessingError(f"cannot resample an axis of length {n_in} to {n_out}")


def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """src(i) = min(floor(x_i), n_in - 1), x_0 = 0.5 * r, x_i = x_(i-1) + r, r = n_in / n_out.

    The positions are accumulated one addition at a time (not (i + 0.5) * r): that is what
    Pillow NEAREST and OpenCV INTER_NEAREST_EXACT compute, and it decides which neighbour wins
    when a pixel center falls exactly on a source pixel edge.
    """
    _check_lengths(n_in, n_out)
    r = n_in / n_out
    steps = np.full(n_out, r, dtype=np.float64)
    steps[0] = 0.5 * r
    # add.accumulate is a sequential left-to-right sum, never reassociated.
    src = np.floor(np.add.accumulate(steps)).astype(np.int64)
    return np.minimum(src, n_in - 1)


def bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w0, w1): source indices (int64) and float32 weights of each output position."""
    _check_lengths(n_in, n_out)
    r = n_in / n_out
    f = (np.arange(n_out, dtype=np.float64) + 0.5) * r - 0.5
    i0 = np.floor(f)
    a = f - i0
    i0 = i0.astype(np.int64)
    low = i0 < 0
    high = i0 >= n_in - 1
    i0[low] = 0
    i0[high] = n_in - 1
    a[low | high] = 0.0
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (1.0 - a).astype(np.float32), a.astype(np.float32)


def resize_nearest(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize of an HWC image; float32 result (values are copied exactly).

    An axis whose length does not change maps every index to itself and is skipped.
    """
    h, w = image.shape[:2]
    if h != out_h:
        image = np.take(image, nearest_indices(h, out_h), axis=0)
    if w != out_w:
        image = np.take(image, nearest_indices(w, out_w), axis=1)
    return image.astype(np.float32)


def _interpolate(src: np.ndarray, axis: int, taps: tuple[np.ndarray, ...]) -> np.ndarray:
    """w0 * p[i0] + w1 * p[i1] along axis, each operation rounded to float32."""
    i0, i1, w0, w1 = taps
    shape = [1] * src.ndim
    shape[axis] = -1
    # Converting after the gather is exact (uint8 -> float32) and never copies the whole source.
    out = np.take(src, i0, axis=axis).astype(np.float32, copy=False)
    far = np.take(src, i1, axis=axis).astype(np.float32, copy=False)
    out *= w0.reshape(shape)
    far *= w1.reshape(shape)
    out += far
    return out


def resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear (no antialias) resize of an HWC image: x pass, then y pass, all float32.

    The x pass only runs on the source rows the y pass reads: rows are interpolated
    independently, so that equals interpolating every row. An axis whose length does not
    change is skipped: its weights are (1, 0) and 1 * p + 0 * q == p exactly.
    """
    h, w = image.shape[:2]
    rows = image
    if h != out_h:
        j0, j1, v0, v1 = bilinear_taps(h, out_h)
        needed = np.unique(np.concatenate([j0, j1]))
        rows = image[needed]
        taps_y = (np.searchsorted(needed, j0), np.searchsorted(needed, j1), v0, v1)
    if w != out_w:
        rows = _interpolate(rows, 1, bilinear_taps(w, out_w))
    if h != out_h:
        rows = _interpolate(rows, 0, taps_y)
    return image.astype(np.float32) if rows is image else rows


def resize_image(image: np.ndarray, out_h: int, out_w: int, interpolation: str) -> np.ndarray:
    """Resize an HWC image to out_h x out_w with `nearest` or `bilinear` (float32 result)."""
    if interpolation == "nearest":
        return resize_nearest(image, out_h, out_w)
    if interpolation == "bilinear":
        return resize_bilinear(image, out_h, out_w)
    raise ProcessingError(f"unknown interpolation {interpolation!r} (expected one of {INTERPOLATIONS})")
