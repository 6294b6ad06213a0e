"""TensorRT's int8 calibration cache, computed here: TensorRT's entropy calibration
(IInt8EntropyCalibrator2) on the activations of the bundle's ONNX model, run in ONNX Runtime with
every intermediate tensor as an output, over the manifest's calibration data (pre-processed by
edgesdk/quantize/calibration.py like every other int8 backend's).

The method, as NVIDIA describes it ("8-bit Inference with TensorRT", GTC 2017, S7310), per tensor:
a histogram of |activation| with 2048 bins over [0, max |activation|]; for every candidate
i in 128 .. 2048 the reference distribution P is the first i bins with every count beyond them
added to bin i-1, the candidate Q is those i bins merged into 128 levels and spread back over the
bins that were not empty; the threshold is (m + 0.5) * bin width for the i = m of least
KL(P || Q). ONNX Runtime's CalibrationMethod.Entropy (onnxruntime.quantization.calibrate,
HistogramCollector.get_entropy_threshold) implements the same search on a signed histogram; the
tests compare the two on the same activations.

The cache format is TensorRT's own, as TensorRT reads it (`trtexec --calib=`, a calibrator's
readCalibrationCache) -- checked against:
  - TensorRT v10.3.0 samples/common/sampleEngines.cpp, readScalesFromCalibrationCache: per line
    `<name>: <8 hex digits>`, "Scales should be stored in calibration cache as 32-bit floating
    numbers encoded as 32-bit integers" (std::stoi(line.substr(colon + 2, 8), nullptr, 16),
    reinterpreted as float), and the dynamic range is 127 * scale;
  - ONNX Runtime's TensorRT provider (tensorrt_execution_provider_utils.h, ReadDynamicRange):
    "tensor name : scale in 32-bit single precision IEEE754 format", first line
    `TRT-7103-EntropyCalibration2`;
  - TensorRT 10.3's NvInferRuntimeBase.h: NV_TENSORRT_VERSION = major * 10000 + minor * 100 +
    patch (100300 for 10.3.0), the number in the first line. TensorRT 10 refuses a cache whose
    first line names another version and calibrates again (with no data, on the device): the
    generated builder hands TensorRT the cache with the linked library's number in that line.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HISTOGRAM_BINS = 2048
QUANTIZED_BINS = 128
INT8_MAX = 127
ALGORITHM = "EntropyCalibration2"
_LINE = re.compile(r"^(?P<name>.+): (?P<hex>[0-9a-f]{8})$")
_HEADER = re.compile(rf"^TRT-(?P<version>[0-9]+)-{ALGORITHM}$")


def trt_version_number(version: str) -> int:
    """NV_TENSORRT_VERSION of a "major.minor.patch" release: 10.3.0 -> 100300."""
    major, minor, patch = (int(p) for p in version.split("."))
    return major * 10000 + minor * 100 + patch


# ---- the cache file ---------------------------------------------------------------------------
def scale_hex(scale: float) -> str:
    """A scale as the cache writes it: the float32's bits as a big-endian 32-bit integer, 8 hex digits."""
    return struct.pack(">f", scale).hex()


def hex_scale(text: str) -> float:
    return struct.unpack(">f", bytes.fromhex(text))[0]


def format_cache(thresholds: dict[str, float], version: str) -> str:
    """The cache text: the header line, then `<tensor>: <scale>` (scale = threshold / 127) per
    tensor, in the given order."""
    lines = [f"TRT-{trt_version_number(version)}-{ALGORITHM}"]
    for name, threshold in thresholds.items():
        if "\n" in name or not name:
            raise ValueError(f"tensor name {name!r} cannot be written to a calibration cache")
        lines.append(f"{name}: {scale_hex(float(np.float32(threshold) / np.float32(INT8_MAX)))}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ParsedCache:
    version_number: int
    scales: dict[str, float]


def parse_cache(text: str) -> ParsedCache:
    """Read a cache back the way TensorRT's sample reader does (name before the last ': ', 8 hex
    digits after it); ValueError naming the first line that is not in the format."""
    lines = text.split("\n")
    if not lines or lines[-1] != "":
        raise ValueError("a calibration cache ends with a line break")
    header = _HEADER.match(lines[0])
    if header is None:
        raise ValueError(f"line 1 is {lines[0]!r}, not TRT-<version>-{ALGORITHM}")
    scales: dict[str, float] = {}
    for number, line in enumerate(lines[1:-1], start=2):
        found = _LINE.match(line)
        if found is None:
            raise ValueError(f"line {number} is {line!r}, not '<tensor>: <8 hex digits>'")
        if found["name"] in scales:
            raise ValueError(f"line {number}: tensor {found['name']!r} is listed twice")
        scales[found["name"]] = hex_scale(found["hex"])
    return ParsedCache(int(header["version"]), scales)


# ---- the threshold search ---------------------------------------------------------------------
def _smooth(p: np.ndarray, eps: float = 1e-4) -> np.ndarray | None:
    """Move a little mass into empty bins so KL(P || Q) stays finite where Q is empty and P is not
    (the smoothing MXNet and ONNX Runtime apply to the same search); None when all are empty."""
    is_zero = p == 0
    zeros, nonzeros = int(is_zero.sum()), int(p.size - is_zero.sum())
    if nonzeros == 0:
        return None
    eps1 = eps * zeros / nonzeros
    return p.astype(np.float64) + eps * is_zero - eps1 * ~is_zero


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    p, q = p / p.sum(), q / q.sum()
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def entropy_threshold(hist: np.ndarray, bin_width: float, quantized_bins: int = QUANTIZED_BINS) -> float:
    """The threshold of least KL divergence for a histogram of |x| (bin k covers [k w, (k+1) w))."""
    hist = np.asarray(hist, dtype=np.int64)
    nbins = hist.size
    if nbins <= quantized_bins:
        return nbins * bin_width
    best_i, best_kl = nbins, math.inf
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0]])  # tail[i] = sum(hist[i:])
    for i in range(quantized_bins, nbins + 1):
        sliced = hist[:i]
        p = sliced.copy()
        p[i - 1] += tail[i]
        nonzero = p != 0
        merged = i // quantized_bins
        groups = np.minimum(np.arange(i) // merged, quantized_bins - 1)  # the remainder joins the last level
        level_sum = np.bincount(groups, weights=sliced, minlength=quantized_bins)
        level_count = np.bincount(groups, weights=nonzero, minlength=quantized_bins)
        share = np.divide(level_sum, level_count, out=np.zeros_like(level_sum), where=level_count > 0)
        q = np.where(nonzero, share[groups], 0.0)
        ps, qs = _smooth(p), _smooth(q)
        divergence = math.inf if ps is None or qs is None else _kl(ps, qs)
        if divergence < best_kl:
            best_i, best_kl = i, divergence
    return (best_i + 0.5) * bin_width


# ---- activations ------------------------------------------------------------------------------
def calibrated_tensors(model) -> list[str]:
    """The tensors TensorRT's ONNX parser names and asks a scale for, in graph order: the graph's
    float inputs and the float outputs of every node but Constant (whose values the parser turns
    into weights)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info, *graph.output]}
    initializers = {i.name for i in graph.initializer}
    names = [i.name for i in graph.input if i.name not in initializers and types.get(i.name) == onnx.TensorProto.FLOAT]
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        names += [o for o in node.output if o and types.get(o) == onnx.TensorProto.FLOAT and o not in names]
    return names


class ActivationReader:
    """The bundle's ONNX model in ONNX Runtime (no graph optimizations: every node runs as
    written) with every calibrated tensor as an output."""

    def __init__(self, onnx_path: Path):
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(onnx_path))
        self.input_names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        self.names = calibrated_tensors(model)
        present = {o.name for o in model.graph.output}
        for name in self.names:
            if name not in present and name not in self.input_names:
                model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]

    def activations(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = dict(zip(self._outputs, self._session.run(self._outputs, feeds)))
        values.update(feeds)
        return {name: np.asarray(values[name], dtype=np.float32) for name in self.names}


@dataclass
class Histograms:
    """Per tensor: max |x| over every sample, and the histogram of |x| over [0, that max]."""

    abs_max: dict[str, float]
    counts: dict[str, np.ndarray]

    def bin_width(self, name: str) -> float:
        return self.abs_max[name] / HISTOGRAM_BINS


def collect(reader: ActivationReader, feeds: list[dict[str, np.ndarray]]) -> Histograms:
    """Two passes over the samples: the range first, so every sample falls into one fixed set of
    bins (no re-binning as the range grows), then the histograms."""
    abs_max = dict.fromkeys(reader.names, 0.0)
    for feed in feeds:
        for name, value in reader.activations(feed).items():
            abs_max[name] = max(abs_max[name], float(np.max(np.abs(value))) if value.size else 0.0)
    counts = {name: np.zeros(HISTOGRAM_BINS, dtype=np.int64) for name in reader.names}
    for feed in feeds:
        for name, value in reader.activations(feed).items():
            if abs_max[name] > 0:
                counts[name] += np.histogram(np.abs(value), bins=HISTOGRAM_BINS, range=(0.0, abs_max[name]))[0]
    return Histograms(abs_max, counts)


def thresholds(histograms: Histograms) -> dict[str, float]:
    """The entropy threshold of every tensor. A tensor that was zero on every sample gets 1.0:
    any scale represents it exactly, and TensorRT needs a positive one."""
    found = {}
    for name, counts in histograms.counts.items():
        found[name] = entropy_threshold(counts, histograms.bin_width(name)) if histograms.abs_max[name] > 0 else 1.0
    return found


def write_cache(onnx_path: Path, feeds: list[dict[str, np.ndarray]], version: str, dest: Path) -> dict[str, float]:
    """Compute the cache of `onnx_path` on `feeds` and write it to `dest`; returns the thresholds."""
    reader = ActivationReader(onnx_path)
    found = thresholds(collect(reader, feeds))
    dest.write_text(format_cache(found, version), encoding="utf-8")
    return found


def check_cache(cache: Path, onnx_path: Path, version: str) -> dict[str, object]:
    """Read a cache back and hold it to the ONNX graph: the header names `version`'s number and
    this algorithm, every tensor the parser names has a scale, each scale positive and finite.
    Returns what was found with `problems`."""
    import onnx

    try:
        parsed = parse_cache(cache.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {"file": cache.name, "problems": [f"{cache.name} is not a TensorRT calibration cache: {exc}"]}
    problems = []
    if parsed.version_number != trt_version_number(version):
        problems.append(f"{cache.name} names TensorRT {parsed.version_number}; the glue is written for {trt_version_number(version)}")
    expected = calibrated_tensors(onnx.load(str(onnx_path)))
    missing = [name for name in expected if name not in parsed.scales]
    if missing:
        problems.append(f"{cache.name} has no scale for {len(missing)} tensor(s) of the graph, e.g. {missing[0]!r}")
    bad = [name for name, scale in parsed.scales.items() if not (math.isfinite(scale) and scale > 0)]
    if bad:
        problems.append(f"{cache.name}: the scale of {bad[0]!r} is {parsed.scales[bad[0]]}, not positive and finite")
    return {"file": cache.name, "header": f"TRT-{parsed.version_number}-{ALGORITHM}", "tensors": len(parsed.scales), "problems": problems}
