"""Core ML translator: the manifest's quantization modes as coremltools' own.

fp16: the model converted again from its torch source with compute precision FLOAT16 (weights
stored and computed in half floats on every compute unit); the float model computes in FLOAT32.
int8-dynamic: weights stored as int8, linear symmetric per output channel
(`coremltools.optimize.coreml.linear_quantize_weights`), expanded at load; activations stay float.
palettize: weights replaced by indices into a per-tensor table of 2**bits values found by k-means
(`palettize_weights`, mode kmeans; `quantization.bits`, default 8).
Static int8 (calibrated activations) has no Core ML translation for an iOS 16 ML program and is
refused by the registry, naming the supported modes.

Core ML cannot predict on Linux, so nothing here runs the model: calibration is refused
(`runs_model`), there are no per-layer choices (`per_layer`), and the build's report shows the size
ratio and the package's validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgesdk.backends import coreml
from edgesdk.errors import UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.quantize.calibration import CalibrationSet
from edgesdk.sources import SourceModel

MODES = ("fp16", "int8-dynamic", "palettize")
DEFAULT_PALETTE_BITS = 8
# Weights smaller than this stay float in coremltools by default (2048 elements); every weight is
# compressed here, so the mode means the same for a small model as for a large one.
WEIGHT_THRESHOLD = 0


def weights_label(mode: str, bits: int | None) -> str:
    """How the package's weights are stored, as sdk.json's runtime_options.weights says it."""
    return {
        "fp16": "float16",
        "int8-dynamic": "int8 linear symmetric per output channel (linear_quantize_weights)",
        "palettize": f"palettized: {bits or DEFAULT_PALETTE_BITS}-bit k-means lookup table per tensor (palettize_weights)",
    }[mode]


class CoreMLPlan:
    """One float .mlpackage and the manifest's mode; the whole model at once."""

    def __init__(self, float_model: Path, mode: str, per_channel: bool, bits: int | None, source: SourceModel, manifest: Manifest):
        self.layers: list[str] = []
        self.float_model = float_model
        self.mode = mode
        self.bits = bits or DEFAULT_PALETTE_BITS
        self.source = source
        self.manifest = manifest
        self.input_name = manifest.model.inputs[0].name

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {}

    def quantize(self, dest: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        if exclude or only:
            raise UnsupportedOpError("the Core ML translator compresses the whole model; it cannot keep layers float")
        if self.mode == "fp16":
            coreml.write_package(self.source, self.manifest, dest, "float16")
            return dest
        import coremltools as ct
        import coremltools.optimize.coreml as cto

        model = ct.models.MLModel(str(self.float_model), skip_model_load=True)
        if self.mode == "int8-dynamic":
            config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=WEIGHT_THRESHOLD)
            compressed = cto.linear_quantize_weights(model, cto.OptimizationConfig(global_config=config))
        else:
            config = cto.OpPalettizerConfig(mode="kmeans", nbits=self.bits, granularity="per_tensor", weight_threshold=WEIGHT_THRESHOLD)
            compressed = cto.palettize_weights(model, cto.OptimizationConfig(global_config=config))
        coreml.save_package(compressed, dest, {coreml.META_PRECISION: "float32", coreml.META_WEIGHTS: weights_label(self.mode, self.bits)})
        return dest


class CoreMLTranslator:
    runtime = "coreml"
    modes = MODES
    per_layer = False
    per_tensor = False  # int8 weights per output channel (quantize.prepare refuses per_channel: false)
    runs_model = False
    quantizes_source = True  # fp16 is a conversion setting: the plan converts the source again

    def plan(self, float_model: Path, mode: str, per_channel: bool, calibration: CalibrationSet | None, workdir: Path, *, source: SourceModel, manifest: Manifest) -> CoreMLPlan:
        return CoreMLPlan(float_model, mode, per_channel, manifest.quantization.bits, source, manifest)


TRANSLATOR = CoreMLTranslator()
