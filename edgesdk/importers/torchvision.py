"""`--from torchvision:MODULE:ATTR`: a torchvision transform (a Compose, one transform, or a weights
enum's `.transforms()` preset) as manifest steps.

The transform is described where torchvision imports (torchvision_describe.py): in this
interpreter, or in the one EDGESDK_IMPORT_PYTHON names (a training environment). The pipeline is
taken as applied to the PIL image torchvision's datasets load: Resize is then Pillow's filter on
uint8 pixels (`precision: uint8`; Pillow always antialiases), CenterCrop rounds its offsets half
to even, ToTensor divides by 255. Resizing a tensor (after ToTensor) and every random or
user-defined transform are refused by name.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from edgesdk.errors import BackendUnavailable
from edgesdk.importers.recipe import Recipe, normalize_step, pil_resampling, refuse, triple

PYTHON_ENV = "EDGESDK_IMPORT_PYTHON"
DESCRIBE_TIMEOUT_S = 300  # importing torch in a cold environment takes a while
# torchvision's PIL mapping (transforms.functional.pil_modes_mapping): NEAREST_EXACT is PIL NEAREST too.
PIL_NAMES = {"nearest": "nearest", "nearest-exact": "nearest", "bilinear": "bilinear", "bicubic": "bicubic", "box": "box", "hamming": "hamming", "lanczos": "lanczos"}
# PIL image -> uint8 tensor: the values stay.
TO_UINT8_TENSOR = {"ToImage", "PILToTensor", "ToPureTensor"}
SUPPORTED = "Resize, CenterCrop, ToTensor, PILToTensor / ToImage + ConvertImageDtype / ToDtype(float32, scale=True), Normalize, ImageClassification (weights.transforms())"


def load(spec: str) -> Recipe:
    source = f"torchvision:{spec}"
    return recipe_from_description(describe(spec, source), source)


def describe(spec: str, source: str) -> list[dict[str, Any]]:
    python = os.environ.get(PYTHON_ENV)
    if not python and importlib.util.find_spec("torchvision") is None:
        raise BackendUnavailable(f"{source}: torchvision is not importable here; install it, or set {PYTHON_ENV} to a Python that imports it and the module (the training environment)")
    if not python:
        from edgesdk.importers import torchvision_describe

        try:
            return torchvision_describe.describe(torchvision_describe.resolve(spec))
        except Exception as exc:  # the user's module: an import error, a missing attribute
            raise refuse(source, "module", f"cannot load the transform: {type(exc).__name__}: {exc}") from exc
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)}
    try:
        done = subprocess.run([python, "-m", "edgesdk.importers.torchvision_describe", spec], capture_output=True, text=True, env=env, timeout=DESCRIBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"{source}: {PYTHON_ENV}={python} could not describe the transform: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if "transforms" in answer:
        return answer["transforms"]
    if "error" in answer:
        raise refuse(source, "module", f"cannot load the transform (in {python}): {answer['error']}")
    raise BackendUnavailable(f"{source}: {PYTHON_ENV}={python} did not describe the transform (exit {done.returncode}): {done.stderr.strip()[-500:]}")


def recipe_from_description(transforms: list[dict[str, Any]], source: str) -> Recipe:
    steps: list[dict[str, Any]] = []
    on_pil = True  # PIL image until ToTensor / PILToTensor / ToImage
    scaled = False  # values divided by 255 (a float tensor)
    for n, t in enumerate(transforms):
        kind, attrs = t["type"], t["attrs"]
        key = f"transforms[{n}] ({kind})"
        if kind == "ImageClassification":
            steps += _preset(source, key, attrs)
            on_pil, scaled = False, True
        elif kind == "Resize":
            if not on_pil:
                raise refuse(source, key, f"resizing a tensor is not supported (torch's arithmetic, not Pillow's); put Resize before ToTensor (supported: {SUPPORTED})")
            steps.append({"resize": _resize_fields(source, key, attrs.get("size"), attrs.get("max_size"), attrs.get("interpolation", "bilinear"))})
        elif kind == "CenterCrop":
            steps.append({"center_crop": {"size": _hw(source, key, attrs.get("size")), "rounding": "half_even"}})
        elif kind in ("ToTensor", "MaybeToTensor") or (kind == "ToDtype" and _float_scaled(attrs)) or (kind == "ConvertImageDtype" and "float" in str(attrs.get("dtype"))):
            if scaled:
                raise refuse(source, key, "the values are already scaled to 0..1")
            steps.append(normalize_step(1 / 255, None, None))
            on_pil, scaled = False, True
        elif kind in TO_UINT8_TENSOR:
            on_pil = False
        elif kind == "Normalize":
            if not scaled:
                raise refuse(source, key, f"Normalize before the image is a float tensor (supported: {SUPPORTED})")
            mean, std = triple(source, f"{key}.mean", attrs.get("mean")), triple(source, f"{key}.std", attrs.get("std"))
            last = steps[-1].get("normalize") if steps else None
            if last is not None and "mean" not in last and "std" not in last:
                steps[-1] = normalize_step(last.get("scale"), mean, std)  # ToTensor then Normalize: one step
            else:
                steps.append(normalize_step(None, mean, std))
        else:
            raise refuse(source, key, f"{t['module']}.{kind} cannot be expressed exactly (random, user-defined and other transforms are refused; supported: {SUPPORTED})")
    if not scaled:
        raise refuse(source, "transforms", f"the pipeline never makes a float tensor, so what the model sees is not defined by it (supported: {SUPPORTED})")
    if not any("resize" in s for s in steps):
        raise refuse(source, "transforms", "no Resize: an image of any size would reach the model (supported: a Resize before the crop)")
    crops = [s["center_crop"]["size"] for s in steps if "center_crop" in s]
    sizes = [s["resize"]["size"] for s in steps if "size" in s.get("resize", {})]
    fixed = crops[-1] if crops else sizes[-1] if sizes else None
    notes = [
        "the pipeline as applied to a PIL image: Resize is Pillow's filter on uint8 pixels (precision uint8)",
        "CenterCrop rounds (h - H) / 2 half to even like torchvision (rounding: half_even); ToTensor divides by 255 (scale)",
    ]
    return Recipe(steps=steps, input_hw=(fixed[0], fixed[1]) if fixed else None, origin=source, notes=notes)


def _float_scaled(attrs: dict[str, Any]) -> bool:
    dtype = attrs.get("dtype")
    dtype = dtype.get("torch.Tensor", dtype.get("others")) if isinstance(dtype, dict) else dtype
    return "float32" in str(dtype) and bool(attrs.get("scale"))


def _preset(source: str, key: str, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """transforms._presets.ImageClassification: resize(resize_size), center_crop(crop_size),
    pil_to_tensor + convert_image_dtype(float), normalize(mean, std)."""
    return [
        {"resize": _resize_fields(source, f"{key}.resize_size", attrs.get("resize_size"), None, attrs.get("interpolation", "bilinear"))},
        {"center_crop": {"size": _hw(source, f"{key}.crop_size", attrs.get("crop_size")), "rounding": "half_even"}},
        normalize_step(1 / 255, triple(source, f"{key}.mean", attrs.get("mean")), triple(source, f"{key}.std", attrs.get("std"))),
    ]


def _resize_fields(source: str, key: str, size: Any, max_size: Any, interpolation: Any) -> dict[str, Any]:
    """torchvision's `_compute_resized_output_size`: an int (or [int]) is the shorter side, the
    longer one truncated, capped by max_size; [h, w] is exact; None with max_size the longer side."""
    if interpolation not in PIL_NAMES:
        raise refuse(source, f"{key}.interpolation", f"unknown interpolation {interpolation!r} (supported: nearest, bilinear, bicubic)")
    resampling = pil_resampling(source, f"{key}.interpolation", PIL_NAMES[interpolation])
    if isinstance(size, list) and len(size) == 1:
        size = size[0]
    if size is None and isinstance(max_size, int):
        return {"longer_side": max_size, **resampling}
    if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        fields: dict[str, Any] = {"shorter_side": size}
        if max_size is not None:
            fields["max_size"] = max_size
        return {**fields, **resampling}
    if isinstance(size, list) and len(size) == 2 and max_size is None:
        return {"size": _hw(source, key, size), **resampling}
    raise refuse(source, f"{key}.size", f"expected an int, [h, w] or None with max_size, got size {size!r} max_size {max_size!r}")


def _hw(source: str, key: str, size: Any) -> list[int]:
    if isinstance(size, list) and len(size) == 1:
        size = size[0]
    if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        return [size, size]
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
        return list(size)
    raise refuse(source, key, f"expected an int or [h, w] of positive integers, got {size!r}")
