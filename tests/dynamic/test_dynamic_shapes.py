"""Dynamic input shapes end to end (docs/processing.md, "Model input shape"): manifests with
symbolic dims, the runtimes that keep them dynamic (ONNX Runtime, OpenVINO, ncnn) from torch and
ONNX sources, golden vectors of several sizes through the compiled C++ and the Kotlin core, one
C++ session running several sizes without a reload, and the clear errors: a concrete dim against a
varying pipeline, bounds, runtimes that take a fixed shape, an image outside the bounds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dynamic_models as dm
import numpy as np
import pytest
from toolchains import need

from edgesdk import api, hosttest, hosttest_kotlin, shapes
from edgesdk.cli import main
from edgesdk.manifest import TensorSpec, json_schema, load_manifest

pytest.importorskip("onnxruntime", reason="pip install 'edgesdk[onnx]'")

SESSION_CHECK = Path(__file__).with_name("session_check.cpp")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dynamic")
    dm.write_module(folder)
    dm.export_onnx(folder, "fully_conv", "seg.onnx")
    dm.export_onnx(folder, "pool_net", "pool.onnx")
    return folder


def _validate(folder: Path, data: dict, capsys, *extra: str) -> tuple[int, str]:
    path = dm.write_manifest(folder, data, "check.yaml")
    capsys.readouterr()
    code = main(["validate", "-c", str(path), *extra])
    return code, capsys.readouterr().err.strip()


# ---- the manifest --------------------------------------------------------------------------
def test_symbolic_dims_validate_and_the_schema_describes_them(project, capsys):
    assert _validate(project, dm.classifier(), capsys, "--target", "x86")[0] == 0
    anonymous = dm.classifier(shape=[1, 3, -1, -1], dynamic=None)
    assert _validate(project, anonymous, capsys, "--target", "x86")[0] == 0
    # A fixed pipeline fits symbolic dims too.
    fixed = dm.classifier(steps=[{"resize": {"size": [40, 56]}}, {"layout": "nchw"}])
    assert _validate(project, fixed, capsys, "--target", "x86")[0] == 0
    schema = json.dumps(json_schema())
    assert "DimBounds" in schema and "a name such as height, or -1" in schema


BAD = {
    "concrete dim against a varying pipeline": (
        {"shape": [1, 3, 48, "width"], "dynamic": {"width": {"max": 128}}},
        ["model.inputs[0].shape[2]", "48 is a fixed height", "varies per image", "[1, 3, 'varies', 'varies']", "declare the dim symbolic"],
    ),
    "no resize at all": (
        {"shape": [1, 3, 224, 224], "steps": [{"normalize": {"scale": 0.5}}, {"layout": "nchw"}], "dynamic": None},
        ["model.inputs[0].shape[2]", "224 is a fixed height", "varies per image", "end the steps with a fixed-size step"],
    ),
    "bounds naming no dim": ({"dynamic": {"depth": {"max": 9}}}, ["model.inputs[0]", "dynamic.depth names no dim", "allowed: height, width"]),
    "min above max": ({"dynamic": {"height": {"min": 64, "max": 32}}}, ["model.inputs[0].dynamic.height", "min 64 is larger than max 32"]),
    "zero dim": ({"shape": [1, 3, 0, "width"]}, ["model.inputs[0]", "shape[2] is 0", "a positive integer, -1, or a name such as height"]),
    "a name used twice": ({"shape": [1, 3, "side", "side"], "dynamic": None}, ["model.inputs[0]", "names a symbolic dim twice"]),
    "fixed pipeline outside the bounds": (
        {"steps": [{"resize": {"size": [200, 56]}}, {"layout": "nchw"}]},
        ["model.inputs[0].dynamic.height", "16..128 leaves out 200"],
    ),
    "rank": ({"shape": [3, "height", "width"], "dynamic": None}, ["model.inputs[0].shape", "has rank 3", "has rank 4"]),
}


@pytest.mark.parametrize("case", BAD, ids=BAD)
def test_bad_dynamic_manifest_is_one_clear_line(case, project, capsys):
    changes, expected = BAD[case]
    code, err = _validate(project, dm.classifier(**changes), capsys, "--target", "x86")
    assert code == 2, err
    assert len(err.splitlines()) == 1
    for fragment in expected:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize(("target", "runtime"), [("android", "tflite"), ("android", "executorch"), ("ios", "coreml"), ("arm", "mnn")])
def test_runtimes_with_a_fixed_input_shape_refuse_symbolic_dims_by_name(target, runtime, project, capsys):
    from edgesdk.backends import availability

    if not availability(runtime)[0]:
        pytest.skip(f"{runtime} is not installed here")
    code, err = _validate(project, dm.classifier(), capsys, "--target", target, "--runtime", runtime)
    assert code == 2
    assert f"runtime '{runtime}'" in err and "takes a fixed input shape only" in err and "onnxruntime, openvino, ncnn" in err and "height, width" in err


def test_targets_says_which_runtimes_take_symbolic_dims(capsys):
    assert main(["targets", "--json"]) == 0
    rows = {(r["target"], r["runtime"]): r["dynamic_shapes"] for r in json.loads(capsys.readouterr().out)}
    assert rows["x86", "onnxruntime"].startswith("yes: ") and rows["x86", "openvino"].startswith("yes: ")
    assert rows["android", "onnxruntime"].startswith("yes: ")
    assert rows["android", "tflite"].startswith("no: fixed input shape only")


def test_a_tensor_fits_a_declared_shape_by_its_concrete_dims_and_bounds():
    spec = TensorSpec(name="image", shape=[1, 3, "height", -1], dynamic={"height": {"min": 16, "max": 128}})
    assert shapes.fit_problem(spec, (1, 3, 16, 5000)) is None
    assert "dim 1 of the tensor [1, 4, 20, 20] is 4" in shapes.fit_problem(spec, (1, 4, 20, 20))
    assert "'height' = 129 in the tensor [1, 3, 129, 20] is outside 16..128" in shapes.fit_problem(spec, (1, 3, 129, 20))
    assert "has rank 3" in shapes.fit_problem(spec, (3, 20, 20))
    assert shapes.template_dims(spec)[3] == {"axis": 3, "size": -1, "name": "dim3", "min": 1, "max": 0}


# ---- builds ----------------------------------------------------------------------------------
def _build(folder: Path, data: dict, target: str, runtime: str):
    return api.build(dm.write_manifest(folder, data), target=target, runtime=runtime, out=folder / "dist", force=True)


def _golden_shapes(bundle: Path) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    gdir = bundle / "tests" / "golden"
    index = json.loads((gdir / "index.json").read_text())
    return [(np.load(gdir / f"{c['id']}.preprocessed.npy").shape, np.load(gdir / next(iter(c["outputs"].values()))).shape) for c in index["cases"]]


@pytest.fixture(scope="module")
def ort_torch_classifier(project):
    return _build(project, dm.classifier("dyn-pool-ort"), "x86", "onnxruntime").bundle


@pytest.fixture(scope="module")
def ov_onnx_segmenter(project):
    pytest.importorskip("openvino", reason="pip install 'edgesdk[openvino]'")
    return _build(project, dm.segmenter("dyn-seg-ov", source="seg.onnx"), "x86", "openvino").bundle


@pytest.fixture(scope="module")
def ncnn_torch_segmenter(project):
    from edgesdk.backends import availability

    if not availability("ncnn")[0]:
        pytest.skip("ncnn is not installed here")
    return _build(project, dm.segmenter("dyn-seg-ncnn"), "arm", "ncnn").bundle


def test_torch_source_exports_symbolic_dims_and_golden_vectors_cover_several_sizes(ort_torch_classifier):
    import onnx

    bundle = ort_torch_classifier
    graph = onnx.load(str(bundle / "model" / "model.onnx")).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in dims] == [1, 3, "height", "width"]
    sizes = {pre[2:] for pre, _ in _golden_shapes(bundle)}
    assert len(sizes) >= 3, sizes  # square, wide and tall photos through the keep-ratio resize
    sdk = json.loads((bundle / "sdk.json").read_text())
    assert sdk["io"]["inputs"][0]["shape"] == [1, 3, "height", "width"]
    assert sdk["io"]["inputs"][0]["dynamic"] == dm.BOUNDS
    assert sdk["parity"]["passed"] and sdk["parity"]["samples"] >= 12


def test_onnx_source_keeps_the_ir_dynamic_and_outputs_follow_the_input(ov_onnx_segmenter):
    import openvino as ov

    bundle = ov_onnx_segmenter
    model = ov.Core().read_model(str(bundle / "model" / "model.xml"))
    assert str(model.inputs[0].get_partial_shape()) == "[1,3,16..128,16..128]"
    for pre, out in _golden_shapes(bundle):
        assert out == (1, 3, *pre[2:])
    assert len({pre for pre, _ in _golden_shapes(bundle)}) >= 3


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_golden_image_outside_the_bounds_stops_the_build(runtime, project, capsys):
    if runtime == "openvino":
        pytest.importorskip("openvino")
    tight = dm.classifier("dyn-tight", dynamic={"height": {"min": 16, "max": 64}, "width": {"min": 16, "max": 64}})
    path = dm.write_manifest(project, tight)
    capsys.readouterr()
    assert main(["build", "-c", str(path), "--target", "x86", "--runtime", runtime, "--out", str(project / "tight")]) == 2
    err = capsys.readouterr().err
    assert "model.inputs[0].dynamic" in err and "is outside 16..64" in err and "golden or parity image" in err
    assert not any((project / "tight").glob("dyn-tight-*-x86-*/sdk.json"))


def test_a_torchscript_source_is_refused_for_openvino_with_what_works(project, capsys):
    pytest.importorskip("openvino")
    import torch

    torch.jit.script(dm.factory(project, "pool_net")).save(str(project / "pool.pt"))
    path = dm.write_manifest(project, dm.classifier("dyn-ts", source="pool.pt"))
    capsys.readouterr()
    assert main(["build", "-c", str(path), "--target", "x86", "--runtime", "openvino", "--out", str(project / "ts")]) == 2
    err = capsys.readouterr().err
    assert "TorchScript" in err and ".pt2 (torch.export), python:module:factory or .onnx" in err


def test_an_onnx_dim_fixed_in_the_model_cannot_be_declared_symbolic(project, capsys):
    import torch

    model = dm.factory(project, "pool_net")
    torch.onnx.export(model, (torch.zeros(1, 3, 48, 48),), str(project / "fixed.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=["out"], verbose=False)
    path = dm.write_manifest(project, dm.classifier("dyn-fixed", source="fixed.onnx"))
    capsys.readouterr()
    assert main(["build", "-c", str(path), "--target", "x86", "--runtime", "onnxruntime", "--out", str(project / "fixed")]) == 2
    err = capsys.readouterr().err
    assert "model.inputs[0].shape" in err and "the model's is fixed at 48" in err


# ---- the generated glue ----------------------------------------------------------------------
def _session_binary(bundle: Path, build: Path) -> Path:
    """session_check.cpp built against the bundle's SDK (the sample app's CMake setup)."""
    sdk = json.loads((bundle / "sdk.json").read_text())
    snake = sdk["name"].replace("-", "_")
    build.mkdir(parents=True, exist_ok=True)
    (build / "src").mkdir(exist_ok=True)
    (build / "src" / "main.cpp").write_text(SESSION_CHECK.read_text(encoding="utf-8"), encoding="utf-8")
    (build / "src" / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(session_check LANGUAGES CXX)\n"
        f'add_subdirectory("{bundle / "sdk" / "cpp"}" "${{CMAKE_CURRENT_BINARY_DIR}}/sdk")\n'
        "add_executable(session_check main.cpp)\ntarget_compile_features(session_check PRIVATE cxx_std_17)\n"
        f'target_compile_definitions(session_check PRIVATE "SDK_HEADER=\\"{snake}/{snake}.hpp\\"" SDK_NAMESPACE=edgesdk::{snake})\n'
        f"target_link_libraries(session_check PRIVATE {snake}_sdk)\n",
        encoding="utf-8",
    )
    package = hosttest.cpp_package(sdk["runtime"])
    for cmd in (["cmake", "-S", str(build / "src"), "-B", str(build / "out"), "-DCMAKE_BUILD_TYPE=Release", *package.cmake_definitions], ["cmake", "--build", str(build / "out"), "-j2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return build / "out" / "session_check"


def _session_cases(bundle: Path, work: Path) -> tuple[list[str], list[tuple[int, ...]]]:
    """Golden images in the order wide, tall, square, wide again (a size comes back after others),
    then a 400x20 strip whose keep-ratio size (48 x 960) is outside the bounds."""
    gdir = bundle / "tests" / "golden"
    index = json.loads((gdir / "index.json").read_text())
    by_id = {c["id"]: c for c in index["cases"]}
    cases, want = [], []
    for case_id in ("chelsea", "rocket", "astronaut", "chelsea"):
        c = by_id[case_id]
        rgb = np.load(gdir / c["input"])
        raw, expected = work / f"{case_id}.rgb", work / f"{case_id}.f32"
        raw.write_bytes(np.ascontiguousarray(rgb).tobytes())
        out = np.load(gdir / next(iter(c["outputs"].values())))
        expected.write_bytes(out.astype(np.float32).tobytes())
        cases.append(f"{raw}:{rgb.shape[1]}:{rgb.shape[0]}:{expected}")
        want.append(out.shape)
    strip = work / "strip.rgb"
    strip.write_bytes(np.full((20, 400, 3), 90, np.uint8).tobytes())
    cases.append(f"{strip}:400:20:-")
    return cases, want


def _check_session(bundle: Path, tmp_path: Path) -> None:
    from edgesdk.errors import BackendUnavailable

    need(hosttest.toolchain_problem())
    try:
        hosttest.cpp_package(json.loads((bundle / "sdk.json").read_text())["runtime"])
    except BackendUnavailable as exc:
        need(str(exc))
    binary = _session_binary(bundle, tmp_path / "session")
    cases, want = _session_cases(bundle, tmp_path)
    env = hosttest.cpp_package(json.loads((bundle / "sdk.json").read_text())["runtime"]).run_env()
    model = bundle / json.loads((bundle / "sdk.json").read_text())["model"]["file"]
    proc = subprocess.run([str(binary), str(model), *cases], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 5, proc.stdout
    for line in lines:  # preprocess_into and run() (kept tensors, resized per size) agree with preprocess + infer
        assert line.split()[1:3] == ["into=same", "run=same"], line
    for line, shape in zip(lines, want):
        assert f"shape={'x'.join(map(str, shape))} " in line, (line, shape)
        assert float(line.rsplit("max_abs=", 1)[1]) <= 1e-4, line
    assert lines[4].startswith("4 into=same run=same error=invalid_input "), lines[4]
    assert "dim 'width' = 960 is outside the model's 16..128" in lines[4]


@pytest.mark.cpp
def test_cpp_sdk_passes_its_golden_vectors_of_several_sizes_on_onnxruntime(ort_torch_classifier):
    need(hosttest.toolchain_problem())
    report = hosttest.test_bundle(ort_torch_classifier)
    assert report.passed and len(report.cases) == 4, report.as_dict()


@pytest.mark.cpp
def test_cpp_sdk_passes_its_golden_vectors_of_several_sizes_on_openvino(ov_onnx_segmenter):
    need(hosttest.toolchain_problem())
    report = hosttest.test_bundle(ov_onnx_segmenter)
    assert report.passed and len(report.cases) == 4, report.as_dict()


@pytest.mark.cpp
@pytest.mark.parametrize("bundle", ["ort_torch_classifier", "ov_onnx_segmenter", "ncnn_torch_segmenter"])
def test_one_cpp_session_runs_several_sizes_and_refuses_one_outside_the_bounds(bundle, request, tmp_path):
    _check_session(request.getfixturevalue(bundle), tmp_path)


@pytest.mark.cpp
def test_ncnn_runs_a_torch_source_at_every_golden_size(ncnn_torch_segmenter):
    from edgesdk.backends.ncnn import package_root

    bundle = ncnn_torch_segmenter
    assert json.loads((bundle / "sdk.json").read_text())["parity"]["passed"]
    for pre, out in _golden_shapes(bundle):
        assert out == (1, 3, *pre[2:])
    need(hosttest.toolchain_problem() or (None if (package_root() / ".ok").is_file() else f"no ncnn C++ library at {package_root()} (make native-deps)"))
    report = hosttest.test_bundle(bundle)
    assert report.passed and len(report.cases) == 4, report.as_dict()


@pytest.mark.kotlin
def test_android_onnxruntime_kotlin_core_passes_golden_vectors_of_several_sizes_and_refuses_out_of_bounds(project, tmp_path):
    need(hosttest_kotlin.toolchain_problem())
    bundle = _build(project, dm.segmenter("dyn-seg-android", source="seg.onnx"), "android", "onnxruntime").bundle
    assert len({pre for pre, _ in _golden_shapes(bundle)}) >= 3
    report, timings = hosttest_kotlin.test_bundle(bundle, tmp_path / "kt")
    assert report.passed and len(report.cases) == 4, report.as_dict()
    assert "compile-checked" in timings["android_layer"] or "not compile-checked" in timings["android_layer"]
    package = hosttest_kotlin.package_of("dyn-seg-android")
    check = tmp_path / "BoundsCheck.kt"
    check.write_text(
        f"package {package}.check\n\nimport {package}.core.*\n\n"
        "fun main() {\n"
        "    val ok = Pipeline.preprocess(PixelImage.fromArgb(IntArray(60 * 30), 60, 30))\n"
        '    println("ok: ${ok.tensor.shape.contentToString()}")\n'
        "    try {\n"
        "        Pipeline.preprocess(PixelImage.fromArgb(IntArray(400 * 20), 400, 20))\n"
        '        println("strip: accepted")\n'
        "    } catch (e: InvalidInputException) {\n"
        '        println("strip: ${e.message}")\n'
        "    }\n"
        "}\n",
        encoding="utf-8",
    )
    jar = tmp_path / "check.jar"
    hosttest_kotlin.compile_kotlin([*hosttest_kotlin.core_sources(bundle / "sdk" / "kotlin"), check], jar)
    proc = subprocess.run(["java", "-cp", str(jar), f"{package}.check.BoundsCheckKt"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "ok: [1, 3, 48, 96]",
        "strip: the image gives model input 'image' [1, 3, 48, 960]: dim 'width' = 960 is outside the model's 16..128",
    ]


def test_init_writes_the_models_own_symbols(project, capsys, tmp_path):
    import shutil

    shutil.copy(project / "seg.onnx", tmp_path / "seg.onnx")
    assert main(["init", str(tmp_path / "seg.onnx"), "--task", "segmentation"]) == 0
    manifest = load_manifest(tmp_path / "edgesdk.yaml")
    assert manifest.model.inputs[0].shape == [1, 3, "height", "width"]


@pytest.mark.swift
def test_ios_onnxruntime_swift_core_passes_golden_vectors_of_several_sizes(project, tmp_path):
    from edgesdk import hosttest_swift

    need(hosttest_swift.toolchain_problem())
    bundle = _build(project, dm.segmenter("dyn-seg-ios"), "ios", "onnxruntime").bundle
    assert len({pre for pre, _ in _golden_shapes(bundle)}) >= 3
    swift_sources = "\n".join(p.read_text(encoding="utf-8") for p in (bundle / "sdk" / "swift").rglob("Pipeline.swift"))
    assert 'try checkDynamicDim(tensor, axis: 2, name: "height", low: 16, high: 128)' in swift_sources
    report, timings = hosttest_swift.test_bundle(bundle, tmp_path / "swift")
    assert report.passed and len(report.cases) == 4, report.as_dict()
    assert "failed" not in timings["swift_test"], timings


DETECTOR_INPUT = [{"resize": {"shorter_side": 64, "multiple_of": 32}}, {"normalize": {"mean": [127.5] * 3, "std": [63.75] * 3}}, {"layout": "nchw"}]


@pytest.mark.cpp
def test_shorter_side_with_multiple_of_32_builds_dynamic_and_passes_in_cpp(project):
    """The issue's detector-input family: the shorter side to 64, each side a multiple of 32, a
    fully convolutional model whose output follows; the sizes differ per photo."""
    bundle = _build(project, dm.segmenter("dyn-seg-m32", steps=DETECTOR_INPUT, dynamic=None), "x86", "onnxruntime").bundle
    sizes = {pre[2:] for pre, _ in _golden_shapes(bundle)}
    assert len(sizes) >= 2 and all(h % 32 == 0 and w % 32 == 0 for h, w in sizes), sizes
    for pre, out in _golden_shapes(bundle):
        assert out == (1, 3, *pre[2:])
    need(hosttest.toolchain_problem())
    report = hosttest.test_bundle(bundle)
    assert report.passed and len(report.cases) == 4, report.as_dict()
