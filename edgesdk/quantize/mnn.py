"""MNN translator: mnnconvert's own weight compression, applied to the float .mnn file
(`-f MNN`, an MNN-to-MNN conversion).

fp16: convolution weights and biases stored as half floats (`--fp16`); MNN expands them to float
at load, so the file halves and compute stays float32 (precision high, as the float model).
int8-dynamic: convolution, matmul and LSTM weights stored as symmetric int8 per output channel
(`--weightQuantBits 8`), expanded to float at load by the MNN library the SDK links (a library
built with MNN_LOW_MEMORY can instead compute them with int8 kernels; edgesdk's parity run uses the
wheel's default path). Static int8 (MNN's `mnnquant` with calibration images) is not wired yet.

mnnconvert compresses the whole model: there is no per-layer choice here, so keep_float is refused
(quantize.prepare reads `per_layer`), and so is `per_channel: false` (`per_tensor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgesdk.backends.mnn import run_mnnconvert
from edgesdk.errors import UnsupportedOpError
from edgesdk.quantize.calibration import CalibrationSet

MODES = ("fp16", "int8-dynamic")
_FLAGS = {"fp16": ["--fp16"], "int8-dynamic": ["--weightQuantBits", "8"]}


class MnnPlan:
    """One float .mnn, compressed whole by `quantize`; no layers to choose from."""

    def __init__(self, float_model: Path, mode: str):
        import MNN

        self.layers: list[str] = []
        self.float_model = float_model
        self.mode = mode
        interpreter = MNN.Interpreter(str(float_model))
        (self.input_name,) = interpreter.getSessionInputAll(interpreter.createSession({"backend": "CPU"}))

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {}

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        if exclude or only:
            raise UnsupportedOpError("mnnconvert compresses the whole model; it cannot keep layers float")
        run_mnnconvert("MNN", self.float_model, dest, f"compress the model to {self.mode}", _FLAGS[self.mode])
        return dest


class MnnTranslator:
    runtime = "mnn"
    modes = MODES
    per_layer = False
    per_tensor = False

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> MnnPlan:
        return MnnPlan(float_model, mode)


TRANSLATOR = MnnTranslator()
