"""Optimizations before conversion: BN folding keeps the function, pruning shrinks the model."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, example_manifest_dict

from edgesdk import api
from edgesdk.cli import main
from edgesdk.errors import UnsupportedOpError
from edgesdk.optimize import fold_batchnorm, prune_channels, prune_l1_unstructured

sys.path.insert(0, str(REPO / "benchmarks"))
from models import ResNet18Like

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prunable_models import ResidualConcatNet, hard_coded_view_net, residual_concat_net

IMAGE = torch.zeros(1, 3, 224, 224)  # the example manifest's input


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
    pruned, changed = prune_channels(model, 0.5, [torch.zeros(1, 3, 64, 64)])
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


def _kept_rows(pruned: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """The rows (output channels) of `full` that `pruned` kept, in order; fails if one is not there."""
    rows = []
    for row in pruned:
        matches = [i for i in range(full.shape[0]) if torch.equal(row, full[i])]
        assert len(matches) == 1, "a pruned row is not an unchanged row of the original weight"
        rows.append(matches[0])
    return torch.tensor(rows)


def _weight(model: torch.nn.Module, name: str) -> torch.Tensor:
    return model.get_submodule(name).weight.detach()


def test_channel_pruning_follows_the_skip_connection_and_the_concat():
    model = residual_concat_net()
    pruned, changed = prune_channels(model, 0.5, [IMAGE])
    # Exactly the layers a model built half as wide has: every BatchNorm, the skip connection's two
    # ends and the concat's consumer were pruned with their producers.
    narrow = ResidualConcatNet(widths=(8, 8, 4, 16))
    assert {k: tuple(v.shape) for k, v in pruned.state_dict().items()} == {k: tuple(v.shape) for k, v in narrow.state_dict().items()}
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in pruned.parameters())
    assert after == sum(p.numel() for p in narrow.parameters()) and after < 0.3 * before
    assert changed == {"stem.0": (16, 8), "conv1": (16, 8), "conv2": (16, 8), "branch_a.0": (16, 8), "branch_b.0": (8, 4), "fuse": (32, 16)}
    with torch.no_grad():
        assert pruned(IMAGE).shape == (1, 6)

    # The kept channels are the same ones in every layer of a group.
    stem = _kept_rows(_weight(pruned, "stem.0"), _weight(model, "stem.0"))
    inner = _kept_rows(_weight(pruned, "conv1"), _weight(model, "conv1")[:, stem])
    for bn, idx in (("stem.1", stem), ("bn1", inner), ("bn2", stem)):  # bn2's output is added to the stem's
        assert torch.equal(pruned.get_submodule(bn).running_mean, model.get_submodule(bn).running_mean[idx]), bn
        assert torch.equal(_weight(pruned, bn), _weight(model, bn)[idx]), bn
    assert torch.equal(_weight(pruned, "conv2"), _weight(model, "conv2")[stem][:, inner])  # the skip connection's other end
    branch_a = _kept_rows(_weight(pruned, "branch_a.0"), _weight(model, "branch_a.0")[:, stem])
    branch_b = _kept_rows(_weight(pruned, "branch_b.0"), _weight(model, "branch_b.0")[:, stem])
    fuse = _kept_rows(_weight(pruned, "fuse"), _weight(model, "fuse")[:, torch.cat([branch_a, 16 + branch_b])])  # after the concat
    assert torch.equal(pruned.get_submodule("fuse").bias, model.get_submodule("fuse").bias[fuse])
    assert torch.equal(_weight(pruned, "head"), _weight(model, "head")[:, fuse])
    assert torch.equal(pruned.get_submodule("head").bias, model.get_submodule("head").bias)


def test_channel_pruning_removes_the_weakest_channel_and_is_deterministic():
    model = residual_concat_net()
    with torch.no_grad():  # channel 5 of conv1's group carries nothing
        model.conv1.weight[5] = 0
        model.bn1.weight[5] = 0
        model.conv2.weight[:, 5] = 0
    first, changed = prune_channels(model, 1 / 16, [IMAGE])
    assert changed["conv1"] == (16, 15)
    assert 5 not in _kept_rows(_weight(first, "conv1"), _weight(model, "conv1")[:, _kept_rows(_weight(first, "stem.0"), _weight(model, "stem.0"))]).tolist()
    second, again = prune_channels(model, 1 / 16, [IMAGE])
    assert again == changed
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))


def test_channel_pruning_refuses_a_model_it_would_break():
    with pytest.raises(UnsupportedOpError, match=r"optimize\.prune\.method: 'channels' broke this model.*l1_unstructured"):
        prune_channels(hard_coded_view_net(), 0.5, [IMAGE])


def test_channel_pruning_refuses_a_model_whose_every_channel_is_an_output():
    with pytest.raises(UnsupportedOpError, match=r"optimize\.prune\.method: 'channels' found no channel to remove"):
        prune_channels(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()), 0.5, [IMAGE])


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
    # The cost is measured on the pruned model: its outputs moved (a model compared with itself
    # gives cosine 1 and an infinite SQNR), and the agreement is a share of the samples.
    cost = report["prune"]["accuracy_vs_unpruned"]
    assert cost["cosine"] < 1.0 and math.isfinite(cost["sqnr_db"]) and cost["sqnr_db"] > 0
    assert cost["top1_agreement"] > 0
    assert result.parity["passed"]  # the artifact is gated against the pruned model


@pytest.mark.parametrize(
    "optimize, field",
    [
        ({"fold_bn": True}, "optimize:"),
        ({"prune": {"method": "channels", "amount": 1.5}}, "optimize.prune.amount"),
        ({"prune": {"method": "magnitude", "amount": 0.3}}, "optimize.prune.method"),
        ({"fold_bn": True, "fuse": True}, "unknown key 'fuse'"),
    ],
)
def test_bad_optimize_block(optimize, field, project, tmp_path, capsys):
    data = example_manifest_dict("model.pt")
    data["optimize"] = optimize
    assert main(["build", "-c", str(project(data)), "--out", str(tmp_path / "dist")]) == 2
    assert field in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()


def _residual_project(project) -> Path:
    data = example_manifest_dict("python:prunable_models:residual_concat_net")
    data["optimize"] = {"prune": {"method": "channels", "amount": 0.5}}
    shutil.copy(Path(__file__).resolve().parent / "prunable_models.py", project.folder / "prunable_models.py")
    return project(data)


def test_build_prunes_a_residual_model_gates_it_against_the_pruned_model_and_is_reproducible(project, tmp_path):
    manifest = _residual_project(project)
    result = api.build(manifest, out=tmp_path / "one")
    report = json.loads((result.bundle / "reports" / "optimize.json").read_text())
    assert report["prune"]["channels"]["conv2"] == [16, 8] and report["prune"]["channels"]["fuse"] == [32, 16]
    assert report["parameters_after"] < 0.3 * report["parameters_before"]
    # Pruning changed the function; the artifact still matches to float32 precision: the reference
    # it is gated against is the pruned model.
    assert report["prune"]["accuracy_vs_unpruned"]["cosine"] < 0.999
    assert result.parity["passed"] and result.parity["outputs"]["logits"]["max_abs"] < 1e-4
    assert api.build(manifest, out=tmp_path / "two").zip_sha256 == result.zip_sha256


def test_build_refuses_channel_pruning_a_model_it_cannot_follow(project, tmp_path, capsys):
    data = example_manifest_dict("python:prunable_models:hard_coded_view_net")
    data["optimize"] = {"prune": {"method": "channels", "amount": 0.5}}
    shutil.copy(Path(__file__).resolve().parent / "prunable_models.py", project.folder / "prunable_models.py")
    assert main(["build", "-c", str(project(data)), "--out", str(tmp_path / "dist")]) == 2
    assert "optimize.prune.method: 'channels'" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()
