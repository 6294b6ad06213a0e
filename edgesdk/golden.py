"""Golden vectors: real images, their pre-processed tensors, raw outputs and final results.

They are written into every bundle (`tests/golden/`) and are what `edgesdk test` holds the
generated SDK to. Images are stored as PNG, so every decoder sees the same pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import InputError, ManifestError
from edgesdk.processing.image import decode_image
from edgesdk.results import TaskResult

SAMPLE_IMAGES_DIR = Path(__file__).resolve().parent / "data" / "sample_images"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GOLDEN_DIR = "tests/golden"
INDEX_FILE = "index.json"


@dataclass
class GoldenImage:
    id: str
    pixels: np.ndarray  # HWC uint8, RGB


def collect_images(folder: Path | None, count: int, field: str = "golden.images") -> list[GoldenImage]:
    """The first `count` images (sorted by name) of `folder`, or the bundled sample photos."""
    source = folder or SAMPLE_IMAGES_DIR
    paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
    if not paths:
        raise ManifestError(field, f"no PNG or JPEG images in {source}")
    images = []
    used: set[str] = set()
    for p in paths:
        try:
            pixels = decode_image(p)
        except ValueError as exc:
            raise ManifestError(field, str(exc)) from exc
        ident = _unique_id(p.stem, used)
        images.append(GoldenImage(ident, pixels))
    return images


def _unique_id(stem: str, used: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:48] or "image"
    ident, n = base, 1
    while ident in used:
        n += 1
        ident = f"{base}_{n}"
    used.add(ident)
    return ident


def parity_variants(images: list[GoldenImage]) -> list[np.ndarray]:
    """More real inputs for the gate: each image, mirrored, and two off-centre crops."""
    out: list[np.ndarray] = []
    for img in images:
        px = img.pixels
        h, w = px.shape[:2]
        out += [px, px[:, ::-1], px[: max(h * 3 // 4, 1), : max(w * 3 // 4, 1)], px[h // 4 :, w // 5 :]]
    return [np.ascontiguousarray(a) for a in out]


def to_app_order(rgb: np.ndarray, input_color: str) -> np.ndarray:
    """What the app passes in: the manifest's input_color order."""
    return np.ascontiguousarray(rgb[..., ::-1]) if input_color == "bgr" else rgb


def write_case(folder: Path, image: GoldenImage, input_color: str, preprocessed: np.ndarray, output_names: list[str], outputs: list[np.ndarray], result: TaskResult) -> dict[str, Any]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.pixels).save(folder / f"{image.id}.png", optimize=False, compress_level=9)
    _save_npy(folder / f"{image.id}.input.npy", to_app_order(image.pixels, input_color))
    _save_npy(folder / f"{image.id}.preprocessed.npy", preprocessed)
    files = {}
    for i, (name, value) in enumerate(zip(output_names, outputs)):
        files[name] = f"{image.id}.output{i}.npy"
        _save_npy(folder / files[name], value)
    extra: dict[str, Any] = {}
    if result.mask is not None:
        extra["mask"] = f"{image.id}.mask.npy"
        _save_npy(folder / extra["mask"], np.frombuffer(result.mask.class_ids, dtype=np.uint8).reshape(result.mask.height, result.mask.width))
    return {
        "id": image.id,
        "image": f"{image.id}.png",
        "width": int(image.pixels.shape[1]),
        "height": int(image.pixels.shape[0]),
        "input": f"{image.id}.input.npy",
        "preprocessed": f"{image.id}.preprocessed.npy",
        "outputs": files,
        "result": result.to_json(),
        **extra,
    }


def _save_npy(path: Path, array: np.ndarray) -> None:
    # np.save writes no timestamps: the same array always gives the same bytes.
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def load_index(bundle: Path) -> dict[str, Any]:
    path = bundle / GOLDEN_DIR / INDEX_FILE
    if not path.is_file():
        raise InputError(f"{bundle} has no golden vectors ({GOLDEN_DIR}/{INDEX_FILE} is missing)")
    return json.loads(path.read_text(encoding="utf-8"))
