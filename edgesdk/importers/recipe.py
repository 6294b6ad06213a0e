"""What an importer hands `edgesdk init`: a training library's evaluation pre-processing as
manifest steps (docs/importing.md), and the helpers every importer shares to build them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgesdk.errors import ManifestError

# Pillow's resampling filters by their enum value (Hugging Face configs store `resample` as this
# int; torchvision and timm name them): the ones the contract defines, as (interpolation, antialias).
PIL_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
PIL_SUPPORTED = {"nearest": ("nearest", False), "bilinear": ("bilinear", True), "bicubic": ("bicubic", True)}


@dataclass(frozen=True)
class Recipe:
    """`steps`: manifest pre-processing steps up to and including `normalize`, each `{op: params}`
    (the importer's caller adds the layout); `input_hw`: the (H, W) they produce when it is fixed
    (a final crop), else None; `origin`: what was imported, for the manifest's comment; `notes`:
    one line each on the choices the manifest cannot show (input precision, crop rounding)."""

    steps: list[dict[str, Any]]
    input_hw: tuple[int, int] | None
    origin: str
    notes: list[str] = field(default_factory=list)


def refuse(source: str, key: str, message: str) -> ManifestError:
    """The one error for a recipe edgesdk cannot express exactly: it names the source, the key or
    transform, and what is supported (exit 2; nothing is written)."""
    return ManifestError(f"{source}: {key}", message)


def pil_resampling(source: str, key: str, name: str) -> dict[str, Any]:
    """The resize fields reproducing Pillow's `name` filter on a uint8 RGB image, bit for bit
    (docs/processing.md, `precision: uint8`): what torchvision on PIL images, timm and Hugging
    Face image processors run."""
    if name not in PIL_SUPPORTED:
        raise refuse(source, key, f"resampling filter {name!r} has no exact equivalent (supported: {', '.join(PIL_SUPPORTED)})")
    interpolation, antialias = PIL_SUPPORTED[name]
    fields: dict[str, Any] = {"interpolation": interpolation}
    if antialias:
        fields["antialias"] = True
    fields["precision"] = "uint8"
    return fields


def normalize_step(scale: float | None, mean: Sequence[float] | None, std: Sequence[float] | None) -> dict[str, Any]:
    """`normalize` for `x * scale` (a library's divide-by-255 / rescale), then `(x - mean) / std`."""
    params: dict[str, Any] = {}
    if mean is not None:
        params["mean"] = [float(v) for v in mean]
    if std is not None:
        params["std"] = [float(v) for v in std]
    if scale is not None and scale != 1.0:
        params["scale"] = float(scale)
    return {"normalize": params}


def triple(source: str, key: str, value: Any) -> list[float]:
    """A per-channel value as three numbers (one number applies to every channel)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = list(values) * 3
    if len(values) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise refuse(source, key, f"expected one number or three (RGB), got {value!r}")
    return [float(v) for v in values]


def positive_int(source: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise refuse(source, key, f"expected a positive integer, got {value!r}")
    return value
