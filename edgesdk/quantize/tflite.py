"""LiteRT (TFLite) translator: ai-edge-quantizer recipes on the converted `.tflite`.

fp16 casts weights to float16 (float compute), int8-dynamic quantizes weights to int8 with
activations quantized on the fly, int8 is static int8 weights and activations, calibrated once
per build with the shared calibration tensors; every later quantization (one per sensitivity
probe) reuses those ranges.

Static int8 keeps float I/O: the graph's virtual INPUT / OUTPUT ops get `no_quantize`, so the
quantizer puts a QUANTIZE op after the input and a DEQUANTIZE op before the output. The glue and
the golden vectors stay float32, exactly as for the float model.

Layers are the ops that carry weights, named `<OP>:<index>` in the float graph. The recipe selects
ops by a regex searched in each op's output tensor name, so a layer kept float is a `no_quantize`
entry for the (escaped) name of its output tensor.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgesdk import buildlog
from edgesdk.quantize.calibration import CalibrationSet

MODES = ("fp16", "int8-dynamic", "int8")
# ai-edge-quantizer's static and dynamic algorithms take per-tensor min/max only.
CALIBRATION_METHODS = ("minmax",)
WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D_TRANSPOSE", "FULLY_CONNECTED", "BATCH_MATMUL", "EMBEDDING_LOOKUP")
SIGNATURE = "serving_default"


class TflitePlan:
    """One float `.tflite`, prepared for one mode: quantize(exclude=...) may be called many times."""

    def __init__(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None):
        from ai_edge_litert.interpreter import Interpreter

        self.float_model = float_model
        self.mode = mode
        self.per_channel = per_channel
        interpreter = Interpreter(model_path=str(float_model))
        tensors = interpreter.get_tensor_details()
        self._outputs = {}  # layer -> output tensor name (what the recipe regex matches)
        for op in interpreter._get_ops_details():  # the interpreter's only op listing
            if op["op_name"] in WEIGHT_OPS:
                self._outputs[f"{op['op_name']}:{op['index']}"] = tensors[op["outputs"][0]]["name"]
        self.layers = list(self._outputs)
        self.input_name = interpreter.get_signature_runner(SIGNATURE).get_input_details().popitem()[0]
        self._qsvs = self._calibrate(calibration) if mode == "int8" and calibration is not None else None

    def _calibrate(self, calibration: CalibrationSet) -> dict:
        from ai_edge_quantizer import calibrator
        from ai_edge_quantizer.utils import qsv_utils

        recipe = self._quantizer(exclude=(), only=None)._recipe_manager  # the recipe decides which tensors get ranges
        # Quantizer.calibrate smooths ranges with a 0.95 moving average, so the first samples
        # dominate and later ones get clipped; `minmax` means the true extremes over all samples.
        calib = calibrator.Calibrator(self.float_model.read_bytes(), num_threads=1, qsv_update_func=qsv_utils.min_max_update)
        with buildlog.capture("ai-edge-quantizer calibration"):
            calib.calibrate({SIGNATURE: [{self.input_name: t} for t in calibration.tensors]}, recipe)
        return calib.get_model_qsvs()

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Calibrated activation ranges per tensor (int8 only)."""
        qsvs = self._qsvs or {}  # None: not a calibrated (int8) plan
        return {name: (float(np.min(q["min"])), float(np.max(q["max"]))) for name, q in sorted(qsvs.items()) if "min" in q}

    def _quantizer(self, exclude: Sequence[str], only: Sequence[str] | None):
        from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

        every = qtyping.TFLOperationName.ALL_SUPPORTED
        granularity = qtyping.QuantGranularity.CHANNELWISE if self.per_channel else qtyping.QuantGranularity.TENSORWISE
        q = quantizer.Quantizer(self.float_model)

        def add(regex: str) -> None:
            if self.mode == "int8":
                q.add_static_config(regex, every, activation_num_bits=8, weight_num_bits=8, weight_granularity=granularity)
            elif self.mode == "int8-dynamic":
                q.add_dynamic_config(regex, every, num_bits=8, granularity=granularity)
            else:
                fp16 = qtyping.OpQuantizationConfig(
                    weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT), compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True
                )
                q.update_quantization_recipe(regex, every, fp16, algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)

        def float_regex(layer: str) -> str:
            return re.escape(self._outputs[layer])

        no_quantize = algorithm_manager.AlgorithmName.NO_QUANTIZE
        if only is not None:
            for layer in only:
                add(float_regex(layer))
        else:
            add(".*")
            for layer in exclude:  # later entries win over ".*" for the ops they match
                q.update_quantization_recipe(float_regex(layer), every, algorithm_key=no_quantize)
        if self.mode == "int8":
            for io_op in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
                q.update_quantization_recipe(".*", io_op, algorithm_key=no_quantize)
        return q

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        """Write the model with every weight layer converted except `exclude` (or only `only`)."""
        selected = list(only) if only is not None else [n for n in self.layers if n not in set(exclude)]
        if not selected:  # nothing to quantize: the recipe would be empty, which the quantizer refuses
            shutil.copyfile(self.float_model, dest)
            return dest
        q = self._quantizer(exclude, only)
        with buildlog.capture("ai-edge-quantizer quantize"):
            result = q.quantize(self._qsvs, enable_progress_report=False)
        dest.write_bytes(bytes(result.quantized_model))
        return dest


class TfliteTranslator:
    runtime = "tflite"
    modes = MODES
    calibration_methods = CALIBRATION_METHODS

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> TflitePlan:
        return TflitePlan(float_model, mode, per_channel, calibration)


TRANSLATOR = TfliteTranslator()
