"""End to end: `edgesdk init model.onnx --from hf:...` then `edgesdk build` for x86; the bundle's
golden pre-processed tensors equal what the Hugging Face image processor itself makes of the
bundle's golden input images, and the generated C++ SDK reproduces them (`edgesdk test`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgesdk.cli import main

from .conftest import DATA, run_library

pytestmark = pytest.mark.reference_libs
HF_VIT = DATA / "hf" / "vit" / "preprocessor_config.json"


class SmallClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 10)

    def forward(self, pixel_values):
        return self.head(self.features(pixel_values))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vit-import")
    model = folder / "model.onnx"
    torch.onnx.export(SmallClassifier().eval(), (torch.zeros(1, 3, 224, 224),), str(model), input_names=["pixel_values"], output_names=["logits"], opset_version=17, dynamo=False)
    assert main(["init", str(model), "--from", f"hf:{HF_VIT}"]) == 0
    assert main(["build", "-c", str(folder / "edgesdk.yaml"), "--target", "x86", "--out", str(folder / "dist")]) == 0
    (found,) = [p for p in (folder / "dist").iterdir() if p.is_dir()]
    return found


def test_the_bundles_golden_preprocessing_is_the_image_processors(bundle, reference_python, tmp_path):
    index = json.loads((bundle / "tests" / "golden" / "index.json").read_text(encoding="utf-8"))
    cases = index["cases"]
    assert cases, "the bundle has no golden cases"
    golden = bundle / "tests" / "golden"
    inputs = [np.load(golden / c["input"]) for c in cases]  # RGB: the manifest's input_color
    library = run_library(reference_python, [{"id": "vit", "kind": "hf", "spec": str(HF_VIT)}], tmp_path, pixels=inputs)["vit"]
    assert not isinstance(library, str), library
    for case, want in zip(cases, library, strict=True):
        got = np.load(golden / case["preprocessed"])
        assert got.shape == want.shape == (1, 3, 224, 224)
        assert float(np.max(np.abs(got - want))) <= 1e-5, case["id"]


@pytest.mark.cpp
def test_the_generated_cpp_sdk_reproduces_it(bundle, capsys):
    from toolchains import need

    from edgesdk.hosttest import toolchain_problem

    need(toolchain_problem())
    capsys.readouterr()
    assert main(["test", str(bundle)]) == 0, capsys.readouterr().err
