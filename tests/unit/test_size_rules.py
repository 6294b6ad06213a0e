"""The resize size rules (edgesdk.processing.sizerules) against the libraries that define them.

torchvision, Hugging Face transformers and PaddleOCR are not installed beside the main venv, so
their size functions are re-typed from their sources, operation for operation, in
tests/size_libraries.py, and the rule is compared with them on every (h, w) up to 128 and a random sample of 12000 up to 4000.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from size_libraries import hf_resize_output_image_size, paddle_det_resize, paddle_rec_width, torchvision_resized_size

from edgesdk.errors import ManifestError
from edgesdk.manifest.loading import manifest_from_dict
from edgesdk.manifest.schema import PadStep, ResizeStep, normalized_step
from edgesdk.processing import ProcessingError, output_shape, run_preprocess
from edgesdk.processing.sizerules import SizeRule, round_by


# ---- sizes: all small pairs (1-pixel axes, equal sides) and a dense random sample ------------
def _sizes() -> list[tuple[int, int]]:
    rng = random.Random(23)
    small = [(h, w) for h in range(1, 129) for w in range(1, 129)]
    return small + [(rng.randint(1, 4000), rng.randint(1, 4000)) for _ in range(12000)]


SIZES = _sizes()


def _rule(**fields) -> SizeRule:
    step = normalized_step(ResizeStep.model_validate({"resize": fields}))
    return SizeRule.from_step(step)


def _mismatches(rule: SizeRule, library, sizes=SIZES) -> list:
    found = ((h, w, rule.output_size(h, w), library(h, w)) for h, w in sizes)
    return [case for case in found if case[2] != case[3]][:5]


@pytest.mark.parametrize(("size", "max_size"), [(1, None), (7, None), (224, None), (256, None), (800, 1333), (256, 257), (32, 100)])
def test_shorter_side_is_torchvision_and_hugging_face(size, max_size):
    rule = _rule(shorter_side=size, max_size=max_size)
    # The library's side can round to 0 (it then fails); the rule keeps at least 1 pixel.
    sizes = [(h, w) for h, w in SIZES if min(torchvision_resized_size(h, w, size, max_size)) >= 1]
    assert not _mismatches(rule, lambda h, w: torchvision_resized_size(h, w, size, max_size), sizes)
    assert not _mismatches(rule, lambda h, w: hf_resize_output_image_size(h, w, size, max_size), sizes)


@pytest.mark.parametrize("size", [1, 33, 512, 1333])
def test_longer_side_is_torchvision_max_size_alone(size):
    rule = _rule(longer_side=size)
    sizes = [(h, w) for h, w in SIZES if min(torchvision_resized_size(h, w, None, size)) >= 1]
    assert not _mismatches(rule, lambda h, w: torchvision_resized_size(h, w, None, size), sizes)


@pytest.mark.parametrize(
    ("limit", "limit_type", "fields"),
    [
        (736, "min", {"shorter_side": 736, "only": "upscale"}),
        (32, "min", {"shorter_side": 32, "only": "upscale"}),
        (960, "max", {"longer_side": 960, "only": "downscale"}),
        (640, "resize_long", {"longer_side": 640}),
    ],
)
def test_paddle_det_resize_for_test(limit, limit_type, fields):
    rule = _rule(**fields, arithmetic="scale_first", multiple_of=32)
    assert not _mismatches(rule, lambda h, w: paddle_det_resize(h, w, limit, limit_type))


def test_paddle_det_needs_scale_first():
    """Without the library's own order (r = limit / side first) some sides differ: floor(49 * (32 / 49)) is 31."""
    assert _rule(shorter_side=32, arithmetic="scale_first").output_size(49, 50) == (31, 32)
    assert _rule(shorter_side=32).output_size(49, 50) == (32, 32)
    product = _rule(shorter_side=736, only="upscale", multiple_of=32)
    assert _mismatches(product, lambda h, w: paddle_det_resize(h, w, 736, "min"))


@pytest.mark.parametrize(("img_h", "img_w"), [(48, 320), (48, 192), (32, 100), (100, 800), (224, 2000)])
def test_paddle_rec_cls_width(img_h, img_w):
    rule = _rule(height=img_h, max_size=img_w, rounding="ceil", arithmetic="aspect_first")
    assert not _mismatches(rule, lambda h, w: (img_h, paddle_rec_width(h, w, img_h, img_w)))


def test_aspect_first_differs_from_product_first_where_paddle_does():
    """For height 100 the two orders give other widths on some sizes: aspect_first is needed to be exact."""
    product = _rule(height=100, max_size=4000, rounding="ceil")
    assert _mismatches(product, lambda h, w: (100, paddle_rec_width(h, w, 100, 4000)))


def test_roundings_and_multiples():
    assert [round_by(v, r) for r in ("floor", "ceil", "half_even", "half_up") for v in (2.5, 3.5, -0.5)] == [2, 3, -1, 3, 4, 0, 2, 4, 0, 3, 4, 0]
    # width 10 -> height 3 * 10 / 4 = 7.5 per rounding
    for rounding, expected in {"floor": 7, "ceil": 8, "half_even": 8, "half_up": 8}.items():
        assert _rule(width=10, rounding=rounding).output_size(3, 4) == (expected, 10)
    assert _rule(width=10, rounding="half_even").output_size(5, 4) == (12, 10)  # 12.5 -> 12
    assert _rule(width=10, rounding="half_up").output_size(5, 4) == (13, 10)
    # multiple_of: max(m, R(side / m) * m); 48 / 32 = 1.5 ties
    for rounding, expected in {"floor": 32, "ceil": 64, "half_even": 64, "half_up": 64}.items():
        assert _rule(height=48, multiple_of=32, multiple_rounding=rounding).output_size(48, 48)[0] == expected
    assert _rule(height=80, multiple_of=32).output_size(80, 80) == (64, 64)  # 2.5 -> 2 (half_even)
    assert _rule(height=80, multiple_of=32, multiple_rounding="half_up").output_size(80, 80) == (96, 96)
    assert _rule(height=5, multiple_of=32).output_size(5, 1) == (32, 32)  # never below m


def test_only_leaves_sizes_that_meet_the_target():
    assert _rule(shorter_side=100, only="upscale").output_size(120, 300) == (120, 300)
    assert _rule(shorter_side=100, only="upscale").output_size(50, 300) == (100, 600)
    assert _rule(shorter_side=100, only="downscale").output_size(50, 300) == (50, 300)
    assert _rule(shorter_side=100, only="downscale").output_size(100, 300) == (100, 300)
    assert _rule(longer_side=100, only="downscale").output_size(50, 300) == (16, 100)
    assert _rule(height=32, only="downscale").output_size(20, 7) == (20, 7)
    assert _rule(width=32, only="upscale").output_size(20, 7) == (91, 32)
    # the image is left as it is, then rounded to the multiple (PaddleOCR's ratio = 1)
    assert _rule(shorter_side=736, only="upscale", multiple_of=32).output_size(800, 1001) == (800, 992)


def test_sides_never_round_to_zero():
    assert _rule(shorter_side=1).output_size(1, 3) == (1, 3)
    assert _rule(longer_side=2).output_size(1, 300) == (1, 2)
    assert _rule(height=1).output_size(300, 1) == (1, 1)


def _manifest_error(pre_steps: list) -> str:
    raw = {
        "schema_version": 1,
        "name": "m",
        "version": "1.0.0",
        "task": "custom",
        "model": {"source": "m.onnx", "inputs": [{"name": "x", "shape": [1, 3, 48, 320]}], "outputs": [{"name": "y"}]},
        "preprocess": {"steps": pre_steps},
    }
    with pytest.raises(ManifestError) as caught:
        manifest_from_dict(raw, Path("/nonexistent"))
    return str(caught.value)


@pytest.mark.parametrize(
    ("resize", "words"),
    [
        ({}, "exactly one of size, shorter_side, longer_side, height, width (got none)"),
        ({"size": [4, 4], "width": 3}, "got size, width"),
        ({"size": [4, 4], "max_size": 5}, "max_size applies to shorter_side"),
        ({"size": [4, 4], "only": "upscale", "rounding": "ceil"}, "rounding, only apply to"),
        ({"height": 4, "keep_ratio": True}, "keep_ratio applies to size"),
        ({"longer_side": 4, "max_size": 8}, "longer_side sets it already"),
        ({"shorter_side": 8, "max_size": 8}, "must be greater than shorter_side"),
        ({"height": 4, "multiple_rounding": "ceil"}, "multiple_rounding applies with multiple_of only"),
        ({"height": 4, "rounding": "up"}, "'floor', 'ceil', 'half_even' or 'half_up'"),
        ({"height": 4, "arithmetic": "paddle"}, "'product_first', 'scale_first' or 'aspect_first'"),
        ({"height": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(resize, words):
    message = _manifest_error([{"resize": resize}, {"layout": "nchw"}])
    assert "preprocess.steps" in message and words in message


def test_bad_pad_is_refused_naming_the_field():
    assert "'top_left' or 'center'" in _manifest_error([{"pad": {"size": [4, 4], "align": "middle"}}, {"layout": "nchw"}])
    assert "pad.size" in _manifest_error([{"pad": {"value": 0}}, {"layout": "nchw"}])
    assert "value" in _manifest_error([{"pad": {"size": [4, 4], "value": [1, 2]}}, {"layout": "nchw"}])


# ---- the pad step and the geometry of the new steps --------------------------------------------
def test_pad_places_the_image_and_maps_boxes_back():
    image = np.random.default_rng(0).integers(0, 256, (13, 29, 3), dtype=np.uint8)
    steps = [
        {"op": "pad", "size": [20, 40], "align": "center", "value": [1.0, 2.0, 3.0]},
        {"op": "resize", "height": 48, "interpolation": "nearest", "rounding": "floor", "multiple_rounding": "half_even", "arithmetic": "product_first"},
        {"op": "layout", "layout": "nhwc"},
    ]
    out = run_preprocess(image, "rgb", steps)
    assert out.tensor.shape == (1, 48, 96, 3)
    # the 20 x 40 canvas: top = 3, left = 5; 2.4x along both axes
    g = out.geometry
    assert (g.scale_x, g.scale_y, g.pad_left, g.pad_top) == (96 / 40, 48 / 20, 5.0 * (96 / 40), 3.0 * (48 / 20))
    x0, y0 = g.to_original(5 * 2.4, 3 * 2.4)
    x1, y1 = g.to_original((5 + 29) * 2.4, (3 + 13) * 2.4)
    assert (x0, y0) == pytest.approx((0, 0), abs=1e-12) and (x1, y1) == pytest.approx((29, 13), abs=1e-12)
    canvas = run_preprocess(image, "rgb", [steps[0], steps[2]]).tensor[0]
    assert np.array_equal(canvas[3:16, 5:34], image.astype(np.float32))
    assert (canvas[0, 0] == [1, 2, 3]).all() and (canvas[16:, :] == [1, 2, 3]).all() and (canvas[:, 34:] == [1, 2, 3]).all()


def test_pad_value_is_in_the_space_of_its_step():
    image = np.full((2, 3, 3), 200, np.uint8)
    normalize = {"op": "normalize", "mean": [127.5] * 3, "std": [127.5] * 3, "scale": 1.0}
    pad = {"op": "pad", "size": [2, 5], "align": "top_left", "value": [0.0, 0.0, 0.0]}
    after = run_preprocess(image, "rgb", [normalize, pad, {"op": "layout", "layout": "nhwc"}]).tensor[0]
    before = run_preprocess(image, "rgb", [pad, normalize, {"op": "layout", "layout": "nhwc"}]).tensor[0]
    assert (after[:, 3:] == 0).all() and (before[:, 3:] == -1).all()
    assert (after[:, :3] == before[:, :3]).all()


def test_pad_smaller_than_the_image_is_an_error_naming_pad_size():
    with pytest.raises(ProcessingError, match=r"pad.size \[4, 4\]"):
        run_preprocess(np.zeros((5, 3, 3), np.uint8), "rgb", [{"op": "pad", "size": [4, 4]}])


def test_output_shape_of_rules_and_pad():
    rule = {"op": "resize", "height": 48, "max_size": 320, "rounding": "ceil", "arithmetic": "aspect_first"}
    pad = {"op": "pad", "size": [48, 320], "align": "top_left", "value": [0.0] * 3}
    layout = {"op": "layout", "layout": "nchw"}
    assert output_shape(None, [rule, layout]) == (1, 3, None, None)
    assert output_shape((10, 1000), [rule, layout]) == (1, 3, 48, 320)
    assert output_shape(None, [rule, pad, layout]) == (1, 3, 48, 320)
    with pytest.raises(ProcessingError, match="pad.size"):
        output_shape((10, 1000), [rule, {**pad, "size": [48, 300]}, layout])


def test_normalized_steps_of_size_keep_their_bytes():
    """An existing `size` resize normalizes exactly as before (bundles stay byte-identical)."""
    step = normalized_step(ResizeStep.model_validate({"resize": {"size": [256, 256], "keep_ratio": True}}))
    assert list(step) == ["op", "size", "interpolation", "keep_ratio"]
    pad = normalized_step(PadStep.model_validate({"pad": {"size": [48, 320], "value": 0}}))
    assert pad == {"op": "pad", "size": [48, 320], "align": "top_left", "value": [0.0, 0.0, 0.0]}


def _manifest(tmp_path: Path, pre_steps: list, shape: list[int]):
    (tmp_path / "m.onnx").write_bytes(b"")
    raw = {
        "schema_version": 1,
        "name": "m",
        "version": "1.0.0",
        "task": "custom",
        "model": {"source": "m.onnx", "inputs": [{"name": "x", "shape": shape}], "outputs": [{"name": "y"}]},
        "preprocess": {"steps": pre_steps},
    }
    return manifest_from_dict(raw, tmp_path)


def test_recipes_in_the_syntax_validate(tmp_path):
    """PaddleOCR's recognizer input and torchvision's Resize(256) + CenterCrop(224), as the manifest writes them."""
    rec = [
        {"resize": {"height": 48, "max_size": 320, "rounding": "ceil", "arithmetic": "aspect_first"}},
        {"normalize": {"mean": [127.5] * 3, "std": [127.5] * 3}},
        {"pad": {"size": [48, 320]}},
        {"layout": "nchw"},
    ]
    assert _manifest(tmp_path, rec, [1, 3, 48, 320]).pre_steps()[2]["value"] == [0.0, 0.0, 0.0]
    torchvision = [{"resize": {"shorter_side": 256}}, {"center_crop": {"size": [224, 224]}}, {"layout": "nchw"}]
    assert _manifest(tmp_path, torchvision, [1, 3, 224, 224]).pre_steps()[0]["shorter_side"] == 256
    padded_crop = [{"pad": {"size": [30, 30], "align": "center"}}, {"center_crop": {"size": [20, 20]}}, {"layout": "nchw"}]
    assert _manifest(tmp_path, padded_crop, [1, 3, 20, 20])
    with pytest.raises(ManifestError, match=r"center_crop.size.*larger than the pad size"):
        _manifest(tmp_path, [{"pad": {"size": [10, 30]}}, {"center_crop": {"size": [20, 20]}}, {"layout": "nchw"}], [1, 3, 20, 20])


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"op": "resize"}, "exactly one of size, shorter_side"),
        ({"op": "resize", "height": 4, "width": 4}, "exactly one of"),
        ({"op": "resize", "height": 0}, "height must be a positive integer"),
        ({"op": "resize", "height": 4, "rounding": "up"}, "rounding must be one of"),
        ({"op": "resize", "height": 4, "only": "always"}, "only must be one of"),
        ({"op": "resize", "longer_side": 4, "max_size": 8}, "not longer_side"),
    ],
)
def test_the_reference_refuses_bad_rules(step, words):
    """The Python reference is called with normalized steps directly too (golden vectors, tests)."""
    with pytest.raises(ProcessingError, match=words):
        run_preprocess(np.zeros((2, 2, 3), np.uint8), "rgb", [step])
