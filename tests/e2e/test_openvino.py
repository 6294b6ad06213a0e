"""x86 + OpenVINO end to end: fp32 IR through the parity gate, the compiled C++ SDK against the
golden vectors and an independent reference, integrity of both IR files, NNCF int8 and the modes
OpenVINO refuses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import example_manifest_dict
from PIL import Image
from toolchains import need

from edgesdk import api, benchmark, hosttest
from edgesdk.cli import main

pytest.importorskip("openvino", reason="pip install 'edgesdk[openvino]'")
pytestmark = pytest.mark.openvino

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def _need_toolchain():
    need(hosttest.toolchain_problem())


def _build(folder: Path, data: dict, out: Path):
    path = folder / f"edgesdk-{data['version']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return api.build(path, target="x86", runtime="openvino", out=out)


@pytest.fixture(scope="module")
def example_bundle(example_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("ov-example")
    return _build(example_models, example_manifest_dict("model.pt"), out)


@pytest.fixture(scope="module")
def unseen_bundle(tmp_path_factory):
    """An ONNX model the repository does not hold (test_cpp_bundle's OtherNet), built and compiled."""
    from test_cpp_bundle import _unseen_photos, other_net, other_net_manifest

    _need_toolchain()
    root = tmp_path_factory.mktemp("ov-unseen")
    model = other_net(seed=11)
    torch.onnx.export(model, (torch.zeros(1, 3, 144, 144),), str(root / "net.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["pixels"], output_names=["scores"], verbose=False)
    (root / "labels.txt").write_text("\n".join(f"c{i}" for i in range(11)) + "\n", encoding="utf-8")
    data = other_net_manifest("unseen-ov", "3.0.0", "net.onnx")
    result = _build(root, data, root / "dist")
    shipped = root / "shipped" / result.bundle.name  # only the bundle travels
    shutil.copytree(result.bundle, shipped)
    build_dir = root / "build"
    binary = hosttest.build_sample(shipped, build_dir)
    return model, result, shipped, binary, build_dir, _unseen_photos(root / "photos")


def test_example_builds_an_fp32_ir_within_the_float_gate(example_bundle):
    bundle = example_bundle.bundle
    assert example_bundle.parity["passed"] and example_bundle.parity["outputs"]["logits"]["max_abs"] <= 1e-4
    assert sorted(p.name for p in (bundle / "model").iterdir()) == ["model.bin", "model.xml"]
    sdk = json.loads((bundle / "sdk.json").read_text())
    assert sdk["runtime"] == "openvino" and sdk["runtime_versions"]["python"] == sdk["runtime_versions"]["cpp"]
    assert sdk["model"]["companions"][0]["file"] == "model/model.bin"
    sums = (bundle / "SHA256SUMS").read_text()
    assert "model/model.xml" in sums and "model/model.bin" in sums
    import openvino as ov

    model = ov.Core().read_model(str(bundle / "model" / "model.xml"))
    assert model.inputs[0].get_any_name() == "image" and list(model.inputs[0].get_shape()) == [1, 3, 224, 224]
    assert model.outputs[0].get_any_name() == "logits"
    assert all(c.get_element_type() == ov.Type.f32 for c in model.get_ordered_ops() if c.get_type_name() == "Constant" and c.get_element_type().is_real())


def test_unseen_onnx_model_runs_in_the_cpp_sdk_like_eager_pytorch(unseen_bundle, tmp_path):
    from test_cpp_bundle import _independent_reference

    model, result, bundle, binary, _, photos = unseen_bundle
    assert result.parity["passed"] and result.parity["outputs"]["scores"]["max_abs"] <= 1e-4
    for photo in photos:
        dump = tmp_path / photo.stem
        dump.mkdir()
        hosttest.run_sample(binary, bundle, photo, dump)
        meta = json.loads((dump / "dump.json").read_text())
        want = _independent_reference(model, np.asarray(Image.open(photo).convert("RGB")))
        assert np.max(np.abs(hosttest.read_dump(dump, meta["outputs"][0]) - want)) <= 1e-4, photo.name


@pytest.mark.cpp
def test_edgesdk_test_passes_through_the_compiled_cpp_sdk(example_bundle, capsys):
    _need_toolchain()
    assert main(["test", str(example_bundle.bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and len(report["cases"]) >= 3
    assert all(c["preprocessed_max_abs"] == 0 and c["outputs_max_abs"]["logits"] <= 1e-4 for c in report["cases"])


@pytest.mark.cpp
def test_tampered_weights_are_refused_by_the_glue_and_by_verify(unseen_bundle, tmp_path, capsys):
    _, _, bundle, binary, _, photos = unseen_bundle
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    weights = copy / "model" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight: still a loadable IR
    weights.write_bytes(bytes(data))
    proc = subprocess.run([str(binary), "--bundle", str(copy), "--input", str(photos[0]), "--json"], capture_output=True, text=True)
    assert proc.returncode == 4, proc.stderr
    assert "model.bin" in proc.stderr and "sha256" in proc.stderr
    assert main(["verify", str(copy)]) == 4
    assert "model/model.bin" in capsys.readouterr().err


@pytest.mark.cpp
def test_devices_this_machine_lacks_are_reported_and_the_cpu_stays_pinned_to_f32(unseen_bundle):
    """No GPU or NPU here: asked for, each is skipped with OpenVINO's device list as the reason and
    the CPU runs in float32 (the pinned precision hint, read back from the compiled model); with
    --no-fallback the load is refused (exit 5). sdk.json says how the SDK compiles the IR."""
    _, _, bundle, binary, _, photos = unseen_bundle
    assert json.loads((bundle / "sdk.json").read_text())["runtime_options"]["inference_precision_hint"] == "f32"
    cmd = [str(binary), "--bundle", str(bundle), "--input", str(photos[0]), "--json", "--accelerator", "gpu", "--accelerator", "npu"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["acceleration"]
    assert report["asked"] == ["gpu", "npu"] and report["active"] == "cpu" and report["precision"] == "float32"
    assert [s["accelerator"] for s in report["skipped"]] == ["gpu", "npu"]
    assert all(s["reason"].startswith("OpenVINO finds no ") and "(it has CPU" in s["reason"] for s in report["skipped"])
    refused = subprocess.run([*cmd[:-4], "--accelerator", "npu", "--no-fallback"], capture_output=True, text=True)
    assert refused.returncode == 5 and "Unsupported: accelerator npu is unavailable: OpenVINO finds no NPU device here" in refused.stderr


@pytest.mark.cpp
def test_bench_times_the_sdk_against_a_bare_openvino_request(unseen_bundle):
    _, _, bundle, _, build_dir, _ = unseen_bundle
    report = benchmark.bench_bundle(bundle, runs=3, build_dir=build_dir)
    assert report["bare_session_ms"] > 0 and report["cpp_sdk_ms"]["e2e"] >= report["cpp_sdk_ms"]["infer"]
    assert all(np.isfinite(v) and v > 0 for v in report["ratios"].values())
    roof = report["roofline"]
    assert roof["runtime_peak_gops"] == max(g for p, g in roof["probes_gops"].items() if p.endswith(" in openvino")) and roof["model"]["operations"] > 0
    assert roof["peak_gops"] >= roof["runtime_peak_gops"]


def _int8_data(data: dict, samples: int) -> dict:
    return {**data, "version": "1.0.1", "quantization": {"mode": "int8", "calibration": {"data": "calib", "samples": samples}}}


def _calibration(folder: Path, count: int) -> None:
    from bench_quantization import augmented

    (folder / "calib").mkdir()
    for i, image in enumerate(augmented(count, seed=1)):  # seed 1: not the sample photos parity uses
        Image.fromarray(image).save(folder / "calib" / f"{i:02d}.png")


def test_nncf_int8_of_a_resnet18_is_under_30_percent_of_fp32(tmp_path_factory):
    """The ResNet-18 layout (benchmarks/models.py), at 64x64 to keep NNCF quick: big enough that
    the weights, not the graph text, set the size. Its weights are random, so its 1000 top-1
    margins sit below int8 noise: agreement is gated on the trained example below, cosine here."""
    from models import resnet18_like

    root = tmp_path_factory.mktemp("ov-int8-resnet")
    torch.jit.script(resnet18_like()).save(str(root / "model.pt"))
    _calibration(root, 8)
    data = example_manifest_dict("model.pt")
    data.update(name="resnet18-like", version="1.0.0")
    data["model"]["inputs"][0]["shape"] = [1, 3, 64, 64]
    data["model"]["outputs"] = [{"name": "logits", "shape": [1, 1000]}]
    data["preprocess"]["steps"] = [{"resize": {"size": [64, 64], "interpolation": "bilinear", "keep_ratio": False}}, *data["preprocess"]["steps"][2:]]
    data["postprocess"].pop("labels")
    fp32 = _build(root, data, root / "fp32").bundle
    int8 = _build(root, {**_int8_data(data, 8), "parity": {"top1_agreement_min": 0.0}}, root / "int8")
    size = lambda b: sum(p.stat().st_size for p in (b / "model").iterdir())  # noqa: E731
    assert size(int8.bundle) <= 0.30 * size(fp32)
    assert int8.parity["outputs"]["logits"]["cosine"] >= 0.99
    assert "FakeQuantize" in (int8.bundle / "model" / "model.xml").read_text()
    # The classifier head is quantized like the other layers (float32 measured no faster: INT8_SETTINGS),
    # so the CPU plugin runs every convolution and the fully connected head int8.
    assert json.loads((int8.bundle / "sdk.json").read_text())["quantization"]["settings"]["output_layer"]["value"] == "int8"
    import openvino as ov

    from edgesdk.backends.openvino import config

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(int8.bundle / "model" / "model.xml")), "CPU", config(1))
    runs = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        runs.setdefault(op.get_rt_info()["layerType"].astype(str), []).append(op.get_rt_info()["runtimePrecision"].astype(str))
    assert runs["FullyConnected"] and runs["Convolution"] and all(p in ("u8", "i8") for p in runs["FullyConnected"] + runs["Convolution"]), runs


def test_nncf_int8_of_the_example_agrees_on_top1(example_models, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(example_models, folder)
    _calibration(folder, 16)
    int8 = _build(folder, _int8_data(example_manifest_dict("model.pt"), 16), tmp_path / "d")
    assert int8.parity["passed"] and int8.parity["task"]["top1_agreement"] >= 0.99  # sample photos and their variants
    report = json.loads((int8.bundle / "reports" / "quantization.json").read_text())
    assert report["runtime"] == "openvino" and report["metrics"]["top1_agreement"] >= 0.99
    # The bundle records what it was quantized and compiled with, and why; compiled with the SDK's
    # settings the IR reports them back.
    sdk = json.loads((int8.bundle / "sdk.json").read_text())
    settings = sdk["quantization"]["settings"]
    assert settings == report["settings"] and settings["preset"]["value"] == "MIXED" and settings["fast_bias_correction"]["value"] is True
    assert all(isinstance(s["why"], str) and s["why"] for s in settings.values())
    assert sdk["runtime_options"]["performance_hint"] == "LATENCY"
    import openvino as ov

    from edgesdk.backends.openvino import config

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(int8.bundle / "model" / "model.xml")), "CPU", config(1))
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY" and int(compiled.get_property("NUM_STREAMS")) == 1
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    fused = [op.get_rt_info()["runtimePrecision"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops() if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
    assert fused and all(p in ("u8", "i8") for p in fused), fused  # every convolution runs int8


def test_int8_dynamic_is_refused_for_openvino(example_models, tmp_path, capsys):
    folder = tmp_path / "p"
    shutil.copytree(example_models, folder)
    data = example_manifest_dict("model.pt")
    data["quantization"] = {"mode": "int8-dynamic"}
    (folder / "edgesdk.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["build", "-c", str(folder / "edgesdk.yaml"), "--target", "x86", "--runtime", "openvino", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "int8-dynamic" in err and "openvino" in err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
