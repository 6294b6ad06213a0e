"""Resampling tables and interpolation against OpenCV and Pillow, where their semantics coincide."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from cpp import reference
from PIL import Image

from edgesdk.processing import ProcessingError
from edgesdk.processing.resample import bilinear_taps, nearest_indices, resize_bilinear, resize_image, resize_nearest

# OpenCV computes its float32 weights through a float32 position and 1/scale; the contract uses a
# float64 position. Measured max diff on 0..255 images: 6.1e-5 (1,500 random sizes: 4.6e-5).
# OpenCV 5 leaves that math when a source axis has length 1 (up to 3e-3 off the exact value),
# so those sizes are checked against a float64 evaluation of the contract instead.
BILINEAR_TOL = 1e-4

SIZES = [
    # (h, w, out_h, out_w): down, up, mixed, odd aspect ratios, 1-pixel edges, exact 2x
    (37, 53, 100, 7),
    (480, 640, 224, 224),
    (480, 640, 641, 479),
    (224, 224, 448, 448),
    (448, 448, 224, 224),
    (5, 9, 1, 1),
    (2, 9, 300, 1),
    (2, 2, 3, 3),
    (3, 300, 7, 2),
    (300, 3, 1, 299),
    (999, 1001, 1003, 101),
    (64, 48, 64, 49),
]


def _cv_resize(image: np.ndarray, out_h: int, out_w: int, interpolation: int) -> np.ndarray:
    out = cv2.resize(image, (out_w, out_h), interpolation=interpolation)
    return out.reshape(out_h, out_w, -1)


@pytest.mark.parametrize("h,w,out_h,out_w", SIZES)
def test_bilinear_matches_opencv_inter_linear_on_float32(h, w, out_h, out_w):
    image = np.random.default_rng(h * 7 + w).uniform(0, 255, (h, w, 3)).astype(np.float32)
    ours = resize_bilinear(image, out_h, out_w)
    ref = _cv_resize(image, out_h, out_w, cv2.INTER_LINEAR)
    assert ours.shape == (out_h, out_w, 3) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= BILINEAR_TOL


def test_bilinear_matches_opencv_on_random_sizes():
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = rng.integers(2, 200, 2)
        out_h, out_w = rng.integers(1, 400, 2)
        image = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
        diff = np.abs(resize_bilinear(image, out_h, out_w) - _cv_resize(image, out_h, out_w, cv2.INTER_LINEAR))
        assert diff.max() <= BILINEAR_TOL, (h, w, out_h, out_w)


def _bilinear_float64(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The contract's formula evaluated in float64 throughout."""

    def axis(n_in, n_out):
        f = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        i0 = np.floor(f)
        a = np.where((i0 < 0) | (i0 >= n_in - 1), 0.0, f - i0)
        i0 = np.clip(i0, 0, n_in - 1).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), a

    x0, x1, ax = axis(image.shape[1], out_w)
    y0, y1, ay = axis(image.shape[0], out_h)
    p = image.astype(np.float64)
    t = (1 - ax)[None, :, None] * p[:, x0] + ax[None, :, None] * p[:, x1]
    return (1 - ay)[:, None, None] * t[y0] + ay[:, None, None] * t[y1]


@pytest.mark.parametrize("h,w,out_h,out_w", [(17, 1, 33, 5), (1, 17, 5, 33), (1, 1, 5, 9), (265, 1, 287, 348), (1, 217, 99, 296)])
def test_bilinear_with_a_one_pixel_source_axis_matches_the_float64_formula(h, w, out_h, out_w):
    image = np.random.default_rng(h + w).uniform(0, 255, (h, w, 3)).astype(np.float32)
    assert np.abs(resize_bilinear(image, out_h, out_w) - _bilinear_float64(image, out_h, out_w)).max() <= BILINEAR_TOL


def test_bilinear_of_uint8_equals_bilinear_of_its_float32_copy():
    image = np.random.default_rng(1).integers(0, 256, (31, 45, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_bilinear(image, 20, 70), resize_bilinear(image.astype(np.float32), 20, 70))


def test_bilinear_follows_the_separable_float32_rule_exactly():
    image = np.random.default_rng(2).uniform(0, 255, (9, 13, 3)).astype(np.float32)
    out_h, out_w = 7, 20
    # Taps from the transcription of docs/processing.md, not from the code under test.
    xi0, xi1, xw0, xw1 = reference._taps(13, out_w, "bilinear")
    yj0, yj1, yv0, yv1 = reference._taps(9, out_h, "bilinear")
    t = xw0[None, :, None] * image[:, xi0] + xw1[None, :, None] * image[:, xi1]
    expected = yv0[:, None, None] * t[yj0] + yv1[:, None, None] * t[yj1]
    np.testing.assert_array_equal(resize_bilinear(image, out_h, out_w), expected)


def test_bilinear_taps_hand_computed():
    # 4 -> 2: f = (i + 0.5) * 2 - 0.5 = 0.5, 2.5
    i0, i1, w0, w1 = bilinear_taps(4, 2)
    assert i0.tolist() == [0, 2] and i1.tolist() == [1, 3]
    assert w0.tolist() == [0.5, 0.5] and w1.tolist() == [0.5, 0.5]
    # 2 -> 4: f = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to n_in - 1)
    i0, i1, w0, w1 = bilinear_taps(2, 4)
    assert i0.tolist() == [0, 0, 0, 1] and i1.tolist() == [1, 1, 1, 1]
    assert w1.tolist() == [0.0, 0.25, 0.75, 0.0] and w0.tolist() == [1.0, 0.75, 0.25, 1.0]
    assert w0.dtype == np.float32


@pytest.mark.parametrize("h,w,out_h,out_w", SIZES)
def test_nearest_matches_opencv_nearest_exact_and_pillow(h, w, out_h, out_w):
    image = np.random.default_rng(h * 3 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ours = resize_nearest(image, out_h, out_w)
    np.testing.assert_array_equal(ours, _cv_resize(image, out_h, out_w, cv2.INTER_NEAREST_EXACT))
    pil = np.asarray(Image.fromarray(image).resize((out_w, out_h), Image.NEAREST))
    np.testing.assert_array_equal(ours, pil)


def _pillow_indices(n_in: int, n_out: int) -> np.ndarray:
    row = np.arange(n_in, dtype=np.int32)[None, :]
    return np.asarray(Image.fromarray(row).resize((n_out, 1), Image.NEAREST))[0]


def _opencv_indices(n_in: int, n_out: int) -> np.ndarray:
    row = np.arange(n_in, dtype=np.uint16)[None, :]
    return cv2.resize(row, (n_out, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0]


def test_nearest_indices_equal_pillow_and_opencv_for_many_lengths():
    # Includes lengths where a pixel center falls exactly on a source edge (e.g. 2 -> 7, 640 -> 479):
    # (i + 0.5) * r in one multiplication would pick the other neighbour there.
    lengths = [(n_in, n_out) for n_in in range(1, 120) for n_out in range(1, 120, 5)]
    lengths += [(640, 479), (480, 641), (3000, 224), (4000, 256), (4032, 3024), (7, 4001)]
    for n_in, n_out in lengths:
        ours = nearest_indices(n_in, n_out)
        np.testing.assert_array_equal(ours, _pillow_indices(n_in, n_out), err_msg=f"{n_in} -> {n_out}")
        np.testing.assert_array_equal(ours, _opencv_indices(n_in, n_out), err_msg=f"{n_in} -> {n_out}")


def test_nearest_tie_goes_to_the_accumulated_position():
    # 2 -> 7: the center of output pixel 3 is exactly at source x = 1.0; accumulating r = 2/7
    # lands just below it, so source pixel 0 is used, as in Pillow and OpenCV.
    assert nearest_indices(2, 7).tolist() == [0, 0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_resize_to_the_same_size_is_identity(interpolation):
    image = np.random.default_rng(3).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_image(image, 23, 31, interpolation), image.astype(np.float32))


def test_resize_rejects_unknown_interpolation_and_empty_axes():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ProcessingError, match="interpolation"):
        resize_image(image, 2, 2, "lanczos")
    with pytest.raises(ProcessingError):
        nearest_indices(4, 0)
