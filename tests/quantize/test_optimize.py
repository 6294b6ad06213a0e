"""Optimizations before conversion: BN folding keeps the function, pruning shrinks the model."""
from __future__ import annotations

import json
import sys

import pytest
import torch

from conftest import REPO, example_manifest_dict
from edgesdk import api
from edgesdk.cli import main
from edgesdk.optimize import fold_batchnorm, prune_channels, prune_l1_unstructured

sys.path.insert(0, str(REPO / "benchmarks"))
from models import ResNet18Like  # noqa: E402


def _resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    model = ResNet18Like(num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


def test_bn_folding_removes_every_batchnorm_and_keeps_outputs():
    model = _resnet()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    folded, names = fold_batchnorm(model)
    assert len(names) == 20 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-4, rtol=0)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the input is left alone


def test_channel_pruning_removes_channels_and_shrinks_the_onnx_file(tmp_path):
    model = _resnet()
    pruned, changed = prune_channels(model, 0.5)
    assert changed["layers.0.conv1"] == (64, 32)
    assert pruned.get_submodule("layers.0.conv2").in_channels == 32 and pruned.get_submodule("layers.0.bn1").num_features == 32
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in pruned.parameters())
    assert after < 0.7 * before
    sizes = {}
    for name, m in (("full", model), ("pruned", pruned)):
        path = tmp_path / f"{name}.onnx"
        torch.onnx.export(m, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=True, external_data=False, opset_version=18, verbose=False)
        sizes[name] = path.stat().st_size
    assert sizes["pruned"] < 0.7 * sizes["full"]
    with torch.no_grad():
        assert pruned(torch.zeros(1, 3, 64, 64)).shape == (1, 10)


def test_l1_unstructured_is_permanent():
    pruned, sparsity = prune_l1_unstructured(_resnet(), 0.3)
    assert all(abs(s - 0.3) < 0.01 for s in sparsity.values())
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())
    assert all(not m._forward_pre_hooks for m in pruned.modules())


def test_build_with_fold_and_channel_pruning_reports_the_cost(project, tmp_path):
    data = example_manifest_dict("python:classifier_model:build")
    data["optimize"] = {"fold_bn": True, "prune": {"method": "channels", "amount": 0.25}}
    result = api.build(project(data), out=tmp_path / "dist")
    report = json.loads((result.bundle / "reports" / "optimize.json").read_text())
    assert report["fold_bn"]["parity"]["passed"] and len(report["fold_bn"]["folded"]) == 3
    assert report["parameters_after"] < report["parameters_before"]
    assert 0 <= report["prune"]["accuracy_vs_unpruned"]["top1_agreement"] <= 1
    assert result.parity["passed"]  # the artifact is gated against the pruned model


@pytest.mark.parametrize("optimize, field", [
    ({"fold_bn": True}, "optimize:"),
    ({"prune": {"method": "channels", "amount": 1.5}}, "optimize.prune.amount"),
    ({"prune": {"method": "magnitude", "amount": 0.3}}, "optimize.prune.method"),
    ({"fold_bn": True, "fuse": True}, "unknown key 'fuse'"),
])
def test_bad_optimize_block(optimize, field, project, tmp_path, capsys):
    data = example_manifest_dict("model.pt")
    data["optimize"] = optimize
    assert main(["build", "-c", str(project(data)), "--out", str(tmp_path / "dist")]) == 2
    assert field in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()
