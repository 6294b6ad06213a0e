"""The Swift package of an iOS bundle on ONNX Runtime, built and tested with a real Swift compiler
(natively or in the Debian chroot): `swift test` passes on the bundle's golden vectors, and fails
when one golden value is wrong. The package is built once for the module; each test reuses the build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import example_project_in
from toolchains import need

from edgesdk import api, golden, hosttest_swift
from edgesdk.errors import ToolchainError

pytestmark = pytest.mark.swift

MODULE = "StripesClassifierSDK"


@pytest.fixture(scope="module")
def toolchain() -> None:
    need(hosttest_swift.toolchain_problem())


@pytest.fixture(scope="module")
def bundle(example_models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ios-swift")
    return api.build(example_project_in(folder, example_models), target="ios", runtime="onnxruntime", out=folder / "dist").bundle


@pytest.fixture(scope="module")
def package(toolchain, bundle, tmp_path_factory) -> tuple[hosttest_swift.Swift, Path]:
    """A copy of sdk/swift (the bundle stays as its checksums say), built with its tests."""
    work = tmp_path_factory.mktemp("swift-work")
    copy = work / "sdk" / "swift"
    shutil.copytree(bundle / hosttest_swift.SDK_DIR, copy)
    swift = hosttest_swift.Swift(work)
    swift.run(["swift", "build", "--build-tests", "--package-path", swift.path(copy)], "swift build --build-tests")
    return swift, copy


def _swift_test(package, golden_dir: Path):
    swift, copy = package
    return swift.run(["swift", "test", "--skip-build", "--package-path", swift.path(copy)], "swift test", env={"EDGESDK_GOLDEN_DIR": swift.path(golden_dir)})


def _golden_copy(bundle: Path, package, name: str) -> Path:
    _swift, copy = package
    target = copy.parent.parent / name
    shutil.copytree(bundle / golden.GOLDEN_DIR, target)
    return target


def test_the_bundle_holds_the_swift_package_and_the_onnx_runtime_adapter(bundle):
    sdk = json.loads((bundle / "sdk.json").read_text())
    assert sdk["languages"] == ["swift", "cpp"]
    package = bundle / "sdk" / "swift"
    manifest = (package / "Package.swift").read_text()
    # The runtime's package is declared on Apple platforms only: Linux never resolves it.
    darwin = manifest.split("#if canImport(Darwin)")[1].split("#endif")[0]
    assert f'.package(url: "https://github.com/microsoft/onnxruntime-swift-package-manager", exact: "{sdk["runtime_versions"]["cpp"]}")' in darwin
    assert '.product(name: "onnxruntime", package: "onnxruntime-swift-package-manager")' in darwin
    adapter = (package / "Sources" / MODULE / "Runtime" / "OrtRuntime.swift").read_text()
    # The one entry point, defined on both sides of the runtime's #if.
    assert adapter.count("func makeInferenceRuntime(model: ModelSource, options: LoadOptions) throws -> InferenceRuntime") == 2
    assert "ORTVersion()" in adapter and "appendCoreMLExecutionProvider(withOptionsV2:" in adapter
    assert not list(package.rglob("_*"))  # fragments are not files
    facade = (package / "Sources" / MODULE / "StripesClassifier.swift").read_text()
    assert "public actor StripesClassifier" in facade and "func classify(_ image: CGImage, orientation: StripesClassifierSDKCore.Orientation = .upright)" in facade
    assert "ONNX Runtime's Swift package" in (package / "README.md").read_text()


def test_swift_test_passes_on_the_golden_vectors(bundle, package):
    proc = _swift_test(package, _golden_copy(bundle, package, "golden-ok"))
    out = proc.stdout + proc.stderr
    assert "GoldenTests.testPreprocessedTensorsMatchGolden' passed" in out
    assert "GoldenTests.testResultsFromGoldenOutputsMatchGolden' passed" in out
    assert " 0 failures" in hosttest_swift._summary(out)
    # On Linux the runtime tests skip, saying why.
    assert "RuntimeTests.testGoldenCasesEndToEnd' skipped" in out or "RuntimeTests.testGoldenCasesEndToEnd' passed" in out


def test_swift_test_fails_on_a_wrong_golden_value(bundle, package):
    bad = _golden_copy(bundle, package, "golden-bad")
    case = golden.load_index(bundle)["cases"][1]
    path = bad / case["preprocessed"]
    values = np.load(path)
    values.flat[values.size // 3] += 0.01
    np.save(path, values)
    with pytest.raises(ToolchainError, match=rf"{case['id']}: preprocessed max_abs 0\.0[0-9]+ > 1e-05"):
        _swift_test(package, bad)


def test_every_swift_file_parses_the_apple_layer_included(toolchain, bundle, tmp_path):
    """The Apple layer (CVPixelBuffer NV12/BGRA, UIImage and CGImagePropertyOrientation mappings)
    and the sample app compile away on Linux: `swiftc -parse` still reads every branch of their
    `#if canImport(...)`, so a syntax error there fails here."""
    work = tmp_path / "parse"
    for folder in ("sdk/swift", "sample_app"):
        shutil.copytree(bundle / folder, work / folder)
    files = sorted(work.rglob("*.swift"))
    assert any(f.name == "ImageConversion.swift" for f in files) and any(f.name == "Camera.swift" for f in files)
    swift = hosttest_swift.Swift(work)
    script = "".join(f"swiftc -parse {swift.path(f)} || echo 'FAILED {f.relative_to(work)}'; " for f in files)
    proc = swift.run(["bash", "-c", script], "swiftc -parse")
    assert "FAILED" not in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
