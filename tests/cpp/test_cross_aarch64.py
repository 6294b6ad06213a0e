"""An ARM bundle cross-compiles from the bundle alone: the CMake toolchain file it carries
(sdk/cpp/cmake/aarch64-linux-gnu.cmake), Debian's aarch64 compiler and multiarch libraries, and an
aarch64 ONNX Runtime build the SDK and its sample app into an aarch64 executable linked against
aarch64 libraries only.

The golden vectors under qemu-aarch64 (`edgesdk test --device qemu-aarch64`) are
tests/cpp/test_qemu_aarch64.py; the board run is `edgesdk test --device ssh:HOST`.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import example_manifest_dict
from toolchains import need

from edgesdk import api
from edgesdk.backends import get_backend
from edgesdk.errors import BackendUnavailable

pytestmark = [pytest.mark.cpp, pytest.mark.slow]
EM_AARCH64 = 183
EM_X86_64 = 62


def _elf_machine(path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def cross_package():
    need(None if shutil.which("aarch64-linux-gnu-g++") else "aarch64-linux-gnu-g++ is not installed (make system-deps)")
    try:
        return get_backend("onnxruntime").cross_cpp_package("aarch64")
    except BackendUnavailable as exc:
        need(str(exc))


@pytest.fixture(scope="module")
def arm_bundle(example_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("arm")
    project = root / "project"
    shutil.copytree(example_models, project)
    (project / "edgesdk.yaml").write_text(yaml.safe_dump(example_manifest_dict()), encoding="utf-8")
    return api.build(project / "edgesdk.yaml", target="arm", runtime="onnxruntime", out=root / "dist").bundle


def test_the_arm_bundle_cross_compiles_to_aarch64(arm_bundle, cross_package, tmp_path):
    toolchain = arm_bundle / "sdk" / "cpp" / "cmake" / "aarch64-linux-gnu.cmake"
    assert toolchain.is_file(), "every ARM bundle carries its toolchain file"
    build = tmp_path / "build"
    for cmd in (
        ["cmake", "-S", str(arm_bundle / "sample_app"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_TOOLCHAIN_FILE={toolchain}", *cross_package.cmake_definitions],
        ["cmake", "--build", str(build), "-j", "2"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    binary = build / "edgesdk-run"
    assert _elf_machine(binary) == EM_AARCH64
    # Every library it links was found for aarch64: none of the build machine's leaked in.
    cache = (build / "CMakeCache.txt").read_text()
    assert "x86_64-linux-gnu" not in "\n".join(line for line in cache.splitlines() if line.split(":")[0].endswith(("_LIBRARY", "_LIBRARIES", "LIBRARY_RELEASE")))
    readelf = subprocess.run(["aarch64-linux-gnu-readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    # The SDK of an unencrypted model checks its SHA-256 itself: no libcrypto on the device.
    assert "libonnxruntime.so.1" in readelf and "libcrypto" not in readelf


def test_x86_bundles_carry_no_toolchain_file(example_models, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(example_models, project)
    (project / "edgesdk.yaml").write_text(yaml.safe_dump(example_manifest_dict()), encoding="utf-8")
    bundle = api.build(project / "edgesdk.yaml", target="x86", runtime="onnxruntime", out=tmp_path / "dist").bundle
    assert not (bundle / "sdk" / "cpp" / "cmake").exists()
