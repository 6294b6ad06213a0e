"""MNN translator: mnnconvert's own weight compression, applied to the float .mnn file
(`-f MNN`, an MNN-to-MNN conversion), and MNN's full int8 from calibration data (`mnnquant`).

fp16: convolution weights and biases stored as half floats (`--fp16`); MNN expands them to float
at load, so the file halves and compute stays float32 (precision high, as the float model).
int8-dynamic: convolution, matmul and LSTM weights stored as symmetric int8 per output channel
(`--weightQuantBits 8`), expanded to float at load by the MNN library the SDK links (a library
built with MNN_LOW_MEMORY can instead compute them with int8 kernels; edgesdk's parity run uses the
wheel's default path).
int8: MNN's calibration tool (`mnnquant`, tools/quantization of MNN 3.6.1) quantizes features and
weights, fed the manifest's own pre-processed calibration tensors, not images: its image input
would run MNN's resize and normalize instead of the manifest's. Its `input_type: sequence` reads
one folder per sample holding `<input name>.txt` (every value as decimal text, read as a double
and stored into the float32 input, so the 9 significant digits written here give back the exact
float32) and `input.json` with the sample's shape, in the model's default layout (NCHW for ONNX
sources, which is how the glue feeds MNN). Feature ranges: `entropy` is mnnquant's KL; its other
methods (ADMM, EMA, a moving average of batch min/max) are not the manifest's minmax or
percentile, so those are refused. Weights: symmetric int8 per output channel (MAX_ABS). mnnquant
silently switches to EMA for a graph with BatchNorm: that is refused too, read from its log.
The wheel's `mnnquant` script passes its arguments to `_tools.mnnquant` the wrong way (it aborts
with std::length_error); `_tools.mnnquant` is called with an argv list, in a subprocess.

mnnconvert and mnnquant treat the whole model: there is no per-layer choice here, so keep_float is
refused (quantize.prepare reads `per_layer`), and so is `per_channel: false` (`per_tensor`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgesdk import buildlog
from edgesdk.backends.mnn import CONVERT_TIMEOUT_S, run_mnnconvert, stable_uuid, tool_folders
from edgesdk.errors import UnsupportedOpError
from edgesdk.quantize.calibration import CalibrationSet

MODES = ("fp16", "int8-dynamic", "int8")
_FLAGS = {"fp16": ["--fp16"], "int8-dynamic": ["--weightQuantBits", "8"]}
# The manifest's calibration methods mnnquant computes as such: its feature_quantize_method.
FEATURE_METHODS = {"entropy": "KL"}
WEIGHT_METHOD = "MAX_ABS"
TEXT_FORMAT = "%.9g"  # 9 significant digits: every float32 reads back exactly
_QUANT_SCRIPT = "import sys, _tools; _tools.mnnquant(sys.argv)"
_DONE = "Quantize model done!"
_SWITCHED_TO_EMA = "use EMA quantize method instead"


def feed_text(tensor: np.ndarray) -> bytes:
    """One tensor as mnnquant reads it: every value on a line of its own, as TEXT_FORMAT writes it.
    The bytes of `np.savetxt(path, values.reshape(-1, 1), fmt=TEXT_FORMAT)`, formatted in one pass
    over Python floats instead of one write per value (about 4x faster for a 224x224 image)."""
    values = np.asarray(tensor, dtype=np.float32).reshape(-1).tolist()
    return ("\n".join(map(TEXT_FORMAT.__mod__, values)) + "\n").encode("latin-1") if values else b""


def write_feed(folder: Path, input_name: str, tensors: Sequence[np.ndarray]) -> Path:
    """mnnquant's `sequence` calibration input: folder/<k>/<input_name>.txt + input.json per tensor."""
    for k, tensor in enumerate(tensors):
        sample = folder / f"{k:05d}"
        sample.mkdir(parents=True)
        (sample / f"{input_name}.txt").write_bytes(feed_text(tensor))
        (sample / "input.json").write_text(json.dumps({"inputs": [{"name": input_name, "shape": list(tensor.shape)}]}), encoding="utf-8")
    return folder


class MnnPlan:
    """One float .mnn, quantized whole by `quantize`; no layers to choose from."""

    def __init__(self, float_model: Path, mode: str, calibration: CalibrationSet | None = None, workdir: Path | None = None):
        from edgesdk.backends.mnn import import_mnn

        MNN = import_mnn()

        self.layers: list[str] = []
        self.float_model = float_model
        self.mode = mode
        interpreter = MNN.Interpreter(str(float_model))
        (self.input_name,) = interpreter.getSessionInputAll(interpreter.createSession({"backend": "CPU"}))
        self.config: dict[str, object] = {}
        if mode == "int8":
            if calibration is None or workdir is None:
                raise UnsupportedOpError("MNN int8 needs calibration data: mnnquant computes every feature scale from it")
            feed = write_feed(workdir.resolve() / "mnnquant-feed", self.input_name, calibration.tensors)
            self.samples = len(calibration.tensors)
            self.config = {
                "input_type": "sequence",
                "path": f"{feed}/",
                "used_sample_num": self.samples,
                "feature_quantize_method": FEATURE_METHODS[calibration.method.name],
                "weight_quantize_method": WEIGHT_METHOD,
                "inputs": [{"name": self.input_name, "shape": list(calibration.tensors[0].shape)}],
            }

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {}

    def report(self) -> dict[str, object]:
        """What reports/quantization.json adds for MNN int8: mnnquant's configuration (without the feed's path)."""
        if self.mode != "int8":
            return {}
        config = {k: v for k, v in self.config.items() if k != "path"}
        return {"mnnquant": {**config, "feed": "the manifest's pre-processed calibration tensors as mnnquant sequence text (exact float32)"}}

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        if exclude or only:
            raise UnsupportedOpError("MNN quantizes the whole model; it cannot keep layers float")
        if self.mode == "int8":
            run_mnnquant(self.float_model, dest, self.config, self.samples)
        else:
            run_mnnconvert("MNN", self.float_model, dest, f"compress the model to {self.mode}", _FLAGS[self.mode])
        return dest


def run_mnnquant(source: Path, target: Path, config: dict[str, object], samples: int) -> None:
    """mnnquant `source` to `target` with `config`; its log must show that it read `samples`
    samples, kept the asked method and finished."""
    target = target.resolve()  # the tool runs in the target's folder
    config_file = target.with_name(target.name + ".mnnquant.json")
    config_file.write_text(json.dumps(config), encoding="utf-8")
    raw = target.with_name(target.name + ".quantizing")
    cmd = [sys.executable, "-c", _QUANT_SCRIPT, str(source.resolve()), str(raw), str(config_file)]
    try:
        proc = subprocess.run(cmd, cwd=target.parent, capture_output=True, text=True, errors="replace", timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise UnsupportedOpError(f"mnnquant did not quantize the model within {CONVERT_TIMEOUT_S} s") from exc
    finally:
        config_file.unlink(missing_ok=True)
    log = proc.stdout + proc.stderr
    buildlog.record("mnnquant", log, folders=tool_folders(source, target))
    lines = [line for line in log.replace("\r", "\n").splitlines() if line.strip()]
    tail = " | ".join(lines[-3:]) if lines else "no output"
    if _SWITCHED_TO_EMA in log:
        method = config["feature_quantize_method"]
        raise UnsupportedOpError(f"mnnquant switched from {method} to EMA (the graph keeps a BatchNorm): fold the BatchNorm (optimize: fold_bn) or use mode int8-dynamic")
    if proc.returncode != 0 or _DONE not in log or not raw.is_file():
        raw.unlink(missing_ok=True)
        raise UnsupportedOpError(f"mnnquant could not quantize the model (exit {proc.returncode}): {tail}")
    if f"used dataset num: {samples}" not in log:
        raw.unlink(missing_ok=True)
        raise UnsupportedOpError(f"mnnquant did not read the {samples} calibration samples it was given: {tail}")
    target.write_bytes(stable_uuid(raw.read_bytes()))
    raw.unlink()


class MnnTranslator:
    runtime = "mnn"
    modes = MODES
    per_layer = False
    per_tensor = False
    calibration_methods: ClassVar[dict[str, tuple[str, ...]]] = {"int8": tuple(FEATURE_METHODS)}  # fp16 and int8-dynamic only measure with the data

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path) -> MnnPlan:
        return MnnPlan(float_model, mode, calibration, workdir)


TRANSLATOR = MnnTranslator()
