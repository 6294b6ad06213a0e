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
    bundle = api.build(calib_project(quant_manifest(q)), out=tmp_path / "dist").bundle
    report = _report(bundle)
    assert report["kept_float"] == [{"layer": "/head/Gemm", "reason": "listed in quantization.keep_float"}]
    assert report["sensitivity"] == []  # one probe per layer runs only where it is used or asked for
    # The bundle records what it was quantized with, and why.
    settings = json.loads((bundle / "sdk.json").read_text())["quantization"]["settings"]
    assert settings == report["settings"]
    operators = settings["quantized_operators"]["value"]
    assert settings["reduce_range"]["value"] is True and "GlobalAveragePool" in operators and "Sigmoid" not in operators and settings["per_channel"]["value"] is True
    assert all(isinstance(s["why"], str) and s["why"] for s in settings.values())
    # The kept layer's weights stay float; everything around it is still quantized.
    graph = onnx.load(str(bundle / "model" / "model.onnx")).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    head = next(n for n in graph.node if n.name == "/head/Gemm")
    assert producers.get(head.input[1]) != "DequantizeLinear" and producers[head.input[0]] == "DequantizeLinear"


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


def _fused_graph(model: Path, tmp_path: Path) -> onnx.GraphProto:
    """The graph ONNX Runtime runs: the QDQ fusions it does at load (level EXTENDED: without the
    CPU-specific NCHWc layout, so the op sequence is the same on every x86)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "fused.onnx")
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return onnx.load(str(tmp_path / "fused.onnx")).graph


@pytest.fixture(scope="module")
def residual_onnx(tmp_path_factory) -> Path:
    """The ResNet layout's operators as the converter writes them (BN folded): stem Conv, Relu,
    MaxPool, a basic block (Conv, Relu, Conv, Add with the skip, Relu), GlobalAveragePool, Flatten, Gemm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * (2.0 / np.prod(shape[1:])) ** 0.5).astype(np.float32), name)

    inits = [weight("w0", 16, 3, 3, 3), weight("w1", 16, 16, 3, 3), weight("w2", 16, 16, 3, 3), weight("fc", 10, 16), numpy_helper.from_array(np.zeros(10, np.float32), "fc_b")]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["image", "w0"], ["c0"], "stem", **conv),
        helper.make_node("Relu", ["c0"], ["r0"], "stem_relu"),
        helper.make_node("MaxPool", ["r0"], ["p0"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p0", "w1"], ["c1"], "conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], "relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], "conv2", **conv),
        helper.make_node("Add", ["c2", "p0"], ["s"], "skip"),
        helper.make_node("Relu", ["s"], ["r2"], "relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], "gap"),
        helper.make_node("Flatten", ["g"], ["f"], "flatten"),
        helper.make_node("Gemm", ["f", "fc", "fc_b"], ["logits"], "head", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "residual", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("residual") / "residual.onnx"
    onnx.save(model, str(path))
    return path


def test_int8_runs_integer_from_first_layer_to_last(residual_onnx, tmp_path):
    """Every operator carries Q/DQ, so at load ONNX Runtime fuses the whole ResNet chain (Conv,
    Relu, MaxPool, Add, GlobalAveragePool, Gemm) into integer kernels: one QuantizeLinear at the
    input, one DequantizeLinear at the output, no float round trip (DequantizeLinear ->
    QuantizeLinear) in between."""
    model = get_translator("onnxruntime", "int8").plan(residual_onnx, "int8", True, _calibration("minmax", 2), tmp_path).quantize(tmp_path / "q.onnx")
    saved = onnx.load(str(model)).graph
    producers = {o: n.op_type for n in saved.node for o in n.output}
    for node in saved.node:
        if node.op_type in ("MaxPool", "Add", "GlobalAveragePool", "Flatten"):
            assert all(producers[i] == "DequantizeLinear" for i in node.input), f"{node.name} runs on float activations"
    fused = _fused_graph(model, tmp_path)
    kinds = [n.op_type for n in fused.node]
    assert kinds.count("QuantizeLinear") == 1 and kinds.count("DequantizeLinear") == 1, kinds
    assert {"Conv", "Relu", "GlobalAveragePool", "Gemm", "MatMul"}.isdisjoint(kinds), kinds
    fused_producers = {o: n.op_type for n in fused.node for o in n.output}
    assert not [n.name for n in fused.node if n.op_type == "QuantizeLinear" and fused_producers.get(n.input[0]) == "DequantizeLinear"]


def test_int8_weights_are_7_bit(wide_onnx, tmp_path):
    """reduce_range: weights in [-64, 64], so the non-VNNI U8S8 kernel's int16 pair sums (255 x 64 x 2) cannot saturate."""
    model = onnx.load(str(get_translator("onnxruntime", "int8").plan(wide_onnx, "int8", True, _calibration("minmax", 2), tmp_path).quantize(tmp_path / "q.onnx")))
    weights = [onnx.numpy_helper.to_array(i) for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and i.dims and np.prod(i.dims) > 16]
    assert weights and all(w.min() >= -64 and w.max() <= 64 for w in weights)
    assert max(int(np.abs(w).max()) for w in weights) >= 60  # the range is used, just one bit narrower


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
