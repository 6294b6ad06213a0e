"""Models for benchmarks, defined in code (no downloads)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "classifier"


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18Like(nn.Module):
    """The ResNet-18 layout (2-2-2-2 basic blocks, 64..512 channels), 1000 classes."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


def resnet18_like(seed: int = 0) -> ResNet18Like:
    torch.manual_seed(seed)
    model = ResNet18Like()
    # Non-trivial BN statistics, as a trained network has.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


class WideMlp(nn.Module):
    """A classifier that is almost all weights (~101 MB float32): for measuring model loading."""

    def __init__(self, num_classes: int = 6):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(56)
        self.hidden = nn.Linear(3 * 56 * 56, 2688)
        self.head = nn.Linear(2688, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.hidden(torch.flatten(self.pool(x), 1))))


def wide_mlp(seed: int = 0) -> WideMlp:
    torch.manual_seed(seed)
    return WideMlp().eval()


def eager_model(name: str) -> nn.Module:
    """The model `name` ("example", "resnet18-like" or "wide-mlp") as a PyTorch module in eval mode;
    the same weights every call (seeded)."""
    if name == "example":
        sys.path.insert(0, str(EXAMPLE))
        from classifier_model import trained_classifier

        return trained_classifier().eval()
    return wide_mlp() if name == "wide-mlp" else resnet18_like()


def write_project(tmp, name: str) -> tuple:
    """A folder under `tmp` holding the model `name` ("example", "resnet18-like" or "wide-mlp") as TorchScript
    and the manifest data to build it with (the example's manifest, adapted); returns (folder, data)."""
    import shutil

    import yaml

    folder = Path(tmp) / name
    folder.mkdir()
    data = yaml.safe_load((EXAMPLE / "edgesdk.yaml").read_text())
    torch.jit.script(eager_model(name)).save(str(folder / "model.pt"))
    if name in ("example", "wide-mlp"):
        shutil.copy(EXAMPLE / "labels.txt", folder / "labels.txt")
    if name == "wide-mlp":
        data.update(name="wide-mlp")
    elif name != "example":
        data.update(name="resnet18-like")
        data["model"]["outputs"] = [{"name": "logits", "shape": [1, 1000]}]
        data["postprocess"].pop("labels")
    return folder, data
