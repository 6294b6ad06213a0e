"""Decode an image file into the pre-processing input: HWC uint8, 3 channels (docs/processing.md, Input image)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageDecodeError


def decode_image(path: str | os.PathLike, color: str = "rgb") -> np.ndarray:
    """Decode with Pillow to HWC uint8 in `color` order (rgb or bgr).

    Gray is replicated to 3 channels and alpha is dropped (not composited), both by Pillow's
    convert("RGB"); 16-bit PNGs are reduced the way that conversion does it; EXIF orientation
    is applied (ImageOps.exif_transpose), so the pixels are upright. A missing file raises FileNotFoundError, an undecodable one ImageDecodeError.
    """
    if color not in ("rgb", "bgr"):
        raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
    try:
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # Pillow reports unknown formats, truncated data and bad headers with these.
        raise ImageDecodeError(f"cannot decode image {os.fspath(path)!r}: {e}") from e
    return np.ascontiguousarray(rgb[..., ::-1]) if color == "bgr" else rgb
