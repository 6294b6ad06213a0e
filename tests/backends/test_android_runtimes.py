"""The Android target's runtimes: TFLite (LiteRT), ExecuTorch and ONNX Runtime bundles of the example
and of a CNN that is not in the repo, held to the float32 parity gate and re-run in each runtime's
own host API (not through the backend's runner) on the sample photos."""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import example_manifest_dict
from torch import nn

from edgesdk import api
from edgesdk.backends import get_backend
from edgesdk.backends.base import Artifact
from edgesdk.bundle import write_checksums
from edgesdk.cli import main
from edgesdk.errors import BackendUnavailable
from edgesdk.parity import topk_indices

# runtime -> (the module its tests need, file suffix, pytest mark)
RUNTIMES = {
    "tflite": ("litert_torch", ".tflite", pytest.mark.tflite),
    "executorch": ("executorch.runtime", ".pte", pytest.mark.executorch),
    "onnxruntime": ("onnxruntime", ".onnx", pytest.mark.onnxruntime),
}


def _params(*names: str) -> list:
    return [pytest.param(n, marks=RUNTIMES[n][2], id=n) for n in names]


def _need(runtime: str) -> None:
    pytest.importorskip(RUNTIMES[runtime][0], reason=f"runtime '{runtime}' needs pip install 'edgesdk[{get_backend(runtime).extra}]'")


def _project(example_models: Path, folder: Path, data: dict) -> Path:
    shutil.copytree(example_models, folder)
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def android_manifest(example_models, tmp_path_factory) -> Path:
    data = example_manifest_dict("model.pt")  # TorchScript: the example's own source
    data["target"] = "android"
    return _project(example_models, tmp_path_factory.mktemp("android") / "project", data)


@pytest.fixture(scope="module", params=_params("tflite", "executorch", "onnxruntime"))
def example_bundle(request, android_manifest, tmp_path_factory) -> api.BuildResult:
    _need(request.param)
    return api.build(android_manifest, runtime=request.param, out=tmp_path_factory.mktemp("dist"))


def test_example_builds_for_android_and_passes_the_float32_gate(example_bundle):
    runtime = example_bundle.runtime
    assert example_bundle.target == "android"
    assert example_bundle.parity["passed"], example_bundle.parity
    assert example_bundle.parity["outputs"]["logits"]["max_abs"] <= 1e-4
    assert example_bundle.parity["task"]["top1_agreement"] == 1.0
    sdk = json.loads((example_bundle.bundle / "sdk.json").read_text())
    assert (sdk["target"], sdk["runtime"]) == ("android", runtime)
    assert sdk["model"]["file"].endswith(RUNTIMES[runtime][1])
    assert api.verify(example_bundle.bundle)["ok"]


def test_runtime_versions_are_recorded(example_bundle):
    versions = json.loads((example_bundle.bundle / "sdk.json").read_text())["runtime_versions"]
    if example_bundle.runtime == "tflite":
        litert = metadata.version("ai-edge-litert")  # android: the LiteRT AAR the Kotlin glue depends on
        assert versions == {"litert-torch": metadata.version("litert-torch"), "ai-edge-litert": litert, "android": litert}
    elif example_bundle.runtime == "executorch":
        # The glue must load the .pte only in exactly this release: `cpp` is what it compares with.
        assert versions["executorch"] == versions["cpp"] == metadata.version("executorch")
    else:
        assert versions["python"] == metadata.version("onnxruntime")


def _run_in_runtime(runtime: str, model: Path, tensor: np.ndarray) -> np.ndarray:
    """One inference through the runtime's own Python API, 1 thread."""
    if runtime == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(model), num_threads=1)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    if runtime == "executorch":
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(model).load_method("forward")
        return method.execute([torch.from_numpy(tensor)])[0].numpy()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"]).run(None, {"image": tensor})[0]


def test_converted_model_gives_the_reference_top5_on_the_sample_photos(example_bundle, example_models):
    reference = torch.jit.load(str(example_models / "model.pt")).eval()
    bundle = example_bundle.bundle
    sdk = json.loads((bundle / "sdk.json").read_text())
    index = json.loads((bundle / "tests/golden/index.json").read_text())
    assert len(index["cases"]) >= 4
    for case in index["cases"]:
        tensor = np.load(bundle / "tests/golden" / case["preprocessed"])
        assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32  # the manifest's NCHW contract
        got = _run_in_runtime(example_bundle.runtime, bundle / sdk["model"]["file"], tensor)
        with torch.no_grad():
            want = reference(torch.from_numpy(tensor)).numpy()
        assert np.max(np.abs(got - want)) <= 1e-4, case["id"]
        assert topk_indices(got, 5) == topk_indices(want, 5), case["id"]
        assert [c["index"] for c in case["result"]["classifications"]] == topk_indices(want, 5)


def test_every_android_runtime_gets_the_kotlin_sdk(example_bundle):
    bundle = example_bundle.bundle
    sdk = json.loads((bundle / "sdk.json").read_text())
    assert "kotlin" in sdk["languages"]
    assert (bundle / "sdk" / "kotlin" / "build.gradle.kts").is_file() and (bundle / "sample_app").is_dir()


def test_bundle_without_glue_says_so(example_bundle, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(example_bundle.bundle, bundle)
    sdk = json.loads((bundle / "sdk.json").read_text())
    sdk["languages"] = []
    (bundle / "sdk.json").write_text(json.dumps(sdk))
    write_checksums(bundle)  # an intact bundle that has no SDK; a tampered one is exit 4 first
    capsys.readouterr()
    assert main(["test", str(bundle)]) == 5
    assert "no generated SDK to test in this bundle" in capsys.readouterr().err


@pytest.mark.executorch
def test_pte_runner_refuses_another_executorch_release(tmp_path):
    _need("executorch")
    artifact = Artifact(folder=tmp_path, main="model.pte", files=["model.pte"], runtime="executorch", runtime_versions={"executorch": "1.4.0"})
    with pytest.raises(BackendUnavailable, match="ExecuTorch 1.4.0"):
        get_backend("executorch").runner(artifact)


def test_targets_table_shows_android_runtimes_with_unchecked_android_layer():
    rows = {(r["target"], r["runtime"]): r for r in api.targets_table()}
    for runtime in ("tflite", "executorch"):
        row = rows[("android", runtime)]
        ok, _ = get_backend(runtime).is_available()
        assert row["available"] == ok
        if ok:
            assert row["languages"]["kotlin"].startswith("generated;")
            assert "Android layer compile-checked here" not in row["languages"]["kotlin"]
        else:
            assert f"edgesdk[{runtime}]" in row["detail"]
    assert rows[("android", "tflite")]["default"]


# ---- a model the repo does not ship ----------------------------------------------------------
class UnseenNet(nn.Module):
    """Depthwise-separable blocks with hardswish, a squeeze-excite gate and a non-square input."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(24, 24, 3, 1, 1, groups=24, bias=False), nn.BatchNorm2d(24), nn.Hardswish())
        self.pw = nn.Sequential(nn.Conv2d(24, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU6())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(48, 12, 1), nn.ReLU(), nn.Conv2d(12, 48, 1), nn.Hardsigmoid())
        self.dw2 = nn.Sequential(nn.Conv2d(48, 48, 5, 2, 2, groups=48), nn.Hardswish(), nn.MaxPool2d(2))
        self.head = nn.Linear(48, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pw(self.dw(self.stem(x)))
        x = self.dw2(x * self.se(x))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def unseen_manifest(example_models, tmp_path_factory) -> Path:
    torch.manual_seed(7)
    model = UnseenNet()
    with torch.no_grad():  # trained-like BN statistics instead of the identity defaults
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    model.eval()
    folder = tmp_path_factory.mktemp("unseen") / "project"
    folder.mkdir()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 160, 128),)), str(folder / "net.pt2"))
    data = {
        "schema_version": 1,
        "name": "unseen-net",
        "version": "0.3.0",
        "model": {"source": "net.pt2", "inputs": [{"name": "pixels", "shape": [1, 3, 160, 128], "dtype": "float32"}], "outputs": [{"name": "scores", "shape": [1, 10]}]},
        "task": "classification",
        "preprocess": {
            "input_color": "bgr",
            "steps": [
                {"resize": {"size": [160, 128], "interpolation": "bilinear", "keep_ratio": False}},
                {"normalize": {"mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5]}},
                {"layout": "nchw"},
            ],
        },
        "postprocess": {"steps": [{"softmax": {"axis": -1}}, {"topk": {"k": 3}}]},
        "target": "android",
    }
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("runtime", _params("tflite", "executorch"))
def test_unseen_cnn_passes_parity(runtime, unseen_manifest, tmp_path):
    _need(runtime)
    result = api.build(unseen_manifest, runtime=runtime, out=tmp_path / "dist")
    assert result.parity["passed"], result.parity
    assert result.parity["outputs"]["scores"]["max_abs"] <= 1e-4
    assert result.parity["task"]["top1_agreement"] == 1.0
    sdk = json.loads((result.bundle / "sdk.json").read_text())
    tensor = np.load(result.bundle / "tests/golden" / json.loads((result.bundle / "tests/golden/index.json").read_text())["cases"][0]["preprocessed"])
    assert tensor.shape == (1, 3, 160, 128)
    assert _run_in_runtime(runtime, result.bundle / sdk["model"]["file"], tensor).shape == (1, 10)
