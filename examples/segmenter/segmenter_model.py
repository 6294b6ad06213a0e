"""A tiny encoder-decoder segmenter, trained on synthetic shapes (no downloads).

Input [1, 3, 128, 128] (RGB resized to 128 x 128, / 255). Output [1, 3, 64, 64]: logits of
background, circle, triangle for each 2 x 2 block of the input (`mask: {activation: argmax}`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shapes"))
from synthetic_shapes import deterministic, fit_to_input, random_size, render_scene, shape_features, train

SHAPES = ("circle", "triangle")
CLASSES = ("background", *SHAPES)
INPUT_SIZE = 128
OUTPUT_STRIDE = 2
MASK_SIZE = INPUT_SIZE // OUTPUT_STRIDE
INPUT_SHAPE = (1, 3, INPUT_SIZE, INPUT_SIZE)


class TinySegmenter(nn.Module):
    def __init__(self, num_classes: int = len(CLASSES), width: int = 48):
        super().__init__()
        stem, *encoder = shape_features(width)
        self.stem = stem  # stride 2: the mask's resolution, kept for the edges
        self.encoder = nn.Sequential(*encoder)  # stride 8: which shape a region belongs to
        self.up = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False)
        self.decoder = nn.Sequential(nn.Conv2d(width + 32, 24, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(), nn.Conv2d(24, num_classes, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        edges = self.stem(x)
        context = self.up(self.encoder(edges))
        return self.decoder(torch.cat([context, edges], dim=1))


def segmentation_batch(rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Resized scenes / 255 and the class of each mask cell: the scene's class at the cell
    center mapped back to the scene (what the SDK's mask is compared with)."""
    images = torch.empty(batch, 3, INPUT_SIZE, INPUT_SIZE)
    targets = torch.empty(batch, MASK_SIZE, MASK_SIZE, dtype=torch.long)
    centers = (np.arange(MASK_SIZE) + 0.5) * OUTPUT_STRIDE
    for b in range(batch):
        scene = render_scene(rng, *random_size(rng), shapes=SHAPES)
        fitted = fit_to_input(scene.image, INPUT_SIZE, letterbox=False)
        images[b] = fitted.pixels / 255.0
        h, w = scene.mask.shape
        rows = np.clip(np.floor(centers / fitted.scale_y), 0, h - 1).astype(np.int64)
        cols = np.clip(np.floor(centers / fitted.scale_x), 0, w - 1).astype(np.int64)
        targets[b] = torch.from_numpy(scene.mask[rows[:, None], cols[None, :]].astype(np.int64))
    return images, targets


# Shapes cover about 7% of a scene: unweighted, predicting background everywhere is a cheap minimum.
CLASS_WEIGHTS = (0.1, 1.0, 1.0)


def segmentation_loss(model: TinySegmenter, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(images), targets, weight=torch.tensor(CLASS_WEIGHTS))


def trained_segmenter(steps: int = 300, seed: int = 0, batch: int = 16) -> TinySegmenter:
    """Deterministic: the same arguments give the same weights."""
    with deterministic(seed):
        rng = np.random.default_rng(seed)
        return train(TinySegmenter(), lambda: segmentation_batch(rng, batch), segmentation_loss, steps, lr=2e-3)


def build() -> TinySegmenter:
    """Factory for `model.source: python:segmenter_model:build`."""
    return trained_segmenter()
