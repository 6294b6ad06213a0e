"""Detection and segmentation bundles end to end: small torch models whose raw outputs come
straight from the image (4x4 average pools: flat colors give exact ties), exported to ONNX, built
by `edgesdk build` for x86 / ONNX Runtime and held to their golden vectors by `edgesdk test`
(which compiles the C++ SDK and cpp-cli). The same edgesdk-run then runs on images of odd sizes
(1-pixel axes, exact-edge sizes); its detections and masks are compared with the independent
transcription (tests/cpp/reference.py) and with edgesdk.processing, both applied to the raw
outputs the app dumped with the geometry of the Python pre-processing reference."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from toolchains import need

from edgesdk.dtypes import DTYPES
from edgesdk.processing import Orientation

from . import reference

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


NORMALIZE = [{"normalize": {"mean": [0, 0, 0], "std": [255, 255, 255]}}, {"layout": "nchw"}]
# Black padding scores low: no detection lies wholly in it (clipped to a line, it would have no area).
LETTERBOX = [{"letterbox": {"size": [SIZE, SIZE], "pad_value": 0}}, *NORMALIZE]
CROP = [{"resize": {"size": [36, 36], "interpolation": "nearest", "keep_ratio": True}}, {"center_crop": {"size": [SIZE, SIZE]}}, *NORMALIZE]
PALETTE = [[0, 0, 0], [255, 0, 0], [0, 128, 255]]
LABELS = ["red", "green", "blue"]

# name -> (head, output names, pre-processing, post-processing steps, labels): one manifest each.
PROJECTS = {
    "yolo-net": (
        YoloHead,
        ["head"],
        LETTERBOX,
        [
            {"decode_boxes": {"format": "yolo", "objectness": True, "transposed": True, "score_activation": "sigmoid"}},
            {"nms": {"score_threshold": 0.25, "iou_threshold": 1 / 3, "max_detections": 20}},
        ],
        LABELS,
    ),
    "boxes-scores-net": (
        BoxesScoresHead,
        ["boxes", "scores"],
        CROP,
        [{"decode_boxes": {"format": "boxes_scores", "box": "xyxy", "normalized": True, "boxes": "boxes", "scores": "scores"}}, {"nms": {"score_threshold": 0.5, "class_agnostic": True}}],
        None,
    ),
    "seg-net": (SegHead, ["cells"], LETTERBOX, [{"mask": {"activation": "argmax", "layout": "nhwc", "palette": PALETTE}}], LABELS),
}


class Built:
    """A bundle from `edgesdk build`, its sample app built by `edgesdk test` (which held it to the
    bundle's golden vectors), and the manifest's normalized steps."""

    def __init__(self, bundle: Path, exe: Path, manifest):
        self.bundle, self.exe, self.manifest = bundle, exe, manifest

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.exe), "--bundle", str(self.bundle), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from edgesdk import api, hosttest
    from edgesdk.manifest.loading import load_manifest

    need(hosttest.toolchain_problem())
    built: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in built:
            head, names, pre, post, labels = PROJECTS[name]
            root = tmp_path_factory.mktemp(name)
            (root / "model.onnx").write_bytes(onnx_bytes(head(), names))
            manifest = {
                "schema_version": 1,
                "name": name,
                "version": "1.0.0",
                "model": {"source": "model.onnx", "inputs": [{"name": "image", "shape": [1, 3, SIZE, SIZE]}], "outputs": [{"name": n} for n in names]},
                "task": "segmentation" if "mask" in post[0] else "detection",
                "preprocess": {"input_color": "rgb", "steps": pre},
                "postprocess": {"steps": post},
                "target": "x86",
            }
            if labels:
                (root / "labels.txt").write_text("\n".join(labels) + "\n")
                manifest["postprocess"]["labels"] = "labels.txt"
            (root / "edgesdk.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
            result = api.build(root / "edgesdk.yaml", out=root / "dist")
            report = api.test(result.bundle, build_dir=root / "build")  # the golden checks of edgesdk test
            assert report["passed"] and report["cases"], report
            built[name] = Built(result.bundle, root / "build" / hosttest.SAMPLE_BINARY, load_manifest(root / "edgesdk.yaml"))
        return built[name]

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


def reference_geometry(built: Built, image: Path) -> tuple[dict, np.ndarray, object]:
    """(geometry dict with the model-input size, pre-processed tensor, Geometry) of edgesdk.processing."""
    from edgesdk.processing import run_preprocess

    pixels = np.asarray(Image.open(image).convert("RGB"))
    pre = run_preprocess(pixels, "rgb", built.manifest.pre_steps())
    g = pre.geometry
    h, w = pre.tensor.shape[2:]
    as_dict = {"scale_x": g.scale_x, "scale_y": g.scale_y, "pad_left": g.pad_left, "pad_top": g.pad_top, "src_width": g.src_width, "src_height": g.src_height, "input_width": w, "input_height": h}
    return as_dict, pre.tensor, g


def edgesdk_result(built: Built, outputs: list[np.ndarray], labels: list[str], geometry: dict, g):
    from edgesdk.processing import run_postprocess

    post = {"output_index": built.manifest.post_output_index(), "steps": built.manifest.post_steps(), "labels": labels}
    return run_postprocess(outputs, built.manifest.task, post, g, input_hw=(geometry["input_height"], geometry["input_width"]))


@pytest.mark.parametrize("name", ["yolo-net", "boxes-scores-net"])
def test_detection_bundle_matches_reference(bundles, images, name, tmp_path):
    built = bundles(name)
    decode, nms = built.manifest.post_steps()
    labels = PROJECTS[name][4] or []
    found = 0
    for stem, image in images.items():
        result, dumped = run_app(built, image, tmp_path / stem)
        geometry, tensor, g = reference_geometry(built, image)
        np.testing.assert_array_equal(dumped["preprocessed"], tensor)
        got = result["result"]["detections"]
        # The independent transcription and edgesdk.processing, on the raw outputs the app dumped.
        want = reference.detect(dumped["outputs"], decode, nms, geometry, labels)
        edgesdk = [(d.index, d.score, d.box, d.label) for d in edgesdk_result(built, dumped["outputs"], labels, geometry, g).detections]
        for expected in (want, edgesdk):
            assert [(d["index"], d["label"]) for d in got] == [(w[0], w[3]) for w in expected], stem
            for d, w in zip(got, expected):
                assert d["score"] == pytest.approx(w[1], abs=1e-6)
                np.testing.assert_allclose(d["box"], w[2], atol=1e-4)
        for d in got:
            assert 0 <= d["box"][0] <= d["box"][2] <= geometry["src_width"] and 0 <= d["box"][1] <= d["box"][3] <= geometry["src_height"]
        found += len(got)
    assert found > 0


def test_segmentation_bundle_matches_reference(bundles, images, tmp_path):
    built = bundles("seg-net")
    step = built.manifest.post_steps()[0]
    seen = set()
    for stem, image in images.items():
        png = tmp_path / f"{stem}.mask.png"
        result, dumped = run_app(built, image, tmp_path / stem, "--mask-out", str(png))
        geometry, _, g = reference_geometry(built, image)
        want = reference.mask(dumped["outputs"][0], step, geometry)
        np.testing.assert_array_equal(dumped["mask"], want)
        ref = edgesdk_result(built, dumped["outputs"], LABELS, geometry, g).mask
        np.testing.assert_array_equal(dumped["mask"], np.frombuffer(ref.class_ids, np.uint8).reshape(ref.height, ref.width))
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


def nv21_of(rgb: np.ndarray) -> bytes:
    """An NV21 frame close to `rgb` (BT.601 video range, OpenCV's encoder), even size."""
    import cv2

    return _nv21(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), rgb.shape[1], rgb.shape[0])


def _nv21(i420: np.ndarray, w: int, h: int) -> bytes:
    flat = i420.ravel()
    y, u, v = flat[: w * h], flat[w * h : w * h * 5 // 4], flat[w * h * 5 // 4 :]
    vu = np.empty(u.size * 2, np.uint8)
    vu[0::2], vu[1::2] = v, u
    return y.tobytes() + vu.tobytes()


# Sensor frames (w, h) with their orientation; the blocks are laid out upright and turned back.
FRAME_CASES = [((48, 64), Orientation(90)), ((64, 40), Orientation(180, True, roi=(6, 4, 44, 30))), ((40, 56), Orientation(270, True, roi=(3, 0, 50, 33)))]


def oriented_frame(k: int, size: tuple[int, int], o: Orientation, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A raw NV21 frame of `size` whose upright image shows the test's color blocks."""
    from edgesdk.processing import frame_to_rgb, orient

    w, h = size
    upright = blocks(h if o.rotation in (90, 270) else w, w if o.rotation in (90, 270) else h, 2 * k)
    unmirrored = upright[:, ::-1] if o.mirror else upright
    sensor = np.ascontiguousarray(np.rot90(unmirrored, k=o.rotation // 90))  # counterclockwise: undoes the rotation
    data = nv21_of(sensor)
    path = tmp_path / f"frame{k}.nv21"
    path.write_bytes(data)
    rgb = frame_to_rgb(data, "nv21", w, h)
    # The frame shows what it should (4:2:0 chroma blurs the block edges only).
    assert np.mean(np.abs(orient(rgb, Orientation(o.rotation, o.mirror)).astype(int) - upright) < 16) > 0.9
    return path, rgb


def run_frame_app(built: Built, k: int, size, o: Orientation, tmp_path: Path, *extra: str):
    path, rgb = oriented_frame(k, size, o, tmp_path)
    flags = ["--raw", str(path), "--format", "nv21", "--width", str(size[0]), "--height", str(size[1]), "--rotation", str(o.rotation)]
    flags += (["--mirror"] if o.mirror else []) + (["--roi", ",".join(map(str, o.roi))] if o.roi else [])
    folder = tmp_path / f"out{k}"
    folder.mkdir()
    proc = built.run(*flags, "--json", "--dump-dir", str(folder), *extra)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((folder / "dump.json").read_text())

    def read(entry):
        return np.fromfile(folder / entry["file"], dtype=DTYPES[entry["dtype"]].numpy).reshape(entry["shape"])

    dumped = {"outputs": [read(e) for e in meta["outputs"]], "preprocessed": read(meta["preprocessed"])}
    if "mask" in meta:
        dumped["mask"] = read(meta["mask"])
    from edgesdk.processing import run_preprocess

    pre = run_preprocess(rgb, "rgb", built.manifest.pre_steps(), o)
    return json.loads(proc.stdout), dumped, pre


def test_oriented_camera_frames_give_the_reference_detections_in_the_upright_frame(bundles, tmp_path):
    from edgesdk.processing import run_postprocess

    built = bundles("yolo-net")
    found = 0
    for k, (size, o) in enumerate(FRAME_CASES):
        result, dumped, pre = run_frame_app(built, k, size, o, tmp_path)
        assert float(np.abs(dumped["preprocessed"] - pre.tensor).max()) <= 1e-5
        post = {"output_index": built.manifest.post_output_index(), "steps": built.manifest.post_steps(), "labels": LABELS}
        want = run_postprocess(dumped["outputs"], "detection", post, pre.geometry, pre.input_hw).detections
        got = result["result"]["detections"]
        assert [(d["index"], d["label"]) for d in got] == [(w.index, w.label) for w in want]
        for d, w in zip(got, want):
            np.testing.assert_allclose(d["box"], w.box, atol=1e-4)
        x0, y0, rw, rh = o.roi or (0, 0, pre.geometry.src_width, pre.geometry.src_height)
        for d in got:  # in the upright frame, inside the ROI
            assert x0 <= d["box"][0] <= d["box"][2] <= x0 + rw and y0 <= d["box"][1] <= d["box"][3] <= y0 + rh
        found += len(got)
    assert found > 0


def test_oriented_camera_frames_give_the_reference_mask_over_the_roi(bundles, tmp_path):
    from edgesdk.processing import run_postprocess

    built = bundles("seg-net")
    for k, (size, o) in enumerate(FRAME_CASES):
        result, dumped, pre = run_frame_app(built, k, size, o, tmp_path)
        post = {"output_index": built.manifest.post_output_index(), "steps": built.manifest.post_steps(), "labels": LABELS}
        want = run_postprocess(dumped["outputs"], "segmentation", post, pre.geometry, pre.input_hw)
        np.testing.assert_array_equal(dumped["mask"], np.frombuffer(want.mask.class_ids, np.uint8).reshape(want.mask.height, want.mask.width))
        assert result["result"]["mask"] == want.to_json()["mask"]
        if o.roi:
            assert (result["result"]["mask"]["x"], result["result"]["mask"]["y"], want.mask.width, want.mask.height) == o.roi


def test_human_output_and_bad_flags(bundles, images):
    det, seg = bundles("yolo-net"), bundles("seg-net")
    image = str(next(iter(images.values())))
    proc = det.run("--input", str(images["img3_32x32"]))
    assert proc.returncode == 0 and " at [" in proc.stdout, proc.stdout + proc.stderr
    proc = seg.run("--input", image)
    assert proc.returncode == 0 and "mask 1x1:" in proc.stdout, proc.stdout + proc.stderr
    assert det.run("--input", image, "--mask-out", "x.png").returncode == 2  # detection has no mask
    proc = seg.run("--input", image, "--mask-out", "/nonexistent-dir/m.png")
    assert proc.returncode == 1 and "/nonexistent-dir/m.png" in proc.stderr


def test_threshold_literals_are_exact(bundles):
    """The thresholds reach the C++ as float64 literals that read back exactly (1/3, not 0.333333)."""
    source = (bundles("yolo-net").bundle / "sdk/cpp/src/yolo_net.cpp").read_text()
    # The score threshold is the manifest's unless a call's RunOptions overrides it.
    assert f"detail::NmsOptions{{options.score_threshold ? static_cast<double>(*options.score_threshold) : 0.25, {1 / 3!r}, false, 20, 1000}}" in source


API_PROGRAM = r"""
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "{snake}/{snake}.hpp"

namespace sdk = edgesdk::{snake};

// argv: model, raw RGB file, width, height. Prints the Geometry preprocess() records, checks
// that the task's call equals run(), and that postprocess() refuses a Geometry it never recorded.
int main(int argc, char** argv) {{
  if (argc != 5) return 2;
  auto model = sdk::Model::load(argv[1]);
  if (!model.ok()) return std::printf("load: %s\n", model.error().message.c_str()), 1;
  std::ifstream file(argv[2], std::ios::binary);
  const std::vector<uint8_t> pixels((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const int w = std::atoi(argv[3]), h = std::atoi(argv[4]);
  const sdk::Image image{{pixels.data(), w, h, w * 3, sdk::PixelFormat::RGB8}};
  auto output = model.value().run(image);
  if (!output.ok()) return std::printf("run: %s\n", output.error().message.c_str()), 1;
#ifdef DETECTION
  auto found = model.value().detect(image);
  if (!found.ok() || found.value().size() != output.value().detections.size()) return std::printf("detect differs\n"), 1;
  for (std::size_t i = 0; i < found.value().size(); ++i) {{
    const auto &a = found.value()[i], &b = output.value().detections[i];
    if (a.box != b.box || a.label != b.label || a.index != b.index || a.score != b.score) return std::printf("detect differs\n"), 1;
  }}
#else
  auto mask = model.value().segment(image);
  if (!mask.ok() || mask.value().class_ids != output.value().mask.class_ids || mask.value().width != w) return std::printf("segment differs\n"), 1;
#endif
  sdk::Geometry g;
  auto input = model.value().preprocess(image, &g);
  if (!input.ok()) return 1;
  std::printf("%.17g %.17g %.17g %.17g %d %d %d %d\n", g.scale_x, g.scale_y, g.pad_left, g.pad_top, g.src_width, g.src_height, g.input_width, g.input_height);
  auto raw = model.value().infer(input.value());
  auto refused = model.value().postprocess(raw.value(), sdk::Geometry{{}});
  if (refused.ok() || refused.error().code != sdk::ErrorCode::InvalidInput) return std::printf("empty geometry accepted\n"), 1;
  std::printf("%s\n", refused.error().message.c_str());
  return 0;
}}
"""


@pytest.mark.parametrize("name", ["yolo-net", "boxes-scores-net", "seg-net"])
def test_public_api_geometry_and_task_calls(bundles, images, name, tmp_path):
    """A program of its own links the SDK library `edgesdk test` built: detect()/segment() equal
    run(), and the Geometry preprocess() records equals edgesdk.processing's to the last bit."""
    from edgesdk.backends.onnxruntime import package_root

    built = bundles(name)
    snake = name.replace("-", "_")
    source = tmp_path / "api.cpp"
    source.write_text(API_PROGRAM.format(snake=snake))
    exe, ort = tmp_path / "api", package_root()
    task = ["-DDETECTION"] if built.manifest.task == "detection" else []
    library = built.exe.parent / "sdk" / f"lib{snake}_sdk.a"
    cmd = [
        "g++",
        "-std=c++17",
        "-O1",
        "-Wall",
        "-Werror",
        *task,
        "-I",
        str(built.bundle / "sdk/cpp/include"),
        str(source),
        str(library),
        "-L",
        str(ort / "lib"),
        "-lonnxruntime",
        "-lcrypto",
        f"-Wl,-rpath,{ort / 'lib'}",
        "-o",
        str(exe),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stem, image in images.items():
        rgb = np.asarray(Image.open(image).convert("RGB"))
        (tmp_path / "rgb.bin").write_bytes(rgb.tobytes())
        proc = subprocess.run([str(exe), str(built.bundle / "model/model.onnx"), str(tmp_path / "rgb.bin"), str(rgb.shape[1]), str(rgb.shape[0])], capture_output=True, text=True)
        assert proc.returncode == 0, stem + proc.stdout + proc.stderr
        printed, message = proc.stdout.splitlines()
        want, _, _ = reference_geometry(built, image)
        got = printed.split()
        assert [float(v) for v in got[:4]] == [want[k] for k in ("scale_x", "scale_y", "pad_left", "pad_top")], stem
        assert [int(v) for v in got[4:]] == [want[k] for k in ("src_width", "src_height", "input_width", "input_height")], stem
        assert "needs the Geometry that preprocess() recorded" in message
