"""Resampling per docs/processing.md: per-axis index/weight tables and separable interpolation.

Tables are computed in float64 with the exact operation order of the contract, so every
language that follows it gets the same indices and weights. Each mode names the library it
equals: nearest (OpenCV INTER_NEAREST_EXACT, Pillow NEAREST), bilinear (OpenCV INTER_LINEAR),
bicubic (OpenCV INTER_CUBIC), area (OpenCV INTER_AREA), and with antialias Pillow's BILINEAR and
BICUBIC filters; `precision: uint8` resizes the uint8 pixels with that library's integer
arithmetic (OpenCV INTER_LINEAR on a uint8 Mat, Pillow on an "RGB" image).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ProcessingError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area")
PRECISIONS = ("float", "uint8")


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


# ---- N-tap tables: every output position is a weighted sum of source positions ----------------
class Taps:
    """Per-axis sampling table: out[i] = sum_k weight[i, k] * p[index[i, k]], k in order.

    float32 weights: every product and sum rounded to float32 (bilinear, bicubic, area).
    float64 weights: products and sums in float64, the axis result rounded to float32 once
    (Pillow's "F" mode). Rows are padded to the same tap count with weight 0 on a valid index,
    which adds exactly 0 to a finite sum.
    """

    def __init__(self, index: np.ndarray, weight: np.ndarray):
        self.index = index
        self.weight = weight


# Weights are Python floats or numpy float32 scalars (tables computed in float32 arithmetic).
TapRows = list[tuple[list[int], list[Any]]]


def _padded(rows: TapRows, dtype: type) -> Taps:
    k = max(len(idx) for idx, _ in rows)
    index = np.zeros((len(rows), k), dtype=np.int64)
    weight: np.ndarray = np.zeros((len(rows), k), dtype=dtype)
    for i, (idx, w) in enumerate(rows):
        index[i, : len(idx)] = idx
        index[i, len(idx) :] = idx[-1]
        weight[i, : len(w)] = w
    return Taps(index, weight)


CUBIC_A = -0.75  # OpenCV INTER_CUBIC


def cubic_taps(n_in: int, n_out: int) -> Taps:
    """OpenCV INTER_CUBIC's table, its float32 arithmetic: scale = 1 / (n_out / n_in) (float64);
    f = float32((i + 0.5) * scale - 0.5); i0 = floor(f); t = f - i0 (float32); taps i0 - 1 .. i0 + 2
    clamped to the axis (border replicate); Keys weights with a = -0.75 evaluated in float32:
    c0 = ((a(t+1) - 5a)(t+1) + 8a)(t+1) - 4a, c1 = ((a+2)t - (a+3))t t + 1,
    c2 = ((a+2)(1-t) - (a+3))(1-t)(1-t) + 1, c3 = 1 - c0 - c1 - c2."""
    _check_lengths(n_in, n_out)
    f32 = np.float32
    scale = 1.0 / (n_out / n_in)
    a = f32(CUBIC_A)
    one = f32(1.0)
    rows: TapRows = []
    for i in range(n_out):
        f = f32((i + 0.5) * scale - 0.5)
        i0 = math.floor(f)
        t = f32(f - f32(i0))
        u = f32(t + one)
        v = f32(one - t)
        c0 = ((a * u - f32(5.0) * a) * u + f32(8.0) * a) * u - f32(4.0) * a
        c1 = ((a + f32(2.0)) * t - (a + f32(3.0))) * t * t + one
        c2 = ((a + f32(2.0)) * v - (a + f32(3.0))) * v * v + one
        c3 = one - c0 - c1 - c2
        rows.append(([min(max(i0 + k, 0), n_in - 1) for k in (-1, 0, 1, 2)], [c0, c1, c2, c3]))
    return _padded(rows, np.float32)


def _bilinear_filter(x: float) -> float:
    x = -x if x < 0.0 else x
    return 1.0 - x if x < 1.0 else 0.0


def _bicubic_filter(x: float) -> float:
    """Pillow's bicubic filter (a = -0.5), its operation order."""
    a = -0.5
    x = -x if x < 0.0 else x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


PILLOW_FILTERS = {"bilinear": (_bilinear_filter, 1.0), "bicubic": (_bicubic_filter, 2.0)}


def pillow_coefficients(n_in: int, n_out: int, interpolation: str) -> list[tuple[int, list[float]]]:
    """Pillow's precompute_coeffs: (first source index, normalized float64 weights) per output.

    scale = n_in / n_out, filterscale = max(scale, 1), support = filter support * filterscale;
    center = (i + 0.5) * scale; xmin = max(int(center - support + 0.5), 0); xmax = min(int(center +
    support + 0.5), n_in) (int() truncates); w_x = filter((x - center + 0.5) / filterscale) for x in
    [xmin, xmax), each divided by their sum (summed in order).
    """
    _check_lengths(n_in, n_out)
    kernel, support = PILLOW_FILTERS[interpolation]
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ss = 1.0 / filterscale
    out = []
    for i in range(n_out):
        center = (i + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in) - xmin
        weights = [kernel((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        total = 0.0
        for w in weights:
            total += w
        if total != 0.0:
            weights = [w / total for w in weights]
        out.append((xmin, weights))
    return out


def pillow_taps(n_in: int, n_out: int, interpolation: str) -> Taps:
    """Pillow float ("F" mode) resampling: float64 weights, float64 sums, float32 per pass."""
    rows = [(list(range(xmin, xmin + len(w))), w) for xmin, w in pillow_coefficients(n_in, n_out, interpolation)]
    return _padded(rows, np.float64)


def area_taps(n_in: int, n_out: int, box: bool) -> Taps:
    """OpenCV INTER_AREA along one axis. `box` (OpenCV: both axes shrink or keep their length):
    the box average with fractional edge weights of computeResizeAreaTab; otherwise OpenCV's
    bilinear-like rule for area upscaling. Weights float32."""
    _check_lengths(n_in, n_out)
    inv = n_out / n_in
    scale = 1.0 / inv
    rows: TapRows = []
    for i in range(n_out):
        if box:
            f1 = i * scale
            f2 = f1 + scale
            cell = min(scale, n_in - f1)
            s1 = math.ceil(f1)
            s2 = min(math.floor(f2), n_in - 1)
            s1 = min(s1, s2)
            idx: list[int] = []
            w: list[float] = []
            if s1 - f1 > 1e-3:
                idx.append(s1 - 1)
                w.append(float(np.float32((s1 - f1) / cell)))
            for s in range(s1, s2):
                idx.append(s)
                w.append(float(np.float32(1.0 / cell)))
            if f2 - s2 > 1e-3:
                idx.append(s2)
                w.append(float(np.float32(min(min(f2 - s2, 1.0), cell) / cell)))
            rows.append((idx, w))
            continue
        sx = math.floor(i * scale)
        fx = np.float32((i + 1) - (sx + 1) * inv)
        fx = np.float32(0.0) if fx <= 0 else np.float32(fx - np.float32(math.floor(fx)))
        if sx >= n_in - 1:
            sx, fx = n_in - 1, np.float32(0.0)
        rows.append(([sx, min(sx + 1, n_in - 1)], [float(np.float32(1.0) - fx), float(fx)]))
    return _padded(rows, np.float32)


def _apply(src: np.ndarray, axis: int, taps: Taps) -> np.ndarray:
    """One separable pass along `axis` (0: y, 1: x), in the weights' precision, float32 result."""
    shape = [1] * src.ndim
    shape[axis] = -1
    dtype = taps.weight.dtype
    out = np.take(src, taps.index[:, 0], axis=axis).astype(dtype) * taps.weight[:, 0].reshape(shape)
    for k in range(1, taps.index.shape[1]):
        out += np.take(src, taps.index[:, k], axis=axis).astype(dtype) * taps.weight[:, k].reshape(shape)
    return out.astype(np.float32, copy=False)


def _separable(image: np.ndarray, out_h: int, out_w: int, make_taps) -> np.ndarray:
    """x pass, then y pass; an axis whose length does not change is skipped."""
    h, w = image.shape[:2]
    out = image.astype(np.float32)
    if w != out_w:
        out = _apply(out, 1, make_taps(w, out_w))
    if h != out_h:
        out = _apply(out, 0, make_taps(h, out_h))
    return out


# ---- uint8 precision: the libraries' integer arithmetic ------------------------------------------
OPENCV_COEF_BITS = 11  # INTER_RESIZE_COEF_BITS: weights are integers scaled by 2048


def opencv_linear_u8_taps(n_in: int, n_out: int, clamp_weights: bool) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR's integer table: fx = float32((i + 0.5) * (1 / (n_out / n_in)) - 0.5),
    sx = floor(fx), fx -= sx (float32); weights rint(float32(1 - fx) * 2048), rint(fx * 2048).
    Along x (clamp_weights) a tap before 0 or from n_in - 1 on becomes (sx clamped, fx = 0);
    along y the weights stay and only the row indices are clamped (OpenCV's row buffer)."""
    _check_lengths(n_in, n_out)
    scale = 1.0 / (n_out / n_in)
    index = np.zeros((n_out, 2), dtype=np.int64)
    weight = np.zeros((n_out, 2), dtype=np.int64)
    one = np.float32(1 << OPENCV_COEF_BITS)
    for i in range(n_out):
        fx = np.float32((i + 0.5) * scale - 0.5)
        sx = math.floor(fx)
        fx = np.float32(fx - np.float32(sx))
        if clamp_weights and sx < 0:
            sx, fx = 0, np.float32(0.0)
        if clamp_weights and sx >= n_in - 1:
            sx, fx = n_in - 1, np.float32(0.0)
        weight[i] = (int(np.rint(np.float32(np.float32(1.0) - fx) * one)), int(np.rint(fx * one)))
        index[i] = (min(max(sx, 0), n_in - 1), min(max(sx + 1, 0), n_in - 1))
    return index, weight


def resize_bilinear_u8(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """OpenCV INTER_LINEAR on a uint8 Mat (bit for bit): x pass t = p0 * a0 + p1 * a1 (integers),
    y pass ((b0 * (t0 >> 4)) >> 16) + ((b1 * (t1 >> 4)) >> 16), then (v + 2) >> 2 clamped to 0..255."""
    h, w = image.shape[:2]
    if (h, w) == (out_h, out_w):
        return image.copy()
    xi, xw = opencv_linear_u8_taps(w, out_w, True)
    yi, yw = opencv_linear_u8_taps(h, out_h, False)
    src = image.astype(np.int64)
    t = src[:, xi[:, 0]] * xw[None, :, 0, None] + src[:, xi[:, 1]] * xw[None, :, 1, None]
    v = ((yw[:, 0, None, None] * (t[yi[:, 0]] >> 4)) >> 16) + ((yw[:, 1, None, None] * (t[yi[:, 1]] >> 4)) >> 16)
    return np.clip((v + 2) >> 2, 0, 255).astype(np.uint8)


PILLOW_PRECISION_BITS = 22  # 32 - 8 - 2


def pillow_u8_taps(n_in: int, n_out: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's fixed-point table: each weight as int(w * 2^22 +- 0.5) (truncated toward 0)."""
    rows = pillow_coefficients(n_in, n_out, interpolation)
    k = max(len(w) for _, w in rows)
    index = np.zeros((n_out, k), dtype=np.int64)
    weight = np.zeros((n_out, k), dtype=np.int64)
    one = float(1 << PILLOW_PRECISION_BITS)
    for i, (xmin, ws) in enumerate(rows):
        index[i] = [min(xmin + j, xmin + len(ws) - 1) for j in range(k)]
        weight[i, : len(ws)] = [int(-0.5 + w * one) if w < 0 else int(0.5 + w * one) for w in ws]
    return index, weight


def _pillow_u8_pass(src: np.ndarray, axis: int, taps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    index, weight = taps
    shape = [1] * src.ndim
    shape[axis] = -1
    acc = np.full(np.take(src, index[:, 0], axis=axis).shape, 1 << (PILLOW_PRECISION_BITS - 1), dtype=np.int64)
    for k in range(index.shape[1]):
        acc += np.take(src, index[:, k], axis=axis).astype(np.int64) * weight[:, k].reshape(shape)
    return np.clip(acc >> PILLOW_PRECISION_BITS, 0, 255).astype(np.uint8)


def resize_pillow_u8(image: np.ndarray, out_h: int, out_w: int, interpolation: str) -> np.ndarray:
    """Pillow resize of an "RGB" image (bit for bit): horizontal pass, clip to uint8, vertical pass;
    each output = clip8((2^21 + sum w_k * p_k) >> 22)."""
    h, w = image.shape[:2]
    out = image
    if w != out_w:
        out = _pillow_u8_pass(out, 1, pillow_u8_taps(w, out_w, interpolation))
    if h != out_h:
        out = _pillow_u8_pass(out, 0, pillow_u8_taps(h, out_h, interpolation))
    return out.copy() if out is image else out


def resize_image(image: np.ndarray, out_h: int, out_w: int, interpolation: str, antialias: bool = False, precision: str = "float") -> np.ndarray:
    """Resize an HWC image to out_h x out_w (docs/processing.md, Resampling).

    precision "float": float32 result; "uint8": the image must be uint8 and so is the result.
    """
    if interpolation not in INTERPOLATIONS:
        raise ProcessingError(f"unknown interpolation {interpolation!r} (expected one of {INTERPOLATIONS})")
    if antialias and interpolation not in PILLOW_FILTERS:
        raise ProcessingError(f"antialias applies to bilinear and bicubic, not {interpolation!r}")
    if precision == "uint8":
        if image.dtype != np.uint8:
            raise ProcessingError(f"precision uint8 resizes uint8 pixels, got {image.dtype}")
        _check_lengths(image.shape[0], out_h)
        _check_lengths(image.shape[1], out_w)
        if interpolation == "nearest":
            return np.take(np.take(image, nearest_indices(image.shape[0], out_h), axis=0), nearest_indices(image.shape[1], out_w), axis=1)
        if antialias:
            return resize_pillow_u8(image, out_h, out_w, interpolation)
        if interpolation == "bilinear":
            return resize_bilinear_u8(image, out_h, out_w)
        raise ProcessingError(f"precision uint8 is not implemented for {interpolation} without antialias (allowed: nearest, bilinear, antialias bilinear/bicubic)")
    if precision != "float":
        raise ProcessingError(f"unknown precision {precision!r} (expected one of {PRECISIONS})")
    if antialias:
        return _separable(image, out_h, out_w, lambda n_in, n_out: pillow_taps(n_in, n_out, interpolation))
    if interpolation == "nearest":
        return resize_nearest(image, out_h, out_w)
    if interpolation == "bilinear":
        return resize_bilinear(image, out_h, out_w)
    if interpolation == "bicubic":
        return _separable(image, out_h, out_w, cubic_taps)
    box = out_h <= image.shape[0] and out_w <= image.shape[1]
    return _separable(image, out_h, out_w, lambda n_in, n_out: area_taps(n_in, n_out, box))
