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


@pytest.mark.parametrize("requantize", [True, False], ids=["requantized", "float-out"])
@pytest.mark.parametrize("shape", roofline.PROBE_SHAPES)
@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
def test_the_gemm_probe_is_the_gemm_it_claims(int8, shape, requantize):
    """The probe's output is A @ B (with its quantization), so its timing is a PROBE_SIZE^3 GEMM:
    the MatMul's rows, or the 1x1 convolution's pixels, times the [n, n] weights."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    n = roofline.PROBE_SIZE
    blob = roofline._probe_model(int8, shape, requantize)
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(blob).graph.initializer}
    x = np.random.default_rng(3).uniform(-2, 2, roofline._probe_input_shape(shape)).astype(np.float32)
    got = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {"a": x})[0]
    a = x
    if int8:
        scale, zero = float(inits["a_scale"]), int(inits["a_zero"])
        a = (np.clip(np.round(a / scale) + zero, 0, 255) - zero) * scale
        b = inits["b_q"].astype(np.float32) * float(inits["b_scale"])
    else:
        b = inits["b"]
    a, b = a.astype(np.float64), b.astype(np.float64).reshape(n, n)
    if shape == "matmul":
        want, atol = a @ b, 1e-3
    else:  # out[o, pixel] = sum_c w[o, c] * in[c, pixel]
        want, atol = (b @ a.reshape(n, n)).reshape(got.shape), 1e-3
        if int8 and requantize:  # and quantized again
            scale, zero = float(inits["y_scale"]), int(inits["a_zero"])
            want, atol = (np.clip(np.round(want / scale) + zero, 0, 255) - zero) * scale, scale
            assert np.mean(np.abs(want) < 127 * scale) > 0.99  # the probe's outputs are within the step's range, not clipped
    assert a.size == n * n and got.size == n * n
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("runtime", roofline.PROBE_RUNTIMES)
def test_the_probes_run_in_each_runtime(runtime):
    for shape in roofline.PROBE_SHAPES:
        assert roofline.probe_gops(runtime, int8=False, threads=1, shape=shape) > 1
        assert roofline.probe_gops(runtime, int8=True, threads=1, shape=shape) > 1


@pytest.mark.parametrize("shape", roofline.PROBE_SHAPES)
def test_onnx_runtime_runs_the_int8_probe_as_an_integer_gemm(shape, tmp_path):
    """Timings on a shared machine cannot tell an integer GEMM from a float fallback; the graph
    ONNX Runtime actually runs can."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(roofline._probe_model(True, shape, roofline._REQUANTIZED_CONV["onnxruntime"]), options, providers=["CPUExecutionProvider"])
    ops = {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}
    assert ops & {"MatMulIntegerToFloat", "MatMulInteger", "QLinearMatMul", "QLinearConv", "ConvInteger"}, ops
    assert not ops & {"MatMul", "Conv"}, ops


@pytest.mark.parametrize("shape", roofline.PROBE_SHAPES)
def test_openvino_runs_the_int8_probe_as_an_integer_gemm(shape, tmp_path):
    """OpenVINO's executed graph: the probe's GEMM node runs in u8, in a JIT kernel, not a
    reference one (the 1x1 convolution in its int8 convolution kernel, not the generic GEMM)."""
    import openvino as ov

    from edgesdk.backends.openvino import config

    path = tmp_path / "probe.onnx"
    path.write_bytes(roofline._probe_model(True, shape, roofline._REQUANTIZED_CONV["openvino"]))
    core = ov.Core()
    runtime = core.compile_model(core.read_model(str(path)), "CPU", config(1)).get_runtime_model()
    info = [op.get_rt_info() for op in runtime.get_ordered_ops()]
    gemms = [(i["runtimePrecision"].astype(str), i["primitiveType"].astype(str)) for i in info if i["layerType"].astype(str) in ("FullyConnected", "MatMul", "Convolution")]
    assert len(gemms) == 1 and gemms[0][0] in ("u8", "i8") and "ref" not in gemms[0][1], gemms
    if shape == "conv1x1":
        assert "1x1" in gemms[0][1], gemms


def test_the_machine_peak_is_the_best_probe_and_lists_every_probe():
    peak = roofline.machine_peak(int8=True, threads=1)
    runtimes, _ = roofline.probe_runtimes_here()
    assert set(peak.probes_gops) == {roofline.probe_label(rt, True, shape) for rt in runtimes for shape in roofline.PROBE_SHAPES}
    assert peak.gops == max(peak.probes_gops.values()) and peak.probes_gops[peak.probe] == peak.gops
    assert peak.probe.endswith(f" in {peak.runtime}")
    for runtime in runtimes:
        assert roofline.runtime_peak(peak, runtime) <= peak.gops


def test_repeated_peaks_keep_each_probes_fastest_and_the_best_of_those():
    def peak(ort: float, ov: float) -> roofline.Peak:
        probes = {"512^3 u8 x s8 Q/DQ MatMul in onnxruntime": ort, "512^3 u8 x s8 Q/DQ 1x1 Convolution in openvino": ov}
        return roofline._best_of(probes, {})

    first, second = peak(150.0, 120.0), peak(110.0, 170.0)
    assert (first.gops, first.runtime, second.gops, second.runtime) == (150.0, "onnxruntime", 170.0, "openvino")
    best = roofline.best_peak([first, second])
    assert (best.gops, best.runtime, best.probe) == (170.0, "openvino", "512^3 u8 x s8 Q/DQ 1x1 Convolution in openvino")
    assert best.probes_gops == {"512^3 u8 x s8 Q/DQ MatMul in onnxruntime": 150.0, "512^3 u8 x s8 Q/DQ 1x1 Convolution in openvino": 170.0}
    assert roofline.runtime_peak(best, "onnxruntime") == 150.0 and roofline.runtime_peak(best, "ncnn") is None


@pytest.mark.parametrize(
    ("flags", "name", "float32", "int8"),
    [
        ("fpu sse2 avx fma avx2 bmi2", "AVX2 + FMA (no VNNI, no AVX-512)", 32, 64),
        ("avx2 fma avx_vnni", "AVX2 + AVX-VNNI", 32, 128),
        ("avx2 fma avx512f avx512bw avx512_vnni", "AVX-512 VNNI", 64, 256),
        ("vendor:AuthenticAMD family:25 avx2 fma avx512f avx512bw avx512_vnni", "AVX-512 VNNI (Zen 4: 512 bits as two 256-bit halves)", 32, 128),
        ("vendor:AuthenticAMD family:26 avx2 fma avx512f avx512bw avx512_vnni", "AVX-512 VNNI", 64, 256),
        ("fpu sse2", "below AVX2", None, None),
    ],
)
def test_the_instruction_set_is_read_from_cpuinfo(flags, name, float32, int8, tmp_path):
    cpu = {k: v for k, _, v in (word.partition(":") for word in flags.split() if ":" in word)}
    flags = " ".join(word for word in flags.split() if ":" not in word)
    head = f"vendor_id\t: {cpu.get('vendor', 'GenuineIntel')}\ncpu family\t: {cpu.get('family', '6')}\n"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\n{head}flags\t\t: {flags}\n\nprocessor\t: 1\n{head}flags\t\t: {flags}\n")
    isa = roofline.vector_isa(cpuinfo)
    assert (isa.name, isa.float32_ops_per_cycle, isa.int8_ops_per_cycle) == (name, float32, int8)


def test_the_int8_peak_is_within_what_the_instruction_set_allows():
    """No probe can beat the vector units: the peak over the instruction set's operations per
    cycle is the clock it implies, and no x86 core runs above 6 GHz."""
    isa = roofline.vector_isa()
    if not isa.int8_ops_per_cycle:
        pytest.skip(f"no int8 rate known for {isa.name}")
    assert roofline.machine_peak(int8=True, threads=1).gops / isa.int8_ops_per_cycle < 6.0


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
