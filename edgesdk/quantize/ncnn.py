"""ncnn translator: fp16 weights as pnnx fp16=1 writes them, and calibrated int8, as ncnn's own
tools do it (ncnn2table + ncnn2int8), computed here.

fp16: every weight blob of the float .bin (the tagged blobs: convolution and inner-product
weights; biases and other raw blobs stay float32) becomes ncnn's fp16 blob (tag 0x01306B47, then
the halves, padded to 4 bytes with pnnx's fixed 0x2283), converted as pnnx's float32_to_float16:
round to nearest even, values below fp16's smallest normal to a signed zero. The file is then
byte for byte what pnnx fp16=1 writes (tests/quantize/test_ncnn_fp16.py). How ncnn stores and
computes at run time is the bundle's `net_options` (edgesdk.backends.ncnn.net_options), set after
this stage: with calibration data, the report measures the fp16 weights computed in float32 against
the float model (on x86 the same numbers: its fp16 storage is the weights' only). keep_float
leaves a layer's weights float32.

int8:

ncnn's int8 tools are not on any registry and not in the `ncnn` sdist, so edgesdk does their two
steps itself, on the float `model.ncnn.param` + `model.ncnn.bin` pnnx wrote:
1. The table (ncnn2table): per Convolution, ConvolutionDepthWise and InnerProduct layer, weight
   scales per output channel (per group for ConvolutionDepthWise), `127 / absmax`; `31 / absmax`
   (6-bit weights) for a 3x3 stride-1 dilation-1 Convolution, which ncnn may run with its int8
   Winograd F(4,3) kernel and whose transformed weights must fit int8. And the scale of the layer's
   input blob, `127 / threshold`, from the calibration set run through the float model in ncnn:
   `minmax` takes the largest |value|, `percentile` the 99.99th percentile of |value|, `entropy`
   ncnn2table's KL search (a 2048-bin histogram of the non-zero |values| over [0, absmax],
   thresholds of 128..2047 bins, each clipped distribution compared with its 128-level
   quantization; threshold = (best + 0.5) * absmax / 2048). `reports/quantization.json` lists the
   table (`ncnn_table`), in ncnn2table's text form too (`ncnn_table_text`).
2. The model (ncnn2int8): each quantized layer's weights become int8 (`round(w * scale)`, halves
   away from zero, clamped to +-127, ncnn's float2int8) with the int8 tag in the .bin, followed by
   the weight scales and the input scale; the layer's param gets `8=<int8_scale_term>` (2 for
   Convolution and InnerProduct, 1 for ConvolutionDepthWise). ncnn then runs those layers in int8
   (Option::use_int8_inference, on by default) and the rest in float.
3. Requantize fusion (ncnn2int8's fuse_requantize, which it always applies): an int8 Convolution or
   ConvolutionDepthWise whose output goes only to int8 Convolution/ConvolutionDepthWise layers
   (directly, or through a Split whose every output does) hands them int8 instead of float: its
   `8=` gets +100 and its .bin entry the consumer's input scale after its own scales, so ncnn
   requantizes its accumulators (bias and activation applied) straight to the next layer's int8.
   `reports/quantization.json` lists the pairs (`ncnn_requantize`).
keep_float leaves a layer float32 (per layer, so sensitivity analysis and keep_float: auto work);
ncnn2int8 would store such a layer's weights in fp16, which keep_float is there to avoid.
Weights are always per output channel (`per_channel: false` is refused).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesdk.backends.ncnn import INPUT_BLOB, Layer, open_net, read_layers, write_layers
from edgesdk.errors import UnsupportedOpError
from edgesdk.quantize.calibration import CalibrationSet

MODES = ("fp16", "int8")
QUANTIZABLE = ("Convolution", "ConvolutionDepthWise", "InnerProduct")
INT8_SCALE_TERM = {"Convolution": 2, "ConvolutionDepthWise": 1, "InnerProduct": 2}
REQUANTIZABLE = ("Convolution", "ConvolutionDepthWise")
REQUANTIZE_TERM = 100  # added to int8_scale_term: the layer's output is int8 at the consumer's scale
# ncnn's .bin tags of a weight blob (src/modelbin.cpp): raw float32 is a zero tag.
FLOAT32_TAG = 0
INT8_TAG = 0x000D4B38
FP16_TAG = 0x01306B47
FP16_PAD = 0x2283  # pnnx pads an odd count of halves with this fixed value (reproducible files)
FP16_MIN_NORMAL = np.float32(2.0**-14)
HISTOGRAM_BINS = 2048
TARGET_BINS = 128
KL_EPS = 0.0001


# ---- the .bin: which blobs each layer reads, in order ---------------------------------------------
def _reads(layer: Layer) -> list[tuple[str, int]]:
    """(kind, element count) of the blobs the layer's load_model reads: "w" a weight blob (a 4-byte
    tag, then the data), "r" raw float32. Layers not listed read nothing; read_weights checks that
    the whole file was accounted for, so a layer with weights missing here is refused, never misread."""
    p = layer.int_param
    if layer.kind in ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise"):
        if p(19):  # dynamic weights come from a blob
            return []
        return [("w", p(6)), *([("r", p(0))] if p(5) else [])]
    if layer.kind == "InnerProduct":
        return [("w", p(2)), *([("r", p(0))] if p(1) else [])]
    if layer.kind == "BatchNorm":
        return [("r", p(0))] * 4
    if layer.kind == "Scale":
        return [("r", p(0)), *([("r", p(0))] if p(1) else [])]
    if layer.kind == "PReLU":
        return [("r", p(0))]
    if layer.kind == "MemoryData":
        return [("r", max(p(0), 1) * max(p(1), 1) * max(p(11), 1) * max(p(2), 1))]
    if layer.kind == "LayerNorm":
        return [("r", p(0))] * 2 if p(2) else []
    return []


@dataclass
class Blob:
    kind: str  # "w" or "r"
    data: np.ndarray  # float32


def read_weights(bin_path: Path, layers: Sequence[Layer]) -> dict[str, list[Blob]]:
    """Every layer's blobs, float32, checked to cover the .bin exactly."""
    raw = bin_path.read_bytes()
    at = 0
    out: dict[str, list[Blob]] = {}
    for layer in layers:
        blobs = []
        for kind, count in _reads(layer):
            if kind == "w":
                tag = int.from_bytes(raw[at : at + 4], "little")
                if tag != FLOAT32_TAG:
                    raise UnsupportedOpError(f"ncnn int8: layer '{layer.name}' ({layer.kind}) stores weights with tag {tag:#010x}; a float32 model (pnnx fp16=0) is needed")
                at += 4
            data = np.frombuffer(raw, "<f4", count, at).copy() if at + 4 * count <= len(raw) else None
            if data is None:
                raise UnsupportedOpError(f"ncnn int8: {bin_path.name} ends inside layer '{layer.name}' ({layer.kind})")
            at += 4 * count
            blobs.append(Blob(kind, data))
        out[layer.name] = blobs
    if at != len(raw):
        unread = sorted({layer.kind for layer in layers if not _reads(layer)} - {"Input"})
        raise UnsupportedOpError(f"ncnn int8: {bin_path.name} holds {len(raw) - at} bytes of weights edgesdk cannot place; layer types without known weights: {', '.join(unread)}")
    return out


def write_weights(
    bin_path: Path,
    layers: Sequence[Layer],
    blobs: dict[str, list[Blob]],
    quantized: dict[str, tuple[np.ndarray, float]],
    half: Sequence[str] = (),
    output_scales: dict[str, float] | None = None,
) -> None:
    """The .bin with `quantized` layers (name -> weight scales, input scale) in ncnn's int8 form,
    the requantized ones' `output_scales` after their own, and the weight blobs of the `half`
    layers in its fp16 form."""
    output_scales = output_scales or {}
    parts: list[bytes] = []
    for layer in layers:
        scales = quantized.get(layer.name)
        for i, blob in enumerate(blobs[layer.name]):
            if blob.kind == "w" and i == 0 and scales is not None:
                q = quantize_weights(blob.data, scales[0])
                parts += [INT8_TAG.to_bytes(4, "little"), q.tobytes(), bytes(-q.size % 4)]
            elif blob.kind == "w" and layer.name in half:
                h = float_to_half(blob.data)
                parts += [FP16_TAG.to_bytes(4, "little"), h.tobytes(), *([np.uint16(FP16_PAD).astype("<u2").tobytes()] if h.size % 2 else [])]
            elif blob.kind == "w":
                parts += [FLOAT32_TAG.to_bytes(4, "little"), blob.data.astype("<f4").tobytes()]
            else:
                parts.append(blob.data.astype("<f4").tobytes())
        if scales is not None:
            parts += [scales[0].astype("<f4").tobytes(), np.float32(scales[1]).astype("<f4").tobytes()]
        if layer.name in output_scales:
            parts.append(np.float32(output_scales[layer.name]).astype("<f4").tobytes())
    bin_path.write_bytes(b"".join(parts))


def requantize_pairs(graph: Sequence[Layer], int8: set[str]) -> dict[str, str]:
    """ncnn2int8's fuse_requantize rules: int8 producer -> the int8 layer whose input scale it
    writes its output at. A blob has one consumer in an ncnn graph (a Split fans it out)."""

    def conv_reading(blob: str, after: int) -> Layer | None:
        return next((c for c in graph[after + 1 :] if c.kind in REQUANTIZABLE and c.bottoms == [blob]), None)

    pairs: dict[str, str] = {}
    for i, layer in enumerate(graph):
        if layer.kind not in REQUANTIZABLE or layer.name not in int8:
            continue
        direct = conv_reading(layer.tops[0], i)
        if direct is not None:
            if direct.name in int8:
                pairs[layer.name] = direct.name
            continue
        split_at = next((k for k in range(i + 1, len(graph)) if graph[k].kind == "Split" and graph[k].bottoms == [layer.tops[0]]), None)
        if split_at is None:
            continue
        consumers = [conv_reading(top, split_at) for top in graph[split_at].tops]
        if consumers and all(c is not None and c.name in int8 for c in consumers):
            first = consumers[0]
            assert first is not None
            pairs[layer.name] = first.name
    return pairs


def float_to_half(values: np.ndarray) -> np.ndarray:
    """pnnx's float32_to_float16, as <u2 bits: round to nearest even (numpy's cast), but an fp32
    below fp16's smallest normal becomes a signed zero, not an fp16 subnormal."""
    half = values.astype("<f2")
    tiny = np.abs(values) < FP16_MIN_NORMAL
    half[tiny] = np.copysign(np.float16(0), values[tiny])
    return half.view("<u2")


def quantize_weights(weights: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """ncnn's float2int8 per output channel (or group): round half away from zero, clamp to +-127."""
    rows = weights.reshape(len(scales), -1) * scales.astype(np.float32)[:, None]
    return np.clip(np.sign(rows) * np.floor(np.abs(rows) + np.float32(0.5)), -127, 127).astype(np.int8).reshape(-1)


# ---- the table ----------------------------------------------------------------------------------
def weight_scales(layer: Layer, weights: np.ndarray) -> np.ndarray:
    p = layer.int_param
    groups = p(7, 1) if layer.kind == "ConvolutionDepthWise" else p(0)
    absmax = np.abs(weights.reshape(groups, -1)).max(axis=1)
    kernel_w = p(1)
    six_bit = layer.kind == "Convolution" and kernel_w == 3 and p(11, kernel_w) == 3 and p(2, 1) == 1 and p(12, p(2, 1)) == 1 and p(3, 1) == 1 and p(13, p(3, 1)) == 1
    levels = np.float32(31 if six_bit else 127)
    # An all-zero channel (pruned) quantizes to zeros with any scale: 1 keeps it finite.
    return np.where(absmax > 0, levels / np.where(absmax > 0, absmax, 1), 1).astype(np.float32)


def kl_threshold_bin(histogram: np.ndarray) -> int:
    """ncnn2table's KL search: the number of histogram bins (128..2047) whose clipped distribution is
    closest to its own 128-level quantization."""
    normed = (histogram / histogram.sum()).astype(np.float32)
    best, best_kl = TARGET_BINS, math.inf
    for threshold in range(TARGET_BINS, HISTOGRAM_BINS):
        clipped = np.full(threshold, KL_EPS, np.float32) + normed[:threshold]
        clipped[threshold - 1] += normed[threshold:].sum()
        expanded = np.full(threshold, KL_EPS, np.float32) + _expand(_quantize_bins(normed, threshold), threshold)
        kl = float(np.sum(clipped * np.log(clipped / expanded)))
        if kl < best_kl:
            best, best_kl = threshold, kl
    return best


def _cumulative(density: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The integral of a step function (one value per unit bin) from 0 to each x."""
    whole = np.minimum(np.floor(x).astype(np.int64), len(density) - 1)
    before = np.concatenate([[0.0], np.cumsum(density, dtype=np.float64)])
    return before[whole] + (x - whole) * density[whole]


def _quantize_bins(normed: np.ndarray, threshold: int) -> np.ndarray:
    """Each of the 128 levels: the mean density of the source bins it spans (fractions weighted)."""
    per_bin = threshold / TARGET_BINS
    edges = np.arange(TARGET_BINS + 1, dtype=np.float64) * per_bin
    edges[-1] = threshold
    integral = _cumulative(normed[:threshold].astype(np.float64), edges)
    return np.diff(integral) / per_bin


def _expand(q: np.ndarray, threshold: int) -> np.ndarray:
    """Each source bin below the threshold: its share of the levels spanning it."""
    per_bin = threshold / TARGET_BINS
    # The levels as a step function over source-bin units: level j covers [j, j + 1) * per_bin.
    levels_integral = _cumulative(q, np.arange(threshold + 1, dtype=np.float64) / per_bin) * per_bin
    return np.diff(levels_integral).astype(np.float32)


def activation_threshold(values: list[np.ndarray], method: str, percentile: float | None) -> float:
    """The |value| the input scale maps to 127, over every calibration sample's blob."""
    flat = np.abs(np.concatenate([v.reshape(-1) for v in values]))
    absmax = float(flat.max()) if flat.size else 0.0
    if absmax == 0.0 or method == "minmax":
        return absmax
    if method == "percentile":
        return float(np.percentile(flat, percentile if percentile is not None else 99.99))
    nonzero = flat[flat != 0]
    bins = np.minimum((nonzero / np.float32(absmax) * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
    histogram = np.bincount(bins, minlength=HISTOGRAM_BINS)
    return (kl_threshold_bin(histogram) + 0.5) * absmax / HISTOGRAM_BINS


# ---- the plan -----------------------------------------------------------------------------------
class NcnnPlan:
    """The float param + bin, their table computed once; quantize() writes any subset of layers int8."""

    def __init__(self, float_model: Path, calibration: CalibrationSet | None):
        if calibration is None:
            raise UnsupportedOpError("ncnn int8 needs calibration data: the input scale of every int8 layer comes from it")
        self.input_name = "input"  # ncnn's runner takes its one feed whatever its name
        self.counts, self.graph = read_layers(float_model)
        self.blobs = read_weights(float_model.with_suffix(".bin"), self.graph)
        targets = [layer for layer in self.graph if layer.kind in QUANTIZABLE and _reads(layer)]
        self.layers = [layer.name for layer in targets]
        activations = blob_values(float_model, [layer.bottoms[0] for layer in targets], [t[0] for t in calibration.tensors], INPUT_BLOB)
        self.table: dict[str, tuple[np.ndarray, float]] = {}
        self.thresholds: dict[str, float] = {}
        self.requantized: dict[str, str] = {}  # of the last quantize(): producer -> consumer
        for layer in targets:
            threshold = activation_threshold(activations[layer.bottoms[0]], calibration.method.name, calibration.method.percentile)
            self.thresholds[layer.name] = threshold
            self.table[layer.name] = (weight_scales(layer, self.blobs[layer.name][0].data), 127.0 / threshold if threshold > 0 else 1.0)

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {name: (-t, t) for name, t in self.thresholds.items()}

    def report(self) -> dict[str, object]:
        """What reports/quantization.json adds for ncnn: the table, as data and as ncnn2table writes it."""
        table = {name: {"weight_scales": [float(v) for v in scales[0]], "input_scale": float(scales[1])} for name, scales in self.table.items()}
        return {"ncnn_table": table, "ncnn_table_text": self.table_text(), "ncnn_requantize": dict(self.requantized)}

    def table_text(self) -> str:
        """The table in ncnn2table's text form: `<layer>_param_0 <weight scales>` lines, then `<layer> <input scale>`."""
        lines = [f"{name}_param_0 " + " ".join(f"{s:f}" for s in scales[0]) for name, scales in self.table.items()]
        return "\n".join([*lines, *(f"{name} {scales[1]:f}" for name, scales in self.table.items())]) + "\n"

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        chosen = [n for n in (self.layers if only is None else only) if n not in set(exclude)]
        self.requantized = requantize_pairs(self.graph, set(chosen))
        layers = []
        for layer in self.graph:
            if layer.name in chosen:
                term = INT8_SCALE_TERM[layer.kind] + (REQUANTIZE_TERM if layer.name in self.requantized else 0)
                layer = Layer(layer.kind, layer.name, layer.bottoms, layer.tops, {**layer.params, "8": str(term)})
            layers.append(layer)
        write_layers(dest, self.counts, layers)
        output_scales = {producer: self.table[consumer][1] for producer, consumer in self.requantized.items()}
        write_weights(dest.with_suffix(".bin"), self.graph, self.blobs, {n: self.table[n] for n in chosen}, output_scales=output_scales)
        return dest


def blob_values(param: Path, blob_names: list[str], samples: list[np.ndarray], input_blob: str) -> dict[str, list[np.ndarray]]:
    """Each blob's values for each sample, from the float model in ncnn with the SDK's float options."""
    import ncnn

    net = open_net(param)
    values: dict[str, list[np.ndarray]] = {name: [] for name in blob_names}
    for sample in samples:
        extractor = net.create_extractor()
        image = np.ascontiguousarray(sample, dtype=np.float32)  # ncnn.Mat refers to it: it must outlive the extraction
        extractor.input(input_blob, ncnn.Mat(image))
        for name in blob_names:
            status, mat = extractor.extract(name)
            if status != 0:
                raise UnsupportedOpError(f"ncnn could not compute blob '{name}' while calibrating (status {status})")
            values[name].append(np.array(mat))
    return values


class Fp16Plan:
    """The float param + bin; quantize() writes the weight blobs of any subset of layers in fp16."""

    def __init__(self, float_model: Path):
        self.input_name = "input"
        self.param_text = float_model.read_bytes()  # the graph does not change: pnnx writes the same .param
        _, self.graph = read_layers(float_model)
        self.blobs = read_weights(float_model.with_suffix(".bin"), self.graph)
        self.layers = [layer.name for layer in self.graph if any(blob.kind == "w" for blob in self.blobs[layer.name])]

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {}

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        chosen = [n for n in (self.layers if only is None else only) if n not in set(exclude)]
        dest.write_bytes(self.param_text)
        write_weights(dest.with_suffix(".bin"), self.graph, self.blobs, {}, half=chosen)
        return dest


class NcnnTranslator:
    runtime = "ncnn"
    modes = MODES
    per_tensor = False

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> NcnnPlan | Fp16Plan:
        return Fp16Plan(float_model) if mode == "fp16" else NcnnPlan(float_model, calibration)


TRANSLATOR = NcnnTranslator()
