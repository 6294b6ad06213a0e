"""The C++ SDK inside an app (docs/app-integration.md, "C++"): the installed CMake package used by an
app outside the bundle, loading from memory, acceleration asked vs. active, raw outputs untouched,
run options, concurrent run, Result::value() in a release build, the Android NDK lookup of ONNX
Runtime in its AAR layout, and edgesdk-run's --help, --accelerator and pre-processing guard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgesdk.processing import run_postprocess

from .conftest import ORT_ROOT
from .test_cpp_sdk import CONTEXTS

pytestmark = pytest.mark.cpp
ort = pytest.importorskip("onnxruntime")

WIDTH, HEIGHT = 45, 37
ENV = dict(os.environ, ONNXRUNTIME_ROOT=str(ORT_ROOT))


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=kwargs.pop("env", ENV), **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> Path:
    """A packed RGB frame: the same pixels reach the app (Image) and edgesdk-run (--raw --format rgb)."""
    path = tmp_path_factory.mktemp("frame") / "frame.rgb"
    path.write_bytes(np.random.default_rng(11).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="module")
def installed_app(bundles, tmp_path_factory):
    """The SDK configured, built and installed to a prefix on its own; then an app in another folder
    that only knows the prefix: find_package + the exported target, a release build."""
    bundle = bundles("bilinear_crop")
    root = tmp_path_factory.mktemp("installed")
    prefix, sdk_build, app, app_build = root / "prefix", root / "sdk-build", root / "app", root / "app-build"
    run(["cmake", "-S", str(bundle.root / "sdk/cpp"), "-B", str(sdk_build), "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=-Werror"])
    run(["cmake", "--build", str(sdk_build), "-j2"])
    run(["cmake", "--install", str(sdk_build), "--prefix", str(prefix)])
    app.mkdir()
    shutil.copy(Path(__file__).with_name("app_check.cpp"), app / "main.cpp")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(app_check LANGUAGES CXX)\n"
        "find_package(flower_classifier_sdk CONFIG REQUIRED)\n"
        "find_package(Threads REQUIRED)\n"
        "add_executable(app_check main.cpp)\n"
        "target_compile_features(app_check PRIVATE cxx_std_17)\n"
        "target_link_libraries(app_check PRIVATE flower_classifier_sdk::flower_classifier_sdk Threads::Threads)\n"
    )
    run(["cmake", "-S", str(app), "-B", str(app_build), "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"])
    run(["cmake", "--build", str(app_build), "-j2"])
    return bundle, prefix, app_build / "app_check"


def test_installed_package_has_headers_library_and_config_without_openssl(installed_app):
    _, prefix, exe = installed_app
    config_dir = prefix / "lib/cmake/flower_classifier_sdk"
    assert (prefix / "include/flower_classifier/flower_classifier.hpp").is_file()
    assert (prefix / "lib/libflower_classifier_sdk.a").is_file()
    names = {p.name for p in config_dir.iterdir()}
    assert {"flower_classifier_sdkConfig.cmake", "flower_classifier_sdk_runtime.cmake", "flower_classifier_sdk_targets.cmake"} <= names
    # An unencrypted model's SDK needs no OpenSSL: its SHA-256 is its own (Android and iOS have no libcrypto).
    assert not any("openssl" in (config_dir / n).read_text().lower() for n in names)
    linked = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    assert "libcrypto" not in linked and "libonnxruntime" in linked


def test_app_outside_the_bundle_matches_edgesdk_run_on_the_same_frame(installed_app, frame):
    bundle, _, exe = installed_app
    proc = subprocess.run([str(exe), str(bundle.root / "model/model.onnx"), str(frame), str(WIDTH), str(HEIGHT)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "tampered buffer: model file in memory (model.onnx) failed the integrity check: expected sha256 " + bundle.ctx["model"]["sha256"] in out
    assert "skipped coreml: CoreMLExecutionProvider is not in this ONNX Runtime library (it has CPUExecutionProvider" in out
    assert "coreml with Fail: accelerator coreml is unavailable: CoreMLExecutionProvider is not in this ONNX Runtime library" in out
    assert "no accelerators: LoadOptions::accelerators is empty; allowed: one or more of cpu, xnnpack, nnapi, coreml, in preference order" in out
    assert "cpu twice: LoadOptions::accelerators lists cpu twice; allowed: each at most once" in out
    assert "top_k 6: RunOptions::top_k is 6; allowed: 1 to 5 (the number of classes)" in out
    assert "threshold 1: RunOptions::score_threshold is 1.000000; allowed: finite, 0 <= t < 1" in out
    assert "threshold nan: RunOptions::score_threshold is nan; allowed: finite, 0 <= t < 1" in out
    app = json.loads(out.split("classifications ", 1)[1])
    cli = bundle.run("--raw", str(frame), "--format", "rgb", "--width", str(WIDTH), "--height", str(HEIGHT), "--json")
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)["result"]["classifications"]
    assert [c["index"] for c in app] == [c["index"] for c in printed] and len(app) == 3
    assert max(abs(a["score"] - c["score"]) for a, c in zip(app, printed)) <= 1e-6


def test_value_of_an_error_aborts_with_its_message_in_a_release_build(installed_app, tmp_path):
    _, _, exe = installed_app
    proc = subprocess.run([str(exe), "--misuse", str(tmp_path / "missing.onnx")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -6, (proc.returncode, proc.stdout, proc.stderr)  # SIGABRT
    assert "loaded: 0" in proc.stdout and "returned" not in proc.stdout
    assert "Result::value() called on an error: model file not found or unreadable: " + str(tmp_path / "missing.onnx") in proc.stderr


def test_help_prints_usage_and_exits_zero(bundles):
    bundle = bundles("bilinear_crop")
    proc = subprocess.run([str(bundle.exe), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: edgesdk-run --bundle DIR")
    assert "--accelerator NAME: cpu|xnnpack|nnapi|coreml" in proc.stdout and "--no-fallback" in proc.stdout and "--top-k K" in proc.stdout


def test_acceleration_is_reported_and_a_missing_accelerator_falls_back_visibly(bundles, frame):
    bundle = bundles("bilinear_crop")
    raw = ["--raw", str(frame), "--format", "rgb", "--width", str(WIDTH), "--height", str(HEIGHT), "--json"]
    default = json.loads(bundle.run(*raw).stdout)["acceleration"]
    assert default == {"asked": ["cpu"], "active": "cpu", "skipped": [], "precision": "float32"}
    proc = bundle.run(*raw, "--accelerator", "nnapi", "--accelerator", "coreml")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["acceleration"]
    assert report["asked"] == ["nnapi", "coreml"] and report["active"] == "cpu"
    assert [s["accelerator"] for s in report["skipped"]] == ["nnapi", "coreml"]
    assert "NnapiExecutionProvider is not in this ONNX Runtime library" in report["skipped"][0]["reason"]
    refused = bundle.run(*raw, "--accelerator", "coreml", "--no-fallback")
    assert refused.returncode == 5 and refused.stdout == ""
    assert "Unsupported: accelerator coreml is unavailable: CoreMLExecutionProvider" in refused.stderr
    unknown = bundle.run(*raw, "--accelerator", "gpu")
    assert unknown.returncode == 2 and "--accelerator must be one of cpu, xnnpack, nnapi, coreml, got 'gpu'" in unknown.stderr
    assert bundle.run(*raw, "--no-fallback").returncode == 2  # nothing asked for that could fail


def test_onnx_runtime_telemetry_is_off(bundles, frame, tmp_path):
    """ONNX Runtime's Linux build starts a telemetry client with its environment, which writes
    $TMPDIR/mat-debug-<pid>.log; the SDK switches it off (and with it any event upload)."""
    bundle = bundles("bilinear_crop")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = bundle.run("--raw", str(frame), "--format", "rgb", "--width", str(WIDTH), "--height", str(HEIGHT), "--json", env={**ENV, "TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert list(tmp.iterdir()) == []


def test_run_options_on_the_command_line(bundles, frame):
    bundle = bundles("bilinear_crop")
    raw = ["--raw", str(frame), "--format", "rgb", "--width", str(WIDTH), "--height", str(HEIGHT), "--json"]
    manifest = json.loads(bundle.run(*raw).stdout)["result"]["classifications"]
    assert len(manifest) == 3  # topk 3 in the manifest
    five = json.loads(bundle.run(*raw, "--top-k", "5").stdout)["result"]["classifications"]
    assert [c["index"] for c in five[:3]] == [c["index"] for c in manifest] and len(five) == 5
    cut = manifest[1]["score"]
    kept = json.loads(bundle.run(*raw, "--score-threshold", repr(cut)).stdout)["result"]["classifications"]
    assert [c["index"] for c in kept] == [c["index"] for c in manifest if c["score"] >= cut]
    too_many = bundle.run(*raw, "--top-k", "6")
    assert too_many.returncode == 2 and "RunOptions::top_k is 6; allowed: 1 to 5" in too_many.stderr


def test_custom_task_prints_its_tensors_and_leaves_raw_untouched(bundles, frame, tmp_path):
    bundle = bundles("custom_f16")
    ctx, _ = CONTEXTS["custom_f16"]
    proc = bundle.run("--raw", str(frame), "--format", "rgb", "--width", str(WIDTH), "--height", str(HEIGHT), "--json", "--dump-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    tensors = json.loads(proc.stdout)["result"]["tensors"]
    meta = json.loads((tmp_path / "dump.json").read_text())
    raw = [np.fromfile(tmp_path / o["file"], dtype=o["dtype"]).reshape(o["shape"]) for o in meta["outputs"]]
    want = run_postprocess(raw, "custom", ctx["postprocess"]).tensors
    assert [t["name"] for t in tensors] == ["map"] and tensors[0]["dtype"] == str(want[0].dtype)
    assert tensors[0]["shape"] == list(want[0].shape)
    got = np.asarray(tensors[0]["values"], dtype=np.float64).reshape(want[0].shape)
    assert np.max(np.abs(got - want[0])) <= 1e-6
    assert np.max(np.abs(got - raw[0])) > 1e-2  # the steps changed the tensors, not the raw outputs


def test_a_bundle_with_other_preprocessing_is_refused(bundles, frame, tmp_path):
    bundle = bundles("bilinear_crop")
    other = tmp_path / "other"
    shutil.copytree(bundle.root / "model", other / "model")
    sdk = json.loads((bundle.root / "sdk.json").read_text())
    sdk["preprocess"]["steps"][0]["size"] = [48, 40]
    (other / "sdk.json").write_text(json.dumps(sdk, indent=2, sort_keys=True))
    args = ["--raw", str(frame), "--format", "rgb", "--width", str(WIDTH), "--height", str(HEIGHT)]
    proc = bundle.run(*args, bundle=other)
    assert proc.returncode == 4, proc.stderr
    assert '"size":[48,40]' in proc.stderr and '"size":[40,40]' in proc.stderr and "pre-processing differs" in proc.stderr
    # Formatting is not content: the same section re-indented is accepted.
    sdk["preprocess"]["steps"][0]["size"] = [40, 40]
    (other / "sdk.json").write_text(json.dumps(sdk, indent=4, sort_keys=True))
    assert bundle.run(*args, bundle=other).returncode == 0
    (other / "sdk.json").unlink()
    missing = bundle.run(*args, bundle=other)
    assert missing.returncode == 2 and "sdk.json" in missing.stderr


def _configure_android(bundle, tmp_path: Path, aar: Path | None) -> subprocess.CompletedProcess:
    """Configures the SDK as an NDK build would see it (ANDROID_ABI set) with the host compiler: the
    CMake logic that finds ONNX Runtime, without an NDK."""
    cmd = ["cmake", "-S", str(bundle.root / "sdk/cpp"), "-B", str(tmp_path / "android"), "-DANDROID_ABI=arm64-v8a"]
    if aar is not None:
        cmd.append(f"-DONNXRUNTIME_AAR={aar}")
    env = {k: v for k, v in ENV.items() if k not in ("ONNXRUNTIME_ROOT", "ONNXRUNTIME_AAR")}
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_android_abi_finds_onnxruntime_in_the_aar_layout(bundles, tmp_path):
    bundle = bundles("bilinear_crop")
    aar = tmp_path / "onnxruntime-android"
    with zipfile.ZipFile(ORT_ROOT / "android/onnxruntime.aar") as zf:
        zf.extractall(aar)  # the real AAR: headers/ and jni/<abi>/libonnxruntime.so
    proc = _configure_android(bundle, tmp_path, aar)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cache = (tmp_path / "android/CMakeCache.txt").read_text()
    assert f"ONNXRUNTIME_LIBRARY:FILEPATH={aar}/jni/arm64-v8a/libonnxruntime.so" in cache
    assert f"ONNXRUNTIME_INCLUDE_DIR:PATH={aar}/headers" in cache
    assert "OpenSSL" not in cache  # nothing asks for a system libcrypto


def test_android_abi_without_the_aar_or_its_abi_is_one_clear_error(bundles, tmp_path):
    bundle = bundles("bilinear_crop")
    proc = _configure_android(bundle, tmp_path / "none", None)
    assert proc.returncode != 0 and "set ONNXRUNTIME_AAR to the unzipped onnxruntime-android AAR" in " ".join(proc.stderr.split())  # CMake wraps lines
    fake = tmp_path / "fake-aar"
    (fake / "headers").mkdir(parents=True)
    (fake / "headers/onnxruntime_cxx_api.h").write_text("")
    (fake / "jni/x86_64").mkdir(parents=True)
    (fake / "jni/x86_64/libonnxruntime.so").write_bytes(b"")
    proc = _configure_android(bundle, tmp_path / "wrong-abi", fake)
    assert proc.returncode != 0 and f"ONNXRUNTIME_AAR {fake} has no headers/onnxruntime_cxx_api.h or no jni/arm64-v8a/libonnxruntime.so" in " ".join(proc.stderr.split())
