"""Generated C++ SDK: build bundles from hand-made render contexts and check edgesdk-run against
the processing contract (tests/cpp/reference.py, edgesdk.processing), ONNX Runtime Python and
Pillow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesdk.dtypes import DTYPES

from . import reference
from .conftest import ORT_ROOT, context
from .models import tiny_net

pytestmark = pytest.mark.cpp
ort = pytest.importorskip("onnxruntime")

IMAGENET = {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "scale": 1.0}
LABELS_ODD = ['daisy "quoted"', "rosé", "日本語", "back\\slash", "emoji 🌼"]


def _io(name, shape, dtype="float32"):
    return [{"name": name, "shape": shape, "dtype": dtype}]


def _cls_outputs(n=5):
    return _io("logits", [1, n])


def make_contexts() -> dict[str, tuple[dict, bytes]]:
    """Name -> (render context, model bytes); one build each."""
    out = {}
    m = tiny_net(32, 32)
    out["bilinear_crop"] = (
        context(
            "flower-classifier",
            m,
            task="classification",
            inputs=_io("image", [1, 3, 32, 32]),
            outputs=_cls_outputs(),
            input_color="rgb",
            labels=["a", "b", "c", "d", "e"],
            pre=[
                {"op": "resize", "size": [40, 40], "interpolation": "bilinear", "keep_ratio": False},
                {"op": "center_crop", "size": [32, 32]},
                {"op": "normalize", **IMAGENET},
                {"op": "layout", "layout": "nchw"},
                {"op": "cast", "dtype": "float32"},
            ],
            post=[{"op": "softmax", "axis": -1}, {"op": "topk", "k": 3}],
        ),
        m,
    )
    m = tiny_net(28, 28, input_name="input", seed=1)
    out["keep_ratio_keyword"] = (
        context(
            "class",
            m,
            task="classification",
            inputs=_io("input", [1, 3, 28, 28]),
            outputs=_cls_outputs(),
            input_color="rgb",
            labels=LABELS_ODD,
            pre=[
                {"op": "resize", "size": [28, 28], "interpolation": "bilinear", "keep_ratio": True},
                {"op": "center_crop", "size": [28, 28]},
                {"op": "color", "order": "bgr"},
                {"op": "normalize", "mean": [100.0, 110.0, 120.0], "std": [50.0, 60.0, 70.0], "scale": 1.0},
                {"op": "layout", "layout": "nchw"},
            ],
            # topk over every class: each run prints every label (argmax is covered by tests/opcheck).
            post=[{"op": "softmax", "axis": -1}, {"op": "topk", "k": 5}],
        ),
        m,
    )
    m = tiny_net(30, 20, input_dtype="int8", input_name="x", seed=2)
    out["nearest_int8"] = (
        context(
            "nearest net",
            m,
            task="classification",
            inputs=_io("x", [1, 3, 30, 20], "int8"),
            outputs=_cls_outputs(),
            input_color="bgr",
            labels=[],
            pre=[
                {"op": "resize", "size": [61, 47], "interpolation": "nearest", "keep_ratio": False},
                {"op": "resize", "size": [30, 20], "interpolation": "nearest", "keep_ratio": False},
                {"op": "normalize", "mean": [127.5, 127.5, 127.5], "std": [1.0, 1.0, 1.0], "scale": 1.0},
                {"op": "layout", "layout": "nchw"},
                {"op": "cast", "dtype": "int8"},
            ],
            post=[{"op": "sigmoid"}],
        ),
        m,
    )
    m = tiny_net(32, 32, layout="nhwc", input_name="images", seed=3)
    out["letterbox_bgr_nhwc"] = (
        context(
            "yolo-ish",
            m,
            task="classification",
            inputs=_io("images", [1, 32, 32, 3]),
            outputs=_cls_outputs(),
            input_color="rgb",
            labels=[],
            pre=[
                {"op": "resize", "size": [50, 37], "interpolation": "bilinear", "keep_ratio": False},
                {"op": "color", "order": "bgr"},
                {"op": "letterbox", "size": [32, 32], "pad_value": [114.0, 0.0, 255.0], "interpolation": "bilinear", "align": "center"},
                {"op": "normalize", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "scale": 1 / 255},
                {"op": "layout", "layout": "nhwc"},
            ],
            post=[{"op": "topk", "k": 10}],
        ),
        m,
    )
    m = tiny_net(16, 16, input_dtype="float16", head="map", seed=4)
    out["custom_f16"] = (
        context(
            "seg map",
            m,
            task="custom",
            inputs=_io("image", [1, 3, 16, 16], "float16"),
            outputs=_io("map", [1, 2, 14, 14]),
            input_color="rgb",
            labels=[],
            pre=[
                {"op": "letterbox", "size": [16, 16], "pad_value": [0.0, 0.0, 0.0], "interpolation": "nearest", "align": "top_left"},
                {"op": "resize", "size": [16, 16], "interpolation": "bilinear", "keep_ratio": False},
                {"op": "normalize", **IMAGENET},
                {"op": "layout", "layout": "nchw"},
                {"op": "cast", "dtype": "float16"},
            ],
            post=[{"op": "softmax", "axis": 0}, {"op": "sigmoid"}],
        ),
        m,
    )
    m = tiny_net(None, None, layout="nhwc", input_dtype="uint8", input_name="pixels", seed=5)
    out["uint8_decode"] = (
        context(
            "raw pixels",
            m,
            task="classification",
            inputs=_io("pixels", [1, "height", "width", 3], "uint8"),
            outputs=_cls_outputs(),
            input_color="rgb",
            labels=[],
            pre=[{"op": "layout", "layout": "nhwc"}, {"op": "cast", "dtype": "uint8"}],
            post=[{"op": "softmax", "axis": -1}],
        ),
        m,
    )
    return out


CONTEXTS = make_contexts()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """Odd-sized PNG and JPEG files of every pixel layout the decoder handles."""
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:41, 0:29]
    smooth = np.stack([xx * 8, yy * 6, (xx + yy) * 4], -1) % 256
    files = {
        "rgb.png": Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)),
        "rgb.jpg": Image.fromarray((smooth + rng.integers(0, 40, smooth.shape)).clip(0, 255).astype(np.uint8)),
        "gray.png": Image.fromarray(rng.integers(0, 256, (33, 31), dtype=np.uint8)),
        "rgba.png": Image.fromarray(rng.integers(0, 256, (23, 45, 4), dtype=np.uint8)),
        "gray.jpg": Image.fromarray(rng.integers(0, 256, (19, 27), dtype=np.uint8)),
        "palette.png": Image.fromarray(rng.integers(0, 256, (25, 35, 3), dtype=np.uint8)).quantize(16),
        "bilevel.png": Image.fromarray(rng.integers(0, 2, (13, 17), dtype=np.uint8) * 255).convert("1"),
        "gray16.png": Image.fromarray(rng.integers(0, 700, (11, 15), dtype=np.uint16)),
    }
    for name, im in files.items():
        kwargs = {"quality": 87} if name.endswith(".jpg") else {}
        im.save(d / name, **kwargs)
    # 16-bit RGB through OpenCV (Pillow cannot write it).
    import cv2

    cv2.imwrite(str(d / "rgb16.png"), rng.integers(0, 65536, (9, 14, 3), dtype=np.uint16))
    return {p.name: p for p in sorted(d.iterdir())}


def pillow_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_dump(d: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    meta = json.loads((d / "dump.json").read_text())

    def read(entry):
        return np.fromfile(d / entry["file"], dtype=DTYPES[entry["dtype"]].numpy).reshape(entry["shape"])

    return read(meta["preprocessed"]), [read(o) for o in meta["outputs"]]


def run_dump(bundle, image: Path, tmp_path: Path):
    d = tmp_path / f"dump-{image.stem}-{image.suffix[1:]}"
    d.mkdir()
    proc = bundle.run("--input", str(image), "--json", "--dump-dir", str(d))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), *load_dump(d)


@pytest.mark.parametrize("key", sorted(CONTEXTS))
@pytest.mark.parametrize("image_name", ["rgb.png", "rgb.jpg", "gray.png"])
def test_pipeline_matches_reference_and_onnxruntime(bundles, images, key, image_name, tmp_path, record_property):
    bundle = bundles(key)
    ctx, model = CONTEXTS[key]
    result, pre, outputs = run_dump(bundle, images[image_name], tmp_path)
    pixels = pillow_rgb(images[image_name])
    pre_steps = ctx["preprocess"]["steps"]

    want = reference.preprocess(pixels, ctx["preprocess"]["input_color"], pre_steps)
    assert pre.dtype == want.dtype and pre.shape == want.shape
    np.testing.assert_array_equal(pre, want)  # the contract makes pre-processing bit-identical

    try:
        from edgesdk.processing import run_preprocess
    except ImportError:
        run_preprocess = None
    if run_preprocess is not None:
        color_pixels = pixels[..., ::-1] if ctx["preprocess"]["input_color"] == "bgr" else pixels
        np.testing.assert_array_equal(pre, run_preprocess(np.ascontiguousarray(color_pixels), ctx["preprocess"]["input_color"], pre_steps).tensor)

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    expected = session.run(None, {ctx["inputs"][0]["name"]: want})
    diffs = [float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(outputs, expected)]
    record_property("max_abs_output_diff", max(diffs))
    assert max(diffs) <= 1e-4
    assert [o["shape"] for o in result["outputs"]] == [list(e.shape) for e in expected]

    if ctx["task"] == "classification":
        got = result["result"]["classifications"]
        post = ctx["postprocess"]
        assert [c["index"] for c in got] == reference.classify(expected[0], post["steps"])
        labels = post["labels"]
        assert [c["label"] for c in got] == [labels[c["index"]] if labels else str(c["index"]) for c in got]
    else:  # custom: the outputs after the manifest's elementwise steps, values included
        from edgesdk.processing import run_postprocess

        want = run_postprocess(expected, "custom", ctx["postprocess"]).tensors
        tensors = result["result"]["tensors"]
        assert [(t["name"], t["shape"]) for t in tensors] == [(o["name"], list(w.shape)) for o, w in zip(ctx["outputs"], want)]
        assert max(float(np.max(np.abs(np.asarray(t["values"]).reshape(w.shape) - w))) for t, w in zip(tensors, want)) <= 1e-4


@pytest.mark.parametrize("image_name", ["rgb.jpg", "gray.jpg", "rgb.png", "gray.png", "rgba.png", "palette.png", "bilevel.png", "gray16.png", "rgb16.png"])
def test_decoder_matches_pillow_bit_exact(bundles, images, image_name, tmp_path):
    _, pre, _ = run_dump(bundles("uint8_decode"), images[image_name], tmp_path)
    np.testing.assert_array_equal(pre[0], pillow_rgb(images[image_name]))


def test_classification_scores_match_reference_postprocess(bundles, images, tmp_path):
    from edgesdk.processing import run_postprocess

    bundle = bundles("bilinear_crop")
    ctx, _ = CONTEXTS["bilinear_crop"]
    result, _, outputs = run_dump(bundle, images["rgb.png"], tmp_path)
    want = run_postprocess(outputs, "classification", ctx["postprocess"]).classifications
    got = result["result"]["classifications"]
    assert [(c["label"], c["index"]) for c in got] == [(c.label, c.index) for c in want]
    assert max(abs(c["score"] - w.score) for c, w in zip(got, want)) <= 1e-6


def test_keyword_name_and_odd_labels_print_valid_json(bundles, images, tmp_path):
    bundle = bundles("keep_ratio_keyword")
    assert "namespace edgesdk::class_ {" in (bundle.root / "sdk/cpp/include/class/class.hpp").read_text()
    proc = bundle.run("--input", str(images["rgb.jpg"]), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["model"] == "class"
    assert result["result"]["classifications"][0]["label"] in LABELS_ODD
    # Every label survives C++ literal -> std::string -> JSON: topk over all 5 classes prints each
    # one, and each next to its own index.
    printed = [c for img in images.values() if img.suffix in (".png", ".jpg") for c in json.loads(bundle.run("--input", str(img), "--json").stdout)["result"]["classifications"]]
    assert sorted(c["index"] for c in printed[:5]) == [0, 1, 2, 3, 4]
    assert all(c["label"] == LABELS_ODD[c["index"]] for c in printed)
    human = bundle.run("--input", str(images["rgb.jpg"]))
    assert human.returncode == 0 and "class 1.0.0" in human.stdout


def test_tampered_model_fails_integrity_check(bundles, images, tmp_path):
    bundle = bundles("bilinear_crop")
    (tmp_path / "model").mkdir()
    shutil.copy(bundle.root / "sdk.json", tmp_path)
    tampered = tmp_path / "model" / "model.onnx"
    data = bytearray(bundle.model_bytes)
    data[-1] ^= 0x01
    tampered.write_bytes(bytes(data))
    proc = bundle.run("--input", str(images["rgb.png"]), bundle=tmp_path)
    assert proc.returncode == 4
    assert str(tampered) in proc.stderr and bundle.ctx["model"]["sha256"] in proc.stderr


def test_bad_input_exit_codes(bundles, images, tmp_path):
    bundle = bundles("bilinear_crop")
    assert bundle.run("--input", str(tmp_path / "missing.png")).returncode == 2
    (tmp_path / "junk.png").write_bytes(b"not an image")
    proc = bundle.run("--input", str(tmp_path / "junk.png"))
    assert proc.returncode == 2 and "junk.png" in proc.stderr
    shutil.copy(bundle.root / "sdk.json", tmp_path)
    no_model = bundle.run("--input", str(images["rgb.png"]), bundle=tmp_path)
    assert no_model.returncode == 2 and "model file not found" in no_model.stderr
    # The SDK maps the model file: a folder in its place, or an empty file, is refused by name.
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.onnx").mkdir()
    folder = bundle.run("--input", str(images["rgb.png"]), bundle=tmp_path)
    assert folder.returncode == 2 and "model file is not a regular file" in folder.stderr and "model.onnx" in folder.stderr
    (tmp_path / "model" / "model.onnx").rmdir()
    (tmp_path / "model" / "model.onnx").write_bytes(b"")
    empty = bundle.run("--input", str(images["rgb.png"]), bundle=tmp_path)
    assert empty.returncode == 4 and "failed the integrity check" in empty.stderr
    assert subprocess.run([str(bundle.exe), "--bogus"], capture_output=True).returncode == 2


def test_center_crop_larger_than_image_is_invalid_input(build_bundle, images):
    m = tiny_net(32, 32)
    ctx = context(
        "crop only",
        m,
        task="custom",
        inputs=_io("image", [1, 3, 32, 32]),
        outputs=_cls_outputs(),
        input_color="rgb",
        labels=[],
        post=[],
        pre=[{"op": "center_crop", "size": [32, 32]}, {"op": "layout", "layout": "nchw"}],
    )
    bundle = build_bundle("crop_only", ctx, m)
    proc = bundle.run("--input", str(images["gray16.png"]))  # 15x11: smaller than the crop
    assert proc.returncode == 2 and "center_crop" in proc.stderr
    assert bundle.run("--input", str(images["rgb.png"]), "--json").returncode == 0


def test_runtime_older_than_headers_is_refused(bundles, images, tmp_path):
    """A library that reports 1.20.0 must give exit 5 and a message naming both versions.

    Official Linux builds version their symbols per release (VERS_1.29.0), so the dynamic linker
    already refuses them; builds without that (Android, Apple, custom) reach the SDK's own check,
    which this fake library exercises."""
    fake = tmp_path / "libonnxruntime.so.1"
    src, script = tmp_path / "fake.c", tmp_path / "fake.map"
    src.write_text(
        "#include <stddef.h>\n"
        "typedef struct { const void* (*GetApi)(unsigned); const char* (*GetVersionString)(void); } Base;\n"
        "static const void* get_api(unsigned v) { (void)v; return NULL; }\n"
        'static const char* version(void) { return "1.20.0"; }\n'
        "static const Base base = {get_api, version};\n"
        "const Base* OrtGetApiBase(void) { return &base; }\n"
    )
    script.write_text("VERS_1.29.0 { global: OrtGetApiBase; local: *; };\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libonnxruntime.so.1", f"-Wl,--version-script={script}", "-o", str(fake), str(src)], check=True)
    bundle = bundles("bilinear_crop")
    proc = bundle.run("--input", str(images["rgb.png"]), env={"LD_LIBRARY_PATH": str(tmp_path)})
    assert proc.returncode == 5, proc.stderr
    assert "RuntimeMismatch" in proc.stderr and "1.20.0" in proc.stderr and "1.29" in proc.stderr


def test_bench_reports_glue_overhead(bundles, images):
    proc = bundles("bilinear_crop").run("--input", str(images["rgb.jpg"]), "--bench", "30")
    assert proc.returncode == 0, proc.stderr
    bench = json.loads(proc.stdout)["bench"]
    assert bench["runs"] == 30
    assert set(bench["e2e_ms"]) == {"median", "p10", "p90"}
    assert bench["bare_session_ms"] > 0 and bench["infer_ms"] > 0
    assert np.isfinite(bench["glue_overhead"])


def test_bench_reports_processor_time_beside_wall_time(bundles, images):
    """At 1 thread a stage takes no more processor time than wall time (clock reads and ticks:
    microseconds), inference is part of end to end, and the quietest runs' wall time is what the
    processor time of most runs comes to."""
    proc = bundles("bilinear_crop").run("--input", str(images["rgb.jpg"]), "--bench", "30", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    bench = json.loads(proc.stdout)["bench"]
    cpu_infer, cpu_e2e = bench["infer_cpu_ms"], bench["e2e_cpu_ms"]
    assert set(cpu_infer) == set(cpu_e2e) == {"median", "p10", "p90"}
    assert 0 < cpu_infer["p10"] <= cpu_infer["median"] <= cpu_infer["p90"] and cpu_infer["median"] < cpu_e2e["median"]
    assert cpu_infer["median"] <= bench["infer_ms"] + 0.005 and cpu_e2e["median"] <= bench["e2e_ms"]["median"] + 0.005
    assert cpu_e2e["p90"] >= 0.5 * bench["e2e_ms"]["p10"]


def test_generated_code_is_warning_free_and_namespaced(bundles):
    """Builds run with -Werror; two SDKs keep their ops apart through their namespaces."""
    a, b = bundles("bilinear_crop"), bundles("custom_f16")
    assert "namespace edgesdk::flower_classifier::detail" in (a.root / "sdk/cpp/src/preprocess.hpp").read_text()
    assert "namespace edgesdk::seg_map::detail" in (b.root / "sdk/cpp/src/preprocess.hpp").read_text()
    assert shutil.which("nm")
    symbols = subprocess.run(["nm", "-C", str(a.root / "build/sdk/libflower_classifier_sdk.a")], capture_output=True, text=True).stdout
    defined = [line for line in symbols.splitlines() if " T " in line]
    assert defined and all("flower_classifier::" in line for line in defined)


def test_public_api_pixel_formats_and_errors(bundles, tmp_path):
    """A second program links the SDK through its CMake target and uses the API directly."""
    bundle = bundles("bilinear_crop")
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(Path(__file__).with_name("api_check.cpp"), app / "main.cpp")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(api_check LANGUAGES CXX)\n"
        f'add_subdirectory("{bundle.root / "sdk/cpp"}" sdk)\n'
        "add_executable(api_check main.cpp)\ntarget_link_libraries(api_check PRIVATE flower_classifier_sdk)\n"
    )
    env = dict(os.environ, ONNXRUNTIME_ROOT=str(ORT_ROOT))
    for cmd in (
        ["cmake", "-S", str(app), "-B", str(tmp_path / "build"), "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"],
        ["cmake", "--build", str(tmp_path / "build"), "-j2"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = subprocess.run([str(tmp_path / "build" / "api_check"), str(bundle.root / "model" / "model.onnx")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "does not fit model input 'image' float32[1, 3, 32, 32]" in proc.stdout
    assert "LoadOptions::intra_op_threads is 1000000; allowed: 0 (the runtime's default) to 256" in proc.stdout
    assert "LoadOptions::limits.max_intermediate_pixels is 0; allowed: >= 1" in proc.stdout
    assert "image 45x41 has a side over Limits::max_image_side = 44" in proc.stdout
    assert "image 45x41 has more pixels than Limits::max_image_pixels = 1844" in proc.stdout
