"""ncnn fp16 (`quantization.mode: fp16`): fp16 weights byte for byte as pnnx fp16=1 writes them,
and ncnn's fp16 storage/arithmetic options as an explicit choice, recorded in sdk.json
(`runtime_options.net_options`) and set exactly so by the parity run and the generated C++
adapter: the compiled SDK gives the golden answers, and one option planted wrong in the adapter
fails them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import torch
import yaml
from conftest import skip_unless_runtime
from test_quantization import quant_manifest
from torch import nn

from edgesdk import api, hosttest
from edgesdk.backends.ncnn import FP16_OPTIONS, FP32_OPTIONS, net_options
from edgesdk.bundle import write_checksums
from edgesdk.cli import main
from edgesdk.manifest import load_manifest
from edgesdk.quantize import ncnn as q

pytestmark = pytest.mark.ncnn
HEADER = "sdk/cpp/src/runtime/ncnn_tensors.hpp"


@pytest.fixture(scope="module")
def need_ncnn():
    skip_unless_runtime("ncnn")


@pytest.fixture(scope="module")
def fp16_bundle(need_ncnn, example_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("ncnn-fp16")
    shutil.copytree(example_models, root / "project")
    manifest = root / "project" / "edgesdk.yaml"
    manifest.write_text(yaml.safe_dump(quant_manifest({"mode": "fp16"})))
    return api.build(manifest, target="arm", runtime="ncnn", out=root / "dist").bundle


def _header_options(bundle) -> dict[str, bool]:
    text = (bundle / HEADER).read_text()
    return {name: value == "true" for name, value in re.findall(r"options\.(\w+) = (true|false);", text)}


class OddWeights(nn.Module):
    """Weight counts that are odd (3*5*3*3 = 135, 5*3 = 15: pnnx pads the halves) and weights
    below fp16's smallest normal (pnnx writes them as signed zeros)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.conv = nn.Conv2d(3, 5, 3)
        self.fc = nn.Linear(5, 3)
        with torch.no_grad():
            self.conv.weight[0, 0] = torch.tensor([[3e-5, -3e-5, 6e-8], [-1e-9, 0.0, 65519.0], [1e-4, -(2.0**-14), 2.0**-15]])

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def test_fp16_weights_are_what_pnnx_fp16_1_writes(need_ncnn, tmp_path):
    import pnnx

    traced = tmp_path / "odd.pt"
    torch.jit.trace(OddWeights().eval(), torch.zeros(1, 3, 8, 8)).save(str(traced))
    written = {}
    for fp16 in (0, 1):
        out = tmp_path / f"fp16-{fp16}"
        out.mkdir()
        names = {"pnnxparam": "p.param", "pnnxbin": "p.bin", "pnnxpy": "p.py", "pnnxonnx": "p.onnx", "ncnnparam": "m.param", "ncnnbin": "m.bin", "ncnnpy": "n.py"}
        subprocess.run([pnnx.EXEC_PATH, str(traced), "inputshape=[1,3,8,8]f32", f"fp16={fp16}", "device=cpu", *(f"{k}={out / v}" for k, v in names.items())], check=True, capture_output=True)
        written[fp16] = out / "m.param"
    plan = q.Fp16Plan(written[0])
    assert len(plan.layers) == 2  # the convolution and the linear layer
    ours = plan.quantize(tmp_path / "ours.param")
    assert ours.read_bytes() == written[1].read_bytes()
    assert ours.with_suffix(".bin").read_bytes() == written[1].with_suffix(".bin").read_bytes()
    # keep_float: the layer's weights stay float32, so the file is no longer pnnx's.
    kept = plan.quantize(tmp_path / "kept.param", exclude=[plan.layers[0]])
    assert kept.with_suffix(".bin").stat().st_size > ours.with_suffix(".bin").stat().st_size


def test_fp16_bundle_records_the_options_the_adapter_sets(fp16_bundle):
    sdk = json.loads((fp16_bundle / "sdk.json").read_text())
    assert sdk["quantization"]["mode"] == "fp16"
    assert sdk["runtime_options"]["net_options"] == FP16_OPTIONS
    assert sdk["runtime_versions"]["precision"].startswith("fp16: fp16 weights (pnnx fp16=1)")
    assert _header_options(fp16_bundle) == FP16_OPTIONS
    report = json.loads((fp16_bundle / "reports" / "quantization.json").read_text())
    assert 0.45 < report["size_ratio"] < 0.55
    parity = sdk["parity"]
    assert parity["passed"] and parity["outputs"]["logits"]["max_abs"] > 1e-5  # the fp16 weights really ran


def test_the_fp16_cpp_sdk_gives_the_golden_answers_and_a_planted_option_fails(fp16_bundle, tmp_path):
    from toolchains import need

    need(hosttest.toolchain_problem())
    build = tmp_path / "build"
    report = hosttest.test_bundle(fp16_bundle, build)
    assert report.passed, report.as_dict()

    planted = tmp_path / "planted"
    shutil.copytree(fp16_bundle, planted)
    header = planted / HEADER
    # bf16 storage stores activations in bf16 on this CPU (avx512bf16) and on ARM: 1e-2 off.
    header.write_text(header.read_text().replace("options.use_bf16_storage = false;", "options.use_bf16_storage = true;"))
    write_checksums(planted)
    failed = hosttest.test_bundle(planted, tmp_path / "planted-build")
    assert not failed.passed and any("max_abs" in p for case in failed.cases for p in case.problems), failed.as_dict()


def test_reduced_precision_without_mode_fp16_is_refused_naming_the_field(need_ncnn, project, tmp_path, capsys):
    data = quant_manifest({"mode": "none"})
    data["runtime_options"] = {"ncnn": {"use_fp16_arithmetic": True}}
    path = project(data)
    assert main(["build", "-c", str(path), "--target", "arm", "--runtime", "ncnn", "--out", str(tmp_path / "dist")]) == 2
    assert "runtime_options.ncnn.use_fp16_arithmetic" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_the_options_follow_the_mode_and_the_manifest(project):
    def options(quantization: dict, ncnn: dict | None = None) -> dict[str, bool]:
        data = quant_manifest(quantization)
        if ncnn is not None:
            data["runtime_options"] = {"ncnn": ncnn}
        return net_options(load_manifest(project(data)))

    assert options({"mode": "none"}) == FP32_OPTIONS
    assert options({"mode": "none"}, {"use_fp16_storage": False}) == FP32_OPTIONS
    assert options({"mode": "fp16"}) == FP16_OPTIONS
    # fp16 weights computed in float32: ncnn expands them at load.
    off = {"use_fp16_storage": False, "use_fp16_packed": False, "use_fp16_arithmetic": False}
    assert options({"mode": "fp16"}, off) == FP32_OPTIONS
    assert options({"mode": "fp16"}, {"use_fp16_arithmetic": False, "use_bf16_storage": True}) == {**FP16_OPTIONS, "use_fp16_arithmetic": False, "use_bf16_storage": True}
