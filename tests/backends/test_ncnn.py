"""The ncnn backend on its own: every source kind through pnnx to a float32 graph that ncnn runs
like the source, the graph reader, what it refuses (operators ncnn lacks, a pnnx crash, non-float
tensors) and how `edgesdk targets` reports it (int8: tests/quantize/test_ncnn_int8.py)."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch
from conftest import example_manifest_dict
from torch import nn

from edgesdk.backends import availability, get_backend
from edgesdk.backends.ncnn import FP32_OPTIONS, read_param
from edgesdk.cli import main
from edgesdk.errors import ManifestError, UnsupportedOpError
from edgesdk.manifest import load_manifest, with_overrides
from edgesdk.render import RUNTIMES_DIR
from edgesdk.sources import load_source


def _need_ncnn() -> None:
    ok, why = availability("ncnn")
    if not ok:
        pytest.skip(f"runtime 'ncnn': {why}")


def test_param_reader_finds_inputs_outputs_and_layer_types(tmp_path):
    param = tmp_path / "m.param"
    param.write_text(
        "7767517\n5 6\n"
        "Input            in0   0 1 in0\n"
        "Split            sp    1 2 in0 a b\n"
        "Convolution      conv  1 1 a c 0=4 1=3\n"
        "BinaryOp         add   2 1 b c out1 0=0\n"
        "ReLU             relu  1 1 c out0\n"
    )
    graph = read_param(param)
    assert graph.inputs == ["in0"] and graph.outputs == ["out1", "out0"]
    assert graph.layer_types == ["Input", "Split", "Convolution", "BinaryOp", "ReLU"]


def test_the_cpp_adapter_sets_every_option_of_the_parity_run():
    """Parity is only meaningful if the C++ SDK runs with the options the Python runner used."""
    header = (RUNTIMES_DIR / "ncnn" / "cpp" / "ncnn_tensors.hpp.j2").read_text()
    set_in_cpp = dict(re.findall(r"options\.(\w+) = (true|false);", header))
    assert set_in_cpp == {name: str(value).lower() for name, value in FP32_OPTIONS.items()}


def test_targets_names_the_extra_when_ncnn_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ncnn", None)  # `import ncnn` now fails as if it were not installed
    assert main(["targets", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if (r["target"], r["runtime"]) == ("arm", "ncnn"))
    assert row["default"] and not row["available"]
    assert "pip install 'edgesdk[ncnn]'" in row["detail"]
    assert row["languages"]["cpp"] == "not generated for this runtime yet"


@pytest.mark.ncnn
def test_targets_shows_ncnn_available_for_arm(capsys):
    _need_ncnn()
    assert main(["targets", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if (r["target"], r["runtime"]) == ("arm", "ncnn"))
    assert row["default"] and row["available"] and "pnnx" in row["detail"]
    assert row["languages"]["cpp"].startswith("generated")


@pytest.mark.ncnn
@pytest.mark.parametrize("source", ["model.pt2", "python:classifier_model:trained_classifier", "model.onnx"])
def test_every_source_kind_converts_to_a_float32_graph_that_runs_like_the_source(source, project, tmp_path):
    """TorchScript is the example's own source (tests/e2e/test_ncnn.py builds it); these are the others."""
    _need_ncnn()
    manifest = with_overrides(load_manifest(project(example_manifest_dict(source))), target="arm", runtime="ncnn")
    model = load_source(manifest)
    backend = get_backend("ncnn")
    artifact = backend.convert(model, manifest, tmp_path / "model")
    assert sorted(p.name for p in artifact.folder.iterdir()) == ["model.ncnn.bin", "model.ncnn.param"]
    assert artifact.main == "model.ncnn.param" and artifact.files == ["model.ncnn.param", "model.ncnn.bin"]
    graph = read_param(artifact.main_path)
    assert graph.inputs == ["in0"] and graph.outputs == ["out0"]
    x = np.random.default_rng(3).normal(size=(1, 3, 224, 224)).astype(np.float32)
    (got,) = backend.runner(artifact)({"image": x})
    (want,) = model.reference_runner()({"image": x})
    assert got.shape == want.shape == (1, 6) and np.max(np.abs(got - want)) <= 1e-4


class TwoHeads(nn.Module):
    """Two outputs, the second computed first: pnnx's out<k> must still follow the return order."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.conv = nn.Conv2d(3, 8, 3, stride=4)
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(8, 3)

    def forward(self, x):
        feats = self.conv(x).mean(dim=(2, 3))
        second = self.b(feats)
        return torch.relu(self.a(feats)) * 2.0, second


@pytest.mark.ncnn
def test_outputs_keep_the_manifest_order(project, tmp_path):
    _need_ncnn()
    folder = project.folder
    torch.export.save(torch.export.export(TwoHeads().eval(), (torch.zeros(1, 3, 224, 224),)), str(folder / "two.pt2"))
    data = example_manifest_dict("two.pt2")
    data["model"]["outputs"] = [{"name": "first", "shape": [1, 4]}, {"name": "second", "shape": [1, 3]}]
    data.update(task="custom", postprocess={"steps": []})
    manifest = with_overrides(load_manifest(project(data)), target="arm", runtime="ncnn")
    model = load_source(manifest)
    artifact = get_backend("ncnn").convert(model, manifest, tmp_path / "model")
    again = get_backend("ncnn").convert(model, manifest, tmp_path / "again")
    assert all((artifact.folder / f).read_bytes() == (again.folder / f).read_bytes() for f in artifact.files)  # reproducible
    x = np.random.default_rng(4).normal(size=(1, 3, 224, 224)).astype(np.float32)
    got = get_backend("ncnn").runner(artifact)({"image": x})
    want = model.reference_runner()({"image": x})
    assert [g.shape for g in got] == [(1, 4), (1, 3)]
    assert all(np.max(np.abs(g - w)) <= 1e-4 for g, w in zip(got, want))


class WithOp(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=8)
        self.op = op

    def forward(self, x):
        return self.op(self.conv(x)).flatten(1)[:, :6]


@pytest.mark.ncnn
@pytest.mark.parametrize(
    "op, messages",
    [
        (lambda x: torch.erfinv(x.clamp(-0.5, 0.5)), ("ncnn has no layer for", "aten::erfinv")),
        (lambda x: torch.linalg.det(x[:, :, :4, :4]).unsqueeze(-1).expand(1, 4, 6), ("pnnx could not convert", "op.pt2")),
    ],
    ids=["unmapped-operator", "pnnx-crash"],
)
def test_a_model_ncnn_cannot_run_is_refused_and_nothing_is_written(op, messages, project, tmp_path, capsys):
    _need_ncnn()
    folder = project.folder
    torch.export.save(torch.export.export(WithOp(op).eval(), (torch.zeros(1, 3, 224, 224),)), str(folder / "op.pt2"))
    out = tmp_path / "dist"
    assert main(["build", "-c", str(project(example_manifest_dict("op.pt2"))), "--target", "arm", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(m in err for m in messages), err
    # No bundle, no staging leftovers: only the failed build's log, which the error line names.
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert all(name.endswith(".build-failed.log") for name in left), left
    assert all(name in err for name in left), err


@pytest.mark.ncnn
def test_an_output_without_a_batch_axis_is_refused(project, tmp_path):
    """ncnn drops the batch axis and the glue puts a 1 back: an output that never had one would
    come out with a shape the model does not have."""
    _need_ncnn()
    unbatched = WithOp(lambda x: x.squeeze(0))  # [1, 4, 28, 28] -> [4, 28, 28] -> [4, 784] -> [4, 6]
    torch.export.save(torch.export.export(unbatched.eval(), (torch.zeros(1, 3, 224, 224),)), str(project.folder / "flat.pt2"))
    data = example_manifest_dict("flat.pt2")
    data["model"]["outputs"] = [{"name": "logits", "shape": [4, 6]}]
    data.update(task="custom", postprocess={"steps": []})
    manifest = with_overrides(load_manifest(project(data)), target="arm", runtime="ncnn")
    with pytest.raises(UnsupportedOpError, match=r"has shape \[1, 4, 6\]; the model's is \[4, 6\]"):
        get_backend("ncnn").convert(load_source(manifest), manifest, tmp_path / "model")


def _uint8_input(data: dict) -> None:
    data["model"]["inputs"][0]["dtype"] = "uint8"
    data["preprocess"]["steps"] = [*data["preprocess"]["steps"], {"cast": "uint8"}]


@pytest.mark.ncnn
@pytest.mark.parametrize(
    "field, change",
    [
        ("model.inputs[0].dtype", _uint8_input),
        ("model.outputs[0].dtype", lambda d: d["model"]["outputs"][0].update(dtype="int64")),
    ],
)
def test_tensors_ncnn_cannot_carry_are_refused_naming_the_field(field, change, project, tmp_path):
    _need_ncnn()
    data = example_manifest_dict("model.pt")
    change(data)
    manifest = with_overrides(load_manifest(project(data)), target="arm", runtime="ncnn")
    with pytest.raises(ManifestError) as info:
        get_backend("ncnn").convert(load_source(manifest), manifest, tmp_path / "model")
    assert info.value.field == field and "float32" in info.value.message
    assert not (tmp_path / "model").exists()


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """A PEP 503 simple index on localhost holding one fake ncnn sdist; PIP_INDEX_URL points at it."""
    import hashlib
    import http.server
    import threading
    from functools import partial

    root = tmp_path / "index"
    (root / "simple" / "ncnn").mkdir(parents=True)
    (root / "files").mkdir()
    archive = b"not really a tarball, but bytes with a known sha256"
    (root / "files" / "ncnn-1.0.20990101.tar.gz").write_bytes(archive)
    (root / "simple" / "ncnn" / "index.html").write_text('<html><body><a href="../../files/ncnn-1.0.20990101.tar.gz#sha256=x">ncnn-1.0.20990101.tar.gz</a></body></html>')
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
    yield server, hashlib.sha256(archive).hexdigest()
    server.shutdown()


def test_the_sdist_comes_from_pips_index_checked_against_its_pinned_sha256(local_index, tmp_path):
    from edgesdk.backends.ncnn import fetch_sdist
    from edgesdk.errors import BackendUnavailable

    server, sha = local_index
    cache = tmp_path / "cache"
    with pytest.raises(BackendUnavailable, match="does not have the pinned sha256"):
        fetch_sdist(cache, "1.0.20990101", "0" * 64)
    assert not any(cache.iterdir())  # nothing half-written is left behind
    with pytest.raises(BackendUnavailable, match="lists no ncnn-1.0.20990102.tar.gz"):
        fetch_sdist(cache, "1.0.20990102", sha)
    path = fetch_sdist(cache, "1.0.20990101", sha)
    assert path == cache / "ncnn-1.0.20990101.tar.gz" and path.read_bytes().startswith(b"not really")
    server.shutdown()  # the cached archive is used without asking the index again
    assert fetch_sdist(cache, "1.0.20990101", sha) == path
