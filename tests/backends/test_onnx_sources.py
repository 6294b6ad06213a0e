"""ONNX-only models reach the runtimes whose converters read torch programs (LiteRT, ExecuTorch,
Core ML) through edgesdk.onnx_import, parity-gated against the ONNX file run in ONNX Runtime; an
operator the converter cannot take is a clear error with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import yaml
from conftest import EXAMPLE, example_manifest_dict
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgesdk import api
from edgesdk.cli import main
from edgesdk.errors import UnsupportedOpError
from edgesdk.manifest import load_manifest
from edgesdk.sources import load_source

onnx2fx = pytest.importorskip("onnx2fx", reason="ONNX sources reach torch-based runtimes through onnx2fx")

SIZE = 64
CLASSES = 6


class SlicingNet(nn.Module):
    """A small CNN whose ONNX export holds what a plain CNN does not: Slice with constant bounds,
    a Reshape to a computed shape and a Concat (the ops torch.export cannot take as tensors)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(16 + 8, CLASSES)

    def forward(self, x):
        y = self.body(self.stem(x))
        left, right = y[:, :8], y[:, 8:]
        pooled = torch.cat([left.mean(dim=(2, 3)), right.amax(dim=(2, 3), keepdim=True).flatten(1), right.mean(dim=(2, 3))], dim=1)
        return self.head(pooled.reshape(x.shape[0], -1))


def _slicing_net() -> SlicingNet:
    torch.manual_seed(0)
    model = SlicingNet().eval()
    with torch.no_grad():  # trained-looking batch-norm statistics
        model.stem[1].running_mean.uniform_(-0.5, 0.5)
        model.stem[1].running_var.uniform_(0.5, 2.0)
    return model


def _onnx_project(folder: Path, target: str, source: str = "model.onnx") -> Path:
    """A project whose only model file is model.onnx (exported here; no torch file is kept), or
    with source="model.pt" the same network as TorchScript, to compare against."""
    folder.mkdir(parents=True)
    model = _slicing_net()
    if source == "model.pt":
        torch.jit.script(model).save(str(folder / source))
    else:
        torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), str(folder / source), dynamo=False, opset_version=17, input_names=["image"], output_names=["logits"])
    shutil.copy(EXAMPLE / "labels.txt", folder / "labels.txt")
    data = example_manifest_dict(source)
    data["model"]["inputs"][0]["shape"] = [1, 3, SIZE, SIZE]
    data["preprocess"]["steps"][0]["resize"]["size"] = [SIZE + 8, SIZE + 8]
    data["preprocess"]["steps"][1]["center_crop"]["size"] = [SIZE, SIZE]
    data["target"] = target
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["edgesdk.yaml", "labels.txt", source])
    return path


@pytest.fixture(scope="module")
def android_onnx_project(tmp_path_factory) -> Path:
    return _onnx_project(tmp_path_factory.mktemp("onnx-android") / "project", "android")


def _check_bundle(result: api.BuildResult, runtime: str, display: str, suffix: str) -> None:
    assert result.runtime == runtime
    assert result.parity["passed"] is True
    sdk = json.loads((result.bundle / "sdk.json").read_text(encoding="utf-8"))
    assert sdk["source"]["kind"] == "onnx"
    assert sdk["source"]["route"] == f"onnx -> onnx2fx {onnx2fx.__version__} -> torch.export -> {display}"
    assert sdk["model"]["file"].endswith(suffix)
    log = (result.bundle / "reports" / "build.log").read_text(encoding="utf-8")
    assert f"route: {sdk['source']['route']}" in log


@pytest.mark.tflite
def test_onnx_only_model_builds_for_android_with_the_default_runtime(android_onnx_project, tmp_path):
    pytest.importorskip("litert_torch")
    result = api.build(android_onnx_project, out=tmp_path / "dist")  # no --runtime: LiteRT, android's default
    _check_bundle(result, "tflite", "LiteRT", ".tflite")
    # The Kotlin SDK is the one the same network from a torch source gets, but for the model's checksum.
    torch_project = _onnx_project(tmp_path / "torch-project", "android", source="model.pt")
    from_torch = api.build(torch_project, out=tmp_path / "dist-torch")
    ours, theirs = _kotlin_files(result.bundle), _kotlin_files(from_torch.bundle)
    assert sorted(ours) == sorted(theirs) and "src/main/kotlin/ai/edgesdk/stripes_classifier/runtime/TfliteRuntime.kt" in ours
    sha_ours, sha_theirs = (json.loads((b / "sdk.json").read_text(encoding="utf-8"))["model"]["sha256"] for b in (result.bundle, from_torch.bundle))

    # The model's digest, and its first 8 hex digits in the per-model asset name.
    def masked(texts: dict[str, str], sha: str) -> dict[str, str]:
        return {name: text.replace(sha, "<sha>").replace(sha[:8], "<sha8>") for name, text in texts.items()}

    assert masked(ours, sha_ours) == masked(theirs, sha_theirs)


def _kotlin_files(bundle: Path) -> dict[str, str]:
    root = bundle / "sdk" / "kotlin"
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file() and "golden" not in p.parts}


@pytest.mark.executorch
def test_onnx_only_model_builds_for_executorch(android_onnx_project, tmp_path):
    pytest.importorskip("executorch.runtime")
    result = api.build(android_onnx_project, runtime="executorch", out=tmp_path / "dist")
    _check_bundle(result, "executorch", "ExecuTorch", ".pte")


@pytest.mark.coreml
def test_onnx_only_model_converts_for_core_ml(tmp_path):
    pytest.importorskip("coremltools")
    path = _onnx_project(tmp_path / "project", "ios")
    result = api.build(path, out=tmp_path / "dist")  # ios's default runtime; on Linux the package is validated
    sdk = json.loads((result.bundle / "sdk.json").read_text(encoding="utf-8"))
    assert sdk["runtime"] == "coreml"
    assert sdk["source"]["route"] == f"onnx -> onnx2fx {onnx2fx.__version__} -> torch.export -> Core ML"
    # No Core ML prediction on Linux: the package's inputs and outputs are checked against the
    # ONNX model's instead; the program it was converted from is held to ONNX Runtime below.
    assert result.parity["status"] == "not_run" and result.parity["validated"]["problems"] == []


def test_converted_program_matches_onnx_runtime(android_onnx_project):
    """The route itself, before any runtime: the exported program computes what ONNX Runtime does."""
    from edgesdk import onnx_import

    manifest = load_manifest(android_onnx_project)
    source = load_source(manifest)
    program = onnx_import.exported_program(source, manifest, "tflite")
    x = np.random.default_rng(1).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    want = source.reference_runner()({"image": x})[0]
    got = program.module()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _roi_pool_model(path: Path) -> None:
    """Conv -> MaxRoiPool (ONNX Runtime runs it; onnx2fx has no converter for it) -> Flatten: 6 logits."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((3, 3, 3, 3)).astype(np.float32), "w")
    rois = numpy_helper.from_array(np.array([[0, 0, 0, SIZE - 1, SIZE - 1], [0, 8, 8, 40, 40]], np.float32), "rois")
    nodes = [
        helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("MaxRoiPool", ["c", "rois"], ["p"], pooled_shape=[1, 1]),
        helper.make_node("Reshape", ["p", "shape"], ["logits"]),
    ]
    shape = numpy_helper.from_array(np.array([1, CLASSES], np.int64), "shape")
    graph = helper.make_graph(
        nodes,
        "roi",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])],
        [weight, rois, shape],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.tflite
def test_operator_the_converter_cannot_take_is_a_clear_error(android_onnx_project, tmp_path, capsys):
    pytest.importorskip("litert_torch")
    folder = tmp_path / "project"
    shutil.copytree(android_onnx_project.parent, folder)
    _roi_pool_model(folder / "model.onnx")
    out = tmp_path / "dist"
    with pytest.raises(UnsupportedOpError, match=r"MaxRoiPool at opset 17, which onnx2fx [\d.]+ cannot convert") as caught:
        api.build(folder / "edgesdk.yaml", out=out)
    assert "--runtime onnxruntime" in str(caught.value)
    capsys.readouterr()
    assert main(["build", "-c", str(folder / "edgesdk.yaml"), "--out", str(out)]) == 2
    assert "MaxRoiPool" in capsys.readouterr().err
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.endswith(".build-failed.log")]


def _value_dependent_slice_model(path: Path) -> None:
    """Six logits sliced from the flattened image at an offset computed from the image's maximum:
    a fixed output shape, but an index that a fixed-shape trace would freeze."""
    const = numpy_helper.from_array
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("ReduceMax", ["flat"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "hundred"], ["scaled"]),
        helper.make_node("Abs", ["scaled"], ["offset_f"]),
        helper.make_node("Cast", ["offset_f"], ["offset_s"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["offset_s", "one"], ["start"]),
        helper.make_node("Add", ["start", "six"], ["end"]),
        helper.make_node("Slice", ["flat", "start", "end", "axis1"], ["logits"]),
    ]
    inits = [const(np.array(100, np.float32), "hundred"), const(np.array([1], np.int64), "one"), const(np.array([CLASSES], np.int64), "six"), const(np.array([1], np.int64), "axis1")]
    graph = helper.make_graph(
        nodes,
        "value_dependent",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_index_computed_from_input_values_is_refused(android_onnx_project, tmp_path):
    from edgesdk import onnx_import

    folder = tmp_path / "project"
    shutil.copytree(android_onnx_project.parent, folder)
    _value_dependent_slice_model(folder / "model.onnx")
    manifest = load_manifest(folder / "edgesdk.yaml")
    source = load_source(manifest)
    assert source.reference_runner()({"image": np.zeros((1, 3, SIZE, SIZE), np.float32)})[0].shape == (1, CLASSES)
    with pytest.raises(UnsupportedOpError, match="depends on the input's values"):
        onnx_import.exported_program(source, manifest, "tflite")
