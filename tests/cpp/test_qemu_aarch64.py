"""`edgesdk test BUNDLE --device qemu-aarch64`: an ARM bundle's C++ SDK and sample app, cross-compiled
from the bundle alone (its toolchain file, the runtime's aarch64 package from `make native-deps`),
give the golden answers under qemu-aarch64: ncnn in float32, fp16 (which computes in fp16 there)
and int8, and ONNX Runtime. A wrong
golden vector fails the run, and a machine without qemu, the cross compiler or the aarch64 package
gets one clear refusal (exit 5) naming what is missing.

Each passing case cross-compiles the SDK (a minute or two on two cores; ccache under `make test`)
and runs the example's four golden images under qemu (seconds each).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import example_manifest_dict
from toolchains import need

from edgesdk import api, qemutest
from edgesdk.backends import availability, get_backend
from edgesdk.bundle import write_checksums
from edgesdk.cli import main
from edgesdk.errors import BackendUnavailable
from edgesdk.golden import SAMPLE_IMAGES_DIR

pytestmark = [pytest.mark.cpp, pytest.mark.slow]
EM_AARCH64 = 183  # ELF e_machine
OUTPUT = example_manifest_dict()["model"]["outputs"][0]["name"]


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


def _need_converter(runtime: str) -> None:
    ok, why = availability(runtime)
    if not ok:
        pytest.skip(f"runtime '{runtime}': {why}")


def _need_runtime(runtime: str) -> None:
    """The converter, the tools and the runtime's aarch64 package: a passing run needs them all."""
    _need_converter(runtime)
    need(qemutest.tools_problem())
    try:
        get_backend(runtime).cross_cpp_package(qemutest.ARCH)
    except BackendUnavailable as exc:
        need(str(exc))


@pytest.fixture(scope="module")
def project(example_models, tmp_path_factory) -> Path:
    """The example's models, its float manifest (edgesdk.yaml) and an int8 one calibrated on the
    sample images (int8.yaml)."""
    folder = tmp_path_factory.mktemp("qemu") / "project"
    shutil.copytree(example_models, folder)
    (folder / "edgesdk.yaml").write_text(yaml.safe_dump(example_manifest_dict()), encoding="utf-8")
    calib = folder / "calib"
    calib.mkdir()
    images = sorted(SAMPLE_IMAGES_DIR.glob("*.png"))
    for image in images:
        shutil.copyfile(image, calib / image.name)
    int8 = example_manifest_dict()
    int8["quantization"] = {"mode": "int8", "calibration": {"data": "calib", "samples": len(images), "method": "minmax"}}
    (folder / "int8.yaml").write_text(yaml.safe_dump(int8), encoding="utf-8")
    fp16 = example_manifest_dict()
    fp16["quantization"] = {"mode": "fp16"}
    (folder / "fp16.yaml").write_text(yaml.safe_dump(fp16), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def build(project):
    """build(manifest, runtime, target="arm") -> the bundle, built once per module."""
    bundles: dict[tuple[str, str, str], Path] = {}

    def build(manifest: str, runtime: str, target: str = "arm") -> Path:
        key = (manifest, runtime, target)
        if key not in bundles:
            bundles[key] = api.build(project / manifest, target=target, runtime=runtime, out=project.parent / f"dist-{target}-{runtime}-{Path(manifest).stem}").bundle
        return bundles[key]

    return build


def test_ncnn_float_passes_under_qemu_and_a_wrong_golden_vector_fails(build, tmp_path, capsys):
    _need_runtime("ncnn")
    bundle = tmp_path / "b"
    shutil.copytree(build("edgesdk.yaml", "ncnn"), bundle)
    build_dir = tmp_path / "build"
    assert main(["test", str(bundle), "--device", "qemu-aarch64", "--build-dir", str(build_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["device"] == "qemu-aarch64" and len(report["cases"]) == 4
    assert all(case["outputs_max_abs"][OUTPUT] <= 1e-4 for case in report["cases"])
    # What ran is the cross-compiled sample: an aarch64 program, built with the bundle's toolchain file.
    assert _elf_machine(build_dir / "edgesdk-run") == EM_AARCH64
    cache = (build_dir / "CMakeCache.txt").read_text().splitlines()
    assert [line.split("=", 1)[1] for line in cache if line.startswith("CMAKE_TOOLCHAIN_FILE:")] == [str((bundle / qemutest.TOOLCHAIN_FILE).resolve())]

    # A golden raw output off by 0.01 (checksums re-written, so only the comparison can see it).
    gdir = bundle / "tests" / "golden"
    case = json.loads((gdir / "index.json").read_text())["cases"][1]
    output = gdir / case["outputs"][OUTPUT]
    planted = np.load(output)
    planted[0, 3] += 0.01
    np.save(output, planted)
    write_checksums(bundle)
    assert main(["test", str(bundle), "--device", "qemu-aarch64", "--build-dir", str(build_dir)]) == 3
    assert f"{case['id']}: output {OUTPUT}: max_abs" in capsys.readouterr().err


@pytest.mark.parametrize(("runtime", "manifest"), [("ncnn", "int8.yaml"), ("onnxruntime", "edgesdk.yaml"), ("onnxruntime", "int8.yaml")])
def test_bundle_passes_its_golden_tests_under_qemu(build, runtime, manifest):
    _need_runtime(runtime)
    bundle = build(manifest, runtime)
    if manifest == "int8.yaml":
        assert json.loads((bundle / "sdk.json").read_text())["quantization"]["mode"] == "int8"
    report = api.test(bundle, device="qemu-aarch64")
    assert report["passed"] and len(report["cases"]) == 4, report


def test_ncnn_fp16_computes_in_fp16_under_qemu_within_the_recorded_tolerance(build):
    """qemu's default CPU (max) has ARMv8.2 fp16 arithmetic (asimdhp), which x86 lacks: the device
    answers differ from the x86 golden vectors by fp16 rounding, within the bundle's float16 golden
    tolerances (parity.GOLDEN_REDUCED_PRECISION), not the float32 ones."""
    _need_runtime("ncnn")
    bundle = build("fp16.yaml", "ncnn")
    assert json.loads((bundle / "sdk.json").read_text())["runtime_options"]["net_options"]["use_fp16_arithmetic"]
    tolerances = json.loads((bundle / "tests" / "golden" / "index.json").read_text())["tolerances"]
    report = api.test(bundle, device="qemu-aarch64")
    assert report["passed"] and len(report["cases"]) == 4, report
    worst = max(case["outputs_max_abs"][OUTPUT] for case in report["cases"])
    assert 1e-4 < worst <= tolerances["output_max_abs"]


def _path_with(tmp_path: Path, tools: list[str]) -> str:
    """A PATH holding only links to `tools` (those this machine has)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    return str(folder)


@pytest.mark.parametrize(("missing", "named"), [(qemutest.DEVICE, "qemu-user"), (qemutest.CROSS_COMPILER, "g++-aarch64-linux-gnu")])
def test_a_missing_tool_is_refused_by_name(build, tmp_path, monkeypatch, capsys, missing, named):
    _need_converter("ncnn")
    bundle = build("edgesdk.yaml", "ncnn")
    tools = [t for t in ("cmake", "c++", "g++", qemutest.DEVICE, qemutest.CROSS_COMPILER) if t != missing]
    monkeypatch.setenv("PATH", _path_with(tmp_path, tools))
    assert main(["test", str(bundle), "--device", "qemu-aarch64"]) == 5
    err = capsys.readouterr().err
    assert f"'{missing}' is not on PATH" in err and named in err


def test_a_missing_aarch64_package_is_refused_with_how_to_get_it(build, tmp_path, monkeypatch, capsys):
    _need_converter("ncnn")
    bundle = build("edgesdk.yaml", "ncnn")
    monkeypatch.setenv("EDGESDK_CACHE", str(tmp_path / "empty-cache"))
    assert main(["test", str(bundle), "--device", "qemu-aarch64"]) == 5
    err = capsys.readouterr().err
    assert "ncnn-" in err and "linux-aarch64" in err and "make native-deps" in err


def test_an_x86_bundle_is_refused(build, capsys):
    _need_converter("onnxruntime")
    bundle = build("edgesdk.yaml", "onnxruntime", target="x86")
    assert main(["test", str(bundle), "--device", "qemu-aarch64"]) == 2
    assert "--target arm" in capsys.readouterr().err
