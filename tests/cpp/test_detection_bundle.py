"""Detection and segmentation bundles end to end: small torch models whose raw outputs come
straight from the image (4x4 average pools: flat colors give exact ties), exported to ONNX, built
into the C++ SDK + cpp-cli for x86 / ONNX Runtime and run on images of odd sizes (1-pixel axes,
exact-edge sizes). edgesdk-run's detections and masks are compared with the independent
transcription (tests/cpp/reference.py) applied to the raw outputs the app dumped, with the
geometry of the Python pre-processing reference."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesdk.dtypes import DTYPES

from . import reference
from .conftest import context

pytestmark = pytest.mark.cpp
torch = pytest.importorskip("torch")

SIZE = 32  # model input side; 8 x 8 cells of 4 x 4 pixels


class Pools(torch.nn.Module):
    """The image's 4x4 average pools per channel, [1, 3, 64]: the class scores of 64 candidates."""

    def pools(self, x):
        return torch.nn.functional.avg_pool2d(x, 4).reshape(1, 3, 64)


class YoloHead(Pools):
    """[1, 4 + 1 + 3, 64] (transposed, objectness, logits): boxes fixed on the cell grid, 8x8 so
    neighbours overlap with IoU exactly 1/3."""

    def __init__(self):
        super().__init__()
        j = torch.arange(64, dtype=torch.float32)
        cx, cy = (j % 8) * 4 + 2, torch.div(j, 8, rounding_mode="floor") * 4 + 2
        self.register_buffer("boxes", torch.stack([cx, cy, torch.full_like(cx, 8.0), torch.full_like(cx, 8.0)])[None])

    def forward(self, x):
        p = self.pools(x)
        objectness = p.mean(dim=1, keepdim=True) * 8 - 2
        return torch.cat([self.boxes, objectness, p * 8 - 4], dim=1)


class BoxesScoresHead(Pools):
    """boxes [1, 64, 4] (xyxy, fractions of the input) and scores [1, 64, 3]."""

    def __init__(self):
        super().__init__()
        j = torch.arange(64, dtype=torch.float32)
        x0, y0 = (j % 8) / 8, torch.div(j, 8, rounding_mode="floor") / 8
        self.register_buffer("corners", torch.stack([x0, y0, x0 + 0.25, y0 + 0.25], dim=1)[None])

    def forward(self, x):
        return self.corners + 0 * x.mean(), self.pools(x).transpose(1, 2)


class SegHead(torch.nn.Module):
    """[1, 8, 8, 3] (nhwc): per cell, the channel means; argmax = the dominant color."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 4).permute(0, 2, 3, 1)


def onnx_bytes(model, names: list[str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(model.eval(), (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=names, verbose=False)
        return path.read_bytes()


LETTERBOX = [
    {"op": "letterbox", "size": [SIZE, SIZE], "pad_value": [114.0, 114.0, 114.0], "interpolation": "bilinear", "align": "center"},
    {"op": "normalize", "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0], "scale": 1.0},
    {"op": "layout", "layout": "nchw"},
]
CROP = [
    {"op": "resize", "size": [36, 36], "interpolation": "nearest", "keep_ratio": True},
    {"op": "center_crop", "size": [SIZE, SIZE]},
    {"op": "normalize", "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0], "scale": 1.0},
    {"op": "layout", "layout": "nchw"},
]
DECODE = {
    "op": "decode_boxes",
    "format": "yolo",
    "box": "cxcywh",
    "objectness": True,
    "transposed": True,
    "normalized": False,
    "score_activation": "sigmoid",
    "multi_label": False,
    "boxes_index": 0,
    "scores_index": 0,
}
PALETTE = [[0, 0, 0], [255, 0, 0], [0, 128, 255]]
LABELS = ["red", "green", "blue"]


def bundle_specs() -> dict[str, dict]:
    io_in = [{"name": "image", "shape": [1, 3, SIZE, SIZE], "dtype": "float32"}]
    return {
        "yolo": {
            "model": lambda: onnx_bytes(YoloHead(), ["head"]),
            "task": "detection",
            "outputs": [{"name": "head", "shape": [1, 8, 64], "dtype": "float32"}],
            "pre": LETTERBOX,
            "post": [DECODE, {"op": "nms", "score_threshold": 0.25, "iou_threshold": 1 / 3, "class_agnostic": False, "max_detections": 20, "pre_nms_topk": 1000}],
            "labels": LABELS,
            "inputs": io_in,
        },
        "boxes_scores": {
            "model": lambda: onnx_bytes(BoxesScoresHead(), ["boxes", "scores"]),
            "task": "detection",
            "outputs": [{"name": "boxes", "shape": [1, 64, 4], "dtype": "float32"}, {"name": "scores", "shape": [1, 64, 3], "dtype": "float32"}],
            "pre": CROP,
            "post": [
                {**DECODE, "format": "boxes_scores", "box": "xyxy", "objectness": False, "transposed": False, "normalized": True, "score_activation": "none", "boxes_index": 0, "scores_index": 1},
                {"op": "nms", "score_threshold": 0.5, "iou_threshold": 0.45, "class_agnostic": True, "max_detections": 100, "pre_nms_topk": 1000},
            ],
            "labels": [],
            "inputs": io_in,
        },
        "seg": {
            "model": lambda: onnx_bytes(SegHead(), ["cells"]),
            "task": "segmentation",
            "outputs": [{"name": "cells", "shape": [1, 8, 8, 3], "dtype": "float32"}],
            "pre": LETTERBOX,
            "post": [{"op": "mask", "activation": "argmax", "threshold": 0.5, "layout": "nhwc", "palette": PALETTE, "logit_threshold": 0.0}],
            "labels": LABELS,
            "inputs": io_in,
        },
    }


SPECS = bundle_specs()


@pytest.fixture(scope="module")
def bundles(build_bundle):
    def get(key):
        spec = SPECS[key]
        model = spec["model"]()
        ctx = context(f"{key}-net", model, task=spec["task"], inputs=spec["inputs"], outputs=spec["outputs"], input_color="rgb", pre=spec["pre"], post=spec["post"], labels=spec["labels"])
        return build_bundle(key, ctx, model)

    return get


def blocks(width: int, height: int, seed: int) -> np.ndarray:
    """Flat color blocks (exact ties between candidates and classes) with a little noise in one."""
    rng = np.random.default_rng(seed)
    colors = np.array([[250, 10, 10], [10, 250, 10], [10, 10, 250], [200, 200, 200], [120, 120, 120]], np.uint8)
    by, bx = max(1, height // 3), max(1, width // 3)
    ids = (np.arange(height)[:, None] // by * 3 + np.arange(width)[None] // bx + seed) % len(colors)
    img = colors[ids]
    if seed % 2:
        img[: height // 2] = rng.integers(0, 256, img[: height // 2].shape, dtype=np.uint8)
    return img


# (width, height): 1-pixel axes, exact-edge sizes (the model input, twice it), odd sizes.
IMAGE_SIZES = [(1, 1), (1, 37), (53, 1), (32, 32), (64, 32), (33, 31), (17, 45), (96, 7)]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("det-images")
    out = {}
    for k, (w, h) in enumerate(IMAGE_SIZES):
        path = d / f"img{k}_{w}x{h}.png"
        Image.fromarray(blocks(w, h, k)).save(path)
        out[path.stem] = path
    return out


def run_app(bundle, image: Path, folder: Path, *extra: str) -> tuple[dict, dict]:
    folder.mkdir()
    proc = bundle.run("--input", str(image), "--json", "--dump-dir", str(folder), *extra)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((folder / "dump.json").read_text())

    def read(entry):
        return np.fromfile(folder / entry["file"], dtype=DTYPES[entry["dtype"]].numpy).reshape(entry["shape"])

    dumped = {"outputs": [read(o) for o in meta["outputs"]], "preprocessed": read(meta["preprocessed"])}
    if "mask" in meta:
        assert meta["mask"]["name"] == "mask" and meta["mask"]["dtype"] == "uint8"
        dumped["mask"] = read(meta["mask"])
    return json.loads(proc.stdout), dumped


def reference_geometry(ctx: dict, image: Path) -> tuple[dict, np.ndarray]:
    from edgesdk.processing import run_preprocess

    pixels = np.asarray(Image.open(image).convert("RGB"))
    pre = run_preprocess(pixels, "rgb", ctx["preprocess"]["steps"])
    g = pre.geometry
    h, w = pre.tensor.shape[2:]
    return {
        "scale_x": g.scale_x,
        "scale_y": g.scale_y,
        "pad_left": g.pad_left,
        "pad_top": g.pad_top,
        "src_width": g.src_width,
        "src_height": g.src_height,
        "input_width": w,
        "input_height": h,
    }, pre.tensor


@pytest.mark.parametrize("key", ["yolo", "boxes_scores"])
def test_detection_bundle_matches_reference(bundles, images, key, tmp_path):
    bundle = bundles(key)
    decode, nms = bundle.ctx["postprocess"]["steps"]
    labels = bundle.ctx["postprocess"]["labels"]
    found = 0
    for name, image in images.items():
        result, dumped = run_app(bundle, image, tmp_path / name)
        geometry, tensor = reference_geometry(bundle.ctx, image)
        np.testing.assert_array_equal(dumped["preprocessed"], tensor)
        want = reference.detect(dumped["outputs"], decode, nms, geometry, labels)
        got = result["result"]["detections"]
        assert [(d["index"], d["label"]) for d in got] == [(w[0], w[3]) for w in want], name
        for d, w in zip(got, want):
            assert d["score"] == pytest.approx(w[1], abs=1e-6)
            np.testing.assert_allclose(d["box"], w[2], atol=1e-4)
            assert 0 <= d["box"][0] <= d["box"][2] <= geometry["src_width"] and 0 <= d["box"][1] <= d["box"][3] <= geometry["src_height"]
        found += len(got)
    assert found > 0


def test_segmentation_bundle_matches_reference(bundles, images, tmp_path):
    bundle = bundles("seg")
    step = bundle.ctx["postprocess"]["steps"][0]
    seen = set()
    for name, image in images.items():
        png = tmp_path / f"{name}.mask.png"
        result, dumped = run_app(bundle, image, tmp_path / name, "--mask-out", str(png))
        geometry, _ = reference_geometry(bundle.ctx, image)
        want = reference.mask(dumped["outputs"][0], step, geometry)
        np.testing.assert_array_equal(dumped["mask"], want)
        mask = result["result"]["mask"]
        assert (mask["width"], mask["height"]) == (geometry["src_width"], geometry["src_height"])
        ids, counts = np.unique(want, return_counts=True)
        assert list(mask["class_pixels"].items()) == [(LABELS[i], int(n)) for i, n in zip(ids, counts)]
        with Image.open(png) as im:
            assert im.mode == "P" and im.size == (geometry["src_width"], geometry["src_height"])
            np.testing.assert_array_equal(np.asarray(im), want)
            assert im.getpalette()[: 3 * len(PALETTE)] == [v for color in PALETTE for v in color]
        seen.update(ids.tolist())
    assert seen == {0, 1, 2}


def test_human_output_and_bad_flags(bundles, images):
    det, seg = bundles("yolo"), bundles("seg")
    image = str(next(iter(images.values())))
    proc = det.run("--input", str(images["img3_32x32"]))
    assert proc.returncode == 0 and " at [" in proc.stdout, proc.stdout + proc.stderr
    proc = seg.run("--input", image)
    assert proc.returncode == 0 and "mask 1x1:" in proc.stdout, proc.stdout + proc.stderr
    assert det.run("--input", image, "--mask-out", "x.png").returncode == 2  # detection has no mask
    proc = seg.run("--input", image, "--mask-out", "/nonexistent-dir/m.png")
    assert proc.returncode == 1 and "/nonexistent-dir/m.png" in proc.stderr


def test_threshold_literals_are_exact(bundles):
    """The thresholds reach the C++ as literals that read back exactly (1/3 is not 0.333333)."""
    source = (bundles("yolo").root / "sdk/cpp/src/yolo_net.cpp").read_text()
    assert f"{1 / 3!r}" in source and "0.25f" in source
