"""ONNX Runtime translator: fp16 (onnxconverter-common), int8-dynamic (quantize_dynamic) and
int8 static QDQ (quantize_static, calibrated).

Static int8 settings are decisions, each with its reason in INT8_SETTINGS (recorded in sdk.json
and reports/quantization.json): U8S8 QDQ, weights per output channel (the manifest's per_channel),
7-bit weights (reduce_range), and every operator ONNX Runtime has an integer kernel for carries
Q/DQ (Add, Relu, MaxPool, GlobalAveragePool too), so the graph ONNX Runtime fuses at load runs
integer from the first QLinearConv to the classifier, with no DequantizeLinear -> QuantizeLinear
pair between two fused operators. Activation ranges are computed once per build (our own
calibrator call, so the histogram options of each method really apply) and stored as an ONNX
Runtime calibration cache; every later quantization of the same model (one per sensitivity probe)
reuses the cache instead of recalibrating.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.calibrate import create_calibrator, load_tensors_data, save_tensors_data
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

from edgesdk import buildcache, buildlog
from edgesdk.quantize.calibration import CalibrationSet

# Operators whose weights are quantized; they are the "layers" of sensitivity analysis and keep_float.
QUANTIZABLE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
MODES = ("fp16", "int8-dynamic", "int8")
# Static int8: what each setting is and why it is the fastest accurate choice on x86 (measured by
# benchmarks/bench_int8_floor.py). The quantize_static call below follows this table.
INT8_SETTINGS: dict[str, dict[str, object]] = {
    "format": {"value": "QDQ", "why": "ONNX Runtime fuses Q/DQ groups into QLinearConv/QLinearAdd/QGemm at load; the file stays standard ONNX any build of the runtime reads"},
    "activation_type": {"value": "uint8", "why": "u8 activations x s8 weights is the fused integer kernel on x86; s8 x s8 (S8S8) leaves half the convolutions float there"},
    "weight_type": {"value": "int8", "why": "signed symmetric weights: the U8S8 kernel"},
    "reduce_range": {
        "value": True,
        # Measured: with 8-bit weights the x86-built golden logits were 0.218 off an aarch64 run of the
        # same int8 model (tests/cpp/test_qemu_aarch64.py); with 7 bits the two agree.
        "why": "7-bit weights: on x86 without VNNI the U8S8 kernel adds u8 x s8 pairs in int16 and saturates with 8-bit weights; 7 bits cost no speed and give one answer on every x86 and ARM CPU",
    },
    "quantized_operators": {
        "value": ["Conv", "Gemm", "MatMul", "Add", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten"],
        "why": "weighted layers and what lies between them get Q/DQ (no float round trip around Add, Relu, pools); heads stay float: an int8 Concat/Sigmoid cost a detector 0.19 F1",
    },
    "graph_optimization": {
        "value": "at load (ORT_ENABLE_ALL)",
        "why": "the saved model stays QDQ: fusion at load gives the kernels an offline-optimized file would, without tying it to one CPU's layout (NCHWc) and ORT build",
    },
}
INT8_OPERATORS: list[str] = INT8_SETTINGS["quantized_operators"]["value"]  # type: ignore[assignment]
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}


class OnnxRuntimePlan:
    """One float model, prepared for one mode: quantize(exclude=...) may be called many times."""

    def __init__(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path):
        import onnx

        self.float_model = float_model
        self.mode = mode
        self.per_channel = per_channel
        self.workdir = workdir
        graph = onnx.load(str(float_model), load_external_data=False).graph
        self.layers = [n.name for n in graph.node if n.op_type in QUANTIZABLE_OPS]
        self.input_name = graph.input[0].name
        self._method = METHODS[calibration.method.name] if calibration is not None else None
        self._cache = self._calibrate(calibration) if mode == "int8" and calibration is not None else None

    def _calibrate(self, calibration: CalibrationSet) -> Path:
        """The calibration cache file: computed, or taken from the build cache (buildcache.py) when
        the same float model was calibrated on the same tensors with the same method before. (The
        calibrator prints nothing into the build log, so a warm build's log is a cold one's.)"""
        from edgesdk.quantize import model_files  # the .onnx and its external weights, if any

        model = buildcache.files_digest(model_files(self.float_model))
        entry = buildcache.key(
            "onnxruntime-ranges", model, buildcache.arrays_digest(calibration.tensors), repr(calibration.method), buildcache.code_digest("edgesdk.quantize"), buildcache.versions_digest()
        )
        cache = self.workdir / f"calibration-{calibration.method.name}.json"
        (text,) = buildcache.arrays("calibration-ranges", entry, lambda: [np.frombuffer(self._ranges_file(calibration, cache).read_bytes(), np.uint8)])
        cache.write_bytes(text.tobytes())
        return cache

    def _ranges_file(self, calibration: CalibrationSet, cache: Path) -> Path:
        settings = calibration.method
        options: dict[str, object] = {"symmetric": settings.symmetric}
        if settings.num_bins is not None:
            options["num_bins"] = settings.num_bins
        if settings.num_quantized_bins is not None:
            options["num_quantized_bins"] = settings.num_quantized_bins
        if settings.percentile is not None:
            options["percentile"] = settings.percentile
        with buildlog.capture("onnxruntime calibration"):
            calibrator = create_calibrator(
                self.float_model,
                sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),  # what quantize_static calibrates
                augmented_model_path=str(self.workdir / "augmented.onnx"),
                calibrate_method=self._method,
                extra_options=options,
            )
            calibrator.execution_providers = ["CPUExecutionProvider"]
            calibrator.collect_data(_Reader(self.input_name, calibration.tensors))
            ranges = calibrator.compute_data()
        save_tensors_data(ranges, cache)
        return cache

    def settings(self) -> dict[str, dict[str, object]]:
        """What the int8 model is quantized with, and why (sdk.json and the quantization report)."""
        if self.mode != "int8":
            return {}
        return {**INT8_SETTINGS, "per_channel": {"value": self.per_channel, "why": "quantization.per_channel in the manifest"}}

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Calibrated activation ranges per tensor (int8 only)."""
        data = load_tensors_data(self._cache)
        return {name: (float(np.min(r.range_value[0])), float(np.max(r.range_value[1]))) for name, r in sorted(data.data.items())}

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        """Write the model with every quantizable layer converted except `exclude` (or only `only`)."""
        if self.mode == "fp16":
            return self._fp16(dest, exclude, only)
        selected = list(only) if only is not None else [n for n in self.layers if n not in set(exclude)]
        # A probe quantizes only its layers; the model itself every operator but the excluded
        # layers (INT8_SETTINGS["quantized_operators"]).
        whole = only is None and self.mode == "int8"
        if not selected:  # an empty nodes_to_quantize means "all" to ORT: copy the float model instead
            dest.write_bytes(self.float_model.read_bytes())
            return dest
        with buildlog.capture("onnxruntime quantization"):
            if self.mode == "int8-dynamic":
                quantize_dynamic(self.float_model, dest, per_channel=self.per_channel, weight_type=QuantType.QInt8, nodes_to_quantize=selected)
            else:
                quantize_static(
                    self.float_model,
                    dest,
                    calibration_data_reader=None,
                    quant_format=QuantFormat.QDQ,
                    per_channel=self.per_channel,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    reduce_range=bool(INT8_SETTINGS["reduce_range"]["value"]),
                    nodes_to_quantize=None if whole else selected,
                    nodes_to_exclude=list(exclude) if whole else None,
                    op_types_to_quantize=list(INT8_OPERATORS) if whole else None,
                    calibrate_method=self._method,
                    calibration_cache_path=self._cache,
                )
        return dest

    def _fp16(self, dest: Path, exclude: Sequence[str], only: Sequence[str] | None) -> Path:
        import onnx
        from onnxconverter_common import float16

        model = onnx.load(str(self.float_model))
        graph_nodes = [n.name for n in model.graph.node]
        blocked = [n for n in graph_nodes if n not in set(only)] if only is not None else list(exclude)
        # keep_io_types: inputs and outputs stay float32, so the generated glue does not change.
        with buildlog.capture("onnxconverter-common float16"):
            converted = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=blocked or None, disable_shape_infer=False)
        onnx.save(converted, str(dest))
        return dest


class _Reader(CalibrationDataReader):
    """Calibration tensors in their given (file-name) order."""

    def __init__(self, input_name: str, tensors: list[np.ndarray]):
        self._feeds = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self._feeds, None)


class OnnxRuntimeTranslator:
    runtime = "onnxruntime"
    modes = MODES

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> OnnxRuntimePlan:
        return OnnxRuntimePlan(float_model, mode, per_channel, calibration, workdir)


TRANSLATOR = OnnxRuntimeTranslator()
