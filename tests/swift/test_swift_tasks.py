"""The detector and segmenter examples built for iOS and held to their golden scenes through
`edgesdk test` (the Swift golden runner and the package's own `swift test`): the detector on the
ios default runtime (Core ML: golden outputs from the reference, since Core ML cannot predict
here), the segmenter on ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toolchains import need

from edgesdk import api, hosttest_swift

pytestmark = pytest.mark.swift

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("example", "runtime", "result_key"),
    [
        pytest.param("detector", None, "detections", marks=pytest.mark.coreml, id="detector-coreml"),
        pytest.param("segmenter", "onnxruntime", "mask", marks=pytest.mark.onnxruntime, id="segmenter-onnxruntime"),
    ],
)
def test_ios_task_bundles_pass_their_golden_scenes_in_swift(example, runtime, result_key, tmp_path):
    need(hosttest_swift.toolchain_problem())
    result = api.build(EXAMPLES / example / "edgesdk.yaml", target="ios", runtime=runtime, out=tmp_path / "dist")
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    assert "swift" in sdk["languages"]
    index = json.loads((result.bundle / "tests" / "golden" / "index.json").read_text())
    assert all(result_key in c["result"] for c in index["cases"])
    report = api.test(result.bundle)
    assert report["passed"] and report["language"] == "swift", report
    assert len(report["cases"]) == len(index["cases"])
    # The package's own XCTest ran too, and ran the golden cases rather than skipping them all.
    assert "0 failures" in report["swift_test"] and "Executed" in report["swift_test"], report["swift_test"]
