"""The Python reference (edgesdk.processing) against the libraries that define each op, on the
cases the generated C++ and Kotlin run too; and the hand-computed sizes where the contract
deliberately differs from every library."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from cpp import reference

from edgesdk.processing import Orientation, frame_to_rgb, run_postprocess, run_preprocess
from edgesdk.processing.preprocess import crop_offset, crop_offsets, keep_ratio_size, letterbox_placement
from edgesdk.processing.resample import resize_image

from .cases import CENTER_CROP, CENTER_CROP_HALF_EVEN, KEEP_RATIO, LETTERBOX, NEAREST_SIZES, check_post, check_pre, cv2_nearest, max_abs_diff, pillow_nearest, post_cases, pre_cases

PRE = pre_cases()
POST = post_cases()


@pytest.mark.parametrize("case", PRE, ids=lambda c: c.id)
def test_preprocess_matches_the_libraries_and_the_contract(case):
    with np.errstate(over="ignore"):
        exact = reference.preprocess(case.rgb, case.input_color, case.steps)
    if case.frame is not None:  # the frame through edgesdk.processing.frames, not the libraries' pixels
        f = case.frame
        rgb = frame_to_rgb(f.data, f.format, f.width, f.height, f.row_stride, f.yuv_range)
        image = rgb if case.input_color == "rgb" else np.ascontiguousarray(rgb[..., ::-1])
        got = run_preprocess(image, case.input_color, case.steps, Orientation(f.rotation, f.mirror, f.roi)).tensor
    else:
        got = run_preprocess(case.pixels, case.input_color, case.steps).tensor
    assert check_pre(case, got, exact) == []


@pytest.mark.parametrize("case", POST, ids=lambda c: c.id)
def test_postprocess_matches_the_libraries(case):
    post = {"output_index": 0, "steps": case.steps, "labels": []}
    result = run_postprocess([case.values], case.task, post)
    if case.task == "custom":
        assert check_post(case, result.tensors[0], None) == []
        return
    order = [c.index for c in result.classifications]
    assert order == case.expected_order, case.why
    scores = np.array([c.score for c in result.classifications], dtype=np.float32)
    assert max_abs_diff(scores, case.expected[0][order]) <= case.atol


@pytest.mark.parametrize(("size", "out"), NEAREST_SIZES)
def test_opencv_nearest_exact_and_pillow_nearest_agree(size, out):
    """The two libraries the contract names for `nearest` compute the same pixels (so either is the reference)."""
    image = np.random.default_rng(size[0] * 1000 + size[1]).integers(0, 256, (*size, 3), dtype=np.uint8)
    np.testing.assert_array_equal(cv2_nearest(image, *out), pillow_nearest(image, *out))


@pytest.mark.parametrize(("size", "out"), [((37, 53), (40, 40)), ((480, 640), (224, 224)), ((5, 4), (11, 9)), ((2, 300), (9, 7))])
def test_bilinear_is_opencv_inter_linear(size, out):
    """OpenCV INTER_LINEAR (its float32 weights) is within 6.1e-5 of the contract on 0..255 values
    when no source axis has length 1 (docs/processing.md)."""
    image = np.random.default_rng(3).integers(0, 256, (*size, 3), dtype=np.uint8)
    want = cv2.resize(image.astype(np.float32), (out[1], out[0]), interpolation=cv2.INTER_LINEAR)
    assert np.abs(resize_image(image, *out, "bilinear") - want).max() <= 6.1e-5


def test_bilinear_from_a_one_pixel_axis_copies_it():
    """A length-1 source axis: every output takes that pixel (torch does the same; OpenCV deviates
    by up to 3e-3 there, so the contract follows torch and this hand-computed value)."""
    image = np.array([[[10, 200, 37], [250, 0, 99]]], dtype=np.uint8)  # 1 x 2
    out = resize_image(image, 3, 2, "bilinear")
    np.testing.assert_array_equal(out, np.repeat(image.astype(np.float32), 3, axis=0))


@pytest.mark.parametrize(("size", "target", "want"), KEEP_RATIO)
def test_keep_ratio_sizes_are_rounded_half_up(size, target, want):
    """torchvision's Resize truncates the long side; the contract rounds half up (hand-computed)."""
    assert keep_ratio_size(*size, *target) == want


@pytest.mark.parametrize(("size", "target", "align", "want"), LETTERBOX)
def test_letterbox_placements(size, target, align, want):
    assert letterbox_placement(*size, *target, align) == want


@pytest.mark.parametrize(("size", "target", "want"), CENTER_CROP)
def test_center_crop_offsets_are_floored(size, target, want):
    """torchvision's CenterCrop rounds (h - H) / 2 half to even (7 - 4 gives top 2); the contract floors."""
    assert crop_offsets(*size, *target) == want


@pytest.mark.parametrize(("size", "target", "want"), CENTER_CROP_HALF_EVEN)
def test_center_crop_half_even_offsets_are_torchvisions(size, target, want):
    """rounding: half_even is torchvision's int(round((h - H) / 2.0)), hand values and every excess up to 64."""
    assert crop_offsets(*size, *target, "half_even") == want
    for excess in range(64):
        assert crop_offset(excess, "half_even") == round(excess / 2.0)


def test_softmax_of_huge_logits_does_not_overflow():
    x = torch.tensor([[1e30, 1e30 - 1e24, -1e30]], dtype=torch.float32)
    result = run_postprocess([x.numpy()], "custom", {"output_index": 0, "steps": [{"op": "softmax", "axis": -1}], "labels": []})
    np.testing.assert_allclose(result.tensors[0], torch.softmax(x, -1).numpy(), atol=1e-7)
