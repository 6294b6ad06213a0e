"""Two tiny models whose input height and width are symbolic, and projects that build them.

- `PoolNet`: conv net + global average pool + linear, a classifier that takes any size;
- `FullyConv`: convolutions only, a 3-class segmenter whose logits follow the input size.

Both are seeded and fitted a few steps on synthetic images (so their weights are not a random
init), written as a `python:` factory module, and as an ONNX file exported with dynamic H/W.
The pipeline is a keep-ratio resize, so the sample photos (240x240, 301x200, 300x200, 213x320)
give tensors of several sizes.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MODULE_SOURCE = '''
import torch
from torch import nn


class PoolNet(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(12, classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class FullyConv(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, classes, 1))

    def forward(self, x):
        return self.body(x)


def _fitted(model, target):
    """A few Adam steps on seeded random images of two sizes toward `target(x)`."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(12):
        h, w = (40, 56) if step % 2 else (48, 36)
        x = torch.rand(2, 3, h, w, generator=gen) * 4 - 2
        loss = torch.nn.functional.cross_entropy(model(x), target(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def pool_net():
    torch.manual_seed(3)
    # class = which channel is brightest on average
    return _fitted(PoolNet(), lambda x: torch.cat([x.mean(dim=(2, 3)), -x.mean(dim=(1, 2, 3))[:, None]], 1).argmax(1))


def fully_conv():
    torch.manual_seed(5)
    # class of a pixel: 0 dark, 1 red-dominant, 2 otherwise
    return _fitted(FullyConv(), lambda x: torch.where(x.mean(1) < 0, 0, torch.where(x[:, 0] > x[:, 1], 1, 2)))
'''

MODULE = "dynamic_nets"
KEEP_RATIO = [{"resize": {"size": [48, 48], "keep_ratio": True}}, {"normalize": {"mean": [127.5] * 3, "std": [63.75] * 3}}, {"layout": "nchw"}]
BOUNDS = {"height": {"min": 16, "max": 128}, "width": {"min": 16, "max": 128}}


def write_module(folder: Path) -> None:
    (folder / f"{MODULE}.py").write_text(MODULE_SOURCE, encoding="utf-8")


def factory(folder: Path, name: str):
    import importlib
    import sys

    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(MODULE)
        return getattr(module, name)()
    finally:
        sys.path.remove(str(folder))


def export_onnx(folder: Path, name: str, out: str, input_name: str = "image", output_name: str = "out") -> Path:
    """The factory's model as ONNX with symbolic height and width (torch.export Dims)."""
    import torch

    model = factory(folder, name)
    dims = {2: torch.export.Dim("height", min=2, max=4096), 3: torch.export.Dim("width", min=2, max=4096)}
    path = folder / out
    torch.onnx.export(
        model, (torch.zeros(1, 3, 48, 64),), str(path), dynamo=True, external_data=False, opset_version=18, input_names=[input_name], output_names=[output_name], dynamic_shapes=(dims,), verbose=False
    )
    return path


def manifest(name: str, source: str, task: str, output: dict, steps=None, shape=None, dynamic=BOUNDS, input_name: str = "image") -> dict:
    data = {
        "schema_version": 1,
        "name": name,
        "version": "1.0.0",
        "model": {"source": source, "inputs": [{"name": input_name, "shape": shape or [1, 3, "height", "width"]}], "outputs": [output]},
        "task": task,
        "preprocess": {"input_color": "rgb", "steps": steps or KEEP_RATIO},
        "postprocess": {"steps": [{"softmax": {}}, {"topk": {"k": 2}}]} if task == "classification" else {"steps": [{"mask": {"activation": "argmax"}}]},
    }
    if dynamic is not None:
        data["model"]["inputs"][0]["dynamic"] = dynamic
    return data


def classifier(name: str = "dyn-pool", source: str = f"python:{MODULE}:pool_net", **kw) -> dict:
    return manifest(name, source, "classification", {"name": "out", "shape": [1, 4]}, **kw)


def segmenter(name: str = "dyn-seg", source: str = f"python:{MODULE}:fully_conv", **kw) -> dict:
    return manifest(name, source, "segmentation", {"name": "out", "shape": [1, 3, "height", "width"]}, **kw)


def write_manifest(folder: Path, data: dict, file: str | None = None) -> Path:
    path = folder / (file or f"{data['name']}.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
