"""Quantization stage: modes, calibration methods, sensitivity / keep_float, budgets and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import example_manifest_dict
from PIL import Image

from edgesdk import api
from edgesdk.cli import main
from edgesdk.errors import BackendUnavailable, ParityError
from edgesdk.golden import SAMPLE_IMAGES_DIR
from edgesdk.quantize import get_translator
from edgesdk.quantize.calibration import METHODS, CalibrationSet

BUNDLE = "stripes-classifier-1.0.0-x86-onnxruntime"


# A copy of the example classifier whose second block has one output channel scaled by 1000 (and
# the next conv's matching input weights divided by 1000): the float function is unchanged, but a
# per-tensor int8 range over that activation crushes every other channel to a level or two.
def sensitive_classifier() -> torch.nn.Module:
    from classifier_model import trained_classifier

    model = trained_classifier()
    with torch.no_grad():
        bn = model.features[1][1]
        bn.weight[0] *= 1000.0
        bn.bias[0] *= 1000.0
        model.features[2][0].weight[:, 0] /= 1000.0
    return model.eval()


OUTLIER_LAYERS = {"/features/1/0/Conv", "/features/2/0/Conv"}


def write_calibration(folder: Path, count: int) -> Path:
    """Deterministic crops and mirrors of the sample photos."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLE_IMAGES_DIR.glob("*.png"))]
    rng = np.random.default_rng(0)
    for i in range(count):
        image = photos[i % len(photos)]
        h, w = image.shape[:2]
        top, left = int(rng.integers(0, h // 3)), int(rng.integers(0, w // 3))
        crop = image[top : top + h // 2 + int(rng.integers(0, h // 3)), left : left + w // 2 + int(rng.integers(0, w // 3))]
        Image.fromarray(np.ascontiguousarray(crop[:, ::-1] if i % 2 else crop)).save(folder / f"{i:03d}.png")
    return folder


def quant_manifest(quantization: dict, source: str = "model.pt") -> dict:
    data = example_manifest_dict(source)
    data["quantization"] = quantization
    return data


@pytest.fixture
def calib_project(project):
    write_calibration(project.folder / "calib", 16)
    torch.jit.script(sensitive_classifier()).save(str(project.folder / "sensitive.pt"))
    return project


def _report(bundle: Path) -> dict:
    return json.loads((bundle / "reports" / "quantization.json").read_text())


def test_outlier_layer_breaks_full_int8_and_auto_keeps_it_float(calib_project, tmp_path):
    calib = {"data": "calib", "samples": 16, "method": "minmax"}
    budget = {"metric": "cosine", "min": 0.99}
    source = "sensitive.pt"
    with pytest.raises(ParityError) as failed:
        api.build(calib_project(quant_manifest({"mode": "int8", "calibration": calib, "accuracy_budget": budget}, source)), out=tmp_path / "full")
    full = json.loads(Path(failed.value.report_path).read_text())
    assert full["kept_float_layers"] == [] and full["metrics"]["cosine"] < 0.99

    result = api.build(calib_project(quant_manifest({"mode": "int8", "calibration": calib, "keep_float": "auto", "accuracy_budget": budget}, source)), out=tmp_path / "auto")
    report = _report(result.bundle)
    kept = set(report["kept_float_layers"])
    assert kept and kept <= OUTLIER_LAYERS, kept
    assert report["metrics"]["cosine"] >= 0.99
    sensitivity = {row["layer"]: row["cosine"] for row in report["sensitivity"]}
    assert max(sensitivity[k] for k in kept) < min(v for k, v in sensitivity.items() if k not in OUTLIER_LAYERS)
    assert all(row["reason"].startswith("auto:") for row in report["kept_float"])
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    assert sdk["quantization"]["kept_float_layers"] == report["kept_float_layers"]
    assert sdk["quantization"]["calibration"]["samples"] == 16 and len(sdk["quantization"]["calibration"]["data_sha256"]) == 64
    assert result.parity["passed"] and result.parity["tolerances"]["top1_agreement_min"] == 0.99
    assert (result.bundle / "reports" / "quantization.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # In the shipped model exactly the kept layers have float weights.
    graph = onnx.load(str(result.bundle / "model" / "model.onnx")).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    layers = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    assert {n.name for n in layers if producers.get(n.input[1]) != "DequantizeLinear"} == kept


def test_explicit_keep_float_list(calib_project, tmp_path):
    q = {"mode": "int8", "calibration": {"data": "calib", "samples": 16}, "keep_float": ["/head/Gemm"]}
    report = _report(api.build(calib_project(quant_manifest(q)), out=tmp_path / "dist").bundle)
    assert report["kept_float"] == [{"layer": "/head/Gemm", "reason": "listed in quantization.keep_float"}]
    assert report["sensitivity"] == []  # one probe per layer runs only where it is used or asked for


def test_sensitivity_analysis_on_request_probes_every_layer(calib_project, tmp_path):
    q = {"mode": "int8", "calibration": {"data": "calib", "samples": 16}, "sensitivity": True}
    report = _report(api.build(calib_project(quant_manifest(q)), out=tmp_path / "dist").bundle)
    assert [row["layer"] for row in report["sensitivity"]] == report["layers"] and report["kept_float"] == []
    assert all(0.9 < row["cosine"] <= 1 for row in report["sensitivity"])


def test_fp16_halves_the_model_and_keeps_float_io(calib_project, tmp_path):
    result = api.build(calib_project(quant_manifest({"mode": "fp16"})), out=tmp_path / "dist")
    report = _report(result.bundle)
    assert 0.4 <= report["size_ratio"] <= 0.6
    assert result.parity["outputs"]["logits"]["cosine"] >= 0.999
    graph = onnx.load(str(result.bundle / "model" / "model.onnx")).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert report["sensitivity"] == [] and report["calibration"] is None


def test_int8_dynamic_builds(calib_project, tmp_path):
    result = api.build(calib_project(quant_manifest({"mode": "int8-dynamic"})), out=tmp_path / "dist")
    assert _report(result.bundle)["size_ratio"] < 0.5 and result.parity["passed"]


def test_two_int8_builds_give_the_same_zip(calib_project, tmp_path):
    path = calib_project(quant_manifest({"mode": "int8", "calibration": {"data": "calib", "samples": 8}, "keep_float": "auto", "accuracy_budget": {"metric": "sqnr_db", "min": 10}}))
    assert api.build(path, out=tmp_path / "a").zip_sha256 == api.build(path, out=tmp_path / "b").zip_sha256


def test_impossible_budget_is_a_parity_failure_with_a_report(calib_project, tmp_path, capsys):
    q = {"mode": "int8", "calibration": {"data": "calib", "samples": 8}, "keep_float": "auto", "accuracy_budget": {"metric": "sqnr_db", "min": 300}}
    out = tmp_path / "dist"
    assert main(["build", "-c", str(calib_project(quant_manifest(q))), "--out", str(out)]) == 3
    assert "cannot be met with any layer quantized" in capsys.readouterr().err
    kept = out / f"{BUNDLE}.quantization-failed.json"
    assert json.loads(kept.read_text())["passed"] is False
    assert sorted(p.name for p in out.iterdir()) == sorted([kept.name, f"{BUNDLE}.build-failed.log"])


# ---- translator level ------------------------------------------------------------------------
class WideNet(torch.nn.Module):
    """Enough weights that the int8 size is dominated by them, not by graph overhead."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 64, 3, 2, 1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(64, 128, 3, 2, 1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(128, 256, 3, 2, 1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(256, 10),
        )

    def forward(self, x):
        return self.body(x)


@pytest.fixture(scope="module")
def wide_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("wide") / "wide.onnx"
    torch.onnx.export(WideNet().eval(), (torch.zeros(1, 3, 64, 64),), str(path), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=["logits"], verbose=False)
    return path


def _calibration(method: str, n: int = 6) -> CalibrationSet:
    rng = np.random.default_rng(1)
    # Heavy-tailed inputs: the methods only disagree where a few values sit far out.
    tensors = [(rng.standard_t(3, (1, 3, 64, 64))).astype(np.float32) for _ in range(n)]
    return CalibrationSet(tensors, [], "test", METHODS[method])


def _scales(path: Path) -> dict[str, bytes]:
    model = onnx.load(str(path))
    inits = {i.name: i.raw_data or np.asarray(onnx.numpy_helper.to_array(i)).tobytes() for i in model.graph.initializer}
    return {n.input[1]: inits[n.input[1]] for n in model.graph.node if n.op_type == "QuantizeLinear"}


def test_calibration_methods_give_different_quantization_parameters(wide_onnx, tmp_path):
    translator = get_translator("onnxruntime", "int8")
    ranges, scales = {}, {}
    for method in METHODS:
        work = tmp_path / method
        work.mkdir()
        plan = translator.plan(wide_onnx, "int8", True, _calibration(method), work)
        ranges[method] = plan.ranges()
        scales[method] = _scales(plan.quantize(work / "q.onnx"))
    assert ranges["minmax"].keys() == ranges["entropy"].keys() == ranges["percentile"].keys()
    for a, b in (("minmax", "entropy"), ("minmax", "percentile"), ("entropy", "percentile")):
        assert ranges[a] != ranges[b], (a, b)
        assert scales[a] != scales[b], (a, b)
    # min/max covers every observed value; the other two clip the tails.
    name = next(iter(ranges["minmax"]))
    assert ranges["percentile"][name][1] < ranges["minmax"][name][1]


def test_int8_is_under_30_percent_of_fp32(wide_onnx, tmp_path):
    plan = get_translator("onnxruntime", "int8").plan(wide_onnx, "int8", True, _calibration("minmax", 2), tmp_path)
    out = plan.quantize(tmp_path / "q.onnx")
    assert out.stat().st_size <= 0.30 * wide_onnx.stat().st_size


def test_runtime_without_translator_is_reported(monkeypatch):
    from edgesdk.backends import get_backend

    monkeypatch.setattr(get_backend("ncnn"), "quantizer", None)
    with pytest.raises(BackendUnavailable, match=r"'int8' is not available for runtime 'ncnn' yet \(runtimes with quantization: onnxruntime, "):
        get_translator("ncnn", "int8")


# ---- bad input: one line naming the field, exit 2, nothing written ------------------------------
def _bad_image(folder: Path) -> None:
    write_calibration(folder, 4)
    (folder / "002.png").write_bytes(b"not a png")


BAD = {
    "missing folder": ({"mode": "int8", "calibration": {"data": "nope", "samples": 4}}, None, ["quantization.calibration.data", "not found"]),
    "empty folder": ({"mode": "int8", "calibration": {"data": "calib", "samples": 4}}, lambda f: f.mkdir(), ["quantization.calibration.data", "no calibration files"]),
    "unreadable image": ({"mode": "int8", "calibration": {"data": "calib", "samples": 4}}, _bad_image, ["quantization.calibration.data", "002.png"]),
    "fewer than asked": ({"mode": "int8", "calibration": {"data": "calib", "samples": 10}}, lambda f: write_calibration(f, 4), ["quantization.calibration.samples", "asks for 10", "holds 4"]),
    "fewer than needed": (
        {"mode": "int8", "calibration": {"data": "calib", "samples": 4}, "keep_float": "auto", "accuracy_budget": {"metric": "top1_agreement", "min": 0.9}},
        lambda f: write_calibration(f, 4),
        ["quantization.calibration.samples", "at least 10"],
    ),
    "wrong npy shape": (
        {"mode": "int8", "calibration": {"data": "calib", "samples": 1}},
        lambda f: (f.mkdir(), np.save(f / "a.npy", np.zeros((1, 3, 8, 8), np.float32))),
        ["quantization.calibration.data", "a.npy", "[1, 3, 224, 224]"],
    ),
    "no calibration for int8": ({"mode": "int8"}, None, ["quantization.calibration", "required for mode int8"]),
    "auto without budget": ({"mode": "fp16", "calibration": {"data": "calib", "samples": 4}, "keep_float": "auto"}, lambda f: write_calibration(f, 4), ["quantization.accuracy_budget", "required"]),
    "unknown keep_float layer": (
        {"mode": "int8", "calibration": {"data": "calib", "samples": 4}, "keep_float": ["conv9"]},
        lambda f: write_calibration(f, 4),
        ["quantization.keep_float", "unknown layer 'conv9'", "/features/0/0/Conv", "/head/Gemm"],
    ),
    "unknown method": ({"mode": "int8", "calibration": {"data": "calib", "method": "kl"}}, None, ["quantization.calibration.method", "'minmax', 'entropy' or 'percentile'"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_quantization_input(case, project, tmp_path, capsys):
    quantization, setup, expected = BAD[case]
    if setup is not None:
        setup(project.folder / "calib")
    path = project(quant_manifest(quantization))
    out = tmp_path / "dist"
    assert main(["build", "-c", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for part in expected:
        assert part in err, (part, err)
    assert not out.exists() or list(out.iterdir()) == []
