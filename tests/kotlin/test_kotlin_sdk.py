"""The Kotlin SDK of the android target: bundle layout, host JVM parity of its pure-Kotlin core
against the numpy reference, the compile check of its Android layer, and `edgesdk test`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import example_project_in
from core_context import core_context
from PIL import Image
from toolchains import need
from torch import nn

from edgesdk import api, hosttest_kotlin, naming, render
from edgesdk.bundle import write_checksums
from edgesdk.cli import main
from edgesdk.golden import SAMPLE_IMAGES_DIR
from edgesdk.processing import run_preprocess
from edgesdk.processing.postprocess import run_postprocess


def _need_kotlin():
    need(hosttest_kotlin.toolchain_problem())


@pytest.fixture(scope="module")
def example_bundle(example_models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("android-example")
    return api.build(example_project_in(folder, example_models), target="android", runtime="onnxruntime", out=folder / "dist").bundle


def test_android_build_writes_the_kotlin_module_and_sample_app(example_bundle):
    sdk = json.loads((example_bundle / "sdk.json").read_text())
    assert "kotlin" in sdk["languages"]
    module = example_bundle / "sdk" / "kotlin"
    pkg = module / "src/main/kotlin/ai/edgesdk/stripes_classifier"
    for rel in ("StripesClassifier.kt", "runtime/OrtRuntime.kt", "core/Pipeline.kt", "core/Preprocessor.kt", "core/Postprocess.kt"):
        assert (pkg / rel).is_file(), rel
    assert "android." not in "".join(p.read_text() for p in (pkg / "core").glob("*.kt"))  # the core is pure Kotlin
    gradle = (module / "build.gradle.kts").read_text()
    assert 'namespace = "ai.edgesdk.stripes_classifier"' in gradle and "minSdk = 24" in gradle and "compileSdk = 35" in gradle
    assert 'onnxruntime-android:1.29.0"' in gradle
    assert "ai.onnxruntime" in (module / "consumer-rules.pro").read_text()
    assert (module / "src/androidTest/kotlin/ai/edgesdk/stripes_classifier/golden/GoldenTest.kt").is_file()
    assert (module / "README.md").is_file()
    app = example_bundle / "sample_app"
    assert 'project(":sdk").projectDir = file("../sdk/kotlin")' in (app / "settings.gradle.kts").read_text()
    assert "classify" in (module / "README.md").read_text()
    model = (app / "app/src/main/kotlin/ai/edgesdk/sample/ModelViewModel.kt").read_text()
    assert "ai.edgesdk.stripes_classifier.StripesClassifier.load(app)" in model


def test_package_names_are_valid_java_and_kotlin():
    assert naming.kotlin_package("native") == "native_"  # a Java keyword: AGP rejects it as a namespace
    assert naming.kotlin_package("object") == "object_"
    assert naming.kotlin_package("My Model 2") == "my_model_2"
    assert naming.kotlin_package("3d-net") == "m_3d_net"


def test_adb_commands_build_install_and_instrument(example_bundle, tmp_path):
    cmds = hosttest_kotlin.adb_commands(example_bundle, "emulator-5554", tmp_path, gradle="/opt/gradle/bin/gradle")
    assert cmds[0] == ["adb", "-s", "emulator-5554", "wait-for-device"]
    assert cmds[1] == ["/opt/gradle/bin/gradle", "-p", str(tmp_path / "sample_app"), ":sdk:assembleDebugAndroidTest"]
    assert cmds[2][:6] == ["adb", "-s", "emulator-5554", "install", "-r", "-t"] and cmds[2][6].endswith("sdk-debug-androidTest.apk")
    assert cmds[3] == ["adb", "-s", "emulator-5554", "shell", "am", "instrument", "-w", "-r", "ai.edgesdk.stripes_classifier.test/androidx.test.runner.AndroidJUnitRunner"]


def test_adb_device_that_is_not_there_fails_clearly(example_bundle, capsys, monkeypatch):
    if shutil.which("adb"):
        # An adb server may have to start: only a serial no phone can have is asked for.
        assert main(["test", str(example_bundle), "--device", "adb:no-such-device-0"]) == 5
    else:
        assert main(["test", str(example_bundle), "--device", "adb:emulator-5554"]) == 5
    assert "adb" in capsys.readouterr().err


@pytest.mark.kotlin
def test_edgesdk_test_passes_on_the_host_jvm(example_bundle, capsys):
    _need_kotlin()
    assert main(["test", str(example_bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["language"] == "kotlin" and len(report["cases"]) >= 3
    assert all(c["preprocessed_max_abs"] <= 1e-5 and c["result_match"] for c in report["cases"])


# ---- a model that is not in the repo, and processing contexts the example does not use ---------
class SmallNet(nn.Module):
    """Not the example: other widths, a strided depthwise conv, 7 classes."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 12, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12),
            nn.Hardswish(),
            nn.Conv2d(12, 20, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(20, 7),
        )

    def forward(self, x):
        return self.body(x)


UNSEEN_PRE = [
    {"resize": {"size": [72, 72], "interpolation": "nearest", "keep_ratio": True}},
    {"center_crop": {"size": [64, 64]}},
    {"color": "rgb"},
    {"normalize": {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3], "scale": 0.00392156862745098}},
    {"layout": "nchw"},
]


@pytest.fixture(scope="module")
def unseen_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("unseen-kotlin")
    torch.manual_seed(11)
    model = SmallNet().eval()
    torch.jit.script(model).save(str(root / "net.pt"))
    labels = [f'kind "{i}" $x ✓' for i in range(7)]  # quotes, a `$` template and non-ASCII
    (root / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    manifest = {
        "schema_version": 1,
        "name": "object",
        "version": "0.3.0",  # a Kotlin keyword as the name
        "model": {"source": "net.pt", "inputs": [{"name": "x", "shape": [1, 3, 64, 64]}], "outputs": [{"name": "y", "shape": [1, 7]}]},
        "task": "classification",
        "preprocess": {"input_color": "bgr", "steps": UNSEEN_PRE},
        "postprocess": {"steps": [{"softmax": {"axis": -1}}, {"topk": {"k": 5}}], "labels": "labels.txt"},
    }
    (root / "edgesdk.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), encoding="utf-8")
    bundle = api.build(root / "edgesdk.yaml", target="android", runtime="onnxruntime", out=root / "dist").bundle
    return model, labels, manifest, bundle


def _photos() -> list[np.ndarray]:
    """Sample photos re-cropped and rescaled (sizes the golden vectors never had); one is 480x640
    wide, where nearest 640 -> 479 hits the exact-edge case of the accumulated rule."""
    out = []
    for i, src in enumerate(sorted(SAMPLE_IMAGES_DIR.glob("*.png"))[:3]):
        img = Image.open(src).convert("RGB")
        w, h = img.size
        img = img.crop((w // 7, h // 9, w - w // 11, h)).resize((int(w * 0.6) + i, int(h * 0.45) + 2 * i), Image.BICUBIC)
        out.append(np.asarray(img))
    out.append(np.asarray(Image.open(sorted(SAMPLE_IMAGES_DIR.glob("*.png"))[0]).convert("RGB").resize((640, 480), Image.BILINEAR)))
    return out


CONTEXTS = {
    "kt-letterbox-f16": (
        "rgb",
        [
            {"op": "letterbox", "size": [96, 128], "pad_value": [114.0, 0.0, 255.0], "interpolation": "bilinear", "align": "center"},
            {"op": "color", "order": "bgr"},
            {"op": "normalize", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "scale": 0.00392156862745098},
            {"op": "layout", "layout": "nhwc"},
            {"op": "cast", "dtype": "float16"},
        ],
    ),
    "kt-bgr-nearest-u8": (
        "bgr",
        [
            {"op": "resize", "size": [70, 50], "interpolation": "nearest", "keep_ratio": False, "antialias": False},
            {"op": "center_crop", "size": [64, 48]},
            {"op": "layout", "layout": "nchw"},
            {"op": "cast", "dtype": "uint8"},
        ],
    ),
    "kt-topleft-i8-hwc": (
        "rgb",
        [
            {"op": "resize", "size": [100, 100], "interpolation": "bilinear", "keep_ratio": True, "antialias": False},
            {"op": "letterbox", "size": [64, 80], "pad_value": [114.0, 114.0, 114.0], "interpolation": "nearest", "align": "top_left"},
            {"op": "normalize", "mean": [127.5, 120.0, 110.0], "std": [0.9, 1.1, 0.95], "scale": 1.0},
            {"op": "cast", "dtype": "int8"},
        ],
    ),
    "kt-nearest-479": (
        "rgb",
        [
            {"op": "resize", "size": [359, 479], "interpolation": "nearest", "keep_ratio": False, "antialias": False},
            {"op": "color", "order": "bgr"},
            {"op": "color", "order": "rgb"},
            {"op": "layout", "layout": "nchw"},
        ],
    ),
}


# Classification post-processing the example does not use, run by two of those cores on made-up logits.
CLASSIFY = {
    "kt-letterbox-f16": [{"op": "sigmoid"}, {"op": "argmax", "axis": -1}],
    "kt-nearest-479": [{"op": "softmax", "axis": -1}, {"op": "topk", "k": 3}],
}


def _context(name: str, input_color: str, steps: list[dict]) -> dict:
    return core_context(name, input_color, steps, task="classification" if name in CLASSIFY else "custom", post_steps=CLASSIFY.get(name, []))


@pytest.mark.kotlin
def test_kotlin_core_matches_the_reference_on_photos(unseen_bundle, tmp_path):
    """One kotlinc run compiles the cores of four processing contexts and of the unseen model's
    bundle; each then runs on photos it never saw, against run_preprocess and the Python
    post-processing of the TorchScript model's own outputs (of made-up logits for CLASSIFY)."""
    _need_kotlin()
    model, labels, _manifest, bundle = unseen_bundle
    photos = _photos()
    sdks = {}
    for name, (color, steps) in CONTEXTS.items():
        sdks[name] = tmp_path / name
        render.render_tree(render.TEMPLATES_DIR / "kotlin", sdks[name], _context(name, color, steps))
    sdks["object"] = bundle / "sdk" / "kotlin"
    sources = [s for name, d in sdks.items() for s in hosttest_kotlin.core_sources(d)]
    sources += [hosttest_kotlin.write_runner(hosttest_kotlin.package_of(name), tmp_path / "runners") for name in sdks]
    seconds = hosttest_kotlin.compile_kotlin(sources, tmp_path / "all.jar")
    print(f"one kotlinc compile of {len(sdks)} cores: {seconds:.1f} s")

    sdk_json = json.loads((bundle / "sdk.json").read_text())
    for name in sdks:
        color, steps = CONTEXTS.get(name, ("bgr", sdk_json["preprocess"]["steps"]))
        work = tmp_path / "run" / name
        work.mkdir(parents=True)
        lines, want_pre, want_top = [], {}, {}
        for i, rgb in enumerate(photos):
            app = np.ascontiguousarray(rgb[..., ::-1]) if color == "bgr" else rgb
            np.save(work / f"p{i}.npy", app)
            want_pre[f"p{i}"] = run_preprocess(app, color, steps).tensor
            outputs = []
            if name == "object":
                with torch.no_grad():
                    logits = model(torch.from_numpy(want_pre[f"p{i}"])).numpy()
                np.save(work / f"p{i}.out.npy", logits)
                outputs = [work / f"p{i}.out.npy"]
                want_top[f"p{i}"] = run_postprocess([logits], "classification", {"output_index": 0, "steps": sdk_json["postprocess"]["steps"], "labels": labels})
            elif name in CLASSIFY:
                logits = np.random.default_rng(i).normal(0, 3, (1, 9)).astype(np.float32)
                np.save(work / f"p{i}.out.npy", logits)
                outputs = [work / f"p{i}.out.npy"]
                want_top[f"p{i}"] = run_postprocess([logits], "classification", {"output_index": 0, "steps": CLASSIFY[name], "labels": []})
            lines.append(hosttest_kotlin.case_line(f"p{i}", work / f"p{i}.npy", rgb.shape[1], rgb.shape[0], outputs))
        dump, printed = hosttest_kotlin.run_runner(tmp_path / "all.jar", hosttest_kotlin.package_of(name), lines, work)
        for case, want in want_pre.items():
            meta = json.loads((dump / case / "dump.json").read_text())["preprocessed"]
            got = np.fromfile(dump / case / meta["file"], dtype=np.dtype(meta["dtype"]).newbyteorder("<")).reshape(meta["shape"])
            assert got.dtype == want.dtype and got.shape == want.shape, (name, case)
            diff = np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))
            print(f"{name} {case} {list(want.shape)} {want.dtype}: max abs diff {diff}")
            assert diff == 0 if np.issubdtype(want.dtype, np.integer) else diff <= 1e-5, (name, case, diff)
            if case in want_top:
                got_top = printed[case]["result"]["classifications"]
                assert [(c["index"], c["label"]) for c in got_top] == [(c.index, c.label) for c in want_top[case].classifications]
                assert max(abs(c["score"] - w.score) for c, w in zip(got_top, want_top[case].classifications)) <= 1e-4


@pytest.mark.kotlin
def test_edgesdk_test_catches_a_wrong_golden_file(unseen_bundle, tmp_path, capsys):
    _need_kotlin()
    bundle = tmp_path / "b"
    shutil.copytree(unseen_bundle[3], bundle)
    case = json.loads((bundle / "tests/golden/index.json").read_text())["cases"][1]
    pre = bundle / "tests/golden" / case["preprocessed"]
    tensor = np.load(pre)
    tensor[0, 1, 7, 9] += 0.001
    np.save(pre, tensor)
    write_checksums(bundle)  # re-signed: only the comparison can catch it
    assert main(["test", str(bundle)]) == 3
    err = capsys.readouterr().err
    assert "preprocessed" in err and case["id"] in err
