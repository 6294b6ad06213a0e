"""Each importer against the library it imports from: the library's own evaluation pipeline
(torchvision, timm's create_transform, a Hugging Face image processor) runs on real photos and odd
crops of them in the reference-libs venv, and the Python reference on the imported manifest must
give the same tensor (<= 1e-5; a one-level difference in a uint8 resize would show as >= 0.015
after normalizing, so this also holds the uint8 resizes exact)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgesdk.importers import import_recipe
from edgesdk.importers.torchvision import PYTHON_ENV
from edgesdk.manifest.schema import PreprocessSpec, ResizeParams, normalized_step
from edgesdk.processing import run_preprocess

from .conftest import DATA, photos, run_library

pytestmark = pytest.mark.reference_libs

TOLERANCE = 1e-5
# spec for edgesdk init --from -> (library, what the library side runs)
CASES = {
    "torchvision:tv_pipelines:imagenet": ("torchvision", "tv_pipelines:imagenet"),
    "torchvision:tv_pipelines:vit_style": ("torchvision", "tv_pipelines:vit_style"),
    "torchvision:torchvision.models:ResNet50_Weights.IMAGENET1K_V2": ("torchvision", "torchvision.models:ResNet50_Weights.IMAGENET1K_V2"),
    "torchvision:torchvision.models:ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1": ("torchvision", "torchvision.models:ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1"),
    f"timm:{DATA}/timm/center_bicubic.json": ("timm", f"{DATA}/timm/center_bicubic.json"),
    f"timm:{DATA}/timm/squash_095.json": ("timm", f"{DATA}/timm/squash_095.json"),
    f"hf:{DATA}/hf/vit/preprocessor_config.json": ("hf", f"{DATA}/hf/vit/preprocessor_config.json"),
    f"hf:{DATA}/hf/resnet_convnext/preprocessor_config.json": ("hf", f"{DATA}/hf/resnet_convnext/preprocessor_config.json"),
    f"hf:{DATA}/hf/clip/preprocessor_config.json": ("hf", f"{DATA}/hf/clip/preprocessor_config.json"),
}
SIZE_RULE_FIELDS = ("shorter_side", "longer_side", "max_size")


def _id(spec: str) -> str:
    return spec.replace(str(DATA) + "/", "")


@pytest.fixture(scope="session")
def library_tensors(reference_python, tmp_path_factory):
    jobs = [{"id": spec, "kind": kind, "spec": target} for spec, (kind, target) in CASES.items()]
    return run_library(reference_python, jobs, tmp_path_factory.mktemp("library"))


@pytest.fixture
def import_python(reference_python, monkeypatch):
    """torchvision specs are described in the reference-libs venv, the test module on its path."""
    monkeypatch.setenv(PYTHON_ENV, str(reference_python))
    monkeypatch.setenv("PYTHONPATH", str(DATA))


SIZE_RULES_HERE = "shorter_side" in ResizeParams.model_fields


def rule_size(h: int, w: int, resize: dict) -> list[int]:
    """The output size of a `shorter_side` (+ `max_size`) or `longer_side` resize with the default
    floor rounding, by docs/processing.md's formula (double arithmetic, left to right)."""
    short, long = min(h, w), max(h, w)
    if "shorter_side" in resize:
        new_short, new_long = resize["shorter_side"], math.floor(resize["shorter_side"] * long / short)
        if "max_size" in resize and new_long > resize["max_size"]:
            new_short, new_long = math.floor(resize["max_size"] * new_short / new_long), resize["max_size"]
    else:
        new_long, new_short = resize["longer_side"], math.floor(resize["longer_side"] * short / long)
    return [new_long, new_short] if w <= h else [new_short, new_long]


def reference_steps(steps: list[dict], image_hw: tuple[int, int]) -> list[dict]:
    """The imported steps, validated and normalized. Until this checkout has the size rules, a
    size-rule resize is replaced by the fixed size its rule gives for this image (the importer's
    mapping is then still held to the library; the size rules' own code is tested with them)."""
    if not SIZE_RULES_HERE:
        steps = [
            {"resize": {**{k: v for k, v in s["resize"].items() if k not in SIZE_RULE_FIELDS}, "size": rule_size(*image_hw, s["resize"])}}
            if any(f in s.get("resize", {}) for f in SIZE_RULE_FIELDS)
            else s
            for s in steps
        ]
    validated = PreprocessSpec.model_validate({"input_color": "rgb", "steps": [*steps, {"layout": "nchw"}]})
    return [normalized_step(s) for s in validated.steps]


@pytest.mark.parametrize("spec", list(CASES), ids=_id)
def test_imported_preprocessing_equals_the_library(spec, library_tensors, import_python):
    expected = library_tensors[spec]
    assert not isinstance(expected, str), f"the library failed: {expected}"
    imported = import_recipe(spec).steps
    for n, (image, want) in enumerate(zip(photos(), expected, strict=True)):
        # Only the first resize sees the photo's own size; every pipeline here starts with it.
        got = run_preprocess(image, "rgb", reference_steps(imported, image.shape[:2])).tensor
        assert got.shape == want.shape, f"photo {n} ({image.shape[0]}x{image.shape[1]}): shape {got.shape}, the library's {want.shape}"
        worst = float(np.max(np.abs(got - want)))
        assert worst <= TOLERANCE, f"photo {n} ({image.shape[0]}x{image.shape[1]}): max |reference - library| = {worst:.3g}"
