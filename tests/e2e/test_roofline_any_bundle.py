"""The roofline of a bundle whose model the op counter does not read (MNN, int8 LiteRT): its build
records the work of the ONNX graph it was converted from, once per source (a second build takes it
from the build cache and writes the same bundle), the bench's roofline uses it and says which graph
it counted, and a bundle without the record gets the reason instead. A float32 LiteRT model is
read itself, through OpenVINO's TensorFlow Lite frontend: the same multiply-adds as the ONNX graph."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import example_manifest_dict
from PIL import Image

from edgesdk import api, benchmark, bundle, errors, golden, roofline
from edgesdk.backends import availability
from edgesdk.golden import SAMPLE_IMAGES_DIR


def _needs(runtime: str) -> None:
    """Skip unless `runtime` runs here and OpenVINO, whose graph reader the op counter uses, is installed."""
    ok, why = availability(runtime)
    if not ok:
        pytest.skip(f"runtime '{runtime}': {why}")
    pytest.importorskip("openvino", reason="the op counter reads graphs with OpenVINO: pip install 'edgesdk[openvino]'")


@pytest.fixture(scope="module")
def builds(example_models, tmp_path_factory):
    _needs("mnn")
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


@pytest.mark.mnn
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


@pytest.mark.mnn
def test_the_bench_roofline_of_an_mnn_bundle_is_that_of_its_onnx_graph(builds, monkeypatch):
    mnn = _roof(builds["a"].bundle, monkeypatch)
    ort = _roof(builds["ort"].bundle, monkeypatch)
    assert mnn["model"]["counted_graph"] == "the ONNX export of the PyTorch source"
    assert ort["model"]["counted_graph"] == "the bundle's ONNX model"
    assert {k: v for k, v in mnn["model"].items() if k != "counted_graph"} == {k: v for k, v in ort["model"].items() if k != "counted_graph"}
    assert mnn["floor_ms"] == ort["floor_ms"] > 0
    infer = next(s for s in mnn["stages"] if s["name"] == "infer")
    assert infer["operations"] == ort["model"]["operations"] and infer["bytes"] == ort["model"]["weight_bytes"] + ort["model"]["activation_bytes"]


@pytest.mark.mnn
def test_a_bundle_without_the_record_gets_the_reason(builds, monkeypatch, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(builds["a"].bundle, copy)
    (copy / roofline.WORK_REPORT).unlink()
    skipped = _roof(copy, monkeypatch)["skipped"]
    assert "this mnn bundle's model is a .mnn file" in skipped and "has no reports/work.json" in skipped
    (copy / roofline.WORK_REPORT).write_text(json.dumps({"graph": "the source ONNX", "skipped": "a dynamic shape"}), encoding="utf-8")
    assert _roof(copy, monkeypatch)["skipped"].endswith("could not count the graph the model was converted from: a dynamic shape")


@pytest.fixture(scope="module")
def litert(example_models, tmp_path_factory):
    _needs("tflite")
    folder = tmp_path_factory.mktemp("roof-litert")
    project = folder / "project"
    shutil.copytree(example_models, project)
    (project / "calib").mkdir()
    for i, src in enumerate(sorted(SAMPLE_IMAGES_DIR.glob("*.png"))):
        img = Image.open(src).convert("RGB")
        w, h = img.size
        for j, box in enumerate([(0, 0, w, h), (w // 4, 0, w, h * 3 // 4), (0, h // 5, w * 2 // 3, h)]):
            img.crop(box).save(project / "calib" / f"{i}_{j}.png")
    made = {}
    for runtime, mode in (("tflite", "none"), ("tflite", "int8"), ("onnxruntime", "none")):
        data = example_manifest_dict()
        data["target"], data["runtime"] = "android", runtime
        if mode != "none":
            data["quantization"] = {"mode": mode, "calibration": {"data": "calib", "samples": 12, "method": "minmax"}}
        path = project / f"{runtime}-{mode}.yaml"
        path.write_text(json.dumps(data), encoding="utf-8")
        made[f"{runtime}-{mode}"] = api.build(path, out=folder / f"{runtime}-{mode}").bundle
    return made


@pytest.mark.tflite
def test_a_float32_litert_model_is_counted_itself_with_the_onnx_graphs_multiply_adds(litert, monkeypatch):
    onnx = roofline.count_work(litert["onnxruntime-none"] / "model" / "model.onnx")
    tflite = roofline.count_work(litert["tflite-none"] / "model" / "model.tflite")
    # The multiply-adds and the element-wise ops on activations agree; the ONNX graph also computes
    # its pooled axes at run time (Range, Subtract, Multiply: 17 operations) where LiteRT holds
    # constants, and the byte counts differ by those constants and LiteRT's layout.
    for kind in ("Convolution", "MatMul", "Add", "Relu", "ReduceMean"):
        assert tflite.by_kind[kind] == onnx.by_kind[kind] > 0, kind
    assert 0 <= onnx.operations - tflite.operations == sum(v for k, v in onnx.by_kind.items() if k not in tflite.by_kind) < 100
    assert tflite.input_bytes == onnx.input_bytes and tflite.output_bytes == onnx.output_bytes
    assert not (litert["tflite-none"] / roofline.WORK_REPORT).exists()
    roof = _roof(litert["tflite-none"], monkeypatch)
    assert roof["model"]["counted_graph"] == "the bundle's TensorFlow Lite model" and roof["model"]["operations"] == tflite.operations


@pytest.mark.tflite
def test_an_int8_litert_model_the_reader_refuses_has_the_source_graphs_work(litert, monkeypatch):
    model = litert["tflite-int8"] / "model" / "model.tflite"
    with pytest.raises(errors.InputError, match="OpenVINO's graph reader cannot read it"):
        roofline.count_work(model)
    onnx = roofline.count_work(litert["onnxruntime-none"] / "model" / "model.onnx")
    roof = _roof(litert["tflite-int8"], monkeypatch)
    assert roof["precision"] == "int8" and roof["model"]["counted_graph"] == "the ONNX export of the PyTorch source"
    assert roof["model"]["operations"] == onnx.operations and roof["model"]["weight_bytes"] == onnx.weight_bytes
