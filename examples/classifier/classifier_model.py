"""A small CNN classifier, fitted for a few steps on synthetic images (no downloads).

Classes are a colour (which channel dominates) crossed with a stripe direction, so the fitted
weights are structured like a trained model's rather than random.
"""

from __future__ import annotations

import torch
from torch import nn

LABELS = [f"{color} {direction} stripes" for color in ("red", "green", "blue") for direction in ("horizontal", "vertical")]
INPUT_SHAPE = (1, 3, 224, 224)


class SmallClassifier(nn.Module):
    def __init__(self, num_classes: int = len(LABELS)):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(block(3, 16), block(16, 32), block(32, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def synthetic_batch(generator: torch.Generator, batch: int = 32, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized images: stripes of one dominant colour over noise, and their class ids."""
    labels = torch.randint(0, len(LABELS), (batch,), generator=generator)
    images = torch.rand(batch, 3, size, size, generator=generator) * 0.3
    coords = torch.arange(size, dtype=torch.float32)
    for i, label in enumerate(labels.tolist()):
        channel, vertical = divmod(label, 2)
        period = 4 + int(torch.randint(0, 8, (1,), generator=generator))
        wave = (torch.sin(coords * (6.2832 / period)) > 0).float()
        stripes = wave.view(1, size) if vertical else wave.view(size, 1)
        images[i, channel] += 0.7 * stripes.expand(size, size)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (images - mean) / std, labels


def trained_classifier(steps: int = 60, seed: int = 0) -> SmallClassifier:
    """Deterministic: the same seed gives the same weights (one thread, fixed generator)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = SmallClassifier()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        model.train()
        for _ in range(steps):
            images, labels = synthetic_batch(generator)
            loss = nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.eval()
    finally:
        torch.set_num_threads(threads)


def build() -> SmallClassifier:
    """Factory for `model.source: python:classifier_model:build`."""
    return trained_classifier()
