"""The MNN backend on its own: a model not in the repo (two outputs, in an order MNN does not keep)
through ONNX and mnnconvert to a float32 model MNN runs like the source; reproducible files (the
converter's random UUID replaced); the converter called without MNN's network logger; what it
refuses; and the C++ adapter held to the parity run's settings. The C++ SDK compiles only against
an MNN install (MNN_ROOT): no registry here has one, and the skip says so."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import example_manifest_dict
from torch import nn

from edgesdk.backends import availability, get_backend
from edgesdk.backends.mnn import SESSION_CONFIG, stable_uuid
from edgesdk.cli import main
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.golden import SAMPLE_IMAGES_DIR
from edgesdk.manifest import manifest_from_dict
from edgesdk.render import RUNTIMES_DIR
from edgesdk.sources import load_source

pytestmark = pytest.mark.mnn


def _need_mnn() -> None:
    ok, why = availability("mnn")
    if not ok:
        pytest.skip(f"runtime 'mnn': {why}")


class TwoHeads(nn.Module):
    """Outputs named so that MNN's by-name order (alphabetical) is not the model's order."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        features = torch.relu(self.conv(x))
        pooled = features.mean(dim=(2, 3))
        return self.head(pooled), features


def _two_heads_manifest(folder) -> dict:
    model = TwoHeads().eval()
    example = torch.rand(1, 3, 16, 16)
    torch.onnx.export(model, (example,), str(folder / "heads.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=["zeta", "alpha"], verbose=False)
    data = example_manifest_dict("heads.onnx")
    data["model"]["inputs"] = [{"name": "image", "shape": [1, 3, 16, 16]}]
    data["model"]["outputs"] = [{"name": "zeta", "shape": [1, 5]}, {"name": "alpha", "shape": [1, 8, 16, 16]}]
    data["preprocess"]["steps"] = [{"resize": {"size": [16, 16]}}, {"layout": "nchw"}]
    data["postprocess"] = {"steps": [{"softmax": {}}]}
    data["task"] = "custom"
    data["target"], data["runtime"] = "arm", "mnn"
    return data


def test_outputs_come_back_in_the_models_order_and_match_onnxruntime(tmp_path):
    _need_mnn()
    import onnxruntime

    manifest = manifest_from_dict(_two_heads_manifest(tmp_path), tmp_path)
    backend = get_backend("mnn")
    artifact = backend.convert(load_source(manifest), manifest, tmp_path / "model")
    feeds = {"image": np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)}
    got = backend.runner(artifact)(feeds)
    want = onnxruntime.InferenceSession(str(tmp_path / "heads.onnx")).run(None, feeds)
    assert [g.shape for g in got] == [(1, 5), (1, 8, 16, 16)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)


def test_the_converted_file_is_reproducible_and_still_loads(tmp_path):
    _need_mnn()
    import MNN

    manifest = manifest_from_dict(_two_heads_manifest(tmp_path), tmp_path)
    backend = get_backend("mnn")
    first = backend.convert(load_source(manifest), manifest, tmp_path / "a").main_path
    second = backend.convert(load_source(manifest), manifest, tmp_path / "b").main_path
    assert first.read_bytes() == second.read_bytes()
    assert MNN.get_model_uuid(str(first)) == MNN.get_model_uuid(str(second))


def test_stable_uuid_replaces_exactly_the_uuid():
    body = b"\x00head" + b"d92d1698-34fe-4212-8fad-acc564cd442d" + b"tail\x00"
    other = body.replace(b"d92d1698-34fe-4212-8fad-acc564cd442d", b"0bb0fb02-4696-4ad0-a74f-aed4203c6af8")
    assert stable_uuid(body) == stable_uuid(other) != body
    assert len(stable_uuid(body)) == len(body) and stable_uuid(body).startswith(b"\x00head") and stable_uuid(body).endswith(b"tail\x00")
    with pytest.raises(UnsupportedOpError, match="0 model UUIDs"):
        stable_uuid(b"no uuid here")


def test_conversion_never_imports_mnns_network_logger(tmp_path):
    """MNN.tools.mnnconvert imports a logger that pip-installs a package and reports conversions."""
    _need_mnn()
    manifest = manifest_from_dict(_two_heads_manifest(tmp_path), tmp_path)
    get_backend("mnn").convert(load_source(manifest), manifest, tmp_path / "model")
    assert not [name for name in sys.modules if name.startswith(("MNN.tools", "aliyun"))]


def test_non_float_input_is_refused_naming_the_field(tmp_path):
    _need_mnn()
    data = _two_heads_manifest(tmp_path)
    data["model"]["inputs"][0]["dtype"] = "uint8"
    data["preprocess"]["steps"].append({"cast": "uint8"})
    manifest = manifest_from_dict(data, tmp_path)
    with pytest.raises(ManifestError, match=r"model.inputs\[0\].dtype"):
        get_backend("mnn").convert(load_source(manifest), manifest, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_the_cpp_adapter_uses_the_parity_runs_settings():
    """Parity is only meaningful if the C++ SDK runs MNN as the Python runner did."""
    header = (RUNTIMES_DIR / "mnn" / "cpp" / "mnn_tensors.hpp.j2").read_text()
    assert SESSION_CONFIG == {"backend": "CPU", "precision": "high"}
    assert "backend.precision = MNN::BackendConfig::Precision_High;" in header
    assert "schedule.type = MNN_FORWARD_CPU;" in header
    assert re.search(r"MNN::Tensor::create<float>\(.*MNN::Tensor::CAFFE\)", header), "host tensors are NCHW, as the parity run feeds them"


def test_cpp_package_says_why_it_cannot_build_here(monkeypatch):
    monkeypatch.delenv("MNN_ROOT", raising=False)
    with pytest.raises(BackendUnavailable, match="no registry reachable here"):
        get_backend("mnn").cpp_package()


def test_targets_reports_mnn(capsys):
    assert main(["targets", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if (r["target"], r["runtime"]) == ("arm", "mnn"))
    ok, why = availability("mnn")
    assert row["available"] == ok and why in row["detail"]


def test_targets_json_is_clean_when_mnn_loads_in_a_fresh_process():
    """MNN's native library prints the CPU's features to stdout when it loads; a fresh process is
    the only place that first load happens."""
    _need_mnn()
    done = subprocess.run([sys.executable, "-m", "edgesdk", "targets", "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout)
    assert any(r["runtime"] == "mnn" and r["available"] for r in rows)
    assert "device supports" in done.stderr, "the library's line still reaches the user, on stderr"


def _quantized_build(example_models, tmp_path, quantization: dict, out: str = "dist"):
    project = tmp_path / "project"
    if not project.exists():
        shutil.copytree(example_models, project)
    data = example_manifest_dict()
    data["quantization"] = quantization
    (project / "edgesdk.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return main(["build", "-c", str(project / "edgesdk.yaml"), "--target", "arm", "--runtime", "mnn", "--out", str(tmp_path / out), "--json"])


@pytest.mark.slow
@pytest.mark.parametrize("mode, max_size_ratio", [("fp16", 0.6), ("int8-dynamic", 0.35)])
def test_weight_compression_passes_parity_smaller_and_reproducibly(example_models, tmp_path, capsys, mode, max_size_ratio):
    _need_mnn()
    assert _quantized_build(example_models, tmp_path, {"mode": mode}) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    report = json.loads((Path(first["bundle"]) / "reports" / "quantization.json").read_text())
    assert report["mode"] == mode and report["size_ratio"] < max_size_ratio
    assert _quantized_build(example_models, tmp_path, {"mode": mode}, out="again") == 0
    assert json.loads(capsys.readouterr().out)["zip_sha256"] == first["zip_sha256"]


@pytest.mark.parametrize(
    "quantization, field",
    [
        ({"mode": "fp16", "keep_float": ["conv1"]}, "quantization.keep_float"),
        ({"mode": "int8-dynamic", "per_channel": False}, "quantization.per_channel"),
        # mnnquant's feature methods are KL (entropy), ADMM and EMA: neither minmax nor percentile.
        ({"mode": "int8", "calibration": {"data": str(SAMPLE_IMAGES_DIR), "samples": 1}}, "quantization.calibration.method"),
        ({"mode": "int8", "calibration": {"data": str(SAMPLE_IMAGES_DIR), "samples": 1, "method": "percentile"}}, "quantization.calibration.method"),
    ],
)
def test_what_mnn_cannot_compress_is_refused_naming_the_field(example_models, tmp_path, capsys, quantization, field):
    _need_mnn()
    assert _quantized_build(example_models, tmp_path, quantization) == 2
    err = capsys.readouterr().err
    assert field in err, err
    assert not (tmp_path / "dist").exists()
