"""The roofline of a bundle on this machine: how much work its model is, how fast this CPU can do
that kind of work, and how close the SDK's measured stages come to it.

Three measurements, all taken in the same run as the latencies they are compared with:
- **work**: floating-point (or integer) operations and bytes of the model's graph, per op kind,
  read with OpenVINO's graph reader (it reads both ONNX and OpenVINO IR, so one counter serves
  both runtimes). A multiply-add is 2 operations; element-wise ops count one per output element.
  Bytes are the naive traffic: every weight once, plus every compute op's activations read and
  written as if no cache held them, so the intensity is a lower bound.
- **compute peak**: a GEMM probe run in the bundle's own runtime at the bundle's precision
  (float32 MatMul, or u8 x s8 Q/DQ MatMul for int8 bundles), on the same number of threads.
- **memory bandwidth**: a large single-threaded array copy (read + write).

A stage is memory-bound when its intensity (operations per byte) is under the ridge point
(peak / bandwidth). Pre- and post-processing are reported by bytes only: their operations are a
few per byte by construction, so what counts is how close they come to the copy bandwidth.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends import Artifact, get_backend
from edgesdk.errors import InputError

# Runtimes whose Python runner takes an ONNX file as well as their own format, so the GEMM probe
# runs in the very runtime that runs the bundle.
PROBE_RUNTIMES = ("onnxruntime", "openvino")
PROBE_SIZE = 512  # M = N = K: 0.27 GFLOP, inside the caches: the probe measures compute, not memory
PROBE_RUNS = 15
COPY_BYTES = 128 << 20

_MATMUL_LIKE = {"MatMul"}
_CONVOLUTION = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData"}
_POOLING = {"MaxPool", "AvgPool"}
# Ops that move or reinterpret data without arithmetic.
_NO_ARITHMETIC = {
    "Parameter",
    "Result",
    "Constant",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Split",
    "VariadicSplit",
    "Gather",
    "StridedSlice",
    "Slice",
    "ShapeOf",
    "Broadcast",
    "Tile",
    "Pad",
    "Convert",
}
_SOFTMAX_OPS_PER_ELEMENT = 5  # max, subtract, exp, sum, divide


@dataclass
class Work:
    """Operations and bytes of a model's graph, and the ops it has per kind."""

    operations: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0
    input_bytes: int = 0  # the graph's inputs: what pre-processing writes
    output_bytes: int = 0  # the graph's outputs: what post-processing reads
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes


def count_work(model_path: Path) -> Work:
    """Count the graph at `model_path` (.onnx or OpenVINO .xml); every shape must be static."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise InputError("counting a model's operations uses OpenVINO's graph reader: pip install 'edgesdk[openvino]'") from exc
    model = ov.Core().read_model(str(model_path))
    work = Work()
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Constant":
            work.weight_bytes += _nbytes(op.get_output_partial_shape(0), op.get_output_element_type(0), model_path)
            continue
        if kind == "Parameter":
            work.input_bytes += _nbytes(op.get_output_partial_shape(0), op.get_output_element_type(0), model_path)
        elif kind == "Result":
            work.output_bytes += _nbytes(op.get_input_partial_shape(0), op.get_input_element_type(0), model_path)
        if kind in _NO_ARITHMETIC:
            continue
        outputs = [_elements(op.get_output_partial_shape(i), model_path, op) for i in range(op.get_output_size())]
        operations = _operations(op, kind, outputs[0] if outputs else 0, model_path)
        work.operations += operations
        work.by_kind[kind] = work.by_kind.get(kind, 0) + operations
        for i in range(op.get_input_size()):
            source = op.input_value(i).get_node()
            if source.get_type_name() != "Constant":
                work.activation_bytes += _nbytes(op.get_input_partial_shape(i), op.get_input_element_type(i), model_path)
        work.activation_bytes += sum(_nbytes(op.get_output_partial_shape(i), op.get_output_element_type(i), model_path) for i in range(op.get_output_size()))
    return work


def _elements(shape, model_path: Path, op=None) -> int:
    if shape.is_dynamic:
        where = f" at {op.get_friendly_name()}" if op is not None else ""
        raise InputError(f"{model_path}: the roofline needs static shapes; {shape}{where} is dynamic")
    return int(np.prod([d.get_length() for d in shape], dtype=np.int64))


def _nbytes(shape, element_type, model_path: Path) -> int:
    return _elements(shape, model_path) * max(1, element_type.bitwidth // 8)


def _operations(op, kind: str, out_elements: int, model_path: Path) -> int:
    if kind in _CONVOLUTION:
        # Weights: [O, I, k...], grouped [G, O/G, I/G, k...]; backprop data (transposed) [I, O, k...],
        # grouped [G, I/G, O/G, k...]. A convolution does I/G x k multiply-adds per output element;
        # a transposed one O/G x k per input element.
        weights = [d.get_length() for d in op.get_input_partial_shape(1)]
        grouped = kind.startswith("Group")
        kernel = int(np.prod(weights[3:] if grouped else weights[2:], dtype=np.int64))
        depth = weights[2 if grouped else 1]
        if "Backprop" in kind:
            return 2 * _elements(op.get_input_partial_shape(0), model_path, op) * depth * kernel
        return 2 * out_elements * depth * kernel
    if kind in _MATMUL_LIKE:
        a = [d.get_length() for d in op.get_input_partial_shape(0)]
        transposed = bool(op.get_attributes().get("transpose_a", False))
        depth = a[-2] if transposed and len(a) > 1 else a[-1]
        return 2 * out_elements * depth
    if kind in _POOLING:
        return out_elements * int(np.prod(op.get_attributes()["kernel"], dtype=np.int64))
    if kind == "SoftMax" or kind == "Softmax":
        return _SOFTMAX_OPS_PER_ELEMENT * out_elements
    if kind.startswith("Reduce"):
        return _elements(op.get_input_partial_shape(0), model_path, op)
    return out_elements  # element-wise and everything else: one per output element


# ---- measured roofs ------------------------------------------------------------------------
def copy_bandwidth_gbs(runs: int = 5) -> float:
    """Single-threaded copy bandwidth (bytes read + written per second), best of `runs`."""
    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * COPY_BYTES / best / 1e9


def _probe_model(int8: bool) -> bytes:
    """A PROBE_SIZE^3 MatMul: float32, or with u8 activations x s8 weights in Q/DQ form (what the
    runtimes fuse into their integer GEMM)."""
    from onnx import TensorProto, helper, numpy_helper

    n = PROBE_SIZE
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    a_in = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    y_out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    if int8:
        inits += [
            numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
            numpy_helper.from_array(np.array(128, np.uint8), "a_zero"),
            # 7-bit weights, as ONNX Runtime's reduce_range: AVX2's u8 x s8 pair sums saturate
            # int16 with the full range; the kernel, and so the timing, is the same.
            numpy_helper.from_array(rng.integers(-63, 64, (n, n), dtype=np.int8), "b_q"),
            numpy_helper.from_array(np.array(0.01, np.float32), "b_scale"),
            numpy_helper.from_array(np.array(0, np.int8), "b_zero"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["a", "a_scale", "a_zero"], ["a_q"]),
            helper.make_node("DequantizeLinear", ["a_q", "a_scale", "a_zero"], ["a_dq"]),
            helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zero"], ["b"]),
            helper.make_node("MatMul", ["a_dq", "b"], ["y"]),
        ]
    else:
        inits.append(numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "b"))
        nodes.append(helper.make_node("MatMul", ["a", "b"], ["y"]))
    graph = helper.make_graph(nodes, "gemm_probe", [a_in], [y_out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def peak_gops(runtime: str, int8: bool, threads: int) -> float:
    """Operations per second (x 1e9) of the GEMM probe in `runtime`: the fastest of PROBE_RUNS,
    since a peak is what the core can do when nothing else is running on it."""
    if runtime not in PROBE_RUNTIMES:
        raise InputError(f"no GEMM probe for {runtime}: the roofline runs for {', '.join(PROBE_RUNTIMES)} bundles")
    with tempfile.TemporaryDirectory(prefix="edgesdk-probe-") as tmp:
        path = Path(tmp) / "probe.onnx"
        path.write_bytes(_probe_model(int8))
        run = get_backend(runtime).runner(Artifact(folder=Path(tmp), main=path.name, files=[path.name], runtime=runtime), threads=threads)
        feeds = {"a": np.random.default_rng(1).uniform(-2, 2, (PROBE_SIZE, PROBE_SIZE)).astype(np.float32)}
        for _ in range(3):
            run(feeds)
        times = []
        for _ in range(PROBE_RUNS):
            start = time.perf_counter()
            run(feeds)
            times.append(time.perf_counter() - start)
    return 2 * PROBE_SIZE**3 / min(times) / 1e9


# ---- the report --------------------------------------------------------------------------------
@dataclass
class Stage:
    name: str
    ms: float
    bytes: int
    operations: int | None  # None: reported by bytes only
    achieved_gops: float | None
    achieved_gbs: float
    percent_of_peak: float | None
    percent_of_bandwidth: float
    intensity: float | None
    bound: str  # "compute" | "memory"


def roofline(bundle: Path, sdk: dict[str, Any], stage_ms: dict[str, float], threads: int, image_bytes: int) -> dict[str, Any]:
    """The roofline report of the C++ SDK's measured stages (`stage_ms`: preprocess, infer,
    postprocess, e2e in milliseconds) on an image of `image_bytes` decoded pixels."""
    runtime = sdk["runtime"]
    int8 = str(sdk.get("quantization", {}).get("mode", "none")).startswith("int8")
    work = count_work(bundle / sdk["model"]["file"])
    peak = peak_gops(runtime, int8, threads)
    bandwidth = copy_bandwidth_gbs()
    ridge = peak / bandwidth
    tensor_bytes, output_bytes = work.input_bytes, work.output_bytes
    stages = [
        _bytes_stage("preprocess", stage_ms["preprocess"], image_bytes + tensor_bytes, bandwidth),
        _compute_stage("infer", stage_ms["infer"], work.operations, work.bytes, peak, bandwidth, ridge),
        _bytes_stage("postprocess", stage_ms["postprocess"], output_bytes, bandwidth),
        _compute_stage("e2e", stage_ms["e2e"], work.operations, work.bytes + image_bytes + tensor_bytes + output_bytes, peak, bandwidth, ridge),
    ]
    return {
        "precision": "int8" if int8 else "float32",
        "threads": threads,
        "peak_gops": peak,
        "peak_probe": f"{PROBE_SIZE}^3 {'u8 x s8 Q/DQ' if int8 else 'float32'} MatMul in {runtime}",
        "copy_bandwidth_gbs": bandwidth,
        "ridge_ops_per_byte": ridge,
        "model": {
            "operations": work.operations,
            "weight_bytes": work.weight_bytes,
            "activation_bytes": work.activation_bytes,
            "operations_by_kind": dict(sorted(work.by_kind.items(), key=lambda kv: -kv[1])),
        },
        "floor_ms": work.operations / peak / 1e6,
        "infer_vs_floor": stage_ms["infer"] / (work.operations / peak / 1e6) if work.operations else None,
        "stages": [asdict(s) for s in stages],
    }


def _bytes_stage(name: str, ms: float, nbytes: int, bandwidth: float) -> Stage:
    gbs = nbytes / (ms / 1e3) / 1e9 if ms > 0 else 0.0
    return Stage(name, ms, nbytes, None, None, gbs, None, 100 * gbs / bandwidth, None, "memory")


def _compute_stage(name: str, ms: float, operations: int, nbytes: int, peak: float, bandwidth: float, ridge: float) -> Stage:
    seconds = ms / 1e3
    gops = operations / seconds / 1e9 if seconds > 0 else 0.0
    gbs = nbytes / seconds / 1e9 if seconds > 0 else 0.0
    intensity = operations / nbytes if nbytes else 0.0
    return Stage(name, ms, nbytes, operations, gops, gbs, 100 * gops / peak, 100 * gbs / bandwidth, intensity, "compute" if intensity >= ridge else "memory")


def write_chart(report: dict[str, Any], path: Path, title: str) -> Path:
    """A log-log roofline PNG: the compute and memory roofs, and the compute stages as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak, bandwidth, ridge = report["peak_gops"], report["copy_bandwidth_gbs"], report["ridge_ops_per_byte"]
    points = [s for s in report["stages"] if s["intensity"]]
    low = min([ridge / 100, *(s["intensity"] / 4 for s in points)])
    high = max([ridge * 100, *(s["intensity"] * 4 for s in points)])
    xs = np.geomspace(low, high, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.loglog(xs, np.minimum(peak, bandwidth * xs), color="black", label=f"roof: {peak:.0f} GOP/s, {bandwidth:.1f} GB/s copy")
    ax.axvline(ridge, color="grey", linestyle=":", label=f"ridge {ridge:.1f} op/byte")
    for stage in points:
        ax.loglog([stage["intensity"]], [stage["achieved_gops"]], "o", label=f"{stage['name']}: {stage['achieved_gops']:.1f} GOP/s ({stage['percent_of_peak']:.0f}% of peak)")
    ax.set_xlabel("operations per byte")
    ax.set_ylabel("GOP/s")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
