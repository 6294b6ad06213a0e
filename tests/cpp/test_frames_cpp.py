"""Camera frames, orientation and region of interest in the generated C++ SDK, through the sample
CLI (`--raw FILE --format ... --rotation ... --mirror --roi ...`, EXIF orientation of photos),
held to the Python reference (edgesdk.processing.frames, itself held to OpenCV and Pillow): exact
pixels where the pipeline keeps uint8, 1e-5 for float pipelines, the same result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from edgesdk.processing import Orientation, decode_image, frame_to_rgb, run_postprocess, run_preprocess
from edgesdk.processing.frames import raw_frame_size

from .conftest import context
from .test_cpp_sdk import CONTEXTS as SDK_CONTEXTS
from .test_cpp_sdk import load_dump

pytestmark = pytest.mark.cpp

FLOAT_KEY = "keep_ratio_keyword"  # keep_ratio bilinear resize, crop, bgr, normalize, nchw float32
PIXELS_KEY = "pixels"  # the tensor is the upright image itself, uint8 [1, H, W, 3], any size


def identity_model() -> bytes:
    """uint8 [1, H, W, 3] -> the same tensor: the SDK's pixels, whatever their size (1-pixel axes too)."""
    from onnx import TensorProto, helper

    shape = [1, "height", "width", 3]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["pixels"], ["copy"])],
        "pixels",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, shape)],
        [helper.make_tensor_value_info("copy", TensorProto.UINT8, shape)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10).SerializeToString()


def _pixels_context() -> tuple[dict, bytes]:
    model = identity_model()
    io = [{"name": "pixels", "shape": [1, "height", "width", 3], "dtype": "uint8"}]
    ctx = context(
        "frame pixels",
        model,
        task="custom",
        inputs=io,
        outputs=[{**io[0], "name": "copy"}],
        input_color="bgr",
        labels=[],
        pre=[{"op": "layout", "layout": "nhwc"}, {"op": "cast", "dtype": "uint8"}],
        post=[],
    )
    return ctx, model


CONTEXTS = {FLOAT_KEY: SDK_CONTEXTS[FLOAT_KEY], PIXELS_KEY: _pixels_context()}


def camera_frame(fmt: str, width: int, height: int, stride: int | None, seed: int) -> bytes:
    """A frame with smooth content (so a classifier's answer means something) and noise, padding included."""
    rng = np.random.default_rng(seed)
    n = raw_frame_size(fmt, width, height, stride)
    ramp = (np.arange(n) * 7 // max(width, 1)) % 256
    return ((ramp + rng.integers(0, 48, n)) % 256).astype(np.uint8).tobytes()


def run_frame(bundle, tmp_path: Path, data: bytes, fmt: str, width: int, height: int, *flags: str, stride: int | None = None):
    raw = tmp_path / f"frame-{fmt}-{width}x{height}-{abs(hash(flags))}.raw"
    raw.write_bytes(data)
    dump = tmp_path / f"dump-{raw.stem}"
    dump.mkdir()
    args = ["--raw", str(raw), "--format", fmt, "--width", str(width), "--height", str(height), "--json", "--dump-dir", str(dump), *flags]
    if stride is not None:
        args += ["--row-stride", str(stride)]
    proc = bundle.run(*args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), *load_dump(dump)


def orientation_flags(o: Orientation) -> list[str]:
    flags = ["--rotation", str(o.rotation)] + (["--mirror"] if o.mirror else [])
    return flags + (["--roi", ",".join(map(str, o.roi))] if o.roi else [])


def reference_tensor(key: str, rgb: np.ndarray, orientation: Orientation | None) -> tuple:
    ctx = CONTEXTS[key][0]
    image = rgb if ctx["preprocess"]["input_color"] == "rgb" else np.ascontiguousarray(rgb[..., ::-1])
    return run_preprocess(image, ctx["preprocess"]["input_color"], ctx["preprocess"]["steps"], orientation)


def test_nv21_1280x720_rotated_90_gives_the_reference_tensor_and_result(bundles, tmp_path):
    bundle = bundles(FLOAT_KEY)
    data = camera_frame("nv21", 1280, 720, None, 1)
    out, tensor, _ = run_frame(bundle, tmp_path, data, "nv21", 1280, 720, "--rotation", "90")
    pre = reference_tensor(FLOAT_KEY, frame_to_rgb(data, "nv21", 1280, 720), Orientation(90))
    assert tensor.shape == pre.tensor.shape
    assert float(np.abs(tensor - pre.tensor).max()) <= 1e-5
    # The result: the reference's tensor through ONNX Runtime and the reference post-processing.
    ctx, model = CONTEXTS[FLOAT_KEY]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {ctx["inputs"][0]["name"]: pre.tensor})
    expected = run_postprocess(outputs, "classification", ctx["postprocess"]).classifications
    got = out["result"]["classifications"]
    assert [c["index"] for c in got] == [c.index for c in expected]
    assert np.allclose([c["score"] for c in got], [c.score for c in expected], atol=1e-5)
    assert out["image"] == {"width": 1280, "height": 720}


# (format, width, height, row stride, range, orientation): odd sizes, strides > width, 1-pixel axes.
PIXEL_CASES = [
    ("nv21", 37, 23, None, "video", Orientation(90)),
    ("nv21", 36, 22, 48, "full", Orientation(270, True)),
    ("nv12", 35, 17, 41, "video", Orientation(180, True, roi=(3, 2, 20, 9))),
    ("nv12", 1, 1, None, "full", Orientation(90)),
    ("i420", 33, 21, 40, "video", Orientation(0, True, roi=(32, 20, 1, 1))),
    ("i420", 1, 9, 3, "full", Orientation(270, roi=(0, 0, 9, 1))),
    ("rgba", 13, 7, 60, "video", Orientation(90, True, roi=(1, 2, 5, 11))),
    ("bgra", 9, 5, None, "video", Orientation(270)),
    ("rgb", 11, 6, 40, "video", Orientation(180)),
    ("bgr", 7, 3, None, "video", Orientation(0, roi=(6, 0, 1, 3))),
]


@pytest.mark.parametrize(("fmt", "width", "height", "stride", "yuv_range", "orientation"), PIXEL_CASES, ids=[f"{c[0]}-{c[1]}x{c[2]}-{c[4]}-r{c[5].rotation}" for c in PIXEL_CASES])
def test_frame_pixels_equal_the_reference_exactly(bundles, tmp_path, fmt, width, height, stride, yuv_range, orientation):
    data = camera_frame(fmt, width, height, stride, width * 31 + height)
    flags = orientation_flags(orientation) + ["--yuv-range", yuv_range]
    _, tensor, _ = run_frame(bundles(PIXELS_KEY), tmp_path, data, fmt, width, height, *flags, stride=stride)
    expected = reference_tensor(PIXELS_KEY, frame_to_rgb(data, fmt, width, height, stride, yuv_range), orientation).tensor
    assert tensor.dtype == np.uint8 and np.array_equal(tensor, expected)


@pytest.mark.parametrize(("suffix", "value"), [(".jpg", 6), (".jpg", 5), (".png", 3), (".png", 8)])
def test_photos_are_turned_upright_by_their_exif_orientation(bundles, tmp_path, suffix, value):
    rng = np.random.default_rng(value)
    im = Image.fromarray(rng.integers(0, 256, (9, 14, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[274] = value
    path = tmp_path / f"photo{value}{suffix}"
    im.save(path, exif=exif, **({"quality": 95} if suffix == ".jpg" else {}))
    d = tmp_path / f"dump{value}{suffix[1:]}"
    d.mkdir()
    proc = bundles(PIXELS_KEY).run("--input", str(path), "--json", "--dump-dir", str(d), "--roi", "1,2,5,4")
    assert proc.returncode == 0, proc.stderr
    tensor, _ = load_dump(d)
    assert np.array_equal(tensor, reference_tensor(PIXELS_KEY, decode_image(path), Orientation(roi=(1, 2, 5, 4))).tensor)


@pytest.mark.parametrize(
    ("flags", "size", "message"),
    [
        (["--rotation", "45"], None, "--rotation must be 0, 90, 180 or 270"),
        (["--roi", "0,0,0,4"], None, "--roi must be X,Y,W,H"),
        (["--roi", "10,0,7,4"], None, r"Orientation::roi \(x=10, y=0, width=7, height=4\) must hold at least one pixel and lie inside the upright image 16x10"),
        (["--rotation", "90", "--roi", "0,0,16,10"], None, "inside the upright image 10x16"),
        (["--format", "yuyv"], None, "--format must be one of nv21, nv12, i420, rgba, bgra, rgb, bgr"),
        ([], 239, r"holds 239 bytes; a 16x10 nv21 frame with row stride 16 is 240"),
        (["--yuv-range", "studio"], None, "--yuv-range must be video or full"),
    ],
)
def test_bad_frame_arguments_are_exit_2_naming_the_field(bundles, tmp_path, flags, size, message):
    raw = tmp_path / "f.raw"
    raw.write_bytes(bytes(size if size is not None else 240))
    args = ["--raw", str(raw), "--width", "16", "--height", "10"]
    if "--format" not in flags:
        args += ["--format", "nv21"]
    proc = bundles(PIXELS_KEY).run(*args, *flags)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 4
    import re

    assert re.search(message, proc.stderr), proc.stderr


def test_raw_needs_its_description_and_photos_take_no_rotation(bundles, tmp_path):
    raw = tmp_path / "f.raw"
    raw.write_bytes(bytes(240))
    bundle = bundles(PIXELS_KEY)
    proc = bundle.run("--raw", str(raw), "--format", "nv21", "--width", "16")
    assert proc.returncode == 2 and "--raw needs --format, --width and --height" in proc.stderr
    png = tmp_path / "p.png"
    Image.new("RGB", (4, 4)).save(png)
    proc = bundle.run("--input", str(png), "--rotation", "90")
    assert proc.returncode == 2 and "an --input image is turned by its EXIF orientation" in proc.stderr
    proc = bundle.run("--input", str(png), "--raw", str(raw))
    assert proc.returncode == 2 and "one of --input or --raw" in proc.stderr
