"""`edgesdk matrix` building the example for real: local processes and a local Ray cluster give the
same bundles (and the same bytes as a plain `edgesdk build`), failed cells are reported while the
others complete, and the full matrix (every runtime that runs here on its targets, three
precisions: 39 cells, 20-40 min on 2 cores) is behind the `matrix_full` marker, which `make test`
leaves out and `make test-matrix` runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import example_manifest_dict, example_project_in

from edgesdk import api
from edgesdk.cli import main
from edgesdk.golden import SAMPLE_IMAGES_DIR
from edgesdk.matrix import run_matrix
from edgesdk.matrix.cell import bundle_digest
from edgesdk.targets import TARGETS

CALIBRATION = {"data": "calib/", "samples": 8, "method": "minmax"}
PRECISIONS = ["none", "fp16", {"mode": "int8", "calibration": CALIBRATION}]
# Small enough for a 2-core CI machine running two cells at once (Ray refuses what no node holds).
RESOURCES = {"num_cpus": 1, "memory_mb": 1024}


def _write(path, data: dict):
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workspace(example_models, tmp_path_factory):
    """The example project (with calibration images: the sample photos and their mirrors), a
    manifest whose parity tolerance cannot hold, and one the schema refuses."""
    root = tmp_path_factory.mktemp("matrix")
    (root / "example").mkdir()
    example_project_in(root / "example", example_models)
    calib = root / "example" / "calib"
    calib.mkdir()
    from PIL import Image

    for photo in sorted(SAMPLE_IMAGES_DIR.glob("*.png")):
        image = Image.open(photo).convert("RGB")
        image.save(calib / photo.name)
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(calib / f"{photo.stem}-mirrored.png")
    strict = example_manifest_dict()
    strict["parity"] = {"max_abs": 1e-30}  # ONNX Runtime and PyTorch differ by ~1e-6: the gate must fail
    (root / "strict").mkdir()
    for f in example_models.iterdir():
        shutil.copy(f, root / "strict" / f.name)
    _write(root / "strict" / "edgesdk.yaml", strict)
    bad = example_manifest_dict()
    bad["preprocess"]["steps"][0]["resize"]["interpolation"] = "sinc"
    (root / "bad").mkdir()
    _write(root / "bad" / "edgesdk.yaml", bad)
    return root


def _precision_matrix(root):
    axes = {"targets": ["x86"], "runtimes": ["onnxruntime"], "quantization": PRECISIONS}
    return _write(root / "precisions.yaml", {"schema_version": 1, "manifests": ["example/edgesdk.yaml"], "axes": axes, "resources": RESOURCES})


@pytest.fixture(scope="module")
def local_run(workspace, tmp_path_factory):
    return run_matrix(_precision_matrix(workspace), out=tmp_path_factory.mktemp("local"), jobs=2)


@pytest.fixture(scope="module")
def ray_cluster():
    """Ray on this machine, as small as it goes: two CPUs, no dashboard, a small object store."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'edgesdk[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 * 1024, log_to_driver=False)
    yield ray
    ray.shutdown()


def _digests(result) -> dict[str, str]:
    return {c["name"]: c["bundle_sha256"] for c in result.cells}


@pytest.mark.onnxruntime
def test_local_processes_build_every_precision_with_the_shared_work(local_run):
    cells = local_run.cells
    assert [c["status"] for c in cells] == ["ok"] * 3 and not local_run.failed, cells
    assert [c["precision"] for c in cells] == ["none", "fp16", "int8"]
    for c in cells:
        # Every reference output and (int8) the calibration tensors came from the shared work.
        assert c["shared_hits"] > 0 and c["parity"]["status"] == "passed" and c["exit_code"] == 0
        assert c["size_bytes"] > 0 and c["seconds"] > 0
        assert api.verify(c["bundle"])["ok"]
        assert bundle_digest(Path(c["bundle"])) == c["bundle_sha256"]
    assert len(set(_digests(local_run).values())) == 3
    int8 = json.loads((local_run.out / "matrix.json").read_text())["cells"][2]
    sdk = json.loads((Path(int8["bundle"]) / "sdk.json").read_text())
    assert sdk["quantization"]["mode"] == "int8" and sdk["quantization"]["calibration"]["samples"] == 8
    table = (local_run.out / "matrix.md").read_text()
    assert all(f"| {c['name']} | ok | 0 |" in table for c in cells)
    assert (local_run.out / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.onnxruntime
def test_shared_work_leaves_the_bundle_byte_identical_to_a_plain_build(local_run, workspace, tmp_path):
    plain = api.build(workspace / "example" / "edgesdk.yaml", out=tmp_path)
    none = local_run.cells[0]
    assert none["zip_sha256"] == plain.zip_sha256 and none["bundle_sha256"] == bundle_digest(plain.bundle)


@pytest.mark.onnxruntime
def test_ray_builds_the_same_bundles_as_local_processes(local_run, workspace, ray_cluster, tmp_path):
    result = run_matrix(_precision_matrix(workspace), out=tmp_path / "ray", ray_address="auto")
    assert result.executor == "ray" and not result.failed
    assert all(c["shared_hits"] > 0 for c in result.cells)  # the shared work reached the Ray workers
    assert _digests(result) == _digests(local_run)
    assert ray_cluster.is_initialized()  # a session the caller started is left to the caller


@pytest.mark.onnxruntime
def test_failed_cells_are_reported_by_name_and_the_others_complete(workspace, tmp_path, capsys):
    matrix = _write(
        workspace / "failing.yaml",
        {"schema_version": 1, "manifests": ["example/edgesdk.yaml", "strict/edgesdk.yaml", "bad/edgesdk.yaml"], "axes": {"targets": ["x86"]}, "resources": RESOURCES},
    )
    out = tmp_path / "out"
    assert main(["matrix", str(matrix), "--out", str(out), "--jobs", "2"]) == 6
    captured = capsys.readouterr()
    assert "2 matrix cell(s) failed: strict-x86, bad-x86" in captured.err
    # One line per finished cell, plain text in a log.
    lines = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and all("/3]" in line for line in lines)
    cells = {c["name"]: c for c in json.loads((out / "matrix.json").read_text())["cells"]}
    assert cells["example-x86"]["status"] == "ok"
    strict, bad = cells["strict-x86"], cells["bad-x86"]
    assert (strict["status"], strict["exit_code"]) == ("failed", 3) and "parity gate failed" in strict["reason"]
    assert strict["parity"]["status"] == "failed" and strict["parity"]["outputs"]["logits"]["max_abs"] > 1e-30
    assert (bad["status"], bad["exit_code"]) == ("failed", 2) and "preprocess.steps[0].resize.interpolation" in bad["reason"]
    # A failed cell leaves no bundle; the parity report stays beside where it would have been.
    assert not list((out / "strict-x86").glob("*.zip")) and not (out / "strict-x86" / "stripes-classifier-1.0.0-x86-onnxruntime").exists()
    assert list((out / "strict-x86").glob("*.parity-failed.json"))
    assert not (out / "bad-x86").exists()
    table = (out / "matrix.md").read_text()
    assert "| strict-x86 | failed | 3 |" in table and "| bad-x86 | failed | 2 |" in table
    assert main(["matrix", str(matrix), "--out", str(out)]) == 2  # the cells' folders exist: --force rebuilds them
    assert "--force" in capsys.readouterr().err


@pytest.mark.matrix_full
def test_full_matrix_every_runtime_on_its_targets_three_precisions_on_ray(workspace, ray_cluster, tmp_path):
    """Every (target, runtime) pair builds each precision it has, or is skipped with the reason."""
    axes = {"targets": list(TARGETS), "runtimes": "all", "quantization": PRECISIONS}
    matrix = _write(workspace / "full.yaml", {"schema_version": 1, "manifests": ["example/edgesdk.yaml"], "axes": axes, "resources": RESOURCES})
    result = run_matrix(matrix, out=tmp_path / "full", ray_address="auto")
    assert not result.failed, [(c["name"], c["reason"][:300]) for c in result.cells if c["status"] == "failed"]
    pairs = {(t.name, r) for t in TARGETS.values() for r in t.runtimes}
    assert {(c["target"], c["runtime"]) for c in result.cells} == pairs and len(result.cells) == 3 * len(pairs)
    for c in result.cells:
        if c["status"] == "skipped":
            assert "has no quantization mode" in c["reason"] or "has no calibration method" in c["reason"] or "not available here" in c["reason"], c
        else:
            assert api.verify(c["bundle"])["ok"]
    built = {(c["runtime"], c["precision"]) for c in result.cells if c["status"] == "ok"}
    # Every runtime builds at least its float model.
    assert {r for r, _ in built} == {r for _, r in pairs}


@pytest.mark.onnxruntime
def test_sensitivity_probes_fan_out_and_the_bundle_is_the_serial_builds(workspace, tmp_path):
    """keep_float: auto in a cell with two CPUs: its per-layer probes run in a pool of two processes;
    the table, the chosen layers and the build log (so the bundle) are what a plain build writes."""
    data = example_manifest_dict()
    data["quantization"] = {"mode": "int8", "calibration": CALIBRATION, "keep_float": "auto", "accuracy_budget": {"metric": "cosine", "min": 0.9999}}
    _write(workspace / "example" / "auto.yaml", data)
    matrix = _write(workspace / "auto-matrix.yaml", {"schema_version": 1, "manifests": ["example/auto.yaml"], "resources": {"num_cpus": 2, "memory_mb": 1024}})
    (cell,) = run_matrix(matrix, out=tmp_path / "matrix").cells
    assert cell["status"] == "ok", cell["reason"]
    layers = json.loads((Path(cell["bundle"]) / "reports" / "quantization.json").read_text())["layers"]
    assert cell["probes_fanned_out"] == len(layers) > 1
    plain = api.build(workspace / "example" / "auto.yaml", out=tmp_path / "plain")
    assert cell["bundle_sha256"] == bundle_digest(plain.bundle)
