"""The roofline of a bundle whose model no reader here counts (MNN): its build records the work of
the ONNX graph it was converted from, once per source (a second build takes it from the build
cache and writes the same bundle), the bench's roofline uses it and says which graph it counted,
and a bundle without the record gets the reason instead."""

from __future__ import annotations

import json

import pytest
from conftest import example_manifest_dict

from edgesdk import api, benchmark, bundle, golden, roofline
from edgesdk.backends import availability

pytestmark = pytest.mark.mnn


@pytest.fixture(scope="module")
def builds(example_models, tmp_path_factory):
    ok, why = availability("mnn")
    if not ok:
        pytest.skip(f"runtime 'mnn': {why}")
    pytest.importorskip("openvino", reason="the op counter reads graphs with OpenVINO: pip install 'edgesdk[openvino]'")
    folder = tmp_path_factory.mktemp("roof-any")
    project = folder / "project"
    project.mkdir()
    for f in example_models.iterdir():
        (project / f.name).write_bytes(f.read_bytes())
    cache = folder / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESDK_BUILD_CACHE", str(cache))  # empty: the first build counts, the second reads
        made = {}
        for runtime, out in (("mnn", "a"), ("mnn", "b"), ("onnxruntime", "ort")):
            data = example_manifest_dict()
            data["target"], data["runtime"] = "arm", runtime
            path = project / f"{runtime}.yaml"
            path.write_text(json.dumps(data), encoding="utf-8")
            made[out] = api.build(path, out=folder / out)
    assert list((cache / "source-work").iterdir()), "the work was not kept in the build cache"
    return made


def test_an_mnn_bundle_records_the_work_of_the_onnx_export_it_was_converted_from(builds):
    record = json.loads((builds["a"].bundle / roofline.WORK_REPORT).read_text(encoding="utf-8"))
    onnx = roofline.count_work(builds["ort"].bundle / "model" / "model.onnx")
    assert record["graph"] == "the ONNX export of the PyTorch source"
    assert record["operations"] == onnx.operations > 0 and record["by_kind"] == onnx.by_kind
    assert record["weight_bytes"] == onnx.weight_bytes > 0 and record["activation_bytes"] == onnx.activation_bytes
    assert record["input_bytes"] == onnx.input_bytes == 3 * 224 * 224 * 4 and record["output_bytes"] == onnx.output_bytes == 6 * 4
    # The second build took the work from the build cache and wrote the same bundle.
    assert builds["a"].zip_sha256 == builds["b"].zip_sha256
    assert not (builds["ort"].bundle / roofline.WORK_REPORT).exists()  # an ONNX bundle is counted itself


def _roof(path, monkeypatch):
    probe = roofline.probe_label("onnxruntime", False, "matmul")
    monkeypatch.setattr(roofline, "machine_peak", lambda int8, threads: roofline.Peak(100.0, probe, "onnxruntime", {probe: 100.0}, {}))
    monkeypatch.setattr(roofline, "copy_bandwidth_gbs", lambda runs=5: 10.0)
    sdk = bundle.load_sdk_json(path)
    image = path / golden.GOLDEN_DIR / golden.load_index(path)["cases"][0]["image"]
    stage_ms = {"preprocess": 0.5, "infer": 4.0, "postprocess": 0.1, "e2e": 5.0}
    return benchmark._roofline(path, sdk, stage_ms, 1, image, None)


def test_the_bench_roofline_of_an_mnn_bundle_is_that_of_its_onnx_graph(builds, monkeypatch):
    mnn = _roof(builds["a"].bundle, monkeypatch)
    ort = _roof(builds["ort"].bundle, monkeypatch)
    assert mnn["model"]["counted_graph"] == "the ONNX export of the PyTorch source"
    assert ort["model"]["counted_graph"] == "the bundle's ONNX model"
    assert {k: v for k, v in mnn["model"].items() if k != "counted_graph"} == {k: v for k, v in ort["model"].items() if k != "counted_graph"}
    assert mnn["floor_ms"] == ort["floor_ms"] > 0
    infer = next(s for s in mnn["stages"] if s["name"] == "infer")
    assert infer["operations"] == ort["model"]["operations"] and infer["bytes"] == ort["model"]["weight_bytes"] + ort["model"]["activation_bytes"]


def test_a_bundle_without_the_record_gets_the_reason(builds, monkeypatch, tmp_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(builds["a"].bundle, copy)
    (copy / roofline.WORK_REPORT).unlink()
    skipped = _roof(copy, monkeypatch)["skipped"]
    assert "this mnn bundle's model is a .mnn file" in skipped and "has no reports/work.json" in skipped
    (copy / roofline.WORK_REPORT).write_text(json.dumps({"graph": "the source ONNX", "skipped": "a dynamic shape"}), encoding="utf-8")
    assert _roof(copy, monkeypatch)["skipped"].endswith("could not count the graph the model was converted from: a dynamic shape")
