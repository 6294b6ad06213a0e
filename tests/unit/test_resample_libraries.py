"""The resampling reference (edgesdk.processing.resample) against the library each mode names, on
many random size pairs: up and down, 1-pixel axes, equal axes, odd and exact integer factors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from opcheck.cases import pillow_two_pass
from PIL import Image

from edgesdk.manifest.schema import json_schema
from edgesdk.processing import ProcessingError, run_preprocess
from edgesdk.processing.resample import resize_image

RNG = np.random.default_rng(2024)
# (h, w, out_h, out_w): random pairs, then the edge cases ports get wrong.
SIZES = [tuple(int(v) for v in RNG.integers(1, 64, 4)) for _ in range(120)] + [
    (480, 640, 224, 224),
    (224, 224, 448, 448),
    (448, 448, 224, 224),
    (1, 1, 5, 3),
    (1, 9, 1, 4),
    (9, 1, 3, 1),
    (2, 300, 9, 7),
    (13, 17, 13, 17),
    (13, 17, 13, 40),
    (30, 17, 10, 17),
    (21, 33, 7, 11),
    (7, 11, 21, 33),
    (64, 48, 32, 24),
]


def _image(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _cv_float(image: np.ndarray, out_h: int, out_w: int, flag: int) -> np.ndarray:
    use_ipp = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)  # opencv-python's IPP build has its own INTER_CUBIC (up to 1.4e-3 off)
    try:
        return cv2.resize(image.astype(np.float32), (out_w, out_h), interpolation=flag).reshape(out_h, out_w, 3)
    finally:
        cv2.ipp.setUseIPP(use_ipp)


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_uint8_bilinear_is_opencv_inter_linear_bit_for_bit(size):
    h, w, oh, ow = size
    image = _image(h, w)
    want = cv2.resize(image, (ow, oh), interpolation=cv2.INTER_LINEAR).reshape(oh, ow, 3)
    np.testing.assert_array_equal(resize_image(image, oh, ow, "bilinear", precision="uint8"), want)


@pytest.mark.parametrize("interpolation,resample", [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)])
def test_antialias_is_pillow_bit_for_bit(interpolation, resample):
    """uint8: Pillow on an RGB image; float: Pillow on F images; both pass by pass."""
    for h, w, oh, ow in SIZES[::3]:
        image = _image(h, w)
        got8 = resize_image(image, oh, ow, interpolation, antialias=True, precision="uint8")
        np.testing.assert_array_equal(got8, pillow_two_pass(image, oh, ow, interpolation, uint8=True), err_msg=str((h, w, oh, ow)))
        got = resize_image(image, oh, ow, interpolation, antialias=True)
        np.testing.assert_array_equal(got, pillow_two_pass(image, oh, ow, interpolation, uint8=False), err_msg=str((h, w, oh, ow)))
        # One Pillow call: the same pixels when one axis keeps its length (one pass). Pillow 13
        # runs the vertical pass first for some size pairs (python-pillow/Pillow#9549): measured
        # up to 1 off for bilinear, up to 22 for bicubic (its overshoot is clipped in another order).
        direct = np.asarray(Image.fromarray(image).resize((ow, oh), resample))
        if h == oh or w == ow:
            np.testing.assert_array_equal(got8, direct)
        if interpolation == "bilinear":
            assert np.abs(got8.astype(int) - direct).max() <= 1


@pytest.mark.parametrize("size", SIZES[::2], ids=str)
def test_bicubic_is_opencv_inter_cubic(size):
    h, w, oh, ow = size
    image = _image(h, w)
    assert np.abs(resize_image(image, oh, ow, "bicubic") - _cv_float(image, oh, ow, cv2.INTER_CUBIC)).max() <= 1e-4


@pytest.mark.parametrize("size", SIZES[::2], ids=str)
def test_area_is_opencv_inter_area(size):
    h, w, oh, ow = size
    image = _image(h, w)
    assert np.abs(resize_image(image, oh, ow, "area") - _cv_float(image, oh, ow, cv2.INTER_AREA)).max() <= 1e-4


@pytest.mark.parametrize(("size", "factor"), [((48, 64), (2, 2)), ((45, 63), (3, 7)), ((10, 10), (5, 1)), ((7, 9), (7, 9)), ((480, 640), (4, 4))])
def test_area_equals_torch_area_for_integer_factors(size, factor):
    image = _image(*size)
    out = (size[0] // factor[0], size[1] // factor[1])
    t = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    want = F.interpolate(t, size=out, mode="area")[0].permute(1, 2, 0).numpy()
    assert np.abs(resize_image(image, *out, "area") - want).max() <= 1e-4


def test_unchanged_size_is_a_copy_in_every_mode():
    image = _image(9, 14)
    for interpolation, antialias in (("bicubic", False), ("area", False), ("bilinear", True), ("bicubic", True)):
        np.testing.assert_array_equal(resize_image(image, 9, 14, interpolation, antialias), image.astype(np.float32))
    np.testing.assert_array_equal(resize_image(image, 9, 14, "bilinear", precision="uint8"), image)


def test_uint8_steps_keep_uint8_and_refuse_float_input():
    image = _image(20, 30)
    steps = [{"op": "center_crop", "size": [18, 24]}, {"op": "resize", "size": [9, 8], "interpolation": "bilinear", "keep_ratio": False, "precision": "uint8"}]
    out = run_preprocess(image, "rgb", steps).tensor
    want = cv2.resize(np.ascontiguousarray(image[1:19, 3:27]), (8, 9), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out, want.astype(np.float32))
    with pytest.raises(ProcessingError, match="precision uint8 resizes uint8 pixels"):
        run_preprocess(image, "rgb", [{"op": "normalize", "mean": [0.0] * 3, "std": [1.0] * 3, "scale": 1.0}, steps[1]])
    with pytest.raises(ProcessingError, match="not implemented for bicubic"):
        resize_image(image, 4, 4, "bicubic", precision="uint8")


def test_json_schema_lists_the_resampling_options():
    defs = json_schema()["$defs"]
    for params in ("ResizeParams", "LetterboxParams"):
        props = defs[params]["properties"]
        assert props["interpolation"]["enum"] == ["nearest", "bilinear", "bicubic", "area"]
        assert props["precision"]["enum"] == ["float", "uint8"]
        assert "Pillow" in props["antialias"]["description"]
