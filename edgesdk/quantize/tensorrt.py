"""TensorRT translator: quantization is a setting of the engine build on the device, not a change
to the ONNX model, which stays float32.

fp16: the builder sets BuilderFlag::kFP16 (sdk.json runtime_options.builder_flags).
int8: the builder sets kINT8 and reads its activation scales from `model/calibration.cache`,
computed here from the manifest's calibration data with TensorRT's own entropy method
(quantize/tensorrt_calibration.py); TensorRT quantizes the weights itself, per output channel.

The quantized engine cannot run here (no TensorRT), so nothing is measured (`measures`): no
sensitivity analysis, no keep_float, no accuracy budget, no auto; TensorRT decides per layer and
the whole network is one choice (`per_layer`), and its int8 weights are per channel (`per_tensor`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from edgesdk.backends.tensorrt import CALIBRATION_CACHE, CPP_RUNTIME_VERSION
from edgesdk.errors import ManifestError, UnsupportedOpError
from edgesdk.quantize import tensorrt_calibration
from edgesdk.quantize.calibration import CalibrationSet

MODES = ("fp16", "int8")


class TensorRtPlan:
    """One float ONNX model; `quantize` copies it and, for int8, writes the calibration cache beside it."""

    def __init__(self, float_model: Path, mode: str, calibration: CalibrationSet | None):
        import onnx

        if mode == "int8" and calibration is None:
            raise ManifestError("quantization.calibration", "required for TensorRT int8: the calibration cache is computed from it")
        graph = onnx.load(str(float_model), load_external_data=False).graph
        self.layers: list[str] = []
        self.input_name = graph.input[0].name
        self.float_model = float_model
        self.mode = mode
        self.calibration = calibration
        self._thresholds: dict[str, float] = {}

    def ranges(self) -> dict[str, tuple[float, float]]:
        """The symmetric activation ranges the cache holds (threshold = 127 * scale)."""
        return {name: (-t, t) for name, t in self._thresholds.items()}

    def report(self) -> dict[str, object]:
        """What reports/quantization.json adds: no metrics, and why; the cache's tensors."""
        return {
            "tensorrt": {
                "engine_precision": self.mode,
                "calibration_cache": CALIBRATION_CACHE if self.mode == "int8" else None,
                "calibrated_tensors": len(self._thresholds),
                "calibration_samples": len(self.calibration.tensors) if self.calibration is not None else 0,
                "not_measured": "the quantized engine is built and run on the device (no TensorRT here): no metrics, sensitivity or budget",
            }
        }

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        if exclude or only:
            raise UnsupportedOpError("TensorRT picks each layer's precision at engine build; edgesdk cannot keep layers float for it")
        if dest != self.float_model:
            shutil.copyfile(self.float_model, dest)
        if self.mode == "int8":
            assert self.calibration is not None  # checked in __init__
            feeds = [{self.input_name: t} for t in self.calibration.tensors]
            self._thresholds = tensorrt_calibration.write_cache(dest, feeds, CPP_RUNTIME_VERSION, dest.parent / CALIBRATION_CACHE)
        return dest


class TensorRtTranslator:
    runtime = "tensorrt"
    modes = MODES
    per_layer = False
    per_tensor = False
    measures = False
    calibration_methods = ("entropy",)  # the cache is TensorRT's EntropyCalibration2

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> TensorRtPlan:
        return TensorRtPlan(float_model, mode, calibration)


TRANSLATOR = TensorRtTranslator()
