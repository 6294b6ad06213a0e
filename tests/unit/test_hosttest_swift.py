"""The Swift host test's plumbing that runs without Swift: where the chroot is, how xcodebuild is
called for --device macos / simulator:NAME, and the golden runner's package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgesdk import hosttest_swift
from edgesdk.errors import BackendUnavailable, InputError


def _bundle(tmp_path: Path, name: str = "tiny-classifier") -> Path:
    bundle = tmp_path / "b"
    (bundle / "sdk" / "swift").mkdir(parents=True)
    (bundle / "sdk.json").write_text(json.dumps({"name": name}), encoding="utf-8")
    return bundle


def test_chroot_is_keyed_by_its_setup_script(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGESDK_SWIFT_CHROOT", raising=False)
    monkeypatch.setenv("EDGESDK_CACHE", str(tmp_path))
    import hashlib

    key = hashlib.sha256(hosttest_swift.SETUP_SCRIPT.read_bytes()).hexdigest()[:12]
    assert hosttest_swift.chroot_dir() == tmp_path / f"swift-chroot-{key}"
    monkeypatch.setenv("EDGESDK_SWIFT_CHROOT", "/elsewhere")
    assert hosttest_swift.chroot_dir() == Path("/elsewhere")


def test_a_missing_toolchain_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setattr(hosttest_swift.shutil, "which", lambda tool: None)
    monkeypatch.setenv("EDGESDK_SWIFT_CHROOT", str(tmp_path / "none"))
    problem = hosttest_swift.toolchain_problem()
    assert problem is not None and "make native-deps" in problem and str(tmp_path / "none") in problem
    with pytest.raises(BackendUnavailable, match="make native-deps"):
        hosttest_swift.Swift(tmp_path)


@pytest.mark.parametrize(
    ("device", "destination"),
    [("macos", "platform=macOS"), ("simulator:iPhone 16", "platform=iOS Simulator,name=iPhone 16")],
)
def test_xcodebuild_destinations(device, destination):
    assert hosttest_swift.xcode_destination(device) == destination


@pytest.mark.parametrize("device", ["simulator:", "simulator: ", "ios", "adb:emulator-5554", "mac"])
def test_bad_xcode_devices_are_input_errors(device):
    with pytest.raises(InputError, match="macos' or 'simulator:NAME'"):
        hosttest_swift.xcode_destination(device)


def test_xcode_commands_test_the_package_scheme_with_the_golden_folder(tmp_path):
    bundle = _bundle(tmp_path)
    work = tmp_path / "work"
    commands, env = hosttest_swift.xcode_test_commands(bundle, "simulator:iPhone 16", work)
    (version, _), (test, cwd) = commands
    assert version == ["xcodebuild", "-version"]
    assert test[:4] == ["xcodebuild", "test", "-scheme", "TinyClassifierSDK-Package"]
    assert test[test.index("-destination") + 1] == "platform=iOS Simulator,name=iPhone 16"
    assert cwd == work / "sdk" / "swift"
    # xcodebuild passes TEST_RUNNER_X to the test process as X.
    assert env["TEST_RUNNER_EDGESDK_GOLDEN_DIR"] == str(work / "tests" / "golden")


def test_xcode_without_xcodebuild_is_unavailable_not_a_failure(monkeypatch, tmp_path):
    monkeypatch.setattr(hosttest_swift.shutil, "which", lambda tool: None)
    with pytest.raises(BackendUnavailable, match="Mac with Xcode"):
        hosttest_swift.test_on_xcode(_bundle(tmp_path), "macos")


def test_the_golden_runner_is_added_to_a_copy_of_the_package(tmp_path):
    package = tmp_path / "sdk" / "swift"
    package.mkdir(parents=True)
    (package / "Package.swift").write_text('let package = Package(name: "TinyClassifierSDK")\n', encoding="utf-8")
    name = hosttest_swift.add_host_program(package, "TinyClassifierSDK")
    manifest = (package / "Package.swift").read_text(encoding="utf-8")
    assert manifest.startswith("let package = Package(")  # the package's own manifest, then the addition
    assert f'.executableTarget(name: "{name}", dependencies: [.target(name: "TinyClassifierSDKCore")], path: "EdgesdkHost/{name}")' in manifest
    main = (package / "EdgesdkHost" / name / "main.swift").read_text(encoding="utf-8")
    assert main.startswith("import TinyClassifierSDKCore\n")
    assert main.endswith(hosttest_swift.RUNNER_SOURCE.read_text(encoding="utf-8"))
