"""The matrix file: validation (a bad file names the field, exit 2, nothing written), its expansion
into cells, overrides, and the shared-work cache. No builds here (tests/matrix/test_matrix_builds.py)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import example_manifest_dict

from edgesdk import workcache
from edgesdk.cli import main
from edgesdk.errors import ManifestError
from edgesdk.matrix import load_matrix, run_matrix
from edgesdk.matrix.cell import cell_manifest, skip_reason
from edgesdk.targets import TARGETS


def _write(folder, data: dict, name: str = "matrix.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def manifests(tmp_path):
    """Two manifests; their model files are never loaded (nothing here builds), only checked to exist."""
    for name in ("alpha", "beta"):
        (tmp_path / "models" / name).mkdir(parents=True)
        _write(tmp_path / "models" / name, example_manifest_dict(), "edgesdk.yaml")
        (tmp_path / "models" / name / "labels.txt").write_text("\n".join("abcdef"), encoding="utf-8")
        (tmp_path / "models" / name / "model.pt").write_bytes(b"not loaded here")
    return tmp_path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"axes": {"precisions": ["fp16"]}}, "axes"),
        ({"axes": {"targets": ["x86", "mainframe"]}}, "axes.targets[1]"),
        ({"axes": {"runtimes": ["onnxruntime", "tensorflow"]}}, "axes.runtimes[1]"),
        ({"axes": {"runtimes": ["all", "onnxruntime"]}}, "axes.runtimes"),
        ({"axes": {"quantization": [{"calibration": {"data": "calib/"}}]}}, "axes.quantization[0].mode"),
        ({"axes": {"overrides": {"strict": {"target": "arm"}}}}, "axes.overrides.strict.target"),
        ({"axes": {"overrides": {"strict": {"parity max abs": 1}}}}, "axes.overrides.strict"),
        ({"resources": {"num_cpus": 0}}, "resources.num_cpus"),
        ({"manifests": ["models/*/missing.yaml"]}, "manifests[0]"),
        ({"manifests": []}, "manifests"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_a_bad_matrix_file_names_the_field_exits_2_and_writes_nothing(manifests, tmp_path, capsys, change, field):
    data = {"schema_version": 1, "manifests": ["models/*/edgesdk.yaml"], **change}
    path = _write(manifests, data)
    with pytest.raises(ManifestError) as raised:
        load_matrix(path)
    assert raised.value.field == field, raised.value
    out = tmp_path / "out"
    assert main(["matrix", str(path), "--out", str(out)]) == 2
    assert field in capsys.readouterr().err
    assert not out.exists()


def test_axes_expand_into_named_cells_runtimes_all_follows_each_target(manifests):
    path = _write(
        manifests,
        {
            "schema_version": 1,
            "manifests": ["models/*/edgesdk.yaml"],
            "axes": {"targets": ["x86", "arm"], "runtimes": "all", "quantization": ["none", {"mode": "int8", "calibration": {"data": "calib/"}}], "overrides": {"strict": {"parity.max_abs": 1e-6}}},
        },
    )
    cells = load_matrix(path).cells
    runtimes = len(TARGETS["x86"].runtimes) + len(TARGETS["arm"].runtimes)
    assert len(cells) == 2 * runtimes * 2
    names = [c.name for c in cells]
    assert names[0] == "alpha-x86-onnxruntime-none-strict" and "beta-arm-ncnn-int8-strict" in names
    assert {c.runtime for c in cells if c.target == "arm"} == set(TARGETS["arm"].runtimes)
    int8 = next(c for c in cells if c.precision == "int8")
    assert int8.quantization == {"mode": "int8", "calibration": {"data": "calib/"}} and int8.overrides == {"parity.max_abs": 1e-6}


def test_without_axes_each_manifest_is_one_cell_as_written(manifests):
    cells = load_matrix(_write(manifests, {"schema_version": 1, "manifests": ["models/alpha/edgesdk.yaml", "models/*/edgesdk.yaml"]})).cells
    assert [(c.name, c.target, c.runtime, c.quantization) for c in cells] == [("alpha", None, None, None), ("beta", None, None, None)]


def test_two_manifests_that_would_share_cell_names_are_refused(manifests):
    (manifests / "other" / "alpha").mkdir(parents=True)
    _write(manifests / "other" / "alpha", example_manifest_dict(), "edgesdk.yaml")
    with pytest.raises(ManifestError, match="alpha") as raised:
        load_matrix(_write(manifests, {"schema_version": 1, "manifests": ["models/alpha/edgesdk.yaml", "other/alpha/edgesdk.yaml"]}))
    assert raised.value.field == "manifests"


def test_overrides_and_the_quantization_block_reach_the_cells_manifest(manifests):
    path = _write(
        manifests,
        {
            "schema_version": 1,
            "manifests": ["models/alpha/edgesdk.yaml"],
            "axes": {"quantization": [{"mode": "fp16"}], "overrides": {"strict": {"parity.max_abs": 1e-7, "golden.count": 2}}},
        },
    )
    manifest = cell_manifest(load_matrix(path).cells[0])
    assert manifest.quantization.mode == "fp16" and manifest.parity.max_abs == 1e-7 and manifest.golden.count == 2
    assert manifest.base_dir == (manifests / "models" / "alpha").resolve()


def test_an_override_the_manifest_schema_refuses_is_that_cells_manifest_error(manifests):
    path = _write(manifests, {"schema_version": 1, "manifests": ["models/alpha/edgesdk.yaml"], "axes": {"overrides": {"bad": {"parity.max_abs": -1}}}})
    with pytest.raises(ManifestError) as raised:
        cell_manifest(load_matrix(path).cells[0])
    assert raised.value.field == "parity.max_abs"


def test_a_runtime_the_target_does_not_offer_is_skipped_without_starting_a_process(manifests, tmp_path):
    path = _write(manifests, {"schema_version": 1, "manifests": ["models/alpha/edgesdk.yaml"], "axes": {"targets": ["x86"], "runtimes": ["tflite"]}})
    result = run_matrix(path, out=tmp_path / "out")
    (cell,) = result.cells
    assert cell["status"] == "skipped" and cell["exit_code"] == 0 and "target 'x86' offers runtimes onnxruntime, openvino" in cell["reason"]
    assert not result.failed and (tmp_path / "out" / "matrix.md").is_file()


def test_a_mode_the_runtime_lacks_is_skipped_with_the_modes_it_has():
    assert skip_reason("arm", "ncnn", "none") is None
    assert skip_reason("x86", "onnxruntime", "fp16") is None
    reason = skip_reason("ios", "coreml", "int8")
    assert reason is not None and "no quantization mode 'int8'" in reason and "fp16" in reason
    # One int8 block serves every runtime of the axis; a calibration method one of them lacks skips that cell.
    assert skip_reason("x86", "onnxruntime", "int8", "minmax") is None
    reason = skip_reason("jetson", "tensorrt", "int8", "minmax")
    assert reason is not None and "no calibration method 'minmax'" in reason and "entropy" in reason
    # Methods per mode (MNN: full int8 through mnnquant's KL; its fp16 only measures with the data).
    reason = skip_reason("arm", "mnn", "int8", "minmax")
    assert reason is not None and "(methods: entropy)" in reason
    assert skip_reason("arm", "mnn", "fp16", "minmax") is None


def test_shared_work_is_keyed_by_content_and_returns_copies(tmp_path):
    calls = []

    def runner(feeds):
        calls.append(1)
        return [feeds["x"] * 2]

    cached = workcache.cached_runner(runner, "sha-a")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(cached({"x": x})[0], x * 2) and len(calls) == 1  # no active cache: runs every time
    with workcache.seeded() as cache:
        first = cached({"x": x})
        first[0][:] = -1  # a build writing into its result must not change what the next one gets
        again = cached({"x": x.copy()})
        other_model = workcache.cached_runner(runner, "sha-b")({"x": x})
        other_input = cached({"x": x + 1})
    assert np.array_equal(again[0], x * 2) and np.array_equal(other_model[0], x * 2) and np.array_equal(other_input[0], (x + 1) * 2)
    assert (cache.hits, cache.misses, len(calls)) == (1, 3, 4)
    workcache.save(cache.entries, tmp_path / "shared.npz")
    loaded = workcache.load(tmp_path / "shared.npz")
    assert loaded.keys() == cache.entries.keys()
    assert all(np.array_equal(a, b) for key in loaded for a, b in zip(loaded[key], cache.entries[key]))
