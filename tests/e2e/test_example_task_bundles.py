"""The detector and segmenter examples as a user builds them: for x86 (the C++ SDK compiled and
run on the golden scenes) and for Android (the default LiteRT runtime; the Kotlin core on the host
JVM), and the detector quantized to int8, gated on detection agreement rather than max_abs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from edgesdk import api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _copy(example: str, folder: Path, **changes) -> Path:
    """The example's manifest (and its files) in a scratch folder, with top-level keys changed."""
    shutil.copytree(EXAMPLES / example, folder / example)
    path = folder / example / "edgesdk.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.cpp
@pytest.mark.onnxruntime
def test_detector_for_x86_passes_its_golden_scenes_in_cpp(tmp_path):
    result = api.build(EXAMPLES / "detector" / "edgesdk.yaml", out=tmp_path / "dist")
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    assert sdk["task"] == "detection" and sdk["parity"]["task"]["detection_f1"] == 1.0
    index = json.loads((result.bundle / "tests" / "golden" / "index.json").read_text())
    assert sum(len(c["result"]["detections"]) for c in index["cases"]) >= 4  # the scenes hold shapes it finds
    report = api.test(result.bundle)
    assert report["passed"], report


@pytest.mark.kotlin
@pytest.mark.tflite
def test_segmenter_for_android_passes_its_golden_scenes_in_kotlin(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="pip install 'edgesdk[tflite]'")
    result = api.build(EXAMPLES / "segmenter" / "edgesdk.yaml", target="android", out=tmp_path / "dist")
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    assert sdk["runtime"] == "tflite" and sdk["parity"]["task"]["mask_agreement"] >= 0.999
    index = json.loads((result.bundle / "tests" / "golden" / "index.json").read_text())
    assert all(len(c["result"]["mask"]["class_pixels"]) >= 2 for c in index["cases"])  # shapes, not only background
    report = api.test(result.bundle)
    assert report["passed"], report


@pytest.mark.onnxruntime
def test_int8_detector_is_gated_on_detection_agreement(tmp_path):
    manifest = _copy(
        "detector",
        tmp_path,
        quantization={"mode": "int8", "calibration": {"data": "golden", "samples": 4, "method": "minmax"}},
    )
    result = api.build(manifest, out=tmp_path / "dist")
    report = json.loads((result.bundle / "sdk.json").read_text())["parity"]
    assert report["passed"] and "max_abs" not in report["tolerances"]
    assert report["task"]["detection_f1"] >= report["tolerances"]["detection_f1_min"] == 0.9
    # The same build with a bar the int8 model cannot meet stops at the gate.
    strict = _copy("detector", tmp_path / "strict", quantization={"mode": "int8", "calibration": {"data": "golden", "samples": 4}}, parity={"detection_f1_min": 1.0, "cosine_min": 0.0})
    with pytest.raises(Exception, match="detection F1") as failure:
        api.build(strict, out=tmp_path / "dist-strict")
    assert getattr(failure.value, "exit_code", None) == 3
