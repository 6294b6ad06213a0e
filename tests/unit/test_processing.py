"""Pre-processing steps, the pipeline, output_shape and geometry (docs/processing.md)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesdk.processing import Geometry, Preprocessed, ProcessingError, decode_image, output_shape, run_preprocess
from edgesdk.processing.preprocess import cast, keep_ratio_size, letterbox_placement

RNG = np.random.default_rng(0)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _resize(size, interpolation="bilinear", keep_ratio=False):
    return {"op": "resize", "size": list(size), "interpolation": interpolation, "keep_ratio": keep_ratio}


def _letterbox(size, pad=(114.0, 114.0, 114.0), interpolation="bilinear", align="center"):
    return {"op": "letterbox", "size": list(size), "pad_value": list(pad), "interpolation": interpolation, "align": align}


def _cv_linear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    return cv2.resize(image.astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_LINEAR)


# ---- resize / keep_ratio / center_crop ----------------------------------------------------
def test_keep_ratio_covers_the_target_and_rounds_half_up():
    assert keep_ratio_size(480, 640, 256, 256) == (256, 341)  # 640 * 256 / 480 = 341.33
    assert keep_ratio_size(640, 480, 256, 256) == (341, 256)
    assert keep_ratio_size(3, 5, 3, 3) == (3, 5)
    assert keep_ratio_size(2, 3, 3, 3) == (3, 5)  # 3 * 1.5 = 4.5 rounds up
    assert keep_ratio_size(100, 100, 50, 80) == (80, 80)  # s = max(0.5, 0.8)


def test_center_crop_offsets_floor_and_geometry():
    image = _image(11, 20)
    out = run_preprocess(image, "rgb", [{"op": "center_crop", "size": [4, 7]}])
    # top = (11 - 4) // 2 = 3, left = (20 - 7) // 2 = 6
    np.testing.assert_array_equal(out.tensor, image[3:7, 6:13].astype(np.float32))
    assert out.geometry == Geometry(1.0, 1.0, -6.0, -3.0, 20, 11)


def test_center_crop_larger_than_the_image_is_an_error():
    with pytest.raises(ProcessingError, match="smaller than the crop"):
        run_preprocess(_image(10, 10), "rgb", [{"op": "center_crop", "size": [11, 5]}])


def test_resize_keep_ratio_then_crop_matches_opencv():
    image = _image(480, 640)
    steps = [_resize([256, 256], keep_ratio=True), {"op": "center_crop", "size": [224, 224]}]
    out = run_preprocess(image, "rgb", steps)
    ref = _cv_linear(image, 256, 341)[16:240, 58:282]
    assert np.abs(out.tensor - ref).max() <= 1e-4
    assert out.geometry.scale_x == 341 / 640 and out.geometry.scale_y == 256 / 480
    assert (out.geometry.pad_left, out.geometry.pad_top) == (-58.0, -16.0)


def test_antialias_only_with_pillow_filters():
    with pytest.raises(ProcessingError, match="antialias"):
        run_preprocess(_image(8, 8), "rgb", [{**_resize([4, 4]), "interpolation": "nearest", "antialias": True}])


# ---- letterbox -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "h,w,size,align,expected",
    [
        # (nh, nw, top, left) by hand: s = min(H/h, W/w), round half up, floor of the centering
        (300, 400, (640, 640), "center", (480, 640, 80, 0)),
        (400, 300, (640, 640), "center", (640, 480, 0, 80)),
        (300, 400, (640, 640), "top_left", (480, 640, 0, 0)),
        (101, 50, (64, 64), "center", (64, 32, 0, 16)),  # 50 * 64/101 = 31.68
        (3, 1000, (64, 64), "center", (1, 64, 31, 0)),  # 3 * 0.064 = 0.19 clamps to 1
        (10, 10, (30, 20), "center", (20, 20, 5, 0)),
        (7, 9, (8, 8), "center", (6, 8, 1, 0)),  # 7 * 8/9 = 6.22
    ],
)
def test_letterbox_placement_by_hand(h, w, size, align, expected):
    assert letterbox_placement(h, w, size[0], size[1], align) == expected


@pytest.mark.parametrize("align", ["center", "top_left"])
def test_letterbox_pixels_pad_and_geometry(align):
    image = _image(300, 401)
    pad = (0.0, 127.5, 255.0)
    out = run_preprocess(image, "rgb", [_letterbox((320, 320), pad=pad, align=align)])
    nh, nw, top, left = letterbox_placement(300, 401, 320, 320, align)
    assert (nh, nw) == (239, 320)
    assert (top, left) == ((40, 0) if align == "center" else (0, 0))
    tensor = out.tensor
    region = tensor[top : top + nh, left : left + nw]
    assert np.abs(region - _cv_linear(image, nh, nw)).max() <= 1e-4
    mask = np.ones((320, 320), bool)
    mask[top : top + nh, left : left + nw] = False
    assert (tensor[mask] == np.asarray(pad, np.float32)).all()
    assert out.geometry == Geometry(320 / 401, 239 / 300, float(left), float(top), 401, 300)


def test_letterbox_scalar_pad_and_nearest():
    image = _image(20, 10)
    step = {"op": "letterbox", "size": [8, 8], "pad_value": 3, "interpolation": "nearest", "align": "center"}
    out = run_preprocess(image, "rgb", [step]).tensor
    assert (out[:, :2] == 3).all() and (out[:, 6:] == 3).all()
    rows = [int(np.floor((i + 0.5) * 2.5)) for i in range(8)]
    cols = [int(np.floor((i + 0.5) * 2.5)) for i in range(4)]
    np.testing.assert_array_equal(out[:, 2:6], image[rows][:, cols].astype(np.float32))


# ---- color / normalize / layout / cast ------------------------------------------------------
def test_color_swaps_only_when_the_order_differs():
    image = _image(4, 5)
    swap = run_preprocess(image, "rgb", [{"op": "color", "order": "bgr"}]).tensor
    keep = run_preprocess(image, "bgr", [{"op": "color", "order": "bgr"}]).tensor
    twice = run_preprocess(image, "rgb", [{"op": "color", "order": "bgr"}, {"op": "color", "order": "rgb"}]).tensor
    np.testing.assert_array_equal(swap, image[..., ::-1].astype(np.float32))
    np.testing.assert_array_equal(keep, image.astype(np.float32))
    np.testing.assert_array_equal(twice, image.astype(np.float32))


def test_normalize_matches_torch_float32_math_exactly():
    image = _image(17, 23)
    mean, std, scale = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 1 / 255
    steps = [{"op": "normalize", "mean": mean, "std": std, "scale": scale}, {"op": "layout", "layout": "nchw"}]
    ours = run_preprocess(image, "rgb", steps).tensor
    t = torch.from_numpy(image).permute(2, 0, 1).float()
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    ref = ((t * torch.tensor(scale, dtype=torch.float32) - mean_t) / std_t)[None].numpy()
    np.testing.assert_array_equal(ours, ref)


def test_layout_matches_transpose():
    image = _image(6, 7)
    nchw = run_preprocess(image, "rgb", [{"op": "layout", "layout": "nchw"}]).tensor
    nhwc = run_preprocess(image, "rgb", [{"op": "layout", "layout": "nhwc"}]).tensor
    np.testing.assert_array_equal(nchw, np.transpose(image, (2, 0, 1))[None].astype(np.float32))
    np.testing.assert_array_equal(nhwc, image[None].astype(np.float32))
    assert nchw.flags.c_contiguous and nchw.dtype == np.float32


def test_cast_integer_rounds_half_even_then_clamps():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 126.5, 127.5, 254.5, 255.5, 300.0, -128.5, -129.0, -1e9], np.float32)
    assert cast(x, "uint8").tolist() == [0, 2, 2, 0, 0, 126, 128, 254, 255, 255, 0, 0, 0]
    assert cast(x, "int8").tolist() == [0, 2, 2, 0, -2, 126, 127, 127, 127, 127, -128, -128, -128]
    assert cast(x, "uint8").dtype == np.uint8 and cast(x, "int8").dtype == np.int8


def test_cast_float16_is_ieee_nearest_even():
    x = np.array([1 + 2**-11, 1 + 3 * 2**-11, 65504.0, 65519.0, 65520.0, -65520.0, 1e-8, 0.1], np.float32)
    ours = cast(x, "float16")
    ref = torch.from_numpy(x).half().numpy()
    np.testing.assert_array_equal(ours, ref)
    assert ours[0] == 1.0 and ours[1] == 1 + 2**-9 and np.isinf(ours[4]) and ours[3] == 65504


def test_pipeline_cast_uint8_keeps_pixels_exact():
    image = _image(9, 9)
    out = run_preprocess(image, "rgb", [{"op": "layout", "layout": "nhwc"}, {"op": "cast", "dtype": "uint8"}]).tensor
    np.testing.assert_array_equal(out, image[None])


# ---- step validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "steps,match",
    [
        ([{"op": "rotate"}], "unknown op 'rotate'"),
        ([{"op": "layout", "layout": "nchw"}, _resize([4, 4])], "layout must come after"),
        ([{"op": "cast", "dtype": "uint8"}, {"op": "layout", "layout": "nchw"}], "cast must be the last"),
        ([{"op": "layout", "layout": "nchw"}, {"op": "layout", "layout": "nchw"}], "twice"),
        ([{"op": "cast", "dtype": "int32"}], "dtype"),
        ([{"op": "resize", "size": [0, 4]}], "size"),
        ([{"op": "normalize", "mean": [1, 2], "std": [1, 1, 1]}], "mean"),
        ([{"op": "normalize", "std": [1, 0, 1]}], "std"),
    ],
)
def test_bad_steps_are_clear_errors(steps, match):
    with pytest.raises(ProcessingError, match=match):
        run_preprocess(_image(8, 8), "rgb", steps)


def test_bad_input_image_is_an_error():
    with pytest.raises(ProcessingError, match="HWC uint8"):
        run_preprocess(np.zeros((8, 8), np.uint8), "rgb", [])
    with pytest.raises(ProcessingError, match="HWC uint8"):
        run_preprocess(np.zeros((8, 8, 3), np.float32), "rgb", [])
    with pytest.raises(ProcessingError, match="input_color"):
        run_preprocess(_image(8, 8), "rgba", [])


# ---- output_shape -----------------------------------------------------------------------------
def test_output_shape_without_an_image():
    classifier = [
        _resize([256, 256], keep_ratio=True),
        {"op": "center_crop", "size": [224, 224]},
        {"op": "layout", "layout": "nchw"},
    ]
    assert Preprocessed.output_shape(None, classifier) == (1, 3, 224, 224)
    assert output_shape(None, [_resize([256, 256], keep_ratio=True), {"op": "layout", "layout": "nhwc"}]) == (1, None, None, 3)
    assert output_shape((480, 640), [_resize([256, 256], keep_ratio=True), {"op": "layout", "layout": "nhwc"}]) == (1, 256, 341, 3)
    assert output_shape(None, [_letterbox((640, 320))]) == (640, 320, 3)
    assert output_shape((5, 6), []) == (5, 6, 3)
    with pytest.raises(ProcessingError):
        output_shape((100, 100), [{"op": "center_crop", "size": [101, 10]}])


# ---- performance ------------------------------------------------------------------------------
def test_large_image_preprocesses_well_under_a_second():
    image = _image(3000, 4000)
    steps = [
        _resize([256, 256], keep_ratio=True),
        {"op": "center_crop", "size": [224, 224]},
        {"op": "normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "scale": 1.0},
        {"op": "layout", "layout": "nchw"},
    ]
    for pipeline in (steps, [_letterbox((640, 640)), {"op": "layout", "layout": "nchw"}]):
        start = time.perf_counter()
        run_preprocess(image, "rgb", pipeline)
        assert time.perf_counter() - start < 1.0


# ---- properties -------------------------------------------------------------------------------
@st.composite
def pipelines(draw, resize_after_letterbox=True):
    """An image size and a geometric pipeline that is valid for it (crops fit)."""
    h, w = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    steps = []
    cur_h, cur_w = h, w
    for _ in range(draw(st.integers(0, 3))):
        letterboxed = any(s["op"] == "letterbox" for s in steps)
        kinds = ["resize", "center_crop", "letterbox"] if resize_after_letterbox or not letterboxed else ["center_crop"]
        kind = draw(st.sampled_from(kinds))
        interpolation = draw(st.sampled_from(["nearest", "bilinear"]))
        size = [draw(st.integers(1, 48)), draw(st.integers(1, 48))]
        if kind == "resize":
            keep = draw(st.booleans())
            steps.append(_resize(size, interpolation, keep))
            cur_h, cur_w = keep_ratio_size(cur_h, cur_w, *size) if keep else size
        elif kind == "center_crop":
            size = [draw(st.integers(1, cur_h)), draw(st.integers(1, cur_w))]
            steps.append({"op": "center_crop", "size": size})
            cur_h, cur_w = size
        else:
            align = draw(st.sampled_from(["center", "top_left"]))
            steps.append(_letterbox(size, (0.0, 0.0, 0.0), interpolation, align))
            cur_h, cur_w = size
    layout = draw(st.sampled_from([None, "nchw", "nhwc"]))
    if layout:
        steps.append({"op": "layout", "layout": layout})
    return h, w, steps


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_output_shape_matches_the_tensor(case):
    h, w, steps = case
    out = run_preprocess(_image(h, w), "rgb", steps)
    assert out.tensor.shape == output_shape((h, w), steps)
    predicted = output_shape(None, steps)
    assert all(p is None or p == a for p, a in zip(predicted, out.tensor.shape))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines(resize_after_letterbox=False))
def test_geometry_maps_model_pixel_centers_back_inside_the_image(case):
    h, w, steps = case
    steps = [s for s in steps if s["op"] != "layout"]
    # All-255 pixels and zero padding: a model pixel is image content iff it is 255 (bilinear
    # only blends image pixels; padding is placed after the resize). A resize after a letterbox
    # resamples across the padding edge, smearing content up to a pixel outwards: not drawn here.
    out = run_preprocess(np.full((h, w, 3), 255, np.uint8), "rgb", steps)
    content_y, content_x = np.nonzero(out.tensor[..., 0] == 255)
    x, y = out.geometry.to_original(content_x + 0.5, content_y + 0.5)
    eps = 1e-9
    assert ((x > -eps) & (x < w + eps) & (y > -eps) & (y < h + eps)).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300))
def test_nearest_geometry_points_at_the_sampled_source_pixel(n_in, n_out):
    # Columns hold their own index: the value sampled into each model pixel names its source.
    image = np.broadcast_to((np.arange(n_in) % 256).astype(np.uint8)[None, :, None], (1, n_in, 3)).copy()
    out = run_preprocess(image, "rgb", [_resize([1, n_out], "nearest")])
    x, _ = out.geometry.to_original(np.arange(n_out) + 0.5, 0.5)
    sampled = out.tensor[0, :, 0].astype(int)
    # A center exactly on a source edge may resolve to either neighbour (rounding decides).
    below = np.floor(x - 1e-9).astype(int) % 256
    above = np.floor(x + 1e-9).astype(int) % 256
    assert ((sampled == below) | (sampled == above)).all()


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(["nearest", "bilinear"]), st.integers(0, 2**32 - 1))
def test_resize_to_the_same_size_is_identity(h, w, interpolation, seed):
    image = _image(h, w, seed)
    out = run_preprocess(image, "rgb", [_resize([h, w], interpolation)])
    np.testing.assert_array_equal(out.tensor, image.astype(np.float32))
    assert out.geometry == Geometry.identity(w, h)


def test_step_defaults_are_the_contracts():
    """normalize: mean 0, std 1, scale 1 (the identity); letterbox: pad 114; resize: keep_ratio false."""
    image = np.random.default_rng(5).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    same = run_preprocess(image, "rgb", [{"op": "normalize"}]).tensor
    np.testing.assert_array_equal(same, image.astype(np.float32))
    boxed = run_preprocess(image, "rgb", [{"op": "letterbox", "size": [9, 7]}]).tensor
    assert boxed[0].tolist() == [[114.0] * 3] * 7 and boxed[-1].tolist() == [[114.0] * 3] * 7
    assert output_shape((5, 7), [{"op": "resize", "size": [4, 4]}]) == (4, 4, 3)
    assert output_shape((None, 7), [{"op": "resize", "size": [4, 4], "keep_ratio": True}]) == (None, None, 3)
    assert output_shape((5, None), [{"op": "resize", "size": [4, 4], "keep_ratio": True}]) == (None, None, 3)
    assert output_shape(None, [{"op": "letterbox", "size": [6, 8]}, {"op": "layout", "layout": "nhwc"}]) == (1, 6, 8, 3)


def test_decode_image_refuses_another_colour_order(tmp_path):
    with pytest.raises(ValueError, match="color must be 'rgb' or 'bgr', got 'rgba'"):
        decode_image(tmp_path / "any.png", "rgba")


def test_optional_step_keys_default_as_the_contract_says():
    """resize/letterbox interpolate bilinear, resize keeps no ratio and no antialias, letterbox centres."""
    image = np.random.default_rng(6).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    explicit = [{"op": "resize", "size": [9, 7], "interpolation": "bilinear", "keep_ratio": False, "antialias": False}]
    np.testing.assert_array_equal(run_preprocess(image, "rgb", [{"op": "resize", "size": [9, 7]}]).tensor, run_preprocess(image, "rgb", explicit).tensor)
    boxed = {"op": "letterbox", "size": [12, 12], "pad_value": [1.0, 2.0, 3.0]}
    explicit = [{**boxed, "interpolation": "bilinear", "align": "center"}]
    np.testing.assert_array_equal(run_preprocess(image, "rgb", [boxed]).tensor, run_preprocess(image, "rgb", explicit).tensor)


def test_float32_results_of_each_resampling_and_of_letterbox():
    from edgesdk.processing.preprocess import letterbox
    from edgesdk.processing.resample import resize_image

    image = np.random.default_rng(7).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    assert resize_image(image, 7, 3, "nearest").dtype == np.float32
    assert resize_image(image, 7, 3, "bilinear").dtype == np.float32
    assert letterbox(image, {"op": "letterbox", "size": [8, 8]}).dtype == np.float32


def test_bad_choices_and_per_channel_values_name_the_step():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ProcessingError, match=r"^resize: interpolation must be one of \('nearest', 'bilinear', 'bicubic', 'area'\), got 'cubic'"):
        run_preprocess(image, "rgb", [{"op": "resize", "size": [2, 2], "interpolation": "cubic"}])
    with pytest.raises(ProcessingError, match=r"^normalize: mean must be a number or 3 numbers, got \[1, 2\]"):
        run_preprocess(image, "rgb", [{"op": "normalize", "mean": [1, 2]}])


def test_a_tall_letterbox_keeps_one_column():
    assert letterbox_placement(300, 1, 4, 4, "center") == (4, 1, 0, 1)


def test_geometry_scales_an_earlier_vertical_pad():
    """letterbox (top pad 5) then a 2x resize: pad_top becomes 10, scale_y 32/37 * 2."""
    image = np.zeros((37, 53, 3), np.uint8)
    steps = [{"op": "letterbox", "size": [32, 32]}, {"op": "resize", "size": [64, 64]}]
    g = run_preprocess(image, "rgb", steps).geometry
    assert (g.pad_left, g.pad_top) == (0.0, 10.0)
    assert g.scale_y == pytest.approx(22 / 37 * 2) and g.scale_x == pytest.approx(32 / 53 * 2)


def test_input_and_step_checks_say_what_is_wrong():
    from edgesdk.processing.resample import resize_image

    with pytest.raises(ProcessingError, match="non-empty HWC uint8"):
        run_preprocess(np.zeros((0, 4, 3), np.uint8), "rgb", [])
    with pytest.raises(ProcessingError, match=r"^resize: size must be \[H, W\] with positive integers, got \[3\]"):
        run_preprocess(np.zeros((4, 4, 3), np.uint8), "rgb", [{"op": "resize", "size": [3]}])
    with pytest.raises(ProcessingError, match="color"):
        run_preprocess(np.zeros((4, 4, 3), np.uint8), "rgb", [{"op": "color", "order": "rgba"}])
    with pytest.raises(ProcessingError, match="cannot resample an axis of length 4 to 0"):
        resize_image(np.zeros((4, 4, 3), np.uint8), 0, 4, "nearest")


def test_a_second_colour_step_to_the_same_order_keeps_it():
    image = np.random.default_rng(8).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    twice = run_preprocess(image, "rgb", [{"op": "color", "order": "bgr"}, {"op": "color", "order": "bgr"}]).tensor
    np.testing.assert_array_equal(twice, image[..., ::-1].astype(np.float32))


def test_bilinear_to_the_same_size_is_the_float32_image():
    from edgesdk.processing.resample import resize_image

    image = np.random.default_rng(9).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    same = resize_image(image, 3, 4, "bilinear")
    assert same.dtype == np.float32
    np.testing.assert_array_equal(same, image)
