"""The build cache: content-keyed, computed once, off when asked, robust to a damaged entry; the
calibration tensors and reference outputs a build takes from it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import example_manifest_dict

from edgesdk import buildcache
from edgesdk.manifest import CalibrationSpec, load_manifest
from edgesdk.quantize import calibration as calibration_mod
from edgesdk.quantize import reference_key


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(buildcache.ENV_SWITCH, str(tmp_path / "cache"))
    return tmp_path / "cache"


class Counter:
    def __init__(self, value):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return self.value


def test_computed_once_per_key(cache):
    compute = Counter([np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], np.int64)])
    first = buildcache.arrays("kind", buildcache.key("a"), compute)
    again = buildcache.arrays("kind", buildcache.key("a"), compute)
    assert compute.calls == 1 and all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(first, again))
    buildcache.arrays("kind", buildcache.key("b"), compute)
    assert compute.calls == 2
    assert sorted(p.name for p in (cache / "kind").iterdir()) == sorted(f"{buildcache.key(k)}.npz" for k in "ab")


def test_nested_outputs_round_trip(cache):
    outputs = [[np.ones((1, 4), np.float32), np.zeros(2, np.int64)], [np.full((1, 4), 2, np.float32), np.ones(2, np.int64)]]
    compute = Counter(outputs)
    buildcache.nested_arrays("reference", "k", compute)
    back = buildcache.nested_arrays("reference", "k", compute)
    assert compute.calls == 1 and len(back) == 2 and all(len(b) == 2 and all(np.array_equal(x, y) for x, y in zip(a, b)) for a, b in zip(outputs, back))


def test_off_computes_every_time_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")
    monkeypatch.setenv("EDGESDK_CACHE", str(tmp_path))  # where the default folder would be
    compute = Counter([np.zeros(1)])
    buildcache.arrays("kind", "k", compute)
    buildcache.arrays("kind", "k", compute)
    assert compute.calls == 2 and not (tmp_path / "build-cache").exists()


def test_a_damaged_entry_is_computed_again(cache):
    compute = Counter([np.arange(3)])
    buildcache.arrays("kind", "k", compute)
    (cache / "kind" / "k.npz").write_bytes(b"not a zip")
    assert np.array_equal(buildcache.arrays("kind", "k", compute)[0], np.arange(3)) and compute.calls == 2
    assert np.array_equal(buildcache.arrays("kind", "k", compute)[0], np.arange(3)) and compute.calls == 2  # replaced


def test_calibration_tensors_are_preprocessed_once_and_keyed_by_content(cache, project, monkeypatch):
    import shutil

    from edgesdk.golden import SAMPLE_IMAGES_DIR

    (project.folder / "calib").mkdir()
    for photo in sorted(SAMPLE_IMAGES_DIR.glob("*.png"))[:3]:
        shutil.copy(photo, project.folder / "calib" / photo.name)
    data = example_manifest_dict()
    manifest = load_manifest(project(data))
    spec = CalibrationSpec(data="calib", samples=3)
    calls = []
    real = calibration_mod._load_one
    monkeypatch.setattr(calibration_mod, "_load_one", lambda m, p: calls.append(p.name) or real(m, p))
    first = calibration_mod.load_calibration(manifest, spec)
    again = calibration_mod.load_calibration(manifest, spec)
    assert len(calls) == 3 and first.sha256 == again.sha256
    assert all(np.array_equal(a, b) for a, b in zip(first.tensors, again.tensors))
    # Another normalization, or other bytes in one file: new tensors, computed afresh.
    data["preprocess"]["steps"][-2]["normalize"]["mean"] = [0.0, 0.0, 0.0]
    renormalized = calibration_mod.load_calibration(load_manifest(project(data)), spec)
    assert len(calls) == 6 and not np.array_equal(renormalized.tensors[0], first.tensors[0])
    first_file = sorted((project.folder / "calib").iterdir())[0]
    first_file.write_bytes(sorted((project.folder / "calib").iterdir())[1].read_bytes())
    changed = calibration_mod.load_calibration(load_manifest(project(data)), spec)
    assert len(calls) == 9 and changed.sha256 != renormalized.sha256


def test_reference_key_follows_the_model_bytes_and_the_tensors(tmp_path):
    model = tmp_path / "float.onnx"
    model.write_bytes(b"model one")
    tensors = calibration_mod.CalibrationSet([np.zeros((1, 3), np.float32)], [], "x", calibration_mod.METHODS["minmax"])
    key = reference_key("onnxruntime", model, tensors)
    assert reference_key("onnxruntime", model, tensors) == key
    assert reference_key("openvino", model, tensors) != key
    assert reference_key("onnxruntime", model, calibration_mod.CalibrationSet([np.ones((1, 3), np.float32)], [], "x", tensors.method)) != key
    model.write_bytes(b"model two")
    assert reference_key("onnxruntime", model, tensors) != key
