"""OpenVINO translator: int8 post-training quantization with NNCF, and fp16 weight compression.

int8: `nncf.quantize` on the float IR, calibrated on the calibration set's tensors (in file-name
order, all of them: subset_size = samples). Preset MIXED: symmetric int8 weights, asymmetric
activations, the combination OpenVINO's CPU plugin runs fastest on x86 (like ORT's U8S8).
Target device CPU; activation ranges are the min and max seen over the calibration set
(RangeEstimatorParametersSet.MINMAX, the only method this translator offers); weights are per
output channel unless `per_channel: false`; NNCF's fast bias correction stays on. keep_float
layers go to NNCF's `ignored_scope` by node name.

fp16: the IR's weights are stored as fp16 (`save_model(compress_to_fp16=True)`); the CPU plugin
still computes in f32 (INFERENCE_PRECISION_HINT f32), so fp16 halves the file, not the latency.
keep_float layers keep f32 weights through OpenVINO's `disable_fp16_compression` node marker.

int8-dynamic (weights-only int8 with activation scales computed per run) is not a mode OpenVINO
offers for convolution models this way; asking for it is a manifest error.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from edgesdk import buildlog
from edgesdk.backends.openvino import stable_names
from edgesdk.errors import ManifestError
from edgesdk.quantize.calibration import CalibrationSet

# Node types whose weights are quantized: the "layers" of sensitivity analysis and keep_float.
QUANTIZABLE_OPS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul")
MODES = ("fp16", "int8")
CALIBRATION_METHODS = ("minmax",)
# int8: what each NNCF setting is and why (recorded in sdk.json and reports/quantization.json;
# measured by benchmarks/bench_int8_floor.py). _int8 below follows this table.
INT8_SETTINGS: dict[str, dict[str, object]] = {
    "preset": {"value": "MIXED", "why": "symmetric int8 weights, asymmetric u8 activations (the CPU plugin's u8 x s8 kernels); PERFORMANCE (symmetric activations too) measured no faster"},
    "target_device": {"value": "CPU", "why": "NNCF places FakeQuantize where the CPU plugin fuses it into its int8 kernels (Add, pooling included): no float round trip between layers"},
    "activation_range": {"value": "minmax", "why": "every calibrated value in range; the only method offered"},
    "fast_bias_correction": {"value": True, "why": "corrects each layer's int8 mean shift from the calibration data at no run-time cost"},
    "output_layer": {
        "value": "int8",
        "why": "the head's MatMul is quantized like the other layers: kept float32 (NNCF ignored scope), the ResNet-18 layout measured no faster, 0.3-2.6% slower in processor time in three runs",
    },
    "compile_hints": {
        "value": "INFERENCE_PRECISION_HINT f32, PERFORMANCE_HINT LATENCY",
        "why": "int8 layers run int8 either way; f32 keeps the rest float32 (not bf16), LATENCY one stream for one request at a time",
    },
}
# The rt_info key OpenVINO's fp16 compression skips a node for.
_KEEP_F32 = "disable_fp16_compression_0"


class OpenVinoPlan:
    """One float IR, prepared for one mode: quantize(exclude=...) may be called many times."""

    def __init__(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None):
        import openvino as ov

        if calibration is not None and calibration.method.name not in CALIBRATION_METHODS:
            raise ManifestError("quantization.calibration.method", f"'{calibration.method.name}' is not supported for runtime 'openvino' (supported: {', '.join(CALIBRATION_METHODS)})")
        self.float_model = float_model
        self.mode = mode
        self.per_channel = per_channel
        self.calibration = calibration
        model = ov.Core().read_model(str(float_model))
        self.layers = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() in QUANTIZABLE_OPS]
        self.input_name = model.inputs[0].get_any_name()

    def settings(self) -> dict[str, dict[str, object]]:
        """What the int8 IR is quantized and compiled with, and why (sdk.json and the quantization report)."""
        if self.mode != "int8":
            return {}
        return {**INT8_SETTINGS, "per_channel": {"value": self.per_channel, "why": "quantization.per_channel in the manifest"}}

    def ranges(self) -> dict[str, tuple[float, float]]:
        """NNCF folds activation ranges into the IR's FakeQuantize nodes; it reports none apart."""
        return {}

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        """Write the IR (dest and its .bin) with every layer converted except `exclude` (or only `only`)."""
        import openvino as ov

        kept = [n for n in self.layers if n not in set(only)] if only is not None else list(exclude)
        if len(kept) == len(self.layers):  # nothing to convert: the float model as it is
            shutil.copyfile(self.float_model, dest)
            shutil.copyfile(self.float_model.with_suffix(".bin"), dest.with_suffix(".bin"))
            return dest
        model = ov.Core().read_model(str(self.float_model))
        if self.mode == "fp16":
            for op in model.get_ordered_ops():
                if op.get_friendly_name() in set(kept):
                    op.get_rt_info()[_KEEP_F32] = ""
            ov.save_model(model, str(dest), compress_to_fp16=True)
        else:
            quantized = self._int8(model, kept)
            stable_names(quantized)
            ov.save_model(quantized, str(dest), compress_to_fp16=False)
        return dest

    def _int8(self, model, kept: list[str]):
        import nncf
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        assert self.calibration is not None  # static int8 is refused without calibration data
        tensors = self.calibration.tensors
        advanced = AdvancedQuantizationParameters(
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
            weights_quantization_params=QuantizationParameters(per_channel=self.per_channel),
        )
        with buildlog.capture("nncf.quantize"):
            return nncf.quantize(
                model,
                nncf.Dataset(tensors),
                preset=nncf.QuantizationPreset[str(INT8_SETTINGS["preset"]["value"])],
                target_device=nncf.TargetDevice.CPU,
                subset_size=len(tensors),
                fast_bias_correction=bool(INT8_SETTINGS["fast_bias_correction"]["value"]),
                ignored_scope=nncf.IgnoredScope(names=kept) if kept else None,
                advanced_parameters=advanced,
            )


class OpenVinoTranslator:
    runtime = "openvino"
    modes = MODES
    calibration_methods = CALIBRATION_METHODS

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> OpenVinoPlan:
        return OpenVinoPlan(float_model, mode, per_channel, calibration)


TRANSLATOR = OpenVinoTranslator()
