"""Quantization for the Android runtimes: LiteRT (ai-edge-quantizer) and ExecuTorch (PT2E, XNNPACK)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_quantization import quant_manifest, write_calibration

from edgesdk import api
from edgesdk.backends import get_backend
from edgesdk.backends.base import Artifact
from edgesdk.cli import main
from edgesdk.golden import GOLDEN_DIR

# 16 calibration photos: LiteRT static int8 of the example reaches cosine ~0.997 (0.998 with 8).
CALIB = {"data": "calib", "samples": 16}


@pytest.fixture
def android_project(project):
    write_calibration(project.folder / "calib", 16)
    return project


def _build(project, tmp_path, runtime: str, quantization: dict):
    return api.build(project(quant_manifest(quantization)), target="android", runtime=runtime, out=tmp_path / "dist")


def _check_golden(result) -> None:
    """Every golden output is what the shipped (quantized) model gives for the golden input."""
    bundle = result.bundle
    sdk = json.loads((bundle / "sdk.json").read_text())
    model = bundle / sdk["model"]["file"]
    run = get_backend(result.runtime).runner(Artifact(model.parent, model.name, [model.name], result.runtime, sdk["runtime_versions"]))
    index = json.loads((bundle / GOLDEN_DIR / "index.json").read_text())
    assert index["cases"]
    for case in index["cases"]:
        tensor = np.load(bundle / GOLDEN_DIR / case["preprocessed"])
        expected = np.load(bundle / GOLDEN_DIR / case["outputs"]["logits"])
        np.testing.assert_array_equal(run({"image": tensor})[0], expected)


@pytest.mark.tflite
@pytest.mark.parametrize("mode, max_ratio, min_cosine", [("int8", 0.35, 0.99), ("int8-dynamic", 0.35, 0.99), ("fp16", 0.6, 0.999)])
def test_tflite_modes_pass_the_gate_smaller_with_float_io(android_project, tmp_path, mode, max_ratio, min_cosine):
    pytest.importorskip("ai_edge_quantizer")
    quantization = {"mode": mode, **({"calibration": CALIB} if mode == "int8" else {})}
    result = _build(android_project, tmp_path, "tflite", quantization)
    report = json.loads((result.bundle / "reports" / "quantization.json").read_text())
    assert result.parity["passed"] and result.parity["outputs"]["logits"]["cosine"] >= min_cosine
    assert report["runtime"] == "tflite" and report["size_ratio"] <= max_ratio, report["size_bytes"]
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_path=str(result.bundle / "model" / "model.tflite")).get_signature_runner("serving_default")
    assert signature.get_input_details()["args_0"]["dtype"] == np.float32
    assert signature.get_output_details()["output_0"]["dtype"] == np.float32
    _check_golden(result)


@pytest.mark.tflite
def test_tflite_keep_float_leaves_that_layer_float(android_project, tmp_path):
    pytest.importorskip("ai_edge_quantizer")
    result = _build(android_project, tmp_path, "tflite", {"mode": "int8", "calibration": CALIB, "keep_float": ["CONV_2D:4"]})
    report = json.loads((result.bundle / "reports" / "quantization.json").read_text())
    assert report["kept_float_layers"] == ["CONV_2D:4"]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(result.bundle / "model" / "model.tflite"))
    tensors = interpreter.get_tensor_details()
    kinds = {f"{op['op_name']}:{op['index']}": tensors[op["inputs"][1]]["dtype"] for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"}
    assert sorted(kinds.values(), key=str) == [np.float32, np.int8, np.int8], kinds


@pytest.mark.executorch
@pytest.mark.slow
def test_executorch_int8_passes_the_gate_and_shrinks(android_project, tmp_path):
    pytest.importorskip("executorch")
    result = _build(android_project, tmp_path, "executorch", {"mode": "int8", "calibration": CALIB})
    report = json.loads((result.bundle / "reports" / "quantization.json").read_text())
    assert result.parity["passed"] and result.parity["outputs"]["logits"]["cosine"] >= 0.99
    assert report["layers"] == ["features.0.0", "features.1.0", "features.2.0", "head"]
    assert report["size_ratio"] <= 0.4, report["size_bytes"]
    assert report["activation_ranges"]
    _check_golden(result)


@pytest.mark.parametrize(
    "runtime, quantization, expected",
    [
        ("executorch", {"mode": "fp16"}, ["quantization.mode", "'fp16' is not supported for runtime 'executorch'", "int8"]),
        ("tflite", {"mode": "int8", "calibration": {**CALIB, "method": "entropy"}}, ["quantization.calibration.method", "'entropy' is not supported for runtime 'tflite'", "minmax"]),
    ],
)
def test_unsupported_combination_is_exit_2(android_project, tmp_path, capsys, runtime, quantization, expected):
    out = tmp_path / "dist"
    path = android_project(quant_manifest(quantization))
    assert main(["build", "-c", str(path), "--target", "android", "--runtime", runtime, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for part in expected:
        assert part in err, (part, err)
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.tflite
def test_tflite_minmax_calibration_takes_the_true_extremes(android_project, tmp_path):
    """`minmax` is the min and max over every calibration sample (ai-edge-quantizer's default
    smooths them with a moving average, which clips what later samples reach)."""
    from edgesdk.manifest import load_manifest
    from edgesdk.processing import decode_image, run_preprocess

    result = _build(android_project, tmp_path, "tflite", {"mode": "int8", "calibration": CALIB})
    ranges = json.loads((result.bundle / "reports" / "quantization.json").read_text())["activation_ranges"]
    manifest = load_manifest(android_project.folder / "edgesdk.yaml")
    files = sorted((android_project.folder / "calib").iterdir())[: CALIB["samples"]]
    tensors = [run_preprocess(decode_image(f), "rgb", manifest.pre_steps()).tensor for f in files]
    low, high = float(min(t.min() for t in tensors)), float(max(t.max() for t in tensors))
    # The model input is the one tensor whose calibrated range is exactly that of the samples.
    assert any(abs(lo - low) < 1e-5 and abs(hi - high) < 1e-5 for lo, hi in ranges.values()), (low, high)


@pytest.mark.executorch
def test_executorch_calibration_records_no_autograd_and_observes_what_it_would_with_it(android_project, monkeypatch):
    pytest.importorskip("executorch")
    import torch
    from torchao.quantization.pt2e import quantize_pt2e

    from edgesdk import quantize
    from edgesdk.manifest import load_manifest, with_overrides
    from edgesdk.quantize.executorch import ExecuTorchPlan
    from edgesdk.sources import load_source

    manifest = with_overrides(load_manifest(android_project(quant_manifest({"mode": "int8", "calibration": CALIB}))), target="android", runtime="executorch")
    calibration = quantize.prepare(manifest, "executorch")
    source = load_source(manifest)
    real = quantize_pt2e.prepare_pt2e
    grad_modes: list[bool] = []

    def spied(force_grad: bool):
        def prepare(model, quantizer):
            observed = real(model, quantizer)

            def hook(module, args):
                if force_grad:
                    torch.set_grad_enabled(True)  # as calibration ran before: autograd recording
                grad_modes.append(torch.is_grad_enabled())

            observed.register_forward_pre_hook(hook)
            return observed

        return prepare

    monkeypatch.setattr(quantize_pt2e, "prepare_pt2e", spied(False))
    plan = ExecuTorchPlan("int8", True, calibration, source, manifest)
    assert grad_modes == [False] * len(calibration.tensors)
    monkeypatch.setattr(quantize_pt2e, "prepare_pt2e", spied(True))
    with_autograd = ExecuTorchPlan("int8", True, calibration, source, manifest)
    assert grad_modes[len(calibration.tensors) :] == [True] * len(calibration.tensors)
    assert plan.ranges() == with_autograd.ranges() and plan.ranges()
