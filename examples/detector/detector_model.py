"""A tiny anchor-free detector, trained on synthetic shapes (no downloads).

Input [1, 3, 160, 160] (letterboxed RGB / 255). Output [1, 400, 8]: one row per cell of the
20 x 20 grid (stride 8), row-major, holding cx, cy, w, h in model-input pixels, the objectness
(sigmoid) and the probabilities of circle, square, triangle (softmax): the manifest's
`decode_boxes: {format: yolo, box: cxcywh, objectness: true}`, score = objectness x class.
Cells near a shape's center learn it (FCOS-style), so NMS removes their overlapping boxes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shapes"))
from synthetic_shapes import SHAPES, deterministic, fit_to_input, random_size, render_scene, shape_features, train

INPUT_SIZE = 160
STRIDE = 8
GRID = INPUT_SIZE // STRIDE
INPUT_SHAPE = (1, 3, INPUT_SIZE, INPUT_SIZE)
MAX_LOG_SIZE = 4.0  # exp(4) * 8 = 437 px: wider than the input, and exp() cannot overflow


class TinyDetector(nn.Module):
    def __init__(self, num_classes: int = len(SHAPES), width: int = 48):
        super().__init__()
        self.features = nn.Sequential(*shape_features(width))  # stride 8: one row per grid cell
        self.head = nn.Conv2d(width, 5 + num_classes, 1)
        self.stride = float(STRIDE)
        self.max_log_size = MAX_LOG_SIZE
        ys, xs = torch.meshgrid(torch.arange(GRID, dtype=torch.float32), torch.arange(GRID, dtype=torch.float32), indexing="ij")
        self.register_buffer("centers", (torch.stack([xs, ys]).view(1, 2, GRID, GRID) + 0.5) * STRIDE)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Head logits [B, 5 + C, GRID, GRID]: log distances (in strides) from the cell center to
        the box's left, top, right, bottom edges, the objectness logit, the class logits."""
        return self.head(self.features(x))

    def edge_distances(self, raw: torch.Tensor) -> torch.Tensor:
        """Pixel distances from the cell center to the left, top, right, bottom box edges."""
        return torch.exp(torch.clamp(raw[:, 0:4], -self.max_log_size, self.max_log_size)) * self.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.raw(x)
        ltrb = self.edge_distances(raw)
        lt, rb = ltrb[:, 0:2], ltrb[:, 2:4]
        centers = self.centers + (rb - lt) * 0.5
        sizes = lt + rb
        objectness = torch.sigmoid(raw[:, 4:5])
        classes = torch.softmax(raw[:, 5:], dim=1)
        rows = torch.cat([centers, sizes, objectness, classes], dim=1)  # [B, 5 + C, GRID, GRID]
        return rows.flatten(2).transpose(1, 2)  # [B, GRID * GRID, 5 + C]


CENTER_RADIUS = 1.5  # cells within 1.5 strides of a shape's center (and inside it) learn it


def detection_batch(rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Letterboxed scenes / 255 and their targets (FCOS-style, with center sampling): the class of
    each cell [B, G, G] (-1: no shape) and the box corners [B, 4, G, G] it learns, in model-input
    pixels. A cell learns the shape whose center is near its own (the smaller shape wins)."""
    images = torch.empty(batch, 3, INPUT_SIZE, INPUT_SIZE)
    classes = torch.full((batch, GRID, GRID), -1, dtype=torch.long)
    inside = torch.full((batch, GRID, GRID), -1, dtype=torch.long)
    boxes = torch.zeros(batch, 4, GRID, GRID)
    area = torch.full((batch, GRID, GRID), float("inf"))
    cell = (torch.arange(GRID, dtype=torch.float64) + 0.5) * STRIDE
    for b in range(batch):
        scene = render_scene(rng, *random_size(rng))
        fitted = fit_to_input(scene.image, INPUT_SIZE, letterbox=True)
        images[b] = fitted.pixels / 255.0
        for (x0, y0, x1, y1), k in zip(fitted.to_input(scene.boxes), scene.classes):
            cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, CENTER_RADIUS * STRIDE
            near_x = (cell > max(x0, cx - r)) & (cell < min(x1, cx + r))
            near_y = (cell > max(y0, cy - r)) & (cell < min(y1, cy + r))
            if not near_x.any():  # a sliver of a shape still gets the cell holding its center
                near_x[min(int(cx // STRIDE), GRID - 1)] = True
            if not near_y.any():
                near_y[min(int(cy // STRIDE), GRID - 1)] = True
            in_box = ((cell > y0) & (cell < y1))[:, None] & ((cell > x0) & (cell < x1))[None, :]
            inside[b, in_box] = int(k)
            wins = near_y[:, None] & near_x[None, :] & (area[b] > (x1 - x0) * (y1 - y0))
            classes[b, wins] = int(k)
            boxes[b, :, wins] = torch.tensor([x0, y0, x1, y1], dtype=torch.float32)[:, None]
            area[b, wins] = float((x1 - x0) * (y1 - y0))
    return images, classes, boxes, inside


def detection_loss(model: TinyDetector, images: torch.Tensor, classes: torch.Tensor, boxes: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Per positive cell: binary cross-entropy of the objectness map (every cell), cross-entropy of
    the class and -log IoU of the box (positive cells only)."""
    raw = model.raw(images)
    positive = classes >= 0
    count = positive.sum().clamp(min=1)
    objectness = nn.functional.binary_cross_entropy_with_logits(raw[:, 4], positive.float(), reduction="sum")
    distances = model.edge_distances(raw).permute(0, 2, 3, 1)[positive].T  # [4, cells]
    # Every cell inside a shape learns its class (more examples than the positive cells alone).
    class_loss = nn.functional.cross_entropy(raw[:, 5:], inside, ignore_index=-1, reduction="sum")
    # Distances from each cell center to the true edges, [4, cells]; IoU of the two boxes.
    centers = model.centers.expand(boxes.shape[0], 2, GRID, GRID)
    true = torch.cat([centers - boxes[:, 0:2], boxes[:, 2:4] - centers], dim=1).permute(0, 2, 3, 1)[positive].T.clamp(min=0.5)
    inter = (torch.minimum(distances[0], true[0]) + torch.minimum(distances[2], true[2])) * (torch.minimum(distances[1], true[1]) + torch.minimum(distances[3], true[3]))
    union = (distances[0] + distances[2]) * (distances[1] + distances[3]) + (true[0] + true[2]) * (true[1] + true[3]) - inter
    iou_loss = -torch.log((inter / union).clamp(min=1e-6)).sum()
    return (objectness + class_loss + iou_loss) / count


def trained_detector(steps: int = 400, seed: int = 0, batch: int = 16) -> TinyDetector:
    """Deterministic: the same arguments give the same weights."""
    with deterministic(seed):
        rng = np.random.default_rng(seed)
        return train(TinyDetector(), lambda: detection_batch(rng, batch), detection_loss, steps, lr=2e-3)


def build() -> TinyDetector:
    """Factory for `model.source: python:detector_model:build`."""
    return trained_detector()
