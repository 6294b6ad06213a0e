"""arm + ncnn end to end: the example (TorchScript) and a CNN the repository does not hold (ONNX)
through pnnx and the float32 gate, the bundle's model re-run in ncnn's own Python API, the C++
SDK compiled against the ncnn library built from source and held to the golden vectors and to an
independent reference, integrity of both model files, the version guards and the bench."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import example_manifest_dict
from PIL import Image
from toolchains import need

from edgesdk import api, benchmark, hosttest, roofline
from edgesdk.backends import availability
from edgesdk.backends.ncnn import CPP_RUNTIME_VERSION, FP32_OPTIONS, package_root
from edgesdk.cli import main
from edgesdk.errors import BackendUnavailable
from edgesdk.parity import topk_indices

pytestmark = pytest.mark.ncnn


def _need_ncnn() -> None:
    ok, why = availability("ncnn")
    if not ok:
        pytest.skip(f"runtime 'ncnn': {why}")


def _need_cpp() -> None:
    need(hosttest.toolchain_problem())
    try:
        hosttest.cpp_package("ncnn")
    except BackendUnavailable as exc:
        need(str(exc))


def _build(folder: Path, data: dict, out: Path, runtime: str | None = "ncnn") -> api.BuildResult:
    path = folder / f"edgesdk-{data['version']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return api.build(path, target="arm", runtime=runtime, out=out)


@pytest.fixture(scope="module")
def example_bundle(example_models, tmp_path_factory) -> api.BuildResult:
    _need_ncnn()
    # No --runtime: ncnn is the arm target's default.
    return _build(example_models, example_manifest_dict("model.pt"), tmp_path_factory.mktemp("ncnn-example"), runtime=None)


@pytest.fixture(scope="module")
def unseen_bundle(tmp_path_factory):
    """An ONNX model the repository does not hold (test_cpp_bundle's OtherNet), built and its
    sample app compiled from the shipped bundle alone."""
    from test_cpp_bundle import _unseen_photos, other_net, other_net_manifest

    _need_ncnn()
    _need_cpp()
    root = tmp_path_factory.mktemp("ncnn-unseen")
    model = other_net(seed=13)
    torch.onnx.export(model, (torch.zeros(1, 3, 144, 144),), str(root / "net.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["pixels"], output_names=["scores"], verbose=False)
    (root / "labels.txt").write_text("\n".join(f"c{i}" for i in range(11)) + "\n", encoding="utf-8")
    result = _build(root, other_net_manifest("unseen-ncnn", "3.0.0", "net.onnx"), root / "dist")
    shipped = root / "shipped" / result.bundle.name  # only the bundle travels
    shutil.copytree(result.bundle, shipped)
    build_dir = root / "build"
    binary = hosttest.build_sample(shipped, build_dir)
    return model, result, shipped, binary, build_dir, _unseen_photos(root / "photos")


def test_example_builds_for_arm_with_ncnn_in_float32(example_bundle, example_models):
    assert (example_bundle.target, example_bundle.runtime) == ("arm", "ncnn")
    assert example_bundle.parity["passed"] and example_bundle.parity["outputs"]["logits"]["max_abs"] <= 1e-4
    bundle = example_bundle.bundle
    assert sorted(p.name for p in (bundle / "model").iterdir()) == ["model.ncnn.bin", "model.ncnn.param"]
    sdk = json.loads((bundle / "sdk.json").read_text())
    assert sdk["model"]["file"] == "model/model.ncnn.param"
    assert [c["file"] for c in sdk["model"]["companions"]] == ["model/model.ncnn.bin"]
    versions = sdk["runtime_versions"]
    assert versions["python"] == metadata.version("ncnn") and versions["pnnx"] == metadata.version("pnnx")
    assert versions["cpp"] == CPP_RUNTIME_VERSION and "fp16=0" in versions["precision"]
    assert sdk["languages"] == ["cpp"] and api.verify(bundle)["ok"]
    # fp32 weights: 4 bytes for every conv/linear weight (pnnx's default fp16 would halve them).
    source = torch.jit.load(str(example_models / "model.pt"))
    weights = sum(p.numel() for name, p in source.named_parameters() if name.endswith("weight") and p.dim() > 1)
    assert (bundle / "model" / "model.ncnn.bin").stat().st_size >= 4 * weights


def _ncnn_run(param: Path, tensor: np.ndarray) -> np.ndarray:
    """One inference through ncnn's own Python API (not the backend's runner), 1 thread, float32."""
    import ncnn

    net = ncnn.Net()
    for option, value in FP32_OPTIONS.items():
        setattr(net.opt, option, value)
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    extractor = net.create_extractor()
    extractor.input("in0", ncnn.Mat(np.ascontiguousarray(tensor[0])))
    status, out = extractor.extract("out0")
    assert status == 0
    return np.array(out)[None]


def test_converted_model_gives_the_reference_top5_in_ncnn(example_bundle, example_models):
    reference = torch.jit.load(str(example_models / "model.pt")).eval()
    bundle = example_bundle.bundle
    index = json.loads((bundle / "tests/golden/index.json").read_text())
    assert len(index["cases"]) >= 4
    for case in index["cases"]:
        tensor = np.load(bundle / "tests/golden" / case["preprocessed"])
        got = _ncnn_run(bundle / "model" / "model.ncnn.param", tensor)
        with torch.no_grad():
            want = reference(torch.from_numpy(tensor)).numpy()
        assert got.shape == want.shape and np.max(np.abs(got - want)) <= 1e-4, case["id"]
        assert topk_indices(got, 5) == topk_indices(want, 5) == [c["index"] for c in case["result"]["classifications"]]


@pytest.mark.cpp
def test_edgesdk_test_compiles_the_cpp_sdk_against_ncnn_and_passes_the_golden_vectors(example_bundle, capsys):
    _need_cpp()
    assert main(["test", str(example_bundle.bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and len(report["cases"]) >= 3
    assert all(c["preprocessed_max_abs"] == 0 and c["outputs_max_abs"]["logits"] <= 1e-4 for c in report["cases"])


@pytest.mark.cpp
def test_unseen_onnx_model_runs_in_the_cpp_sdk_like_eager_pytorch(unseen_bundle, tmp_path):
    from test_cpp_bundle import _independent_reference

    model, result, bundle, binary, _, photos = unseen_bundle
    assert result.parity["passed"] and result.parity["outputs"]["scores"]["max_abs"] <= 1e-4
    assert json.loads((bundle / "sdk.json").read_text())["source"]["kind"] == "onnx"
    for photo in photos:
        dump = tmp_path / photo.stem
        dump.mkdir()
        printed = hosttest.run_sample(binary, bundle, photo, dump)
        meta = json.loads((dump / "dump.json").read_text())
        assert meta["outputs"][0]["name"] == "scores" and meta["outputs"][0]["shape"] == [1, 11]
        want = _independent_reference(model, np.asarray(Image.open(photo).convert("RGB")))
        assert np.max(np.abs(hosttest.read_dump(dump, meta["outputs"][0]) - want)) <= 1e-4, photo.name
        assert [c["index"] for c in printed["result"]["classifications"]] == topk_indices(want, 5)


@pytest.mark.cpp
@pytest.mark.parametrize("file", ["model.ncnn.bin", "model.ncnn.param"])
def test_a_tampered_model_file_is_refused_by_the_glue_and_by_verify(unseen_bundle, file, tmp_path, capsys):
    _, _, bundle, binary, _, photos = unseen_bundle
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    path = copy / "model" / file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit: still a loadable graph or weight file
    path.write_bytes(bytes(data))
    proc = subprocess.run([str(binary), "--bundle", str(copy), "--input", str(photos[0]), "--json"], capture_output=True, text=True)
    assert proc.returncode == 4, proc.stderr
    assert file in proc.stderr and "sha256" in proc.stderr
    assert main(["verify", str(copy)]) == 4
    assert f"model/{file}" in capsys.readouterr().err


@pytest.mark.cpp
def test_bench_times_the_sdk_against_a_bare_ncnn_net(unseen_bundle):
    _, _, bundle, _, build_dir, _ = unseen_bundle
    report = benchmark.bench_bundle(bundle, runs=3, build_dir=build_dir)
    assert report["bare_session_ms"] > 0 and report["cpp_sdk_ms"]["e2e"] >= report["cpp_sdk_ms"]["infer"]
    assert all(np.isfinite(v) and v > 0 for v in report["ratios"].values())
    assert report["python_pipeline_ms"]["infer"] > 0  # the backend's runner, from sdk.json alone
    # Its roofline: the work its build recorded of the graph the .param was converted from.
    record = json.loads((bundle / roofline.WORK_REPORT).read_text(encoding="utf-8"))
    model = report["roofline"]["model"]
    assert model["counted_graph"] == record["graph"] == "the source ONNX"
    assert model["operations"] == record["operations"] == roofline.count_work(bundle.parent.parent / "net.onnx").operations > 0


@pytest.mark.cpp
def test_vulkan_asked_of_an_ncnn_without_it_falls_back_visibly_or_fails(unseen_bundle):
    """This ncnn is built without Vulkan: asked for, Vulkan is reported skipped with that reason and
    the CPU runs the model in float32; with --no-fallback the load is refused (exit 5)."""
    _, _, bundle, binary, _, photos = unseen_bundle
    cmd = [str(binary), "--bundle", str(bundle), "--input", str(photos[0]), "--json", "--accelerator", "vulkan"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["acceleration"]
    assert report["asked"] == ["vulkan"] and report["active"] == "cpu" and report["precision"] == "float32"
    assert report["skipped"] == [{"accelerator": "vulkan", "reason": "this ncnn library was built without Vulkan (NCNN_VULKAN off)"}]
    refused = subprocess.run([*cmd, "--no-fallback"], capture_output=True, text=True)
    assert refused.returncode == 5 and "Unsupported: accelerator vulkan is unavailable: this ncnn library was built without Vulkan" in refused.stderr


@pytest.mark.cpp
def test_glue_for_a_newer_ncnn_does_not_build_against_this_one(unseen_bundle, tmp_path):
    """The version guards: CMake asks ncnn's package for the release date the SDK was generated for,
    and the adapter's static_assert holds the headers to it."""
    _, _, bundle, _, _, _ = unseen_bundle
    newer = "1.0.20991231"
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    for rel in ("find_runtime.cmake", "ncnn_runtime.cpp"):
        path = copy / "sdk/cpp/src/runtime" / rel
        text = path.read_text()
        assert CPP_RUNTIME_VERSION in text
        path.write_text(text.replace(CPP_RUNTIME_VERSION, newer).replace(CPP_RUNTIME_VERSION.split(".")[2], newer.split(".")[2]))
    configure = subprocess.run(["cmake", "-S", str(copy / "sample_app"), "-B", str(tmp_path / "build"), *hosttest.cpp_package("ncnn").cmake_definitions], capture_output=True, text=True)
    assert configure.returncode != 0 and "20991231" in configure.stdout + configure.stderr
    sdk = copy / "sdk/cpp"
    compile_only = subprocess.run(
        ["c++", "-std=c++17", "-fsyntax-only", f"-I{package_root() / 'include' / 'ncnn'}", f"-I{sdk / 'include'}", f"-I{sdk / 'src'}", str(sdk / "src/runtime/ncnn_runtime.cpp")],
        capture_output=True,
        text=True,
    )
    assert compile_only.returncode != 0 and f"ncnn headers are older than {newer}" in compile_only.stderr
