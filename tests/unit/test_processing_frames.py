"""Camera frames and orientation (docs/processing.md): the reference held to OpenCV's cvtColor
(video range), Pillow's YCbCr conversion (full range), numpy/OpenCV rotation and Pillow's
exif_transpose."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from edgesdk.manifest.schema import post_step
from edgesdk.processing import Orientation, Plane, ProcessingError, decode_image, exif_orientation, frame_to_rgb, orient, roi_of_frame_crop, run_postprocess, run_preprocess, yuv420_to_rgb
from edgesdk.processing.frames import EXIF_ORIENTATIONS, raw_frame_size

CV2_CODES = {"nv21": cv2.COLOR_YUV2RGB_NV21, "nv12": cv2.COLOR_YUV2RGB_NV12, "i420": cv2.COLOR_YUV2RGB_I420}


def _bytes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def _with_stride(frame: np.ndarray, fmt: str, w: int, h: int, stride: int, seed: int) -> np.ndarray:
    """The tight frame `frame` (cv2's layout) re-laid with row stride `stride`, garbage in the gaps."""
    out = _bytes(raw_frame_size(fmt, w, h, stride), seed + 99)
    ch = (h + 1) // 2
    if fmt == "i420":
        cw, cs = (w + 1) // 2, (stride + 1) // 2
        rows = [(0, 0, w, w, stride, h), (w * h, stride * h, cw, cw, cs, ch), (w * h + cw * ch, stride * h + cs * ch, cw, cw, cs, ch)]
    else:
        rows = [(0, 0, w, w, stride, h), (w * h, stride * h, w, w, 2 * ((stride + 1) // 2), ch)]
    for src0, dst0, n, src_stride, dst_stride, count in rows:
        for r in range(count):
            out[dst0 + r * dst_stride : dst0 + r * dst_stride + n] = frame[src0 + r * src_stride : src0 + r * src_stride + n]
    return out


@pytest.mark.parametrize("fmt", ["nv21", "nv12", "i420"])
def test_video_range_equals_opencv_on_random_even_frames_and_strides(fmt):
    rng = np.random.default_rng(1)
    for trial in range(40):
        w, h = 2 * int(rng.integers(1, 60)), 2 * int(rng.integers(1, 60))
        frame = _bytes(w * h * 3 // 2, trial)
        expected = cv2.cvtColor(frame.reshape(h * 3 // 2, w), CV2_CODES[fmt])
        assert np.array_equal(frame_to_rgb(frame, fmt, w, h), expected), (fmt, w, h)
        stride = w + int(rng.integers(1, 40)) * (2 if fmt == "i420" else 1)
        strided = _with_stride(frame, fmt, w, h, stride, trial)
        assert np.array_equal(frame_to_rgb(strided, fmt, w, h, row_stride=stride), expected), (fmt, w, h, stride)


def test_video_range_equals_opencv_on_every_chroma_pair():
    # 256 x 256 chroma samples hold all 65,536 (U, V) pairs; Y sweeps 0..255 across the frames.
    uv = np.arange(65536)
    u, v = (uv >> 8).astype(np.uint8).reshape(256, 256), (uv & 255).astype(np.uint8).reshape(256, 256)
    vu = np.empty((256, 512), np.uint8)
    vu[:, 0::2], vu[:, 1::2] = v, u
    for shift in range(0, 256, 37):
        y = ((np.arange(512 * 512) + shift) % 256).astype(np.uint8).reshape(512, 512)
        frame = np.concatenate([y, vu]).ravel()
        assert np.array_equal(frame_to_rgb(frame, "nv21", 512, 512), cv2.cvtColor(frame.reshape(768, 512), cv2.COLOR_YUV2RGB_NV21))


def _pillow_full(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h, w = y.shape
    planes = [Image.frombytes("L", (w, h), np.ascontiguousarray(p).tobytes()) for p in (y, u, v)]
    return np.asarray(Image.merge("YCbCr", planes).convert("RGB"))


def test_full_range_equals_pillow_on_every_yuv_triple():
    y, u, v = (a.ravel().astype(np.uint8) for a in np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing="ij"))
    from edgesdk.processing.frames import yuv_to_rgb

    ours = yuv_to_rgb(y.reshape(4096, 4096), u.reshape(4096, 4096), v.reshape(4096, 4096), "full")
    assert np.array_equal(ours, _pillow_full(y.reshape(4096, 4096), u.reshape(4096, 4096), v.reshape(4096, 4096)))


@pytest.mark.parametrize("fmt", ["nv21", "nv12", "i420"])
def test_full_range_frames_equal_pillow_on_chroma_upsampled_by_repetition(fmt):
    rng = np.random.default_rng(2)
    for trial in range(30):
        w, h = int(rng.integers(1, 50)), int(rng.integers(1, 50))  # odd sizes too
        stride = w + int(rng.integers(0, 9))
        data = _bytes(raw_frame_size(fmt, w, h, stride), trial)
        cw, ch = (w + 1) // 2, (h + 1) // 2
        y = data[: stride * h].reshape(h, stride)[:, :w]
        if fmt == "i420":
            cs = (stride + 1) // 2
            u = data[stride * h : stride * h + cs * ch].reshape(ch, cs)[:, :cw]
            v = data[stride * h + cs * ch :].reshape(ch, cs)[:, :cw]
        else:
            chroma = data[stride * h :].reshape(ch, 2 * ((stride + 1) // 2))
            first, second = chroma[:, 0 : 2 * cw : 2], chroma[:, 1 : 2 * cw : 2]
            u, v = (second, first) if fmt == "nv21" else (first, second)
        u, v = (np.repeat(np.repeat(p, 2, 0), 2, 1)[:h, :w] for p in (u, v))
        assert np.array_equal(frame_to_rgb(data, fmt, w, h, stride, "full"), _pillow_full(y, u, v)), (fmt, w, h, stride)


def test_yuv420_planes_with_pixel_stride_two_equal_nv21_and_short_last_rows():
    w, h, stride = 9, 7, 16
    data = _bytes(raw_frame_size("nv21", w, h, stride), 5)
    expected = frame_to_rgb(data, "nv21", w, h, stride)
    # Android hands over separate buffers whose last row stops after the last sample.
    y = data[: stride * (h - 1) + w].copy()
    chroma = data[stride * h :]
    v_buf = chroma[: stride * 3 + 2 * 4 + 1].copy()  # V U V U ... : V at 0
    u_buf = chroma[1 : 1 + stride * 3 + 2 * 4 + 1].copy()
    got = yuv420_to_rgb(w, h, Plane(y, stride), Plane(u_buf, stride, 2), Plane(v_buf, stride, 2))
    assert np.array_equal(got, expected)
    with pytest.raises(ProcessingError, match="U: the buffer holds"):
        yuv420_to_rgb(w, h, Plane(y, stride), Plane(u_buf[:-1], stride, 2), Plane(v_buf, stride, 2))


def test_packed_formats_with_row_stride():
    w, h, stride = 5, 3, 23
    data = _bytes(stride * h, 7)
    rows = data.reshape(h, stride)
    assert np.array_equal(frame_to_rgb(data, "rgba", w, h, stride), rows[:, : 4 * w].reshape(h, w, 4)[..., :3])
    assert np.array_equal(frame_to_rgb(data, "bgr", w, h, stride), rows[:, : 3 * w].reshape(h, w, 3)[..., ::-1])
    assert np.array_equal(frame_to_rgb(data, "gray", w, h, stride), np.repeat(rows[:, :w, None], 3, axis=2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("yuv12", 4, 4), "format must be one of"),
        (("nv21", 0, 4), "width must be a positive integer"),
        (("nv21", 4, 4, 3), "Y.row_stride 3 is less than 4"),
        (("nv21", 4, 5), "the buffer holds 24 bytes"),
        (("nv21", 4, 4, None, "studio"), "yuv_range must be one of"),
    ],
)
def test_bad_frames_are_refused_naming_the_field(args, message):
    with pytest.raises(ProcessingError, match=message):
        frame_to_rgb(np.zeros(24, np.uint8), *args)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("mirror", [False, True])
def test_orientation_equals_numpy_and_opencv_rotation(rotation, mirror):
    image = _bytes(5 * 7 * 3, rotation).reshape(5, 7, 3)
    expected = {0: image, 90: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), 180: cv2.rotate(image, cv2.ROTATE_180), 270: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)}[rotation]
    assert np.array_equal(expected, np.rot90(image, k=-rotation // 90))
    if mirror:
        expected = cv2.flip(expected, 1)
    assert np.array_equal(orient(image, Orientation(rotation, mirror)), expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1)])
def test_orientation_of_one_pixel_axes(shape):
    image = _bytes(shape[0] * shape[1] * 3, 3).reshape(*shape, 3)
    for rotation in (90, 270):
        out = orient(image, Orientation(rotation))
        assert out.shape[:2] == shape[::-1]
        assert np.array_equal(out, cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE if rotation == 90 else cv2.ROTATE_90_COUNTERCLOCKWISE).reshape(out.shape))


def test_roi_is_taken_in_the_upright_image_and_checked_against_its_bounds():
    image = _bytes(4 * 6 * 3, 4).reshape(4, 6, 3)  # upright after 90: 4 wide, 6 high
    upright = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    assert np.array_equal(orient(image, Orientation(90, roi=(0, 0, 4, 6))), upright)
    assert np.array_equal(orient(image, Orientation(90, roi=(3, 5, 1, 1))), upright[5:6, 3:4])
    for roi in [(0, 0, 5, 1), (0, 0, 1, 7), (-1, 0, 1, 1), (3, 0, 2, 1), (0, 0, 0, 1)]:
        with pytest.raises(ProcessingError, match=r"roi \(x=.*upright image 4x6"):
            orient(image, Orientation(90, roi=roi))
    with pytest.raises(ProcessingError, match="rotation must be one of"):
        Orientation(45)
    with pytest.raises(ProcessingError, match="roi must be four integers"):
        Orientation(roi=(0, 0, 1))


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("mirror", [False, True])
def test_a_frame_crop_becomes_the_upright_roi_holding_the_same_pixels(rotation, mirror):
    """Android's Image.getCropRect() is in the sensor's frame: crop then turn (numpy) == turn then the mapped ROI."""
    rng = np.random.default_rng(rotation + mirror)
    frame = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    crops = [(0, 0, 13, 9), (2, 1, 5, 7), (12, 8, 1, 1), (0, 3, 13, 1), (4, 0, 1, 9)]
    for crop in crops:
        x, y, w, h = crop
        want = orient(frame[y : y + h, x : x + w], Orientation(rotation, mirror))
        roi = roi_of_frame_crop(13, 9, rotation, mirror, crop)
        np.testing.assert_array_equal(orient(frame, Orientation(rotation, mirror, roi)), want, err_msg=str(crop))
    with pytest.raises(ProcessingError, match=r"crop \(x=10, y=0, w=4, h=9\) .* inside the 13x9 frame"):
        roi_of_frame_crop(13, 9, rotation, mirror, (10, 0, 4, 9))


@pytest.mark.parametrize("value", sorted(EXIF_ORIENTATIONS))
def test_exif_orientation_equals_pillow_exif_transpose(value, tmp_path):
    pixels = _bytes(3 * 5 * 3, value).reshape(3, 5, 3)
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[274] = value
    path = tmp_path / "photo.png"
    im.save(path, exif=exif)
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    assert np.array_equal(orient(pixels, exif_orientation(value)), expected)
    assert np.array_equal(decode_image(path), expected)


def test_preprocess_with_orientation_and_detections_come_back_in_the_upright_frame():
    steps = [{"op": "resize", "size": [8, 8], "interpolation": "bilinear", "keep_ratio": False}, {"op": "layout", "layout": "nchw"}]
    image = _bytes(20 * 30 * 3, 8).reshape(20, 30, 3)
    orientation = Orientation(90, True, roi=(4, 6, 10, 16))
    pre = run_preprocess(image, "rgb", steps, orientation)
    assert np.array_equal(pre.tensor, run_preprocess(np.ascontiguousarray(orient(image, orientation)), "rgb", steps).tensor)
    g = pre.geometry
    assert (g.src_width, g.src_height, g.origin_x, g.origin_y) == (10, 16, 4, 6)
    # A box beyond the model input comes back clipped to the ROI; one inside is scaled and moved.
    out = np.array([[[6.0, 6.0, 20.0, 20.0, 0.9], [5.0, 5.0, 2.0, 2.0, 0.8]]], dtype=np.float32)
    post = {"steps": [post_step("decode_boxes", format="yolo"), post_step("nms", iou_threshold=0.99, class_agnostic=True)]}
    boxes = [d.box for d in run_postprocess([out], "detection", post, pre.geometry, pre.input_hw).detections]
    assert boxes == [(4.0, 6.0, 14.0, 22.0), (9.0, 14.0, 11.5, 18.0)]


def test_segmentation_mask_covers_the_roi_and_reports_its_offset():
    steps = [{"op": "resize", "size": [4, 4], "interpolation": "nearest", "keep_ratio": False}, {"op": "layout", "layout": "nchw"}]
    pre = run_preprocess(_bytes(12 * 9 * 3, 9).reshape(12, 9, 3), "rgb", steps, Orientation(270, roi=(2, 1, 8, 5)))
    scores = np.zeros((1, 2, 4, 4), np.float32)
    scores[0, 1, :, 2:] = 1.0
    result = run_postprocess([scores], "segmentation", {"steps": [post_step("mask")]}, pre.geometry, pre.input_hw)
    mask = result.mask
    assert (mask.width, mask.height, mask.x, mask.y) == (8, 5, 2, 1)
    assert np.array_equal(np.frombuffer(mask.class_ids, np.uint8).reshape(5, 8), np.repeat([[0] * 4 + [1] * 4], 5, axis=0))
    assert result.to_json()["mask"]["x"] == 2


def test_jpeg_with_exif_orientation_decodes_upright(tmp_path):
    pixels = np.zeros((8, 16, 3), np.uint8)
    pixels[:, :8] = 255
    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[274] = 6
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=100)
    (tmp_path / "p.jpg").write_bytes(buf.getvalue())
    out = decode_image(tmp_path / "p.jpg")
    assert out.shape == (16, 8, 3)
    assert out[:8].mean() > 200 and out[8:].mean() < 50  # the left half became the top half
