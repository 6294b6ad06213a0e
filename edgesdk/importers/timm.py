"""`--from timm:pretrained_cfg.json`: timm's evaluation transform (`resolve_data_config` +
`transforms_factory.transforms_imagenet_eval`) as manifest steps.

timm resizes the PIL image its datasets load, so the resize is Pillow's filter on uint8 pixels
(`precision: uint8`), and its center crop is torchvision's CenterCrop (offsets rounded half to
even). A hub `config.json` holding the cfg under `pretrained_cfg` is read the same way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from edgesdk.importers.files import read_json
from edgesdk.importers.recipe import Recipe, normalize_step, pil_resampling, positive_int, refuse, triple

# timm.data.constants: what resolve_data_config falls back to.
DEFAULT_CROP_PCT = 0.875
DEFAULT_MEAN = (0.485, 0.456, 0.406)
DEFAULT_STD = (0.229, 0.224, 0.225)
DEFAULT_INTERPOLATION = "bicubic"
DEFAULT_INPUT_SIZE = (3, 224, 224)
CROP_MODES = ("center", "squash")


def load(path_text: str) -> Recipe:
    source = f"timm:{path_text}"
    data = read_json(source, Path(path_text))
    cfg = data.get("pretrained_cfg", data) if isinstance(data.get("pretrained_cfg"), dict) else data
    return recipe_from_cfg(cfg, source)


def recipe_from_cfg(cfg: dict[str, Any], source: str) -> Recipe:
    size = cfg.get("input_size", DEFAULT_INPUT_SIZE)
    if not isinstance(size, (list, tuple)) or len(size) != 3:
        raise refuse(source, "input_size", f"expected [channels, height, width], got {size!r}")
    channels, height, width = (positive_int(source, "input_size", v) for v in size)
    if channels != 3:
        raise refuse(source, "input_size", f"{channels} channels: the pre-processing makes 3-channel images (supported: 3)")
    crop_pct = cfg.get("crop_pct") or DEFAULT_CROP_PCT
    if isinstance(crop_pct, bool) or not isinstance(crop_pct, (int, float)) or not 0 < crop_pct <= 1:
        raise refuse(source, "crop_pct", f"expected a number in (0, 1], got {crop_pct!r}")
    crop_mode = cfg.get("crop_mode") or "center"
    if crop_mode not in CROP_MODES:
        raise refuse(source, "crop_mode", f"{crop_mode!r} is not supported (supported: {', '.join(CROP_MODES)}; border pads with CenterCropOrPad around a ratio-keeping resize)")
    interpolation = cfg.get("interpolation") or DEFAULT_INTERPOLATION
    resampling = pil_resampling(source, "interpolation", interpolation)
    # transforms_imagenet_eval: scale_size = floor(img_size / crop_pct) per side.
    scale_h, scale_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
    if crop_mode == "squash":
        resize = {"size": [scale_h, scale_w], **resampling}
    elif scale_h == scale_w:
        resize = {"shorter_side": scale_h, **resampling}  # torchvision Resize(int): the shorter side, the longer truncated
    else:
        raise refuse(
            source,
            "input_size",
            f"a non-square input ({height}x{width}) with crop_mode center resizes with timm's ResizeKeepRatio, which is not supported (supported: square input_size, or crop_mode squash)",
        )
    mean = triple(source, "mean", cfg.get("mean", DEFAULT_MEAN))
    std = triple(source, "std", cfg.get("std", DEFAULT_STD))
    steps = [
        {"resize": resize},
        {"center_crop": {"size": [height, width], "rounding": "half_even"}},
        normalize_step(1 / 255, mean, std),  # MaybeToTensor divides by 255, then Normalize
    ]
    notes = [
        f"timm eval transform: crop_pct {crop_pct}, crop_mode {crop_mode}, interpolation {interpolation}",
        "precision uint8: timm resizes the PIL image (Pillow's filter on uint8 pixels); the crop rounds its offsets half to even like torchvision's CenterCrop",
    ]
    return Recipe(steps=steps, input_hw=(height, width), origin=source, notes=notes)
