"""The files a manifest names besides the model: the labels file and the calibration folder.

Both are checked while the manifest is validated (a missing or empty one is a ManifestError
before anything is built); quantization reads the calibration files through the same function,
so validation and the build agree on which files are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.errors import ManifestError
from edgesdk.manifest import limits

if TYPE_CHECKING:
    from edgesdk.manifest.schema import CalibrationSpec, Manifest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TENSOR_SUFFIXES = (".npy",)
CALIBRATION_FIELD = "quantization.calibration"


def read_labels(path: Path, field: str) -> list[str]:
    if not path.is_file():
        raise ManifestError(field, f"label file not found: {path}")
    size = path.stat().st_size
    if size > limits.MAX_LABEL_FILE_BYTES:
        raise ManifestError(field, f"{path} is {size} bytes (at most {limits.MAX_LABEL_FILE_BYTES})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(field, f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    labels = [line.rstrip("\r") for line in text.split("\n")]
    while labels and labels[-1] == "":
        labels.pop()
    if not labels:
        raise ManifestError(field, f"{path} holds no labels (one label per line)")
    if any(label.strip() == "" for label in labels):
        line = next(i for i, label in enumerate(labels, 1) if label.strip() == "")
        raise ManifestError(field, f"{path} line {line} is empty (one label per line, no blank lines)")
    if len(labels) > limits.MAX_LABELS:
        raise ManifestError(field, f"{path} holds {len(labels)} labels (at most {limits.MAX_LABELS})")
    long = next((i for i, label in enumerate(labels, 1) if len(label) > limits.MAX_LABEL_CHARS), None)
    if long is not None:
        raise ManifestError(field, f"{path} line {long} is {len(labels[long - 1])} characters long (at most {limits.MAX_LABEL_CHARS})")
    return labels


def calibration_files(manifest: Manifest, spec: CalibrationSpec) -> list[Path]:
    """The files that will be used, checked for presence and count (no decoding): cheap enough for manifest validation."""
    folder = manifest.resolve(spec.data)
    if not folder.is_dir():
        raise ManifestError(f"{CALIBRATION_FIELD}.data", f"folder not found: {folder}")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + TENSOR_SUFFIXES)
    if not found:
        raise ManifestError(f"{CALIBRATION_FIELD}.data", f"{folder} holds no calibration files (PNG/JPEG images or .npy tensors)")
    if len(found) < spec.samples:
        raise ManifestError(f"{CALIBRATION_FIELD}.samples", f"asks for {spec.samples} samples but {folder} holds {len(found)} calibration files")
    return found[: spec.samples]
