"""Stages taken from the build cache (edgesdk/stagecache.py): a runtime's conversion, the source
model's reference outputs and the in-process torch.export; each keyed by everything it reads,
and a build that takes them writes the same bundle, build.log included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import example_manifest_dict

from edgesdk import api, buildcache, buildlog, stagecache
from edgesdk.backends import get_backend, torch_export
from edgesdk.backends import onnxruntime as ort_backend
from edgesdk.backends.base import Artifact
from edgesdk.manifest import load_manifest
from edgesdk.sources import load_source


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(buildcache.ENV_SWITCH, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting_convert(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = ort_backend.OnnxRuntimeBackend.convert
    monkeypatch.setattr(ort_backend.OnnxRuntimeBackend, "convert", lambda self, source, manifest, out: calls.append(source.sha256) or real(self, source, manifest, out))
    return calls


def test_a_cached_conversion_gives_the_zip_of_a_computed_one(project, tmp_path, monkeypatch, cache):
    calls = _counting_convert(monkeypatch)
    path = project()
    first = api.build(path, out=tmp_path / "cold")
    again = api.build(path, out=tmp_path / "warm")
    assert len(calls) == 1 and (cache / "convert").is_dir()
    assert again.zip_sha256 == first.zip_sha256
    assert "--- output of convert (onnxruntime): torch.onnx.export" in (again.bundle / "reports" / "build.log").read_text()
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")
    uncached = api.build(path, out=tmp_path / "off")
    assert len(calls) == 2 and uncached.zip_sha256 == first.zip_sha256


def test_float_and_int8_builds_share_one_conversion(project, tmp_path, monkeypatch, cache):
    calls = _counting_convert(monkeypatch)
    data = example_manifest_dict()
    api.build(project(data), out=tmp_path / "fp32")
    data["quantization"] = {"mode": "int8-dynamic"}
    data["parity"] = {"top1_agreement_min": 0.0, "cosine_min": 0.5}
    api.build(project(data), out=tmp_path / "int8")
    assert len(calls) == 1


def test_the_conversion_key_follows_what_convert_reads(project):
    data = example_manifest_dict()
    manifest = load_manifest(project(data))
    source = load_source(manifest)
    ort, trt = get_backend("onnxruntime"), get_backend("tensorrt")
    key = api.convert_key(ort, source, manifest)
    assert key is not None and api.convert_key(ort, source, manifest) == key
    assert api.convert_key(get_backend("openvino"), source, manifest) != key
    # The gate, the golden images and the quantization block are not read by ONNX Runtime's convert.
    changed = {**data, "parity": {"cosine_min": 0.5}, "golden": {"count": 2}, "quantization": {"mode": "int8-dynamic"}}
    assert api.convert_key(ort, source, load_manifest(project(changed))) == key
    # TensorRT's is (the mode names its files).
    assert api.convert_key(trt, source, load_manifest(project(changed))) != api.convert_key(trt, source, manifest)
    renamed = example_manifest_dict()
    renamed["model"]["outputs"][0]["name"] = "scores"
    assert api.convert_key(ort, source, load_manifest(project(renamed))) != key
    renormalized = example_manifest_dict()
    renormalized["preprocess"]["steps"][-2]["normalize"]["mean"] = [0.0, 0.0, 0.0]
    assert api.convert_key(ort, source, load_manifest(project(renormalized))) != key
    other_bytes = load_source(manifest)
    other_bytes.sha256 = "0" * 64
    assert api.convert_key(ort, other_bytes, manifest) != key
    python_source = load_source(manifest)
    python_source.kind = "torch_module"  # a python: factory's digest covers its weights, not its code
    assert api.convert_key(ort, python_source, manifest) is None


def test_source_outputs_are_computed_once_per_input(project, cache):
    manifest = load_manifest(project())
    source = load_source(manifest)
    calls = []
    real = source.reference_runner()
    run = stagecache.source_runner(lambda feeds: calls.append(1) or real(feeds), source)
    name = manifest.model.inputs[0].name
    x = np.random.default_rng(0).random(manifest.model.inputs[0].shape, dtype=np.float32)
    first = run({name: x})
    again = run({name: x.copy()})
    assert len(calls) == 1 and all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(first, again))
    other = run({name: x + 1})
    assert len(calls) == 2 and not np.array_equal(other[0], first[0])
    python_source = load_source(manifest)
    python_source.kind = "torch_module"
    assert stagecache.source_runner(real, python_source) is real


def test_log_lines_replay_as_they_were_filed():
    log = buildlog.BuildLog()
    with log.stage("convert (x)"):
        mark = log.mark()
        log.add_output("tool", "said this")
        log.add_output("tool", "said this")
        log.note("a note")
        records = log.since(mark)
    replayed = buildlog.BuildLog()
    with replayed.stage("convert (x)"):
        replayed.replay(records)
    assert replayed.text() == log.text() and "(2 calls, each printed this)" in log.text() and replayed.tools_ran


def test_an_export_is_made_once_per_process_and_handed_out_as_copies(project):
    manifest = load_manifest(project())
    source = load_source(manifest)
    torch_export._EXPORTS.clear()
    log = buildlog.BuildLog()
    with log.active(), log.stage("convert (a)"):
        first = torch_export.exported_program(source, manifest, "tflite")
    printed = log.text()
    again_log = buildlog.BuildLog()
    with again_log.active(), again_log.stage("convert (a)"):
        again = torch_export.exported_program(source, manifest, "tflite")
    assert len(torch_export._EXPORTS) == 1 and again is not first and again_log.text() == printed
    assert str(again.graph) == str(first.graph)
    weight = next(iter(again.state_dict.values()))
    with torch.no_grad():
        weight.add_(1.0)  # a consumer that changes its program does not change the next one's
    third = torch_export.exported_program(source, manifest, "tflite")
    assert torch.equal(next(iter(third.state_dict.values())), next(iter(first.state_dict.values())))


def test_runtimes_share_an_export_unless_the_build_cache_is_off(project, monkeypatch, cache):
    manifest = load_manifest(project())
    source = load_source(manifest)
    torch_export._EXPORTS.clear()
    exports: list[str] = []
    real = torch_export._export
    monkeypatch.setattr(torch_export, "_export", lambda source, manifest, runtime: exports.append(runtime) or real(source, manifest, runtime))
    first = torch_export.exported_program(source, manifest, "tflite")
    shared = torch_export.exported_program(source, manifest, "executorch")
    assert exports == ["tflite"] and str(shared.graph) == str(first.graph)
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")
    torch_export.exported_program(source, manifest, "executorch")
    torch_export.exported_program(source, manifest, "executorch")
    assert exports == ["tflite", "executorch", "executorch"]


def test_a_cached_quantization_gives_the_zip_of_a_computed_one(project, tmp_path, monkeypatch, cache):
    from edgesdk import quantize

    calls = []
    real = quantize.run
    monkeypatch.setattr(quantize, "run", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    data = example_manifest_dict()
    data["quantization"] = {"mode": "int8-dynamic"}
    data["parity"] = {"top1_agreement_min": 0.0, "cosine_min": 0.5}
    path = project(data)
    first = api.build(path, out=tmp_path / "cold")
    again = api.build(path, out=tmp_path / "warm")
    assert len(calls) == 1 and again.zip_sha256 == first.zip_sha256
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")
    assert api.build(path, out=tmp_path / "off").zip_sha256 == first.zip_sha256 and len(calls) == 2


def test_the_quantization_key_follows_the_model_the_settings_and_the_data(project, tmp_path):
    from edgesdk.quantize.calibration import METHODS, CalibrationSet

    data = example_manifest_dict()
    data["quantization"] = {"mode": "int8-dynamic"}
    manifest = load_manifest(project(data))
    source = load_source(manifest)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"float model")
    artifact = Artifact(folder=folder, main="model.onnx", files=["model.onnx"], runtime="onnxruntime")
    tensors = CalibrationSet([np.zeros((1, 3), np.float32)], ["a.png"], "files", METHODS["minmax"])
    key = api.quantize_key("onnxruntime", artifact, manifest, tensors, source)
    assert key is not None and api.quantize_key("onnxruntime", artifact, manifest, tensors, source) == key
    assert api.quantize_key("tflite", artifact, manifest, tensors, source) != key
    assert api.quantize_key("onnxruntime", artifact, load_manifest(project({**data, "parity": {"cosine_min": 0.5}})), tensors, source) == key
    assert api.quantize_key("onnxruntime", artifact, load_manifest(project({**data, "quantization": {"mode": "fp16"}})), tensors, source) != key
    other_data = CalibrationSet([np.ones((1, 3), np.float32)], ["a.png"], "files", METHODS["minmax"])
    assert api.quantize_key("onnxruntime", artifact, manifest, other_data, source) != key
    assert api.quantize_key("onnxruntime", artifact, manifest, None, source) != key
    (folder / "model.onnx").write_bytes(b"another float model")
    assert api.quantize_key("onnxruntime", artifact, manifest, tensors, source) != key


def test_the_golden_stage_takes_the_parity_gates_outputs_of_its_images(project, tmp_path, monkeypatch):
    from edgesdk import golden

    runs: list[bytes] = []
    real = ort_backend.OnnxRuntimeBackend.runner

    def counting(self, artifact, threads=1):
        run = real(self, artifact, threads)
        return lambda feeds: runs.append(next(iter(feeds.values())).tobytes()) or run(feeds)

    monkeypatch.setattr(ort_backend.OnnxRuntimeBackend, "runner", counting)
    result = api.build(project(), out=tmp_path / "dist")
    index = golden.load_index(result.bundle)
    assert len(runs) == result.parity["samples"] == 4 * len(index["cases"]) == len(set(runs))
    sdk_model = result.bundle / "model" / "model.onnx"
    fresh = real(ort_backend.BACKEND, Artifact(sdk_model.parent, sdk_model.name, [sdk_model.name], "onnxruntime", {}))
    for case in index["cases"]:
        tensor = np.load(result.bundle / golden.GOLDEN_DIR / case["preprocessed"])
        written = np.load(result.bundle / golden.GOLDEN_DIR / case["outputs"]["logits"])
        assert written.tobytes() == fresh({"image": tensor})[0].tobytes()
