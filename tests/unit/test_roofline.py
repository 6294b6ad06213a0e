"""The roofline's counts against torch's own FLOP counter, its GEMM probe against numpy, and its verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgesdk import roofline
from edgesdk.errors import InputError

pytest.importorskip("openvino", reason="the op counter reads graphs with OpenVINO: pip install 'edgesdk[openvino]'")


class _Net(torch.nn.Module):
    """Every kind the counter treats apart: dense, grouped, strided and transposed convolutions,
    a pooling, a linear layer (MatMul), and element-wise ops."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.depthwise = torch.nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False)
        self.grouped = torch.nn.Conv2d(8, 12, 3, groups=4)
        self.up = torch.nn.ConvTranspose2d(12, 6, 3, stride=2, groups=3)
        self.head = torch.nn.Linear(6, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = self.depthwise(x) + x
        x = torch.nn.functional.max_pool2d(self.grouped(x), 2)
        return self.head(self.up(x).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def net_onnx(tmp_path_factory) -> tuple[Path, torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = _Net().eval()
    x = torch.rand(1, 3, 37, 53)
    path = tmp_path_factory.mktemp("roofline") / "net.onnx"
    torch.onnx.export(net, (x,), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    return path, net, x


def test_conv_and_matmul_operations_equal_torchs_flop_counter(net_onnx):
    path, net, x = net_onnx
    with FlopCounterMode(display=False) as counter:
        net(x)
    work = roofline.count_work(path)
    dense = sum(work.by_kind[k] for k in ("Convolution", "GroupConvolution", "GroupConvolutionBackpropData", "MatMul"))
    assert dense == counter.get_total_flops()


def test_element_wise_ops_count_one_per_output_element(net_onnx):
    path, net, x = net_onnx
    stem = net.stem(x)
    # Relu after the stem, the residual Add, the max-pool window of 2x2 over the grouped conv.
    assert work_of(path)["Relu"] == stem.numel()
    grouped = net.grouped(net.depthwise(torch.relu(stem)) + torch.relu(stem))
    assert work_of(path)["MaxPool"] == torch.nn.functional.max_pool2d(grouped, 2).numel() * 4


def work_of(path: Path) -> dict[str, int]:
    return roofline.count_work(path).by_kind


def test_bytes_are_the_weights_once_and_the_graphs_inputs_and_outputs(net_onnx):
    path, net, x = net_onnx
    work = roofline.count_work(path)
    parameters = sum(p.numel() for p in net.parameters())
    # Weights: every parameter once in float32, plus the exporter's few shape/axes constants.
    assert parameters * 4 <= work.weight_bytes <= parameters * 4 + 256
    assert work.input_bytes == x.numel() * 4
    assert work.output_bytes == 7 * 4
    assert work.activation_bytes > work.input_bytes + work.output_bytes


def test_a_dynamic_shape_is_refused_naming_it(tmp_path):
    net = torch.nn.Conv2d(3, 4, 3).eval()
    path = tmp_path / "dynamic.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 8, 8),), str(path), input_names=["x"], output_names=["y"], dynamic_axes={"x": {2: "h"}}, dynamo=False)
    with pytest.raises(InputError, match="static shapes"):
        roofline.count_work(path)


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
def test_the_gemm_probe_is_the_matmul_it_claims(int8, tmp_path):
    """The probe's output is A @ B (with its quantization), so its timing is a PROBE_SIZE^3 GEMM."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    blob = roofline._probe_model(int8)
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(blob).graph.initializer}
    a = np.random.default_rng(3).uniform(-2, 2, (roofline.PROBE_SIZE, roofline.PROBE_SIZE)).astype(np.float32)
    got = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {"a": a})[0]
    if int8:
        scale, zero = float(inits["a_scale"]), int(inits["a_zero"])
        a = (np.clip(np.round(a / scale) + zero, 0, 255) - zero) * scale
        b = inits["b_q"].astype(np.float32) * float(inits["b_scale"])
    else:
        b = inits["b"]
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("runtime", roofline.PROBE_RUNTIMES)
def test_the_probe_runs_in_each_runtime(runtime):
    assert roofline.peak_gops(runtime, int8=False, threads=1) > 1
    assert roofline.peak_gops(runtime, int8=True, threads=1) > 1


def test_onnx_runtime_runs_the_int8_probe_as_an_integer_gemm(tmp_path):
    """Timings on a shared machine cannot tell an integer GEMM from a float fallback; the graph
    ONNX Runtime actually runs can."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(roofline._probe_model(True), options, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}
    assert ops & {"MatMulIntegerToFloat", "MatMulInteger", "QLinearMatMul"}, ops
    assert "MatMul" not in ops


def test_openvino_runs_the_int8_probe_as_an_integer_gemm(tmp_path):
    import openvino as ov

    from edgesdk.backends.openvino import config

    path = tmp_path / "probe.onnx"
    path.write_bytes(roofline._probe_model(True))
    core = ov.Core()
    runtime = core.compile_model(core.read_model(str(path)), "CPU", config(1)).get_runtime_model()
    gemms = [op.get_rt_info()["runtimePrecision"].astype(str) for op in runtime.get_ordered_ops() if op.get_rt_info()["layerType"].astype(str) in ("FullyConnected", "MatMul")]
    assert gemms and all(p in ("u8", "i8") for p in gemms), gemms


def test_a_runtime_without_a_probe_is_an_input_error():
    with pytest.raises(InputError, match="no GEMM probe for ncnn"):
        roofline.peak_gops("ncnn", int8=False, threads=1)


def test_stages_are_memory_bound_under_the_ridge_and_compute_bound_over_it():
    peak, bandwidth = 100.0, 10.0  # ridge: 10 operations per byte
    memory = roofline._compute_stage("infer", 1.0, operations=9_000_000, nbytes=1_000_000, peak=peak, bandwidth=bandwidth, ridge=10.0)
    compute = roofline._compute_stage("infer", 1.0, operations=11_000_000, nbytes=1_000_000, peak=peak, bandwidth=bandwidth, ridge=10.0)
    assert (memory.bound, compute.bound) == ("memory", "compute")
    assert compute.achieved_gops == pytest.approx(11.0) and compute.percent_of_peak == pytest.approx(11.0)
    assert compute.achieved_gbs == pytest.approx(1.0) and compute.percent_of_bandwidth == pytest.approx(10.0)
    pre = roofline._bytes_stage("preprocess", 0.5, 1_000_000, bandwidth)
    assert pre.achieved_gbs == pytest.approx(2.0) and pre.percent_of_bandwidth == pytest.approx(20.0) and pre.operations is None


def test_the_chart_is_a_png(tmp_path):
    stage = roofline._compute_stage("infer", 2.0, 50_000_000, 1_000_000, 100.0, 10.0, 10.0)
    report = {"peak_gops": 100.0, "copy_bandwidth_gbs": 10.0, "ridge_ops_per_byte": 10.0, "stages": [roofline.asdict(stage)]}
    path = roofline.write_chart(report, tmp_path / "roof.png", "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
