"""The output-size functions of the libraries edgesdk's resize size rules reproduce, re-typed from
their sources operation for operation (torchvision, Hugging Face transformers and PaddleOCR are not
installed beside the main venv). tests/unit/test_size_rules.py and tests/opcheck/cases.py hold the
rules to them.
"""

from __future__ import annotations

import math


def torchvision_resized_size(h: int, w: int, size: int | None, max_size: int | None) -> tuple[int, int]:
    """torchvision.transforms.functional._compute_resized_output_size (0.2x), size an int or None."""
    short, long = (w, h) if w <= h else (h, w)
    if size is None:  # only max_size: the longer side becomes max_size
        new_long, new_short = max_size, int(max_size * short / long)
    else:
        requested_new_short = size
        new_short, new_long = requested_new_short, int(requested_new_short * long / short)
        if max_size is not None and new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    return new_h, new_w


def hf_resize_output_image_size(h: int, w: int, size: int, max_size: int | None) -> tuple[int, int]:
    """transformers.image_transforms.get_resize_output_image_size with default_to_square=False."""
    short, long = (w, h) if w <= h else (h, w)
    requested_new_short = size
    new_short, new_long = requested_new_short, int(requested_new_short * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def paddle_det_resize(h: int, w: int, limit_side_len: int, limit_type: str) -> tuple[int, int]:
    """PaddleOCR ppocr/data/imaug/operators.py DetResizeForTest.resize_image_type0 (the sizes)."""
    if limit_type == "max":
        if max(h, w) > limit_side_len:
            ratio = float(limit_side_len) / h if h > w else float(limit_side_len) / w
        else:
            ratio = 1.0
    elif limit_type == "min":
        if min(h, w) < limit_side_len:
            ratio = float(limit_side_len) / h if h < w else float(limit_side_len) / w
        else:
            ratio = 1.0
    else:  # resize_long
        ratio = float(limit_side_len) / max(h, w)
    resize_h = int(h * ratio)
    resize_w = int(w * ratio)
    resize_h = max(int(round(resize_h / 32) * 32), 32)
    resize_w = max(int(round(resize_w / 32) * 32), 32)
    return resize_h, resize_w


def paddle_rec_width(h: int, w: int, img_h: int, img_w: int) -> int:
    """PaddleOCR ppocr/data/imaug/rec_img_aug.py resize_norm_img (RecResizeImg, ClsResizeImg): the resized width."""
    ratio = w / float(h)
    if math.ceil(img_h * ratio) > img_w:
        return img_w
    return math.ceil(img_h * ratio)
