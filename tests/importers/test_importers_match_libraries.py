"""Each importer against the library it imports from: the library's own evaluation pipeline
(torchvision, timm's create_transform, a Hugging Face image processor) runs on real photos and odd
crops of them in the reference-libs venv, and the Python reference on the imported manifest must
give the same tensor (<= 1e-5; a one-level difference in a uint8 resize would show as >= 0.015
after normalizing, so this also holds the uint8 resizes exact)."""

from __future__ import annotations

import numpy as np
import pytest

from edgesdk.importers import import_recipe
from edgesdk.importers.torchvision import PYTHON_ENV
from edgesdk.manifest.schema import PreprocessSpec, normalized_step
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


def reference_steps(steps: list[dict]) -> list[dict]:
    """The imported steps as the manifest validates and normalizes them."""
    validated = PreprocessSpec.model_validate({"input_color": "rgb", "steps": [*steps, {"layout": "nchw"}]})
    return [normalized_step(s) for s in validated.steps]


@pytest.mark.parametrize("spec", list(CASES), ids=_id)
def test_imported_preprocessing_equals_the_library(spec, library_tensors, import_python):
    expected = library_tensors[spec]
    assert not isinstance(expected, str), f"the library failed: {expected}"
    steps = reference_steps(import_recipe(spec).steps)
    for n, (image, want) in enumerate(zip(photos(), expected, strict=True)):
        got = run_preprocess(image, "rgb", steps).tensor
        assert got.shape == want.shape, f"photo {n} ({image.shape[0]}x{image.shape[1]}): shape {got.shape}, the library's {want.shape}"
        worst = float(np.max(np.abs(got - want)))
        assert worst <= TOLERANCE, f"photo {n} ({image.shape[0]}x{image.shape[1]}): max |reference - library| = {worst:.3g}"
