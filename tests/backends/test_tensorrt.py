"""The jetson target's TensorRT bundles, built on this host where no TensorRT runs: the ONNX model
(validated, not predicted: no parity is claimed), the engine builder, trtexec script, runtime adapter
and CMake project for JetPack 6, and the int8 calibration cache edgesdk computes in TensorRT's own
format with TensorRT's entropy method, held to the format, to the graph, to hand-checked values and
to ONNX Runtime's entropy calibrator on the same activations.

The generated C++ that includes TensorRT headers cannot be compiled in these tests (no TensorRT
headers on any registry reached here); everything else of the C++ SDK is compiled with the host
compiler."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import example_manifest_dict

from edgesdk.backends import availability, get_backend
from edgesdk.cli import main
from edgesdk.golden import SAMPLE_IMAGES_DIR
from edgesdk.quantize import tensorrt_calibration as tc

pytestmark = pytest.mark.tensorrt

ok, why = availability("tensorrt")
if not ok:
    pytest.skip(why, allow_module_level=True)

from edgesdk.backends import tensorrt  # noqa: E402

BUNDLE = "stripes-classifier-1.0.0-jetson-tensorrt"
CALIBRATION = {"data": "calib/", "samples": 4, "method": "entropy"}
QUANTIZATION = {"fp32": None, "fp16": {"mode": "fp16"}, "int8": {"mode": "int8", "calibration": CALIBRATION}}


def _project(example_models: Path, folder: Path, quantization: dict | None = None, **changes) -> Path:
    shutil.copytree(example_models, folder)
    shutil.copytree(SAMPLE_IMAGES_DIR, folder / "calib", ignore=shutil.ignore_patterns("*.md"))
    data = example_manifest_dict()
    data["target"] = "jetson"
    if quantization is not None:
        data["quantization"] = quantization
    data.update(changes)
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", params=list(QUANTIZATION))
def bundle(request, example_models, tmp_path_factory) -> tuple[str, Path]:
    manifest = _project(example_models, tmp_path_factory.mktemp("jetson") / "project", QUANTIZATION[request.param])
    dist = tmp_path_factory.mktemp("dist")
    code, _, err = _cli("build", "-c", str(manifest), "--out", str(dist))
    assert code == 0, err
    return request.param, dist / BUNDLE


def _sdk(folder: Path) -> dict:
    return json.loads((folder / "sdk.json").read_text())


# ---- the bundle -------------------------------------------------------------------------------
def test_the_bundle_carries_the_onnx_model_and_the_device_build(bundle):
    precision, folder = bundle
    sdk = _sdk(folder)
    runtime = folder / "sdk" / "cpp" / "src" / "runtime"
    for name in ("tensorrt_runtime.cpp", "tensorrt_engine.hpp", "tensorrt_engine.cpp", "build_engine.cpp", "build_engine_trtexec.sh", "find_runtime.cmake", "runtime.cmake"):
        assert (runtime / name).is_file(), name
    assert (folder / "sdk" / "cpp" / "CMakeLists.txt").is_file() and (folder / "model" / "model.onnx").is_file()
    assert (sdk["target"], sdk["runtime"], sdk["model"]["file"]) == ("jetson", "tensorrt", "model/model.onnx")
    assert sdk["runtime_versions"]["cpp"] == "10.3.0" and sdk["runtime_versions"]["onnx_opset"] == "18"
    options = sdk["runtime_options"]
    assert options["precision"] == precision
    assert options["builder_flags"] == {"fp32": [], "fp16": ["kFP16"], "int8": ["kINT8"]}[precision]
    assert options["tf32"] is (precision != "fp32")
    # Golden outputs are the float32 reference's: a reduced-precision engine is held by the gate's bar.
    tolerances = json.loads((folder / "tests" / "golden" / "index.json").read_text())["tolerances"]
    assert tolerances.get("device_output_cosine_min") == {"fp32": None, "fp16": 0.999, "int8": 0.99}[precision]
    assert options["engine_file"] == f"stripes-classifier-{sdk['model']['sha256'][:16]}-{precision}.engine"
    companions = sdk["model"].get("companions", [])
    if precision == "int8":
        assert [c["file"] for c in companions] == ["model/calibration.cache"] and options["calibration_cache"] == "model/calibration.cache"
    else:
        assert companions == [] and not (folder / "model" / "calibration.cache").exists()
    # The engine is built on the device: the README of the SDK says so, and how.
    readme = (folder / "sdk" / "cpp" / "README.md").read_text()
    assert "built on the device" in readme and options["engine_file"] in readme and "EDGESDK_TENSORRT_ENGINE_DIR" in readme


def test_parity_is_not_claimed_the_onnx_model_is_validated(bundle, example_models):
    import onnxruntime as ort

    _, folder = bundle
    report = json.loads((folder / "reports" / "parity.json").read_text())
    assert report["status"] == "not_run" and report["reason"] == get_backend("tensorrt").host_prediction()
    assert "no TensorRT on this host" in report["reason"]
    validated = report["validated"]
    assert validated["problems"] == [] and validated["opset"] == 18
    assert "not TensorRT" in validated["onnx_runtime_standin"]["what"] and validated["onnx_runtime_standin"]["max_abs"] < 1e-4
    index = json.loads((folder / "tests" / "golden" / "index.json").read_text())
    assert index["outputs_from"] == "reference"
    # The ONNX file, in ONNX Runtime's own API, gives the golden (reference) outputs.
    session = ort.InferenceSession(str(folder / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    for case in index["cases"]:
        tensor = np.load(folder / "tests" / "golden" / f"{case['id']}.preprocessed.npy")
        (logits,) = session.run(None, {"image": tensor})
        np.testing.assert_allclose(logits, np.load(folder / "tests" / "golden" / f"{case['id']}.output0.npy"), atol=1e-4)


def test_generated_cpp_is_rendered_for_the_bundles_engine(bundle):
    precision, folder = bundle
    options = _sdk(folder)["runtime_options"]
    runtime = folder / "sdk" / "cpp" / "src" / "runtime"
    engine_hpp = (runtime / "tensorrt_engine.hpp").read_text()
    assert f'kPrecision[] = "{precision}"' in engine_hpp and f'kEngineFile[] = "{options["engine_file"]}"' in engine_hpp
    adapter = (runtime / "tensorrt_runtime.cpp").read_text()
    for call in ("createInferRuntime", "deserializeCudaEngine", "createExecutionContext", "setInputShape", "setTensorAddress", "enqueueV3", "cudaMemcpyAsync", "getInferLibVersion"):
        assert call in adapter, call
    engine_cpp = (runtime / "tensorrt_engine.cpp").read_text()
    for call in (
        "createInferBuilder",
        "createNetworkV2",
        "nvonnxparser::createParser",
        "createBuilderConfig",
        "BuilderFlag::kFP16",
        "BuilderFlag::kINT8",
        'if (precision == "fp32") config->clearFlag(nvinfer1::BuilderFlag::kTF32);',
        "IInt8EntropyCalibrator2",
        "buildSerializedNetwork",
        "createOptimizationProfile",
    ):
        assert call in engine_cpp, call
    script = (runtime / "build_engine_trtexec.sh").read_text()
    assert subprocess.run(["bash", "-n", str(runtime / "build_engine_trtexec.sh")]).returncode == 0
    assert {"fp32": "--fp16" not in script and "--int8" not in script, "fp16": "args+=(--fp16)" in script, "int8": "--int8 --calib=" in script}[precision]
    assert ("args+=(--noTF32)" in script) is (precision == "fp32")
    cmake = (runtime / "find_runtime.cmake").read_text()
    assert "TENSORRT_ROOT" in cmake and "/usr/lib/aarch64-linux-gnu" in cmake and "CUDAToolkit" in cmake
    assert "add_executable(stripes_classifier_build_engine" in (runtime / "runtime.cmake").read_text()
    header = (folder / "sdk" / "cpp" / "include" / "stripes_classifier" / "stripes_classifier.hpp").read_text()
    assert "enum class Accelerator { Gpu };" in header and "accelerators{Accelerator::Gpu}" in header


def test_the_cpp_without_tensorrt_headers_compiles_with_the_host_compiler(bundle, tmp_path):
    """Everything of the C++ SDK but src/runtime/ (which includes NvInfer.h and CUDA): the pipeline,
    pre- and post-processing, frames, integrity; compiled and archived into a static library."""
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("no g++ here")
    precision, folder = bundle
    if precision != "fp32":
        pytest.skip("the SDK sources outside src/runtime/ do not depend on the precision; compiled once")
    sdk = folder / "sdk" / "cpp"
    sources = sorted((sdk / "src").glob("*.cpp"))
    assert {s.name for s in sources} >= {"stripes_classifier.cpp", "preprocess.cpp", "postprocess.cpp", "resample.cpp", "frames.cpp", "integrity.cpp", "types.cpp"}
    objects = []
    for source in sources:
        assert "NvInfer" not in source.read_text()
        obj = tmp_path / (source.stem + ".o")
        proc = subprocess.run(
            [cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-ffp-contract=off", "-I", str(sdk / "include"), "-I", str(sdk / "src"), "-c", str(source), "-o", str(obj)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        objects.append(str(obj))
    assert subprocess.run(["ar", "rcs", str(tmp_path / "libsdk_without_runtime.a"), *objects]).returncode == 0


def test_the_trtexec_script_checks_the_model_and_hands_trtexec_the_cache(bundle, tmp_path):
    """The script's own logic, with a recording program in trtexec's place (no trtexec here)."""
    precision, folder = bundle
    recorder = tmp_path / "trtexec"
    recorder.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$ARGS_OUT"\nfor a in "$@"; do case "$a" in --saveEngine=*) echo engine > "${a#--saveEngine=}";; esac; done\n')
    recorder.chmod(0o755)
    copy = tmp_path / "bundle"
    shutil.copytree(folder, copy)
    script = copy / "sdk" / "cpp" / "src" / "runtime" / "build_engine_trtexec.sh"
    env = {**os.environ, "TRTEXEC": str(recorder), "ARGS_OUT": str(tmp_path / "args"), "TRT_VERSION": "10.7.0"}
    out = tmp_path / "engines"
    proc = subprocess.run(["bash", str(script), str(out)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    engine_file = _sdk(folder)["runtime_options"]["engine_file"]
    assert (out / engine_file).read_text() == "engine\n"
    args = (tmp_path / "args").read_text().splitlines()
    assert f"--onnx={copy / 'model' / 'model.onnx'}" in args and "--skipInference" in args
    assert ("--noTF32" in args) is (precision == "fp32")
    if precision == "fp32":
        assert "--fp16" not in args and "--int8" not in args and not any(a.startswith("--calib=") for a in args)
    elif precision == "fp16":
        assert "--fp16" in args and "--int8" not in args
    else:
        assert "--int8" in args
        (calib,) = [a.split("=", 1)[1] for a in args if a.startswith("--calib=")]
        given, bundled = Path(calib).read_text().splitlines(), (folder / "model" / "calibration.cache").read_text().splitlines()
        assert given[0] == "TRT-100700-EntropyCalibration2" and given[1:] == bundled[1:]
    # A model file that is not the one the SDK was generated for is refused before trtexec runs.
    with (copy / "model" / "model.onnx").open("ab") as f:
        f.write(b"\0")
    (tmp_path / "args").unlink()
    assert subprocess.run(["bash", str(script), str(out)], capture_output=True, env=env).returncode != 0
    assert not (tmp_path / "args").exists()


# ---- the calibration cache --------------------------------------------------------------------
def test_a_scale_is_written_as_its_float32_bits_in_hex():
    # Hand-checked: 127 / 127 = 1.0 = 0x3f800000; 2.54 / 127 = 0.02 = 0x3ca3d70a (IEEE 754 single).
    text = tc.format_cache({"x": 127.0, "/conv/Conv_output_0": 2.54}, "10.3.0")
    assert text == "TRT-100300-EntropyCalibration2\nx: 3f800000\n/conv/Conv_output_0: 3ca3d70a\n"
    parsed = tc.parse_cache(text)
    assert parsed.version_number == 100300 and parsed.scales == {"x": 1.0, "/conv/Conv_output_0": struct.unpack(">f", bytes.fromhex("3ca3d70a"))[0]}
    # TensorRT's sample reader: int32 from the 8 hex digits after ': ', reinterpreted as float.
    line = text.splitlines()[1]
    bits = int(line[line.rfind(":") + 2 :][:8], 16)
    assert struct.unpack("<f", struct.pack("<I", bits))[0] == 1.0


@pytest.mark.parametrize(
    "bad",
    ["TRT-100300-MinMaxCalibration\nx: 3f800000\n", "TRT-100300-EntropyCalibration2\nx: 3f80000\n", "TRT-100300-EntropyCalibration2\nx 3f800000\n", "TRT-100300-EntropyCalibration2\nx: 3f800000"],
)
def test_parse_refuses_what_is_not_the_format(bad):
    with pytest.raises(ValueError):
        tc.parse_cache(bad)


def test_entropy_threshold_of_hand_checked_histograms():
    width = 0.01
    # Uniform over all 2048 bins: only the full range makes Q equal P (KL 0): (2048 + 0.5) * w.
    assert tc.entropy_threshold(np.full(2048, 10), width) == pytest.approx(2048.5 * width)
    # Every value in the first bin: the smallest window (128 bins) already holds it exactly.
    spike = np.zeros(2048, dtype=np.int64)
    spike[0] = 1000
    assert tc.entropy_threshold(spike, width) == pytest.approx(128.5 * width)
    # A long sparse tail is clipped: the threshold lies inside the range, not at its end.
    rng = np.random.default_rng(0)
    values = np.abs(rng.laplace(size=200_000))
    counts = np.histogram(values, bins=2048, range=(0, values.max()))[0]
    threshold = tc.entropy_threshold(counts, values.max() / 2048)
    assert 0.3 * values.max() < threshold < 0.95 * values.max()


def _ort_entropy_thresholds(activations: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """ONNX Runtime's CalibrationMethod.Entropy on the same activations: a signed histogram over
    [-max|x|, max|x|] of 4096 bins (2048 per side, as TensorRT's |x| histogram) and 255 levels."""
    from onnxruntime.quantization.calibrate import HistogramCollector

    collector = HistogramCollector(method="entropy", symmetric=True, num_bins=4096, num_quantized_bins=255, percentile=99.99, scenario="same")
    with contextlib.redirect_stdout(io.StringIO()):
        collector.collect(activations)
        result = collector.compute_collection_result()
    return {name: max(abs(float(r[0])), abs(float(r[1]))) for name, r in result.items()}


def test_thresholds_agree_with_onnx_runtimes_entropy_calibrator(example_models, tmp_path):
    """Same activations (the example model on the sample photos, pre-processed as the manifest
    says), two implementations of the KL search. They are not equal by construction: ONNX Runtime
    histograms signed values (its levels are centred on 0, TensorRT's start at 0), spreads a level
    over its empty bins too and takes the window's edge, not (m + 0.5) bins. Where values are not
    piled up at exactly 0 they agree within 10% (measured: 0.2% to 6.8%); ReLU outputs, half of
    their values exactly 0, differ by up to 33% (a level boundary at 0 changes the KL landscape),
    and a tensor of 24 values (the logits of 4 samples) leaves 2048 bins nearly empty, where either
    search is noise (ours 4.43, ONNX Runtime's 0.32): those are not asserted (docs/tensorrt.md)."""
    from edgesdk.manifest import load_manifest
    from edgesdk.quantize.calibration import load_calibration

    folder = tmp_path / "project"
    manifest = load_manifest(_project(example_models, folder, QUANTIZATION["int8"]))
    feeds = [{"image": t} for t in load_calibration(manifest, manifest.quantization.calibration).tensors]
    onnx_path = folder / "model.onnx"
    reader = tc.ActivationReader(onnx_path)
    ours = tc.thresholds(tc.collect(reader, feeds))
    activations: dict[str, list[np.ndarray]] = {name: [] for name in reader.names}
    for feed in feeds:
        for name, value in reader.activations(feed).items():
            activations[name].append(value)
    theirs = _ort_entropy_thresholds(activations)
    assert set(theirs) == set(ours)
    compared = 0
    for name, values in activations.items():
        stacked = np.concatenate([v.ravel() for v in values])
        # ReLU outputs, and tensors too small to fill a histogram (24 logits): see the docstring.
        if np.mean(stacked == 0) > 0.05 or stacked.size < 200:
            continue
        compared += 1
        assert ours[name] == pytest.approx(theirs[name], rel=0.10), name
    assert compared >= 5


def test_the_int8_cache_names_every_parser_tensor_with_a_sound_scale(bundle):
    import onnx

    precision, folder = bundle
    if precision != "int8":
        pytest.skip("int8 bundles carry the calibration cache")
    text = (folder / "model" / "calibration.cache").read_text()
    parsed = tc.parse_cache(text)
    assert text.splitlines()[0] == "TRT-100300-EntropyCalibration2"
    # The example's graph: every node output is a float activation TensorRT's parser names, plus the input.
    graph = onnx.load(str(folder / "model" / "model.onnx")).graph
    expected = {"image"} | {o for node in graph.node for o in node.output}
    assert set(parsed.scales) == expected
    assert all(np.isfinite(s) and s > 0 for s in parsed.scales.values())
    # The input's threshold (127 * scale) lies within the range the calibration data reached.
    golden = [np.load(p) for p in (folder / "tests" / "golden").glob("*.preprocessed.npy")]
    assert 0 < 127 * parsed.scales["image"] <= max(float(np.abs(g).max()) for g in golden) * 1.5
    report = json.loads((folder / "reports" / "parity.json").read_text())["validated"]["calibration_cache"]
    assert report["tensors"] == len(expected) and report["header"] == "TRT-100300-EntropyCalibration2"
    tensorrt_report = json.loads((folder / "reports" / "quantization.json").read_text())["tensorrt"]
    assert (tensorrt_report["engine_precision"], tensorrt_report["calibrated_tensors"], tensorrt_report["calibration_samples"]) == ("int8", len(expected), 4)
    quantization = _sdk(folder)["quantization"]
    assert quantization["mode"] == "int8" and quantization["calibration"]["method"] == "entropy"


def test_check_cache_finds_a_missing_tensor_and_a_bad_scale(bundle, tmp_path):
    precision, folder = bundle
    if precision != "int8":
        pytest.skip("int8 bundles carry the calibration cache")
    lines = (folder / "model" / "calibration.cache").read_text().splitlines()
    broken = tmp_path / "calibration.cache"
    broken.write_text("\n".join([lines[0], *lines[2:-1], lines[-1].split(": ")[0] + ": " + tc.scale_hex(-1.0)]) + "\n")
    problems = tc.check_cache(broken, folder / "model" / "model.onnx", "10.3.0")["problems"]
    assert any("no scale for 1 tensor" in p for p in problems) and any("not positive and finite" in p for p in problems)


# ---- what TensorRT cannot take --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("quantization", "changes", "field"),
    [
        ({"mode": "int8", "calibration": {**CALIBRATION, "method": "minmax"}}, {}, "quantization.calibration.method"),
        ({"mode": "int8-dynamic"}, {}, "quantization.mode"),
        ({"mode": "int8", "calibration": CALIBRATION, "accuracy_budget": {"metric": "top1_agreement", "min": 0.5}}, {}, "quantization.accuracy_budget"),
        ({"mode": "int8", "calibration": CALIBRATION, "keep_float": ["x"]}, {}, "quantization.keep_float"),
        ({"mode": "int8", "calibration": CALIBRATION, "sensitivity": True}, {}, "quantization.sensitivity"),
        (None, {"encryption": {"enabled": True, "key": "env:EDGESDK_TEST_KEY"}}, "encryption.enabled"),
    ],
)
def test_what_tensorrt_cannot_honour_is_refused_naming_the_field(example_models, tmp_path, monkeypatch, quantization, changes, field):
    monkeypatch.setenv("EDGESDK_TEST_KEY", "00" * 32)
    manifest = _project(example_models, tmp_path / "project", quantization, **changes)
    code, _, err = _cli("build", "-c", str(manifest), "--out", str(tmp_path / "dist"))
    assert code == 2 and field in err, err
    assert not (tmp_path / "dist").exists()


def test_operators_and_opsets_the_onnx_parser_lacks_are_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    def model(op: str, opset: int, domain: str = "") -> Path:
        graph = helper.make_graph(
            [helper.make_node(op, ["x"], ["y"], domain=domain)], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
        )
        path = tmp_path / f"{op}-{opset}.onnx"
        imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
        onnx.save(helper.make_model(graph, opset_imports=imports), str(path))
        return path

    assert tensorrt.parser_problems(model("Relu", 18)) == []
    assert tensorrt.parser_problems(model("Relu", 21)) == ["opset 21 is outside the parser's 9..20"]
    assert "operator Det" in tensorrt.parser_problems(model("Det", 18))[0]
    assert "needs a TensorRT plugin" in tensorrt.parser_problems(model("MyOp", 18, "com.example"))[0]


def test_targets_say_why_tensorrt_parity_is_not_run(capsys):
    assert main(["targets", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if (r["target"], r["runtime"]) == ("jetson", "tensorrt"))
    assert row["available"] and row["default"] and not row["host_parity"]
    assert "no TensorRT on this host" in row["detail"]
    assert "not testable here" in row["languages"]["cpp"] and "TensorRT" in row["languages"]["cpp"]
