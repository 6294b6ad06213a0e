"""The Kotlin SDK of android bundles on TFLite (LiteRT) and ExecuTorch: the adapter and Gradle
dependency each runtime brings, `edgesdk test` on the host JVM, and the ExecuTorch version guard run
on the host. Their Android layer cannot be compiled here (no LiteRT or ExecuTorch AAR is reachable):
the tests hold `edgesdk test` to saying so."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from conftest import example_project_in
from toolchains import need

from edgesdk import api, hosttest_kotlin
from edgesdk.cli import main

PKG = "src/main/kotlin/ai/edgesdk/stripes_classifier"
# runtime -> (module its build needs, adapter file, the Gradle dependency it must declare)
RUNTIMES = {
    "tflite": ("litert_torch", "TfliteRuntime.kt", 'api("com.google.ai.edge.litert:litert:{}")'),
    "executorch": ("executorch.runtime", "ExecuTorchModuleRuntime.kt", 'api("org.pytorch:executorch-android")'),
}


def _version(runtime: str) -> str:
    return metadata.version("ai-edge-litert" if runtime == "tflite" else "executorch")


@pytest.fixture(scope="module")
def project(example_models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("android-runtimes")
    example_project_in(folder, example_models)
    return folder


def _build(project: Path, runtime: str) -> Path:
    pytest.importorskip(RUNTIMES[runtime][0], reason=f"runtime '{runtime}' needs pip install 'edgesdk[{runtime}]'")
    return api.build(project / "edgesdk.yaml", target="android", runtime=runtime, out=project / "dist" / runtime).bundle


@pytest.fixture(scope="module")
def tflite_bundle(project) -> Path:
    return _build(project, "tflite")


@pytest.fixture(scope="module")
def executorch_bundle(project) -> Path:
    return _build(project, "executorch")


@pytest.fixture(params=list(RUNTIMES))
def bundle(request) -> tuple[str, Path]:
    return request.param, request.getfixturevalue(f"{request.param}_bundle")


def test_bundle_has_the_runtime_adapter_and_its_gradle_dependency(bundle):
    runtime, path = bundle
    _module_file, adapter, dependency = RUNTIMES[runtime]
    version = _version(runtime)
    sdk = json.loads((path / "sdk.json").read_text())
    assert sdk["languages"] == ["kotlin"]
    module = path / "sdk" / "kotlin"
    runtime_dir = module / PKG / "runtime"
    assert (runtime_dir / adapter).is_file()
    assert not (runtime_dir / "OrtRuntime.kt").exists() and not list(module.rglob("_*"))  # fragments are not files
    assert "fun openRuntime(model: ByteBuffer, options: LoadOptions): Engine" in (runtime_dir / adapter).read_text()
    gradle = (module / "build.gradle.kts").read_text()
    assert dependency.format(version) in gradle and "onnxruntime" not in gradle
    assert f'noCompress += listOf("{sdk["model"]["file"].rsplit(".", 1)[1]}")' in gradle
    rules = (module / "consumer-rules.pro").read_text()
    assert ("org.tensorflow.lite" if runtime == "tflite" else "org.pytorch.executorch") in rules and "onnxruntime" not in rules
    readme = (module / "README.md").read_text()
    assert version in readme and "ONNX Runtime" not in readme
    model = path / "sample_app/app/src/main/kotlin/ai/edgesdk/sample/ModelViewModel.kt"
    assert "ai.edgesdk.stripes_classifier.StripesClassifier.load(app)" in model.read_text()


def test_tflite_pins_the_litert_release_of_the_parity_gate(tflite_bundle):
    path = tflite_bundle
    versions = json.loads((path / "sdk.json").read_text())["runtime_versions"]
    assert versions["android"] == versions["ai-edge-litert"] == metadata.version("ai-edge-litert")
    adapter = (path / "sdk/kotlin" / PKG / "runtime/TfliteRuntime.kt").read_text()
    assert f'const val BUILT_FOR: String = "{versions["android"]}"' in adapter
    assert 'const val SIGNATURE: String = "serving_default"' in adapter


def test_executorch_pins_its_exact_release_in_gradle_and_the_guard(executorch_bundle):
    path = executorch_bundle
    version = metadata.version("executorch")
    module = path / "sdk" / "kotlin"
    gradle = (module / "build.gradle.kts").read_text()
    assert f'val executorchVersion = "{version}"' in gradle
    assert "strictly(executorchVersion)" in gradle
    assert 'buildConfigField("String", "EXECUTORCH_VERSION", "\\"$executorchVersion\\"")' in gradle
    guard = (module / PKG / "runtime/ExecuTorchVersion.kt").read_text()
    assert f'const val REQUIRED: String = "{version}"' in guard
    adapter = (module / PKG / "runtime/ExecuTorchModuleRuntime.kt").read_text()
    # The check runs before the module is loaded.
    assert adapter.index("ExecuTorchVersion.check(BuildConfig.EXECUTORCH_VERSION)") < adapter.index("ExecuTorchModuleRuntime(model, options.threads)")


@pytest.mark.kotlin
def test_edgesdk_test_runs_the_core_on_the_host_and_says_the_android_layer_is_unchecked(bundle, capsys):
    need(hosttest_kotlin.toolchain_problem())
    runtime, path = bundle
    assert main(["test", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\d+ golden cases passed through the Kotlin SDK's core on the host JVM", out)
    aar = "LiteRT AAR" if runtime == "tflite" else "ExecuTorch AAR"
    assert f"Android layer: not compile-checked here (no {aar}" in out
    assert all(line.startswith("ok  ") for line in out.splitlines()[:-2])


@pytest.mark.kotlin
def test_executorch_version_guard_refuses_any_other_release(executorch_bundle, tmp_path):
    """The generated guard, compiled with the core's errors and run on the host JVM."""
    need(hosttest_kotlin.toolchain_problem())
    path = executorch_bundle
    version = metadata.version("executorch")
    pkg = path / "sdk/kotlin" / PKG
    probe = tmp_path / "Probe.kt"
    probe.write_text(
        "package ai.edgesdk.stripes_classifier.runtime\n\n"
        "fun main(args: Array<String>) {\n"
        "    for (found in args) {\n"
        '        try { ExecuTorchVersion.check(found); println("$found accepted") }\n'
        '        catch (e: ai.edgesdk.stripes_classifier.core.RuntimeMismatchException) { println("$found refused: ${e.message}") }\n'
        "    }\n"
        "}\n",
        encoding="utf-8",
    )
    jar = tmp_path / "guard.jar"
    hosttest_kotlin.compile_kotlin([pkg / "core/Errors.kt", pkg / "runtime/ExecuTorchVersion.kt", probe], jar)
    others = ["1.5.0", "1.6.0", f"{version}-rc1", f"{version}.1"]
    proc = subprocess.run(["java", "-cp", str(jar), "ai.edgesdk.stripes_classifier.runtime.ProbeKt", version, *others], capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{version} accepted"
    for found, line in zip(others, lines[1:]):
        assert line.startswith(f"{found} refused: the app links ExecuTorch {found}; model.pte was written by ExecuTorch {version}")
