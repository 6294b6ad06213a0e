"""A Core ML bundle whose normalize folds into the model's image input (docs/coreml.md): its Swift
core stops before normalize, and the uint8 image it hands Core ML is held to the golden vectors bit
for bit, both by `edgesdk test` (the golden runner and the package's own `swift test`) and by
`swift test` alone, which fails when one golden pixel is off by one. The Apple layer that turns the
image into a CVPixelBuffer cannot compile here; `swiftc -parse` still reads it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import example_manifest_dict
from toolchains import need

from edgesdk import api, golden, hosttest_swift
from edgesdk.backends import availability

pytestmark = [pytest.mark.swift, pytest.mark.coreml]

# Whole-number pixels reach normalize (a nearest resize, a crop, a channel swap) and std is one value.
FOLDED_STEPS = [
    {"resize": {"size": [256, 256], "interpolation": "nearest", "keep_ratio": True}},
    {"center_crop": {"size": [224, 224]}},
    {"color": "bgr"},
    {"normalize": {"mean": [103.53, 116.28, 123.675], "std": [57.375, 57.375, 57.375]}},
    {"layout": "nchw"},
]


@pytest.fixture(scope="module")
def toolchain() -> None:
    ok, why = availability("coreml")
    if not ok:
        pytest.skip(why)
    need(hosttest_swift.toolchain_problem())


@pytest.fixture(scope="module")
def bundle(toolchain, example_models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("folded-swift")
    shutil.copytree(example_models, folder / "project")
    data = example_manifest_dict()
    data["target"] = "ios"
    data["preprocess"]["steps"] = FOLDED_STEPS
    (folder / "project" / "edgesdk.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = api.build(folder / "project" / "edgesdk.yaml", out=folder / "dist")
    assert json.loads((result.bundle / "sdk.json").read_text())["runtime_options"]["image_input"]["folded"]
    return result.bundle


def test_edgesdk_test_holds_the_swift_core_image_to_the_golden_pixels(bundle):
    report = api.test(bundle)
    assert report["passed"] and report["language"] == "swift", report
    assert all(c["preprocessed_max_abs"] == 0 for c in report["cases"])
    assert "0 failures" in report["swift_test"] and "Executed" in report["swift_test"], report["swift_test"]


def test_swift_test_fails_on_one_golden_pixel_off_by_one(bundle, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(bundle / hosttest_swift.SDK_DIR, work / "sdk" / "swift")
    bad = work / "golden-bad"
    shutil.copytree(bundle / golden.GOLDEN_DIR, bad)
    case = golden.load_index(bundle)["cases"][0]
    pixels = np.load(bad / case["preprocessed"])
    assert pixels.dtype == np.uint8 and pixels.shape == (224, 224, 3)
    pixels[100, 100, 0] ^= 1
    np.save(bad / case["preprocessed"], pixels)
    swift = hosttest_swift.Swift(work)
    package = swift.path(work / "sdk" / "swift")
    proc = swift.run(["swift", "test", "--package-path", package], "swift test", env={"EDGESDK_GOLDEN_DIR": swift.path(bad)}, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"{case['id']}: preprocessed max_abs 1.0 > 0.0" in out, out[-3000:]


def test_the_pixel_buffer_adapter_parses(bundle, tmp_path):
    work = tmp_path / "parse"
    shutil.copytree(bundle / "sdk/swift", work / "sdk/swift")
    adapter = next(work.rglob("CoreMLRuntime.swift"))
    assert "CVPixelBufferCreate(" in adapter.read_text()
    swift = hosttest_swift.Swift(work)
    proc = swift.run(["bash", "-c", f"swiftc -parse {swift.path(adapter)} && echo PARSED"], "swiftc -parse")
    assert "PARSED" in proc.stdout, (proc.stdout + proc.stderr)[-3000:]
