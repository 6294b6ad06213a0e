"""`--from hf:preprocessor_config.json`: a Hugging Face image processor's `preprocess` as manifest
steps.

What is reproduced is the Pillow/numpy processor (transformers 4's default "slow" class, 5's
`...Pil` class / `backend="pil"`): it resizes the uint8 image through Pillow (`precision: uint8`),
crops with floor offsets (padding a smaller image, which edgesdk refuses at run time instead),
rescales in float64 then casts to float32, and normalizes. `size` is read the way the processors'
common resize reads it ({height, width} exactly; {shortest_edge}: the shorter side, the longer
truncated); ConvNext adds its crop_pct rule. A class not listed is refused by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesdk.importers.files import read_json
from edgesdk.importers.recipe import PIL_FILTERS, Recipe, normalize_step, pil_resampling, positive_int, refuse, triple


class Processor:
    """A class's defaults: resample, whether it crops, what a bare int `size` means (legacy
    configs), and whether it is ConvNext's crop_pct resize."""

    def __init__(self, resample: int, center_crop: bool, int_size: str, crop_pct: bool = False):
        self.resample, self.center_crop, self.int_size, self.crop_pct = resample, center_crop, int_size, crop_pct


# The classes whose preprocess is the common one (or ConvNext's); the "Pil" suffix is the same class.
IMAGE_PROCESSORS = {
    "ViTImageProcessor": Processor(2, False, "square"),
    "DeiTImageProcessor": Processor(3, True, "square"),
    "SiglipImageProcessor": Processor(3, False, "square"),
    "CLIPImageProcessor": Processor(3, True, "shortest_edge"),
    "BitImageProcessor": Processor(3, True, "shortest_edge"),
    "ConvNextImageProcessor": Processor(3, False, "shortest_edge", crop_pct=True),
}
CONVNEXT_CROP_BELOW = 384  # ConvNextImageProcessor: from this shortest_edge up the image is warped, not cropped
DEFAULT_CROP_PCT = 224 / 256


def load(path_text: str) -> Recipe:
    source = f"hf:{path_text}"
    return recipe_from_config(read_json(source, Path(path_text)), source)


def recipe_from_config(cfg: dict[str, Any], source: str) -> Recipe:
    kind = cfg.get("image_processor_type")
    name = kind[: -len("Pil")] if isinstance(kind, str) and kind.endswith("Pil") else kind
    if name not in IMAGE_PROCESSORS:
        hint = " (a fast processor resizes torch tensors, not Pillow images: name the class the model was trained with)" if isinstance(kind, str) and kind.endswith("Fast") else ""
        raise refuse(source, "image_processor_type", f"{kind!r} is not supported{hint} (supported: {', '.join(IMAGE_PROCESSORS)})")
    processor = IMAGE_PROCESSORS[name]
    steps: list[dict[str, Any]] = []
    out_hw: tuple[int, int] | None = None
    if cfg.get("do_resize", True):
        resample = cfg.get("resample", processor.resample)
        if isinstance(resample, bool) or resample not in PIL_FILTERS:
            raise refuse(source, "resample", f"unknown Pillow filter {resample!r} (supported: 0 nearest, 2 bilinear, 3 bicubic)")
        resampling = pil_resampling(source, "resample", PIL_FILTERS[resample])
        size = _size(source, cfg.get("size"), processor.int_size)
        if "height" in size:
            steps.append({"resize": {"size": [size["height"], size["width"]], **resampling}})
            out_hw = (size["height"], size["width"])
        elif processor.crop_pct and size["shortest_edge"] < CONVNEXT_CROP_BELOW:
            # ConvNextImageProcessor.resize: the shorter side to int(edge / crop_pct), then an edge x edge crop.
            edge = size["shortest_edge"]
            steps.append({"resize": {"shorter_side": int(edge / _crop_pct(source, cfg.get("crop_pct", DEFAULT_CROP_PCT))), **resampling}})
            steps.append({"center_crop": {"size": [edge, edge]}})
            out_hw = (edge, edge)
        elif processor.crop_pct:
            edge = size["shortest_edge"]
            steps.append({"resize": {"size": [edge, edge], **resampling}})
            out_hw = (edge, edge)
        else:
            steps.append({"resize": {"shorter_side": size["shortest_edge"], **resampling}})
    if cfg.get("do_center_crop", processor.center_crop):
        crop = _size(source, cfg.get("crop_size", {"height": 224, "width": 224}), "square", key="crop_size")
        if "height" not in crop:
            raise refuse(source, "crop_size", f"expected {{height: H, width: W}}, got {cfg.get('crop_size')!r}")
        steps.append({"center_crop": {"size": [crop["height"], crop["width"]]}})  # floor offsets: image_transforms.center_crop
        out_hw = (crop["height"], crop["width"])
    scale = None
    if cfg.get("do_rescale", True):
        scale = cfg.get("rescale_factor", 1 / 255)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale == 0:
            raise refuse(source, "rescale_factor", f"expected a non-zero number, got {scale!r}")
    mean = std = None
    if cfg.get("do_normalize", True):
        mean = triple(source, "image_mean", cfg.get("image_mean"))
        std = triple(source, "image_std", cfg.get("image_std"))
    if scale is not None or mean is not None:
        steps.append(normalize_step(scale, mean, std))
    if not any("resize" in s for s in steps):
        raise refuse(source, "do_resize", "without a resize an image of any size would reach the model (supported: do_resize true)")
    notes = [
        f"{kind}: " + ", ".join(f"{k} {cfg[k]}" for k in ("size", "resample", "crop_size", "crop_pct") if k in cfg),
        "precision uint8: the image processor resizes the uint8 image through Pillow; rescale and normalize run on float32 after it",
    ]
    return Recipe(steps=steps, input_hw=out_hw, origin=source, notes=notes)


def _size(source: str, value: Any, int_means: str, key: str = "size") -> dict[str, int]:
    """`size` as {height, width} or {shortest_edge}; a legacy bare int as the class reads it."""
    if isinstance(value, int) and not isinstance(value, bool):
        side = positive_int(source, key, value)
        return {"height": side, "width": side} if int_means == "square" else {"shortest_edge": side}
    if isinstance(value, dict) and set(value) == {"height", "width"}:
        return {"height": positive_int(source, f"{key}.height", value["height"]), "width": positive_int(source, f"{key}.width", value["width"])}
    if isinstance(value, dict) and set(value) == {"shortest_edge"}:
        return {"shortest_edge": positive_int(source, f"{key}.shortest_edge", value["shortest_edge"])}
    raise refuse(source, key, f"{value!r} is not supported (supported: {{height: H, width: W}} or {{shortest_edge: N}}; longest_edge and max_height/max_width follow other rules)")


def _crop_pct(source: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise refuse(source, "crop_pct", f"expected a number in (0, 1], got {value!r}")
    return float(value)
