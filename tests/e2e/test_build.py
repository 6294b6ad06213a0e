"""Building bundles end to end in Python: every source kind, the parity gate, determinism, atomicity."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import example_manifest_dict

from edgesdk import api, bundle, render
from edgesdk.cli import main
from edgesdk.errors import ParityError, UnsupportedOpError

BUNDLE = "stripes-classifier-1.0.0-x86-onnxruntime"


@pytest.mark.parametrize("source", ["model.pt", "model.pt2", "model.onnx", "python:classifier_model:build"])
def test_every_source_kind_builds_and_passes_parity(source, project, tmp_path):
    path = project(example_manifest_dict(source))
    result = api.build(path, out=tmp_path / "dist")
    assert result.parity["passed"]
    assert result.parity["outputs"]["logits"]["max_abs"] <= 1e-4
    assert result.parity["task"]["top1_agreement"] == 1.0
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    assert sdk["runtime"] == "onnxruntime" and sdk["target"] == "x86"
    assert sdk["model"]["sha256"] == bundle.sha256_bytes((result.bundle / sdk["model"]["file"]).read_bytes())
    assert api.verify(result.bundle)["ok"]


def test_bundle_layout_and_golden_vectors(project, tmp_path):
    result = api.build(project(), out=tmp_path / "dist")
    b = result.bundle
    assert b.name == "stripes-classifier-1.0.0-x86-onnxruntime"
    assert result.zip.name == b.name + ".zip"
    for rel in ("sdk.json", "SHA256SUMS", "model/model.onnx", "reports/parity.json", "reports/build.log", "tests/golden/index.json"):
        assert (b / rel).is_file(), rel
    index = json.loads((b / "tests/golden/index.json").read_text())
    assert len(index["cases"]) >= 3
    from edgesdk.processing import decode_image

    for case in index["cases"]:
        pixels = decode_image(b / "tests/golden" / case["image"])
        assert np.array_equal(pixels, np.load(b / "tests/golden" / case["input"]))
        assert np.load(b / "tests/golden" / case["preprocessed"]).shape == (1, 3, 224, 224)
        top = case["result"]["classifications"]
        assert len(top) == 5 and top == sorted(top, key=lambda c: -c["score"])
    with zipfile.ZipFile(result.zip) as zf:
        names = zf.namelist()
    assert names == sorted(names) and all(n.startswith(b.name + "/") for n in names)


def test_two_builds_give_the_same_zip(project, tmp_path):
    path = project()
    first = api.build(path, out=tmp_path / "a")
    second = api.build(path, out=tmp_path / "b")
    assert first.zip_sha256 == second.zip_sha256
    assert first.zip.read_bytes() == second.zip.read_bytes()


def test_source_date_epoch_sets_created(project, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    result = api.build(project(), out=tmp_path / "dist")
    assert json.loads((result.bundle / "sdk.json").read_text())["created"] == "2023-11-14T22:13:20Z"


def test_existing_bundle_needs_force(project, tmp_path, capsys):
    path = project()
    out = tmp_path / "dist"
    assert main(["build", "-c", str(path), "--out", str(out)]) == 0
    before = (out / "stripes-classifier-1.0.0-x86-onnxruntime.zip").read_bytes()
    capsys.readouterr()
    assert main(["build", "-c", str(path), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["build", "-c", str(path), "--out", str(out), "--force"]) == 0
    assert (out / "stripes-classifier-1.0.0-x86-onnxruntime.zip").read_bytes() == before


def test_failure_mid_build_leaves_nothing(project, tmp_path, monkeypatch):
    def broken_render(stage, *args, **kwargs):
        (stage / "sdk" / "cpp").mkdir(parents=True)
        (stage / "sdk" / "cpp" / "half.hpp").write_text("// half-written")
        raise RuntimeError("disk full")

    monkeypatch.setattr(render, "render_bundle", broken_render)
    out = tmp_path / "dist"
    with pytest.raises(RuntimeError, match="disk full") as failure:
        api.build(project(), out=out)
    log = out / f"{BUNDLE}.build-failed.log"
    assert list(out.iterdir()) == [log], "no bundle, no zip, no staging folder: only the log"
    assert "RuntimeError: disk full" in log.read_text()
    assert failure.value.__notes__ == [f"build log: {log}"]


def test_failed_forced_rebuild_keeps_the_old_bundle(project, tmp_path, monkeypatch):
    path = project()
    out = tmp_path / "dist"
    first = api.build(path, out=out)
    old_sums = (first.bundle / "SHA256SUMS").read_text()

    def broken_render(*args, **kwargs):
        raise RuntimeError("template crashed")

    monkeypatch.setattr(render, "render_bundle", broken_render)
    with pytest.raises(RuntimeError):
        api.build(path, out=out, force=True)
    assert (first.bundle / "SHA256SUMS").read_text() == old_sums
    assert sorted(p.name for p in out.iterdir()) == sorted([first.bundle.name, first.zip.name, f"{BUNDLE}.build-failed.log"])


def test_parity_gate_failure_is_exit_3_and_no_bundle(project, tmp_path, capsys):
    data = example_manifest_dict()
    data["parity"] = {"max_abs": 1e-12}  # tighter than float32 export noise: the gate must trip
    path = project(data)
    out = tmp_path / "dist"
    assert main(["build", "-c", str(path), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    kept = out / "stripes-classifier-1.0.0-x86-onnxruntime.parity-failed.json"
    log = out / f"{BUNDLE}.build-failed.log"
    assert "parity gate failed" in err and "max_abs" in err and f"(report: {kept}) (log: {log})" in err
    assert json.loads(kept.read_text())["passed"] is False
    assert sorted(p.name for p in out.iterdir()) == sorted([kept.name, log.name])


def test_parity_gate_catches_a_wrong_conversion(project, tmp_path, monkeypatch):
    """A backend whose artifact computes something else must be stopped by the gate."""
    from edgesdk.backends import onnxruntime as ort_backend

    real_runner = ort_backend.OnnxRuntimeBackend.runner

    def skewed_runner(self, artifact, threads=1):
        run = real_runner(self, artifact, threads)
        return lambda feeds: [o * 1.01 for o in run(feeds)]

    monkeypatch.setattr(ort_backend.OnnxRuntimeBackend, "runner", skewed_runner)
    with pytest.raises(ParityError):
        api.build(project(), out=tmp_path / "dist")
    assert not (tmp_path / "dist" / "stripes-classifier-1.0.0-x86-onnxruntime").exists()


def test_tampered_bundle_fails_verify(project, tmp_path, capsys):
    result = api.build(project(), out=tmp_path / "dist")
    model = result.bundle / "model" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    assert main(["verify", str(result.bundle)]) == 4
    assert "model/model.onnx" in capsys.readouterr().err


def test_cli_build_json_summary(project, tmp_path, capsys):
    assert main(["build", "-c", str(project()), "--out", str(tmp_path / "dist"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parity"]["passed"] and summary["runtime"] == "onnxruntime"


# An operator the ONNX exporter has no translation for; the model runs in torch, so only the converter
# fails. Its forward talks on stdout and straight to file descriptor 2 (as C code does) while the
# exporter traces it.
EIGEN_MODEL = """
import os

import torch


class EigenNet(torch.nn.Module):
    def forward(self, x):
        print("EigenNet.forward on stdout")
        os.write(2, b"EigenNet.forward on fd 2\\n")
        return torch.linalg.eigvals(x[0, 0, :6, :6]).real.reshape(1, 6)


def build():
    return EigenNet().eval()
"""


def test_converter_failure_keeps_its_output_and_its_cause(project, tmp_path, capsys):
    (project.folder / "eigen_model.py").write_text(EIGEN_MODEL, encoding="utf-8")
    path = project(example_manifest_dict("python:eigen_model:build"))
    out = tmp_path / "dist"
    assert main(["build", "-c", str(path), "--out", str(out)]) == 2
    log = out / f"{BUNDLE}.build-failed.log"
    assert list(out.iterdir()) == [log], "no bundle, no zip, no staging folder: only the log"
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ONNX export of ") and err.endswith(f" (log: {log})\n")
    text = log.read_text(encoding="utf-8")
    # What was printed while the exporter ran, then the failure with its causes, naming the operator.
    assert "--- output of convert (onnxruntime): torch.onnx.export ---\nEigenNet.forward on stdout\nEigenNet.forward on fd 2\n" in text
    assert "--- build failed ---\n" in text and "aten.linalg_eig" in text
    assert "The above exception was the direct cause of the following exception" in text

    with pytest.raises(UnsupportedOpError) as failure:
        api.build(path, out=tmp_path / "again")
    assert failure.value.__cause__ is not None and "linalg_eig" in str(failure.value.__cause__)
    assert failure.value.log_path == str(tmp_path / "again" / log.name)
