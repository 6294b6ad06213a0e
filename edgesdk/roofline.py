"""The roofline of a bundle on this machine: how much work its model is, how fast this CPU can do
that kind of work, and how close the SDK's measured stages come to it.

Three measurements, all taken in the same run as the latencies they are compared with:
- **work**: floating-point (or integer) operations and bytes of the model's graph, per op kind,
  read with OpenVINO's graph reader (it reads ONNX, OpenVINO IR and float32 TensorFlow Lite, so one
  counter serves those runtimes; for the others the build records the count of the ONNX graph the
  model was converted from, WORK_REPORT). A multiply-add is 2 operations; element-wise ops count one per output element.
  Bytes are the naive traffic: every weight once, plus every compute op's activations read and
  written as if no cache held them, so the intensity is a lower bound.
- **compute peak**: the machine's, not one runtime's: the best of every GEMM probe that runs here
  at the bundle's precision (a MatMul and a 1x1 Convolution, float32 or u8 x s8 Q/DQ, in each
  runtime of PROBE_RUNTIMES installed), on the same number of threads. A runtime slower on a toy
  GEMM (OpenVINO runs an int8 MatMul through a generic GEMM at a third of its 1x1 convolution's
  rate) does not lower the roof; the bundle runtime's own best probe is reported beside it, with
  the vector instruction set the peak assumes and the clock it implies at that set's rate.
- **memory bandwidth**: a large single-threaded array copy (read + write).

A stage is memory-bound when its intensity (operations per byte) is under the ridge point
(peak / bandwidth). Pre- and post-processing are reported by bytes only: their operations are a
few per byte by construction, so what counts is how close they come to the copy bandwidth.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends import Artifact, get_backend
from edgesdk.errors import BackendUnavailable, InputError

# Runtimes whose Python runner takes an ONNX file as well as their own format, so the GEMM probes
# are one ONNX graph for all of them; the Python module each needs.
_PROBE_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
PROBE_RUNTIMES = tuple(_PROBE_MODULES)
PROBE_SHAPES = ("matmul", "conv1x1")
# Whether the runtime's int8 convolution probe ends in a QuantizeLinear: ONNX Runtime fuses a Q/DQ
# Conv into its integer kernel only with one after it; OpenVINO runs that FakeQuantize as a node of
# its own (a sixth of the probe's time), where in a model it fuses into the next layer's input.
_REQUANTIZED_CONV = {"onnxruntime": True, "openvino": False}
# The model formats count_work reads (OpenVINO's graph reader). Its TensorFlow Lite frontend reads
# a float32 LiteRT model but not an int8 one ("Chosen Builtin Option is not accessible"): a model
# it cannot read has its build's record (WORK_REPORT) counted instead.
COUNTED_FORMATS = {".onnx": "ONNX", ".xml": "OpenVINO IR", ".tflite": "TensorFlow Lite"}
PROBE_SIZE = 512  # M = N = K: 0.27 GFLOP, inside the caches: the probe measures compute, not memory
PROBE_RUNS = 20
PROBE_OUTPUT_SCALE = 0.5  # the int8 convolution's output step: +-64 holds its sums of 512 products
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


# A bundle whose model count_work does not read (ncnn, MNN, ExecuTorch, int8 LiteRT) holds the work
# of the graph it was converted from, counted at build time (api.build): its operations are that graph's.
WORK_REPORT = "reports/work.json"
_WORK_FIELDS = ("operations", "weight_bytes", "activation_bytes", "input_bytes", "output_bytes")


def work_record(work: Work, graph: str) -> dict[str, Any]:
    """What reports/work.json holds: the counts and the graph they were counted on."""
    return {"graph": graph, **{f: getattr(work, f) for f in _WORK_FIELDS}, "by_kind": dict(sorted(work.by_kind.items()))}


def needs_record(model_path: Path) -> bool:
    """Whether a bundle's build records the work of its source graph: its model is not one that
    count_work reads here (a format it does not read, an int8 LiteRT model, no OpenVINO)."""
    if model_path.suffix not in COUNTED_FORMATS:
        return True
    if model_path.suffix in (".onnx", ".xml"):
        return False  # always read (where OpenVINO is installed to count anything)
    try:
        count_work(model_path)
    except InputError:
        return True
    return False


def bundle_work(bundle: Path, sdk: dict[str, Any]) -> tuple[Work, str] | str:
    """The work of a bundle's model and the graph counted: the model itself where count_work reads
    it, else the work its build recorded of the graph it was converted from; or why neither."""
    model = Path(sdk["model"]["file"])
    if model.suffix in COUNTED_FORMATS:
        try:
            return count_work(bundle / model), f"the bundle's {COUNTED_FORMATS[model.suffix]} model"
        except InputError as exc:
            reason = str(exc)
    else:
        reason = f"the roofline reads {', '.join(COUNTED_FORMATS.values())} graphs, and this {sdk['runtime']} bundle's model is a {model.suffix} file"
    recorded = recorded_work(bundle)
    return recorded if not isinstance(recorded, str) else f"{reason}; {recorded}"


def recorded_work(bundle: Path) -> tuple[Work, str] | str:
    """The work a bundle's build recorded and the graph it counted, or why there is none."""
    path = bundle / WORK_REPORT
    if not path.is_file():
        return f"the bundle has no {WORK_REPORT} of the graph its model was converted from (built before builds recorded one, or its model was read when it was built)"
    record = json.loads(path.read_text(encoding="utf-8"))
    if "skipped" in record:
        return f"the build could not count the graph the model was converted from: {record['skipped']}"
    return Work(**{f: int(record[f]) for f in _WORK_FIELDS}, by_kind={k: int(v) for k, v in record["by_kind"].items()}), str(record["graph"])


def count_work(model_path: Path) -> Work:
    """Count the graph at `model_path` (COUNTED_FORMATS); every shape must be static."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise InputError("counting a model's operations uses OpenVINO's graph reader: pip install 'edgesdk[openvino]'") from exc
    try:
        model = ov.Core().read_model(str(model_path))
    except RuntimeError as exc:  # the frontend's failure: its first line names the check that failed
        text = [line for line in str(exc).splitlines() if line.strip()]
        raise InputError(f"{model_path.name}: OpenVINO's graph reader cannot read it ({text[-1].strip() if text else type(exc).__name__})") from exc
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


def _probe_model(int8: bool, shape: str = "matmul", requantize: bool = True) -> bytes:
    """A PROBE_SIZE^3 GEMM as an ONNX graph: float32, or with u8 activations x s8 weights in Q/DQ
    form (what the runtimes fuse into their integer kernels). `shape` "matmul": a [n, n] x [n, n]
    MatMul; "conv1x1": a 1x1 Convolution of n channels to n over n pixels (an [n, n] x [n, n] GEMM
    too, but one that reaches the runtimes' convolution kernels: OpenVINO runs an int8 MatMul
    through a slower generic GEMM than its int8 1x1 convolution). With `requantize` the int8
    convolution's output is quantized again, as in a quantized model (see _REQUANTIZED_CONV)."""
    from onnx import TensorProto, helper, numpy_helper

    n = PROBE_SIZE
    rng = np.random.default_rng(0)
    a_shape, b_shape = _probe_input_shape(shape), [n, n] if shape == "matmul" else [n, n, 1, 1]
    op = "MatMul" if shape == "matmul" else "Conv"
    nodes, inits = [], []
    a_in = helper.make_tensor_value_info("a", TensorProto.FLOAT, a_shape)
    y_out = helper.make_tensor_value_info("y", TensorProto.FLOAT, a_shape)
    if int8:
        inits += [
            numpy_helper.from_array(np.array(0.02, np.float32), "a_scale"),
            numpy_helper.from_array(np.array(128, np.uint8), "a_zero"),
            # 7-bit weights, as ONNX Runtime's reduce_range: AVX2's u8 x s8 pair sums saturate
            # int16 with the full range; the kernel, and so the timing, is the same.
            numpy_helper.from_array(rng.integers(-63, 64, b_shape, dtype=np.int8), "b_q"),
            numpy_helper.from_array(np.array(0.01, np.float32), "b_scale"),
            numpy_helper.from_array(np.array(0, np.int8), "b_zero"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["a", "a_scale", "a_zero"], ["a_q"]),
            helper.make_node("DequantizeLinear", ["a_q", "a_scale", "a_zero"], ["a_dq"]),
            helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zero"], ["b"]),
        ]
        if shape == "matmul" or not requantize:
            nodes.append(helper.make_node(op, ["a_dq", "b"], ["y"]))
        else:
            inits += [numpy_helper.from_array(np.array(PROBE_OUTPUT_SCALE, np.float32), "y_scale")]
            nodes += [
                helper.make_node(op, ["a_dq", "b"], ["y_f"]),
                helper.make_node("QuantizeLinear", ["y_f", "y_scale", "a_zero"], ["y_q"]),
                helper.make_node("DequantizeLinear", ["y_q", "y_scale", "a_zero"], ["y"]),
            ]
    else:
        inits.append(numpy_helper.from_array(rng.standard_normal(b_shape).astype(np.float32), "b"))
        nodes.append(helper.make_node(op, ["a", "b"], ["y"]))
    graph = helper.make_graph(nodes, "gemm_probe", [a_in], [y_out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _probe_input_shape(shape: str) -> list[int]:
    n = PROBE_SIZE
    # n pixels as a [16, n/16] image: a 1x1 convolution reads them as the GEMM's n rows.
    return [n, n] if shape == "matmul" else [1, n, 16, n // 16]


def probe_gops(runtime: str, int8: bool, threads: int, shape: str = "matmul") -> float:
    """Operations per second (x 1e9) of one GEMM probe in `runtime`: the fastest of PROBE_RUNS,
    since a peak is what the core can do when nothing else is running on it."""
    if runtime not in PROBE_RUNTIMES:
        raise InputError(f"no GEMM probe for {runtime}: the probes run in {', '.join(PROBE_RUNTIMES)}")
    with tempfile.TemporaryDirectory(prefix="edgesdk-probe-") as tmp:
        path = Path(tmp) / "probe.onnx"
        path.write_bytes(_probe_model(int8, shape, _REQUANTIZED_CONV[runtime]))
        run = get_backend(runtime).runner(Artifact(folder=Path(tmp), main=path.name, files=[path.name], runtime=runtime), threads=threads)
        feeds = {"a": np.random.default_rng(1).uniform(-2, 2, _probe_input_shape(shape)).astype(np.float32)}
        for _ in range(3):
            run(feeds)
        times = []
        for _ in range(PROBE_RUNS):
            start = time.perf_counter()
            run(feeds)
            times.append(time.perf_counter() - start)
    return 2 * PROBE_SIZE**3 / min(times) / 1e9


def peak_gops(runtime: str, int8: bool, threads: int) -> float:
    """The runtime's own peak: the fastest of its GEMM probes (for context beside the machine's)."""
    return max(probe_gops(runtime, int8, threads, shape) for shape in PROBE_SHAPES)


def probe_label(runtime: str, int8: bool, shape: str) -> str:
    kind = "u8 x s8 Q/DQ" if int8 else "float32"
    return f"{PROBE_SIZE}^3 {kind} {'MatMul' if shape == 'matmul' else '1x1 Convolution'} in {runtime}"


@dataclass
class Peak:
    """The machine's peak at a precision: the best of every probe that runs here, so that a runtime
    slower on a toy GEMM does not lower the roof of the others."""

    gops: float
    probe: str  # the probe that gave it
    runtime: str  # the runtime that ran that probe
    probes_gops: dict[str, float]  # every probe's figure, by probe_label
    skipped: dict[str, str]  # runtime -> why its probes did not run


def probe_runtimes_here() -> tuple[list[str], dict[str, str]]:
    """The PROBE_RUNTIMES installed here, and why each other one is not."""
    here, skipped = [], {}
    for runtime in PROBE_RUNTIMES:
        try:
            importlib.import_module(_PROBE_MODULES[runtime])
        except ImportError as exc:
            skipped[runtime] = f"not installed ({exc})"
            continue
        here.append(runtime)
    return here, skipped


def machine_peak(int8: bool, threads: int) -> Peak:
    """The best of every GEMM probe at the precision, in every runtime with probes installed here."""
    runtimes, skipped = probe_runtimes_here()
    if not runtimes:
        raise BackendUnavailable(f"no runtime with a GEMM probe is installed ({', '.join(f'{rt}: {why}' for rt, why in skipped.items())})")
    return _best_of({probe_label(rt, int8, shape): probe_gops(rt, int8, threads, shape) for rt in runtimes for shape in PROBE_SHAPES}, skipped)


def best_peak(peaks: list[Peak]) -> Peak:
    """One peak out of repeated machine_peak measurements: every probe's fastest, and the best of those."""
    probes: dict[str, float] = {}
    for peak in peaks:
        for label, gops in peak.probes_gops.items():
            probes[label] = max(probes.get(label, 0.0), gops)
    return _best_of(probes, peaks[0].skipped)


def _best_of(probes: dict[str, float], skipped: dict[str, str]) -> Peak:
    best = max(probes, key=lambda label: probes[label])
    return Peak(probes[best], best, _runtime_of(best), dict(probes), skipped)


def _runtime_of(label: str) -> str:
    return label.rsplit(" in ", 1)[1]


def runtime_peak(peak: Peak, runtime: str) -> float | None:
    """The fastest of `runtime`'s own probes within `peak`, or None where it has none."""
    own = [gops for label, gops in peak.probes_gops.items() if _runtime_of(label) == runtime]
    return max(own) if own else None


# ---- what the peak assumes: the vector instruction set --------------------------------------------
@dataclass
class VectorIsa:
    """The widest vector instructions this CPU has for each precision, and the operations per cycle
    they allow at two vector pipes (two FMA pipes and two integer-multiply pipes: Skylake and Zen 2-4
    alike; Zen 4's 512-bit instructions take two passes through its 256-bit ones): a sanity bound on
    the probes, peak / ops_per_cycle being the clock the peak implies."""

    name: str
    float32_ops_per_cycle: int | None
    int8_ops_per_cycle: int | None
    float32_kernel: str
    int8_kernel: str


def vector_isa(cpuinfo: Path = Path("/proc/cpuinfo")) -> VectorIsa:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return VectorIsa("unknown (no /proc/cpuinfo)", None, None, "unknown", "unknown")
    flags: set[str] = set()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags |= set(value.split())
        fields.setdefault(key.strip(), value.strip())
    # AMD Zen 4 (family 25 is Zen 3 and 4; only Zen 4 has AVX-512) runs a 512-bit instruction as two
    # halves on its 256-bit pipes: zmm doubles the work per instruction, not per cycle.
    halves = 2 if fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25" else 1
    if "avx512_vnni" in flags:
        # vpdpbusd zmm: 64 u8 x s8 multiply-adds in one instruction.
        name = "AVX-512 VNNI" + (" (Zen 4: 512 bits as two 256-bit halves)" if halves == 2 else "")
        return VectorIsa(name, 64 // halves, 256 // halves, "vfmadd231ps zmm", "vpdpbusd zmm")
    if "avx_vnni" in flags:
        return VectorIsa("AVX2 + AVX-VNNI", 32, 128, "vfmadd231ps ymm", "vpdpbusd ymm")
    if "avx512bw" in flags:
        return VectorIsa("AVX-512 (no VNNI)", 64 // halves, 128 // halves, "vfmadd231ps zmm", "vpmaddubsw + vpmaddwd zmm")
    if "avx2" in flags and "fma" in flags:
        # 32 u8 x s8 multiply-adds take two multiplies (vpmaddubsw to int16 pairs, vpmaddwd by ones
        # to int32) on the same two pipes: 32 MACs = 64 operations per cycle, twice float32's rate.
        return VectorIsa("AVX2 + FMA (no VNNI, no AVX-512)", 32, 64, "vfmadd231ps ymm", "vpmaddubsw + vpmaddwd ymm")
    if "asimd" in flags:
        return VectorIsa("NEON" + (" + dot product" if "asimddp" in flags else "") + (" + i8mm" if "i8mm" in flags else ""), None, None, "fmla", "sdot" if "asimddp" in flags else "smull/sadalp")
    return VectorIsa("below AVX2", None, None, "unknown", "unknown")


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


def roofline(sdk: dict[str, Any], counted: tuple[Work, str], stage_ms: dict[str, float], threads: int, image_bytes: int) -> dict[str, Any]:
    """The roofline report of the C++ SDK's measured stages (`stage_ms`: preprocess, infer,
    postprocess, e2e in milliseconds) on an image of `image_bytes` decoded pixels. `counted`: the
    model's work and the graph it was counted on (bundle_work)."""
    runtime = sdk["runtime"]
    int8 = str(sdk.get("quantization", {}).get("mode", "none")).startswith("int8")
    work, graph = counted
    machine = machine_peak(int8, threads)
    peak = machine.gops
    isa = vector_isa()
    ops_per_cycle = isa.int8_ops_per_cycle if int8 else isa.float32_ops_per_cycle
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
        "peak_probe": machine.probe,
        "peak_runtime": machine.runtime,
        "probes_gops": machine.probes_gops,
        "probes_skipped": machine.skipped,
        "runtime_peak_gops": runtime_peak(machine, runtime),
        "isa": {
            "name": isa.name,
            "kernel": isa.int8_kernel if int8 else isa.float32_kernel,
            "ops_per_cycle": ops_per_cycle,
            # The clock at which the instruction set's rate equals the peak: above the CPU's real
            # clock would mean a wrong probe or count; far under it, a probe below the hardware.
            "implied_clock_ghz": peak / ops_per_cycle if ops_per_cycle else None,
        },
        "copy_bandwidth_gbs": bandwidth,
        "ridge_ops_per_byte": ridge,
        "model": {
            "counted_graph": graph,
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
