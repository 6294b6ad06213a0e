"""MNN full int8 (`quantization.mode: int8` on runtime mnn): MNN's own calibration tool, mnnquant,
fed the manifest's pre-processed calibration tensors exactly (its `sequence` input, decimal text
that reads back to the same float32), gated through MNN's Python runtime: the accuracy budget
holds, the file shrinks, sdk.json and the README say what the model is and needs, and a planted
unnormalized calibration feed fails the gate."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import skip_unless_runtime
from test_quantization import quant_manifest, write_calibration

from edgesdk import api, buildcache
from edgesdk.backends import get_backend
from edgesdk.backends.base import Artifact
from edgesdk.cli import main
from edgesdk.manifest import load_manifest, with_overrides
from edgesdk.quantize import mnn as q
from edgesdk.quantize.calibration import load_calibration
from edgesdk.sources import load_source

pytestmark = pytest.mark.mnn
SAMPLES = 16
INT8 = {"mode": "int8", "calibration": {"data": "calib", "samples": SAMPLES, "method": "entropy"}, "accuracy_budget": {"metric": "top1_agreement", "min": 0.9}}
MEAN = np.array([123.675, 116.28, 103.53], np.float32).reshape(1, 3, 1, 1)
STD = np.array([58.395, 57.12, 57.375], np.float32).reshape(1, 3, 1, 1)


@pytest.fixture(scope="module")
def need_mnn():
    skip_unless_runtime("mnn")


@pytest.fixture(scope="module")
def project(need_mnn, example_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnn-int8") / "project"
    shutil.copytree(example_models, folder)
    write_calibration(folder / "calib", SAMPLES)
    (folder / "edgesdk.yaml").write_text(yaml.safe_dump(quant_manifest(INT8)), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def int8_bundle(project):
    return api.build(project / "edgesdk.yaml", target="arm", runtime="mnn", out=project.parent / "dist").bundle


@pytest.fixture(scope="module")
def float_model(project):
    manifest = with_overrides(load_manifest(project / "edgesdk.yaml"), target="arm", runtime="mnn")
    return replace(get_backend("mnn").convert(load_source(manifest), manifest, project.parent / "float"), output_names=["logits"]), manifest


def test_the_feed_reads_back_as_the_same_float32(tmp_path):
    """mnnquant reads each value with `>>` into a double and stores it as float: the text must be exact."""
    rng = np.random.default_rng(1)
    tensor = np.concatenate([rng.normal(0, 3, 4000), [np.finfo(np.float32).tiny, -np.finfo(np.float32).max, 1 / 3, -0.0, 2.0**-149]]).astype(np.float32).reshape(1, -1)
    q.write_feed(tmp_path / "feed", "image", [tensor])
    sample = tmp_path / "feed" / "00000"
    back = np.loadtxt(sample / "image.txt", dtype=np.float64).astype(np.float32)
    assert back.tobytes() == tensor.reshape(-1).tobytes()
    assert json.loads((sample / "input.json").read_text()) == {"inputs": [{"name": "image", "shape": [1, tensor.size]}]}


def test_the_feed_is_the_text_savetxt_writes(tmp_path):
    """The feed is formatted in one pass, to the bytes np.savetxt gives (mnnquant, hence the int8 model, sees the same text)."""
    rng = np.random.default_rng(2)
    special = [np.nan, np.inf, -np.inf, -0.0, 0.0, 2.0**-149, np.finfo(np.float32).max, 1e-7, 123456789.0]
    tensor = np.concatenate([rng.normal(0, 50, 3 * 8 * 8), special]).astype(np.float32)
    q.write_feed(tmp_path / "feed", "image", [tensor.reshape(1, -1), tensor[:5]])
    for k, values in enumerate([tensor, tensor[:5]]):
        expected = tmp_path / f"savetxt-{k}.txt"
        np.savetxt(expected, values.reshape(-1, 1), fmt=q.TEXT_FORMAT)
        assert (tmp_path / "feed" / f"{k:05d}" / "image.txt").read_bytes() == expected.read_bytes()


def test_int8_bundle_meets_its_budget_smaller_and_says_what_it_needs(int8_bundle):
    report = json.loads((int8_bundle / "reports" / "quantization.json").read_text())
    assert report["passed"] and report["metrics"]["top1_agreement"] >= 0.9 and report["size_ratio"] < 0.45
    assert report["mnnquant"]["feature_quantize_method"] == "KL" and report["mnnquant"]["input_type"] == "sequence"
    assert report["mnnquant"]["used_sample_num"] == SAMPLES and report["calibration"]["method"] == "entropy"
    sdk = json.loads((int8_bundle / "sdk.json").read_text())
    assert sdk["quantization"]["mode"] == "int8" and sdk["parity"]["passed"]
    assert "mnnquant" in sdk["runtime_options"]["int8"]["quantizer"]
    readme = (int8_bundle / "sdk" / "cpp" / "README.md").read_text()
    assert "**Full int8 model.**" in readme and "CPUConvInt8Creator" in readme


def test_the_int8_model_runs_int8_in_mnn(int8_bundle, float_model):
    """MNN's runtime on the bundle's file: close to the float model, but not equal to it."""
    sdk = json.loads((int8_bundle / "sdk.json").read_text())
    backend = get_backend("mnn")
    artifact = Artifact(folder=int8_bundle / "model", main="model.mnn", files=["model.mnn"], runtime="mnn", output_names=["logits"])
    x = np.load(int8_bundle / "tests" / "golden" / f"{sdk['golden']['cases'][0]}.preprocessed.npy")
    (got,) = backend.runner(artifact)({"image": x})
    (want,) = backend.runner(float_model[0])({"image": x})
    assert not np.array_equal(got, want) and int(np.argmax(got)) == int(np.argmax(want))


def test_mnnquant_gives_the_same_file_twice(float_model, tmp_path):
    """Reproducible bundles: KL on the same tensors, and the file's UUID derived from its bytes."""
    artifact, manifest = float_model
    calibration = load_calibration(manifest, manifest.quantization.calibration)
    plan = q.MnnPlan(artifact.main_path, "int8", calibration, tmp_path)
    assert plan.quantize(tmp_path / "a.mnn").read_bytes() == plan.quantize(tmp_path / "b.mnn").read_bytes()


def test_an_unnormalized_calibration_feed_fails_the_gate(project, monkeypatch, capsys):
    """The feed planted wrong: the images before normalize, as MNN's image input would need them."""
    real = q.write_feed
    monkeypatch.setattr(q, "write_feed", lambda folder, name, tensors: real(folder, name, [t * STD + MEAN for t in tensors]))
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")  # the planted feed is quantized with, not an earlier build's result
    out = project.parent / "planted"
    assert main(["build", "-c", str(project / "edgesdk.yaml"), "--target", "arm", "--runtime", "mnn", "--out", str(out)]) == 3
    assert "accuracy_budget top1_agreement >= 0.9 not met" in capsys.readouterr().err
    assert not (out / "stripes-classifier-1.0.0-arm-mnn").exists()


def test_the_build_log_names_no_temporary_folder(int8_bundle):
    """mnnquant prints its input's path, which lies in the quantize stage's randomly named folder: two builds must write one log."""
    log = (int8_bundle / "reports" / "build.log").read_text()
    assert "<mnn input>/float.mnn" in log and "edgesdk-quantize-" not in log
