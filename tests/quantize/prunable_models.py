"""Small models for the channel-pruning tests, importable as a manifest's python:module:factory
source once this file is copied next to the manifest."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ResidualConcatNet(nn.Module):
    """stem -> residual block (conv-bn-relu-conv-bn + skip) -> two branches joined by torch.cat ->
    1x1 fuse conv -> pooled linear head. `widths` sets every layer's channels, so a model built
    narrower is what pruning should give."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 16, 8, 32), num_classes: int = 6):
        super().__init__()
        stem, branch_a, branch_b, fuse = widths
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, stride=4, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU())
        self.conv1 = nn.Conv2d(stem, stem, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem)
        self.branch_a = _conv_bn_relu(stem, branch_a, 1)
        self.branch_b = _conv_bn_relu(stem, branch_b, 3)
        self.fuse = nn.Conv2d(branch_a + branch_b, fuse, 1)
        self.head = nn.Linear(fuse, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + x)  # the skip connection
        x = torch.relu(self.fuse(torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class HardCodedViewNet(nn.Module):
    """Flattens with a channel count written into forward(): a dependency no tracer can see."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=56, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8 * 4 * 4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv2(torch.relu(self.conv1(x))).view(1, 8 * 4 * 4))


def _with_statistics(model: nn.Module, seed: int) -> nn.Module:
    """Seeded weights and BatchNorm statistics that differ per channel, as a trained model's do."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def residual_concat_net() -> ResidualConcatNet:
    return _with_statistics(ResidualConcatNet(), seed=0)


def hard_coded_view_net() -> HardCodedViewNet:
    return _with_statistics(HardCodedViewNet(), seed=0)
