"""What the detector and segmenter examples share: synthetic scenes of shapes on noisy
backgrounds, the convolutional features that recognize them, deterministic training and export.

One scene is a random-size image with 1-4 filled shapes (circle, square, triangle) in random
colors, their corner boxes and a class-id mask, drawn with numpy from a seeded generator, so the
training data, the held-out test scenes and the golden images all come from code (no downloads).
Pixel i covers [i, i + 1): a pixel belongs to a shape when its center is inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

SHAPES = ("circle", "square", "triangle")
PAD_VALUE = 114.0  # the letterbox pad of the examples' manifests (YOLO's gray)
MIN_LONG_SIDE, MAX_LONG_SIDE = 128, 320  # scene sizes; the short side is 0.6-1 of the long one


@dataclass
class Scene:
    image: np.ndarray  # [H, W, 3] uint8 RGB
    boxes: np.ndarray  # [n, 4] float64 corners x0, y0, x1, y1 in image pixels
    classes: np.ndarray  # [n] int64, index into the scene's `shapes`
    mask: np.ndarray  # [H, W] uint8: 0 background, k + 1 for shapes[k]


def _inside(shape: str, box: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which pixel centers (xs, ys) lie inside `shape` filling `box`."""
    x0, y0, x1, y1 = box
    if shape == "circle":
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    if shape == "square":
        return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    if shape == "triangle":  # apex at the top center, base along the bottom edge
        half = (x1 - x0) / 2 * (ys - y0) / (y1 - y0)
        cx = (x0 + x1) / 2
        return (ys >= y0) & (ys < y1) & (xs >= cx - half) & (xs < cx + half)
    raise ValueError(f"unknown shape {shape!r} (expected one of {SHAPES})")


def _color_far_from(rng: np.random.Generator, base: np.ndarray, distance: float = 90.0) -> np.ndarray:
    """A random RGB color whose largest channel difference to `base` is at least `distance`."""
    while True:
        color = rng.uniform(0, 255, 3)
        if np.abs(color - base).max() >= distance:
            return color


def _place(rng: np.random.Generator, height: int, width: int, placed: list[np.ndarray]) -> np.ndarray | None:
    """A box of side 8-25% of the long image side that keeps clear of the boxes already placed
    (so a shape is 13-40 px wide in a 160 x 160 letterbox)."""
    long = max(height, width)
    for _ in range(30):
        side_x = rng.uniform(0.08, 0.25) * long
        side_y = side_x if rng.random() < 0.5 else side_x * rng.uniform(0.8, 1.2)
        x0 = rng.uniform(1, width - side_x - 1)
        y0 = rng.uniform(1, height - side_y - 1)
        box = np.array([x0, y0, x0 + side_x, y0 + side_y])
        if all(box[0] > b[2] + 2 or b[0] > box[2] + 2 or box[1] > b[3] + 2 or b[1] > box[3] + 2 for b in placed):
            return box
    return None


def render_scene(rng: np.random.Generator, height: int, width: int, shapes: Sequence[str] = SHAPES, max_objects: int = 4) -> Scene:
    """A `height` x `width` scene with 1..max_objects shapes drawn from `shapes`."""
    base = rng.uniform(30, 225, 3)
    ramp = rng.uniform(-25, 25, 3) * np.linspace(-1, 1, width)[:, None]  # a gentle horizontal gradient
    canvas = base + ramp[None] + rng.normal(0, 10, (height, width, 3))
    mask = np.zeros((height, width), dtype=np.uint8)
    boxes, classes = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        box = _place(rng, height, width, boxes)
        if box is None:
            continue
        k = int(rng.integers(len(shapes)))
        x0, y0 = int(box[0]), int(box[1])
        x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
        inside = _inside(shapes[k], box, xs, ys)
        color = _color_far_from(rng, base)
        canvas[y0:y1, x0:x1][inside] = color + rng.normal(0, 6, (int(inside.sum()), 3))
        mask[y0:y1, x0:x1][inside] = k + 1
        boxes.append(box)
        classes.append(k)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Scene(image, np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(classes, dtype=np.int64), mask)


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) of a scene: landscape or portrait, aspect ratio up to 1:0.6."""
    long = int(rng.integers(MIN_LONG_SIDE, MAX_LONG_SIDE + 1))
    short = round(long * rng.uniform(0.6, 1.0))
    return (long, short) if rng.random() < 0.5 else (short, long)


def random_scenes(seed: int, count: int, shapes: Sequence[str] = SHAPES) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [render_scene(rng, *random_size(rng), shapes=shapes) for _ in range(count)]


@dataclass
class Fitted:
    """A scene's pixels at the model input (float32 [3, H, W], 0..255) and how it got there:
    x_model = x_image * scale_x + pad_left (docs/processing.md, Geometry)."""

    pixels: torch.Tensor
    scale_x: float
    scale_y: float
    pad_left: int
    pad_top: int

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Corner boxes [n, 4] in image pixels -> model-input pixels."""
        return boxes * [self.scale_x, self.scale_y, self.scale_x, self.scale_y] + [self.pad_left, self.pad_top, self.pad_left, self.pad_top]


def fit_to_input(image: np.ndarray, size: int, letterbox: bool) -> Fitted:
    """Bilinear (half-pixel, no antialias) resize of an HWC uint8 image to size x size, or a
    letterbox into it padded with PAD_VALUE: what the examples' manifests ask for, in torch so
    that training batches are quick to make. The SDKs and the tests use edgesdk's own ops."""
    h, w = image.shape[:2]
    if letterbox:
        s = min(size / h, size / w)
        nh, nw = min(int(np.floor(h * s + 0.5)), size), min(int(np.floor(w * s + 0.5)), size)
        top, left = (size - nh) // 2, (size - nw) // 2
    else:
        nh, nw, top, left = size, size, 0, 0
    chw = torch.from_numpy(image).permute(2, 0, 1).float()[None]
    resized = torch.nn.functional.interpolate(chw, size=(nh, nw), mode="bilinear", align_corners=False)[0]
    pixels = torch.full((3, size, size), PAD_VALUE)
    pixels[:, top : top + nh, left : left + nw] = resized
    return Fitted(pixels, nw / w, nh / h, left, top)


def conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class EdgeStem(nn.Module):
    """conv + BN at stride 2, then both signs of each response (CReLU, 2 x half_width channels):
    a shape's edges are found whichever of its colour and the background's is brighter."""

    def __init__(self, half_width: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, half_width, 3, 2, padding=1, bias=False), nn.BatchNorm2d(half_width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.relu(torch.cat([y, -y], dim=1))


def shape_features(width: int) -> list[nn.Module]:
    """Layers from the image to stride-8 features of `width` channels: the edge stem (stride 2,
    32 channels), two convs per resolution, then a dilated conv so that the cells at a shape's
    center see all of it (receptive field about 90 px)."""
    return [
        EdgeStem(16),
        conv_bn_relu(32, 32, 2),
        conv_bn_relu(32, 32),
        conv_bn_relu(32, width, 2),
        conv_bn_relu(width, width),
        conv_bn_relu(width, width, dilation=2),
        conv_bn_relu(width, width),
    ]


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """One thread, seeded torch, deterministic kernels: the same seed gives the same weights."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)


def train(model: torch.nn.Module, batch: Callable[[], tuple[torch.Tensor, ...]], loss: Callable[..., torch.Tensor], steps: int, lr: float) -> torch.nn.Module:
    """Adam with a cosine learning-rate decay over `steps` batches, minimizing loss(model, *batch());
    returns the model in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for _ in range(steps):
        value = loss(model, *batch())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


# Golden images: small scenes whose shapes make the letterbox pad top/bottom (wide) and
# left/right (tall), plus a square and an odd-sized one.
GOLDEN_SIZES = ((120, 200), (192, 116), (128, 128), (97, 151))
GOLDEN_SEED = 7


def write_golden_images(folder: Path, shapes: Sequence[str], seed: int) -> list[Path]:
    """PNGs of scenes of GOLDEN_SIZES (height, width), named by index so their order is fixed."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for n, (height, width) in enumerate(GOLDEN_SIZES):
        path = folder / f"scene{n}_{width}x{height}.png"
        Image.fromarray(render_scene(rng, height, width, shapes).image).save(path, optimize=True)
        paths.append(path)
    return paths


def same_weights(model: torch.nn.Module, saved: Path) -> bool:
    """Whether `saved` (TorchScript) holds exactly `model`'s parameters and buffers. The file's
    bytes are no test: TorchScript records the absolute path of the source it compiled."""
    theirs = torch.jit.load(str(saved)).state_dict()
    ours = model.state_dict()
    return ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def make_example_files(description: str, folder: Path, trained: Callable[[], torch.nn.Module], input_shape: tuple[int, ...], output_name: str, shapes: Sequence[str]) -> None:
    """The command line of each shape example's make_model.py: write model.pt (TorchScript),
    optionally model.onnx and the golden PNGs, or check that model.pt is what training gives."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=folder)
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx")
    parser.add_argument("--golden", action="store_true", help="also (re)draw the golden images in golden/")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 unless model.pt holds the weights training gives")
    args = parser.parse_args()
    model = trained()
    if args.check:
        if not same_weights(model, args.out / "model.pt"):
            raise SystemExit(f"{args.out / 'model.pt'} differs from what make_model.py trains")
        print(f"{args.out / 'model.pt'} holds the trained weights")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    torch.jit.script(model).save(str(args.out / "model.pt"))
    if args.onnx:
        torch.onnx.export(
            model, (torch.zeros(input_shape),), str(args.out / "model.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=[output_name], verbose=False
        )
    if args.golden:
        write_golden_images(args.out / "golden", shapes, GOLDEN_SEED)
    print(f"wrote {args.out / 'model.pt'}")
