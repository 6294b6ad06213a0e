"""Small torch models whose outputs have each detection and segmentation layout of
docs/processing.md, and the manifests that build them into android/onnxruntime bundles."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from torch import nn


class Backbone(nn.Module):
    """3 -> `width` features at stride 4."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class YoloHead(nn.Module):
    """One row per stride-4 cell: cx, cy, w, h in model-input pixels (or corners, or fractions of
    the input), then objectness, then class scores. `transposed` gives [1, 4 + (1) + C, N] (the
    YOLOv8 export), else [1, N, 4 + (1) + C]."""

    def __init__(self, classes: int, objectness: bool, transposed: bool, box: str = "cxcywh", normalized: bool = False, logits: bool = True):
        super().__init__()
        self.backbone = Backbone()
        self.objectness, self.transposed, self.box, self.normalized, self.logits = objectness, transposed, box, normalized, logits
        self.pred = nn.Conv2d(16, 4 + int(objectness) + classes, 1)

    def forward(self, x):
        height, width = x.shape[2], x.shape[3]
        p = self.pred(self.backbone(x))  # [1, R, h, w]
        h, w = p.shape[2], p.shape[3]
        gy = torch.arange(h, dtype=torch.float32).view(1, h, 1).expand(1, h, w).reshape(1, -1)
        gx = torch.arange(w, dtype=torch.float32).view(1, 1, w).expand(1, h, w).reshape(1, -1)
        p = p.reshape(1, p.shape[1], h * w)
        cx = (gx + torch.sigmoid(p[:, 0])) * 4.0
        cy = (gy + torch.sigmoid(p[:, 1])) * 4.0
        bw = torch.exp(p[:, 2].clamp(-2, 2)) * 12.0
        bh = torch.exp(p[:, 3].clamp(-2, 2)) * 12.0
        if self.box == "xyxy":
            box = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        else:
            box = torch.stack([cx, cy, bw, bh], 1)
        if self.normalized:
            box = box / torch.tensor([width, height, width, height], dtype=torch.float32).view(1, 4, 1)
        rest = p[:, 4:] if self.logits else torch.sigmoid(p[:, 4:])
        rows = torch.cat([box, rest], 1)  # [1, R, N]
        return rows if self.transposed else rows.transpose(1, 2)


class BoxesScoresHead(nn.Module):
    """Two outputs, scores [1, N, C] first, then boxes [1, N, 4] as corners in model-input pixels."""

    def __init__(self, classes: int):
        super().__init__()
        self.inner = YoloHead(classes, objectness=False, transposed=False, box="xyxy", logits=False)

    def forward(self, x):
        rows = self.inner(x)
        return rows[:, :, 4:], rows[:, :, :4]


class SegNet(nn.Module):
    """`nchw` scores [1, C, h, w], `nhwc` [1, h, w, C], `sigmoid` one logit plane [1, 1, h, w],
    `ids` the class ids [1, h, w] (int64, the model's own argmax), at stride 2."""

    def __init__(self, classes: int, kind: str):
        super().__init__()
        self.kind = kind
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 1 if kind == "sigmoid" else classes, 3, padding=1))

    def forward(self, x):
        y = self.body(x)
        if self.kind == "nhwc":
            return y.permute(0, 2, 3, 1)
        if self.kind == "ids":
            return torch.argmax(y, dim=1)
        return y


def _labels(n: int) -> list[str]:
    return [f'class "{i}" ✓' for i in range(n)]  # quotes and non-ASCII go through every layer


def write_project(root: Path, name: str, model: nn.Module, input_hw: tuple[int, int], outputs: list[str], task: str, pre: list[dict], post: list[dict], labels: int | None) -> Path:
    """A project folder: the model as TorchScript, labels, and edgesdk.yaml; returns the manifest."""
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    torch.jit.script(model.eval()).save(str(root / "model.pt"))
    manifest = {
        "schema_version": 1,
        "name": name,
        "version": "0.1.0",
        "model": {"source": "model.pt", "inputs": [{"name": "image", "shape": [1, 3, *input_hw]}], "outputs": [{"name": o} for o in outputs]},
        "task": task,
        "preprocess": {"input_color": "rgb", "steps": pre},
        "postprocess": {"steps": post},
        # Boxes are pixels up to the input size: ONNX Runtime's float32 differs from eager by ~1e-4 there.
        "parity": {"max_abs": 2.0e-3},
    }
    if labels:
        (root / "labels.txt").write_text("\n".join(_labels(labels)) + "\n", encoding="utf-8")
        manifest["postprocess"]["labels"] = "labels.txt"
    path = root / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
