"""Calibration data and calibration methods, independent of any runtime.

The data is a folder of images, run through the manifest's own pre-processing (so int8 ranges are
measured on exactly what the SDK will feed the model), or of `.npy` tensors already in the model
input's shape. Files are taken in name order and the first `samples` are used: the same folder
always gives the same calibration, which keeps builds reproducible.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesdk import buildcache, shapes, workcache
from edgesdk.errors import ManifestError
from edgesdk.manifest import CalibrationSpec, Manifest
from edgesdk.manifest.files import CALIBRATION_FIELD as FIELD
from edgesdk.manifest.files import TENSOR_SUFFIXES, calibration_files
from edgesdk.processing import ImageDecodeError, decode_image, run_preprocess


@dataclass(frozen=True)
class MethodSettings:
    """How activation ranges are chosen from the observed values.

    num_bins > num_quantized_bins is what makes entropy search thresholds at all: with the two
    equal (ONNX Runtime's default inside quantize_static) the only candidate is the full range,
    and entropy silently degenerates to min/max.
    """

    name: str
    num_bins: int | None = None
    num_quantized_bins: int | None = None
    percentile: float | None = None
    symmetric: bool = False


METHODS: dict[str, MethodSettings] = {
    "minmax": MethodSettings("minmax"),
    "entropy": MethodSettings("entropy", num_bins=2048, num_quantized_bins=128),
    "percentile": MethodSettings("percentile", num_bins=2048, percentile=99.99, symmetric=True),
}


@dataclass
class CalibrationSet:
    tensors: list[np.ndarray]  # each one model input, in file-name order
    files: list[str]
    sha256: str  # over the names and bytes of the files used
    method: MethodSettings

    def summary(self) -> dict[str, object]:
        return {"method": self.method.name, "samples": len(self.tensors), "data_sha256": self.sha256}


def samples_needed(manifest: Manifest) -> int:
    """A top-1 budget below 1 must be resolvable: one disagreement may not already cost more than it allows."""
    budget = manifest.quantization.accuracy_budget
    if budget is not None and budget.metric == "top1_agreement" and budget.min < 1:
        return math.ceil(round(1 / (1 - budget.min), 9))
    return 1


def load_calibration(manifest: Manifest, spec: CalibrationSpec) -> CalibrationSet:
    files = calibration_files(manifest, spec)
    needed = samples_needed(manifest)
    if len(files) < needed:
        budget = manifest.quantization.accuracy_budget
        assert budget is not None  # samples_needed() is 0 without a budget
        raise ManifestError(f"{FIELD}.samples", f"{len(files)} samples cannot measure accuracy_budget top1_agreement >= {budget.min}: at least {needed} are needed")
    digest = buildcache.files_digest(files)  # the names and bytes of the files used
    key = calibration_key(manifest, digest)
    # Two layers: a matrix's cells share the tensors in memory or Ray's object store (workcache);
    # every build on this machine finds them on disk (buildcache).
    tensors = workcache.cached_tensors(["calibration", key], lambda: buildcache.arrays("calibration", key, lambda: [_load_one(manifest, path) for path in files]))
    return CalibrationSet(tensors, [p.name for p in files], digest, METHODS[spec.method])


def calibration_key(manifest: Manifest, files_sha256: str) -> str:
    """The build cache's key of the calibration tensors: the files, the input they are made for,
    the pre-processing steps and the code that runs them (buildcache.py)."""
    spec = manifest.model.inputs[0]
    return buildcache.key(
        files_sha256,
        json.dumps([manifest.preprocess.input_color, manifest.pre_steps(), spec.model_dump(mode="json")], sort_keys=True, default=str),
        buildcache.code_digest("edgesdk.processing"),
        buildcache.code_digest("edgesdk.quantize"),
    )


def _load_one(manifest: Manifest, path: Path) -> np.ndarray:
    spec = manifest.model.inputs[0]
    if path.suffix.lower() in TENSOR_SUFFIXES:
        try:
            tensor = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ManifestError(f"{FIELD}.data", f"cannot read {path}: {exc}") from exc
        problem = shapes.fit_problem(spec, tensor.shape)
        if problem is not None:
            raise ManifestError(f"{FIELD}.data", f"{path.name} has shape {list(tensor.shape)}; the model input is {spec.shape}: {problem}")
        return np.ascontiguousarray(tensor.astype(spec.dtype, copy=False))
    try:
        rgb = decode_image(path)
    except (ImageDecodeError, OSError, ValueError) as exc:
        raise ManifestError(f"{FIELD}.data", f"cannot read image {path}: {exc}") from exc
    color = manifest.preprocess.input_color
    pixels = np.ascontiguousarray(rgb[..., ::-1]) if color == "bgr" else rgb
    return run_preprocess(pixels, color, manifest.pre_steps()).tensor
