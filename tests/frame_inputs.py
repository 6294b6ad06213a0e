"""Camera frames for the generated SDKs' frame tests (Kotlin, Swift) and their reference tensors."""

from __future__ import annotations

import numpy as np

from edgesdk.processing import Orientation, frame_to_rgb, run_preprocess
from edgesdk.processing.frames import raw_frame_size


def frame(fmt: str, width: int, height: int, stride: int | None, seed: int) -> bytes:
    """A raw frame file's bytes: a ramp (smooth, as camera images are) plus noise over every value.
    `yuv420` (three planes) has NV21's byte count."""
    rng = np.random.default_rng(seed)
    n = raw_frame_size("nv21" if fmt == "yuv420" else fmt, width, height, stride)
    ramp = (np.arange(n) * 5 // max(width, 1)) % 256
    return ((ramp + rng.integers(0, 64, n)) % 256).astype(np.uint8).tobytes()


def reference(context: tuple[str, list], data: bytes, fmt: str, width: int, height: int, stride, yuv_range: str, o: Orientation):
    """The Python reference's pre-processing of the frame under `context` = (input color, steps)."""
    color, steps = context
    rgb = frame_to_rgb(data, "nv21" if fmt == "yuv420" else fmt, width, height, stride, yuv_range)
    return run_preprocess(rgb if color == "rgb" else np.ascontiguousarray(rgb[..., ::-1]), color, steps, o)
