"""The Kotlin SDK inside an Android app (docs/app-integration.md, "Kotlin (Android)"): the app logic
of its core on the JVM (accelerator choice and report, run options, close and error discipline,
async loads and runs, keep-only-latest frames, memory-mapped models), and what each runtime's
adapter, the module's Gradle build and the sample app bring."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from app_logic import run_checks
from conftest import example_project_in
from core_context import core_context
from toolchains import need

from edgesdk import api, hosttest_kotlin, render
from edgesdk.package_data import RUNTIMES_DIR, TEMPLATES_DIR

PKG = "src/main/kotlin/ai/edgesdk/stripes_classifier"
CHECKS = 21  # the check() calls of AppLogicCheck.kt


@pytest.mark.kotlin
def test_app_logic_of_the_core_on_the_jvm(tmp_path):
    need(hosttest_kotlin.toolchain_problem())
    proc = run_checks({"app-logic": TEMPLATES_DIR}, tmp_path)["app-logic"]
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(lines) == CHECKS and all(line.startswith("ok ") for line in lines), proc.stdout


@pytest.fixture(scope="module")
def ort_bundle(example_models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("android-app")
    return api.build(example_project_in(folder, example_models), target="android", runtime="onnxruntime", out=folder / "dist").bundle


def test_model_asset_name_is_unique_per_model_and_kept_uncompressed(ort_bundle):
    import json

    sdk = json.loads((ort_bundle / "sdk.json").read_text())
    asset = f"stripes-classifier-1.0.0-{sdk['model']['sha256'][:8]}.onnx"
    module = ort_bundle / "sdk/kotlin"
    gradle = (module / "build.gradle.kts").read_text()
    assert f'val modelAsset = "{asset}"' in gradle and 'include("model.onnx")' in gradle and "rename { modelAsset }" in gradle
    assert 'noCompress += listOf("onnx")' in gradle
    assert f'const val MODEL_ASSET: String = "{asset}"' in (module / PKG / "core/Pipeline.kt").read_text()
    assert asset in (module / "README.md").read_text()


def test_two_models_or_versions_get_different_assets():
    def asset(name: str, version: str, sha: str) -> str:
        context = {**core_context(name, "rgb", []), "version": version}
        context["model"] = {**context["model"], "sha256": sha}
        env = render.make_environment()
        return env.from_string('{% import "kotlin/_names.j2" as names with context %}{{ names.model_asset() }}').render(**context)

    names = {asset("a", "1.0.0", "1" * 64), asset("b", "1.0.0", "1" * 64), asset("a", "1.0.1", "1" * 64), asset("a", "1.0.0", "2" * 64)}
    assert len(names) == 4 and asset("a", "1.0.0", "ab" * 32) == "a-1.0.0-abababab.onnx"


def test_each_runtime_declares_its_own_accelerators_and_opens_through_the_chooser():
    expected = {"onnxruntime": ["cpu", "xnnpack", "nnapi"], "tflite": ["cpu", "xnnpack", "gpu", "nnapi"], "executorch": ["xnnpack"]}
    calls = {
        "onnxruntime": ["options.addXnnpack(", "options.addNnapi()", "env.createSession(model.duplicate(), options)"],
        "tflite": ["options.setUseXNNPACK(false)", "options.setUseNNAPI(true)", 'GPU_DELEGATE: String = "org.tensorflow.lite.gpu.GpuDelegate"', "options.addDelegate(delegate)"],
        "executorch": ["ExecuTorchVersion.check(BuildConfig.EXECUTORCH_VERSION)"],
    }
    for runtime, ids in expected.items():
        folder = RUNTIMES_DIR / runtime / "kotlin"
        enum = (folder / "_accelerators.kt.j2").read_text()
        assert re.findall(r'^\s+\w+\("(\w+)"\)', enum, re.M) == ids, runtime
        adapter = next(folder.rglob("*Runtime.kt.j2")).read_text()
        assert "internal fun openRuntime(model: ByteBuffer, options: LoadOptions): Engine" in adapter
        assert "Acceleration.open(options" in adapter
        for call in calls[runtime]:
            assert call in adapter, (runtime, call)
    # ONNX Runtime runs concurrently on one session; LiteRT and ExecuTorch do not.
    assert "concurrent = true" in next((RUNTIMES_DIR / "onnxruntime/kotlin").rglob("OrtRuntime.kt.j2")).read_text()
    for runtime in ("tflite", "executorch"):
        assert "concurrent = false" in next((RUNTIMES_DIR / runtime / "kotlin").rglob("*Runtime.kt.j2")).read_text()


def test_the_sdk_class_maps_loads_async_and_guards_bitmaps(ort_bundle):
    cls = (ort_bundle / "sdk/kotlin" / PKG / "StripesClassifier.kt").read_text()
    for api_text in (
        "fun loadAsync(",
        "suspend fun load(",
        "fun runAsync(",
        "suspend fun runSuspending(",
        "fun analyzer(",
        "context.assets.openFd(name)",
        "ModelBuffers.map(it.channel, fd.startOffset, fd.declaredLength",
        'bitmap.config?.name == "HARDWARE"',
        "val acceleration:",
    ):
        assert api_text in cls, api_text
    assert "readBytes()" not in cls.split("private fun readAssetDirect")[0]  # the mapped path copies nothing


def test_sample_app_loads_once_off_the_ui_thread_with_camera_and_gallery(ort_bundle):
    app = ort_bundle / "sample_app"
    props = (app / "gradle/wrapper/gradle-wrapper.properties").read_text()
    assert re.search(r"distributionUrl=.*gradle-8\.\d+(\.\d+)?-bin\.zip", props)
    gradle = (app / "app/build.gradle.kts").read_text()
    dependencies = ("androidx.camera:camera-camera2", "androidx.camera:camera-lifecycle", "androidx.camera:camera-view", "androidx.lifecycle:lifecycle-viewmodel-ktx", "androidx.activity:activity-ktx")
    for dependency in dependencies:
        assert dependency in gradle, dependency
    kotlin = app / "app/src/main/kotlin/ai/edgesdk/sample"
    model = (kotlin / "ModelViewModel.kt").read_text()
    assert "StripesClassifier.load(" in model and "viewModelScope" in model and "override fun onCleared()" in model
    activity = (kotlin / "MainActivity.kt").read_text()
    for piece in ("ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST", "ActivityResultContracts.GetContent()", "PreviewView", ".analyze(", "imageProxy.close()"):
        assert piece in activity, piece
    assert "android.permission.CAMERA" in (app / "app/src/main/AndroidManifest.xml").read_text()
