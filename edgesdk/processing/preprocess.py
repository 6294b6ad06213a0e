"""Pre-processing steps of docs/processing.md and the pipeline that runs them in manifest order.

Pixels stay in their source dtype through pure copies (crop, color swap) and become float32 at
the first arithmetic step; uint8 -> float32 is exact, so this equals converting up front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtypes import CAST_DTYPES, codes
from .errors import ProcessingError
from .frames import Orientation, orient
from .geometry import Geometry
from .resample import INTERPOLATIONS, PRECISIONS, resize_image
from .sizerules import SizeRule

COLORS = ("rgb", "bgr")
LAYOUTS = ("nchw", "nhwc")
ALIGNS = ("center", "top_left")
_CAST_NUMPY = codes("numpy", CAST_DTYPES)
IMAGE_OPS = ("resize", "center_crop", "letterbox", "pad", "color", "normalize")
OPS = IMAGE_OPS + ("layout", "cast")
CHANNELS = 3


def round_half_up(v: float) -> int:
    """The contract's round(): floor(v + 0.5)."""
    return math.floor(v + 0.5)


def _size(step: dict) -> tuple[int, int]:
    size = step.get("size")
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size):
        raise ProcessingError(f"{step.get('op')}: size must be [H, W] with positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def _choice(step: dict, key: str, allowed: Sequence[str], default: str | None = None) -> str:
    value = step.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise ProcessingError(f"{step.get('op')}: {key} must be one of {tuple(allowed)}, got {value!r}")
    return value


def _per_channel(step: dict, key: str, default: float) -> np.ndarray:
    value = step.get(key, default)
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.ndim != 1 or values.size not in (1, CHANNELS) or not np.all(np.isfinite(values)):
        raise ProcessingError(f"{step.get('op')}: {key} must be a number or {CHANNELS} numbers, got {value!r}")
    return np.broadcast_to(values, (CHANNELS,)).astype(np.float32)


def keep_ratio_size(h: int, w: int, out_h: int, out_w: int) -> tuple[int, int]:
    """resize with keep_ratio: s = max(H/h, W/w); the image covers out_h x out_w."""
    s = max(out_h / h, out_w / w)
    return round_half_up(h * s), round_half_up(w * s)


def letterbox_placement(h: int, w: int, out_h: int, out_w: int, align: str) -> tuple[int, int, int, int]:
    """(nh, nw, top, left) of the resized image inside the out_h x out_w canvas."""
    s = min(out_h / h, out_w / w)
    nh = min(max(round_half_up(h * s), 1), out_h)
    nw = min(max(round_half_up(w * s), 1), out_w)
    if align == "center":
        return nh, nw, (out_h - nh) // 2, (out_w - nw) // 2
    return nh, nw, 0, 0


CROP_ROUNDINGS = ("floor", "half_even")


def crop_offset(excess: int, rounding: str = "floor") -> int:
    """excess / 2 as a crop offset: floored, or rounded half to even (torchvision's
    `int(round(excess / 2.0))`: 3 -> 2, 5 -> 2, 7 -> 4)."""
    half = excess // 2
    if rounding == "half_even" and excess % 2 == 1 and half % 2 == 1:
        return half + 1
    return half


def crop_offsets(h: int, w: int, out_h: int, out_w: int, rounding: str = "floor") -> tuple[int, int]:
    """(top, left) of a center crop; an image smaller than the crop is an error."""
    if h < out_h or w < out_w:
        raise ProcessingError(f"center_crop: image {h}x{w} is smaller than the crop {out_h}x{out_w}")
    return crop_offset(h - out_h, rounding), crop_offset(w - out_w, rounding)


def _resampling(step: dict) -> tuple[str, bool, str]:
    """(interpolation, antialias, precision) of a resize or letterbox step."""
    interpolation = _choice(step, "interpolation", INTERPOLATIONS, "bilinear")
    antialias = step.get("antialias", False)
    if not isinstance(antialias, bool):
        raise ProcessingError(f"{step.get('op')}: antialias must be true or false, got {antialias!r}")
    return interpolation, antialias, _choice(step, "precision", PRECISIONS, "float")


def resize_output_size(h: int, w: int, step: dict) -> tuple[int, int]:
    """(height, width) a `resize` step gives an h x w image: `size` (with keep_ratio) or a size rule."""
    if step.get("size") is None:
        return SizeRule.from_step(step).output_size(h, w)
    out_h, out_w = _size(step)
    if step.get("keep_ratio", False):
        return keep_ratio_size(h, w, out_h, out_w)
    return out_h, out_w


def resize(image: np.ndarray, step: dict) -> np.ndarray:
    """The `resize` step on an HWC image (float32 result; uint8 with precision uint8)."""
    out_h, out_w = resize_output_size(image.shape[0], image.shape[1], step)
    return resize_image(image, out_h, out_w, *_resampling(step))


def center_crop(image: np.ndarray, step: dict) -> np.ndarray:
    """The `center_crop` step on an HWC image (a view, dtype unchanged)."""
    out_h, out_w = _size(step)
    top, left = crop_offsets(image.shape[0], image.shape[1], out_h, out_w, _choice(step, "rounding", CROP_ROUNDINGS, "floor"))
    return image[top : top + out_h, left : left + out_w]


def letterbox(image: np.ndarray, step: dict) -> np.ndarray:
    """The `letterbox` step on an HWC image (float32 result; uint8 with precision uint8)."""
    out_h, out_w = _size(step)
    pad = _per_channel(step, "pad_value", 114.0)
    resampling = _resampling(step)
    align = _choice(step, "align", ALIGNS, "center")
    nh, nw, top, left = letterbox_placement(image.shape[0], image.shape[1], out_h, out_w, align)
    inner = resize_image(image, nh, nw, *resampling)
    canvas = np.empty((out_h, out_w, CHANNELS), dtype=inner.dtype)
    canvas[...] = pad
    canvas[top : top + nh, left : left + nw] = inner
    return canvas


def pad_placement(h: int, w: int, out_h: int, out_w: int, align: str) -> tuple[int, int]:
    """(top, left) of an h x w image in the out_h x out_w canvas of a `pad` step."""
    if h > out_h or w > out_w:
        raise ProcessingError(f"pad: the image ({h}x{w}) is larger than pad.size {[out_h, out_w]} on an axis")
    if align == "center":
        return (out_h - h) // 2, (out_w - w) // 2
    return 0, 0


def pad(image: np.ndarray, step: dict) -> np.ndarray:
    """The `pad` step: the image in an out_h x out_w canvas of `value` (in the values' current space)."""
    out_h, out_w = _size(step)
    value = _per_channel(step, "value", 0.0)
    top, left = pad_placement(image.shape[0], image.shape[1], out_h, out_w, _choice(step, "align", ALIGNS, "top_left"))
    canvas = np.empty((out_h, out_w, CHANNELS), dtype=np.float32)
    canvas[...] = value
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


def swap_color(image: np.ndarray, current: str, order: str) -> np.ndarray:
    """Reverse the channels when the wanted order differs from the current one."""
    return image[..., ::-1] if order != current else image


def normalize(image: np.ndarray, step: dict) -> np.ndarray:
    """y = (x * scale - mean[c]) / std[c], three float32 operations in that order."""
    mean = _per_channel(step, "mean", 0.0)
    std = _per_channel(step, "std", 1.0)
    if np.any(std == 0):
        raise ProcessingError(f"normalize: std must not be 0, got {step.get('std')!r}")
    scale = np.float32(step.get("scale", 1.0))
    return (image.astype(np.float32) * scale - mean) / std


def to_layout(image: np.ndarray, layout: str) -> np.ndarray:
    """HWC -> [1, C, H, W] (nchw) or [1, H, W, C] (nhwc)."""
    if layout == "nchw":
        return image.transpose(2, 0, 1)[None]
    return image[None]


def cast(tensor: np.ndarray, dtype: str) -> np.ndarray:
    """float16: IEEE nearest-even; integer types: round half to even, then clamp to the range."""
    target = _CAST_NUMPY[dtype]
    values = tensor.astype(np.float32)
    if np.issubdtype(target, np.integer):
        info = np.iinfo(target)
        return np.clip(np.rint(values), info.min, info.max).astype(target)
    with np.errstate(over="ignore"):  # beyond float16's range is +-inf, as IEEE rounding says
        return values.astype(target)


# Steps that keep uint8 pixels uint8: a `precision: uint8` resize may follow only these.
_UINT8_KEEPING = ("center_crop", "color")


def check_steps(steps: Sequence[dict]) -> None:
    """Reject unknown ops and an order the contract does not allow."""
    seen_layout = seen_cast = False
    uint8_pixels = True
    for n, step in enumerate(steps):
        op = step.get("op") if isinstance(step, dict) else None
        if op not in OPS:
            raise ProcessingError(f"preprocess step {n}: unknown op {op!r} (expected one of {OPS})")
        if op in ("resize", "letterbox"):
            uint8_step = step.get("precision", "float") == "uint8"
            if uint8_step and not uint8_pixels:
                raise ProcessingError(f"preprocess step {n} ({op}): precision uint8 resizes uint8 pixels; only center_crop, color and precision uint8 resize/letterbox steps may come before it")
            if uint8_step and op == "letterbox" and any(v != int(v) for v in np.atleast_1d(step.get("pad_value", 114.0))):
                raise ProcessingError(f"preprocess step {n} (letterbox): precision uint8 needs whole-number pad_value, got {step.get('pad_value')!r}")
            uint8_pixels = uint8_step
        elif op not in _UINT8_KEEPING:
            uint8_pixels = False
        if seen_cast:
            raise ProcessingError(f"preprocess step {n} ({op}): cast must be the last step")
        if op in IMAGE_OPS and seen_layout:
            raise ProcessingError(f"preprocess step {n} ({op}): layout must come after every image step")
        if op == "layout":
            if seen_layout:
                raise ProcessingError(f"preprocess step {n}: layout appears twice")
            _choice(step, "layout", LAYOUTS)
            seen_layout = True
        elif op == "cast":
            _choice(step, "dtype", CAST_DTYPES)
            seen_cast = True
        elif op == "color":
            _choice(step, "order", COLORS)


def output_shape(input_hw: tuple[int | None, int | None] | None, steps: Sequence[dict]) -> tuple[int | None, ...]:
    """The tensor shape `steps` produce for an input of input_hw, without pixels.

    An axis that depends on an unknown input size (None) is None.
    """
    check_steps(steps)
    h, w = input_hw if input_hw is not None else (None, None)
    layout = None
    for step in steps:
        op = step["op"]
        if op == "resize":
            if step.get("size") is not None and not step.get("keep_ratio", False):
                h, w = _size(step)
            else:
                h, w = resize_output_size(h, w, step) if h and w else (None, None)
        elif op == "center_crop":
            out_h, out_w = _size(step)
            crop_offsets(h or out_h, w or out_w, out_h, out_w)
            h, w = out_h, out_w
        elif op in ("letterbox", "pad"):
            if op == "pad" and h and w:
                pad_placement(h, w, *_size(step), step.get("align", "top_left"))
            h, w = _size(step)
        elif op == "layout":
            layout = step["layout"]
    if layout == "nchw":
        return (1, CHANNELS, h, w)
    if layout == "nhwc":
        return (1, h, w, CHANNELS)
    return (h, w, CHANNELS)


@dataclass
class Preprocessed:
    tensor: np.ndarray
    geometry: Geometry
    input_hw: tuple[int, int]  # the model input's height and width (the image after every image step)

    output_shape = staticmethod(output_shape)


def run_preprocess(image_hwc_uint8: np.ndarray, input_color: str, steps: Sequence[dict[str, Any]], orientation: Orientation | None = None) -> Preprocessed:
    """Run the normalized pre-processing steps on an HWC uint8 image in `input_color` order.

    `orientation` first turns the image upright and takes its region of interest; the geometry
    then maps back into the upright image (docs/processing.md, Camera frames and orientation).
    """
    image = np.asarray(image_hwc_uint8)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != CHANNELS or 0 in image.shape:
        raise ProcessingError(f"the input image must be a non-empty HWC uint8 array with {CHANNELS} channels, got shape {image.shape} dtype {image.dtype}")
    if input_color not in COLORS:
        raise ProcessingError(f"input_color must be one of {COLORS}, got {input_color!r}")
    check_steps(steps)
    origin = (0, 0)
    if orientation is not None and not orientation.is_identity:
        image = orient(image, orientation)
        origin = (int(orientation.roi[0]), int(orientation.roi[1])) if orientation.roi is not None else (0, 0)
    geometry = Geometry.identity(image.shape[1], image.shape[0], *origin)
    color = input_color
    x = image
    dtype = "float32"
    input_hw = (image.shape[0], image.shape[1])
    for step in steps:
        op = step["op"]
        h, w = x.shape[0], x.shape[1]
        if op == "resize":
            x = resize(x, step)
            geometry = geometry.then(x.shape[1] / w, x.shape[0] / h, 0.0, 0.0)
        elif op == "center_crop":
            x = center_crop(x, step)
            top, left = crop_offsets(h, w, x.shape[0], x.shape[1], step.get("rounding", "floor"))
            geometry = geometry.then(1.0, 1.0, -left, -top)
        elif op == "letterbox":
            x = letterbox(x, step)
            nh, nw, top, left = letterbox_placement(h, w, x.shape[0], x.shape[1], step.get("align", "center"))
            geometry = geometry.then(nw / w, nh / h, left, top)
        elif op == "pad":
            x = pad(x, step)
            top, left = pad_placement(h, w, x.shape[0], x.shape[1], step.get("align", "top_left"))
            geometry = geometry.then(1.0, 1.0, left, top)
        elif op == "color":
            x = swap_color(x, color, step["order"])
            color = step["order"]
        elif op == "normalize":
            x = normalize(x, step)
        elif op == "layout":
            input_hw = (x.shape[0], x.shape[1])
            x = to_layout(x, step["layout"])
        else:
            dtype = step["dtype"]
    if x.ndim == 3:  # no layout step: the tensor is the HWC image
        input_hw = (x.shape[0], x.shape[1])
    return Preprocessed(tensor=np.ascontiguousarray(cast(x, dtype)), geometry=geometry, input_hw=input_hw)
