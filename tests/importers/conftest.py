"""The importer tests' shared pieces: the reference-libs venv (torch + torchvision, timm,
transformers; scripts/reference_libs_venv.sh, `make reference-libs`), the library side run once
per session on every photo, and the photos themselves (the bundled ones and odd-sized crops)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from toolchains import need

from edgesdk.processing import decode_image

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PINS = REPO / "requirements" / "reference-libs.txt"
PHOTOS = REPO / "edgesdk" / "data" / "sample_images"
LIBRARY_TIMEOUT_S = 900


def reference_venv() -> Path:
    """Where scripts/reference_libs_venv.sh puts the venv: keyed like the Makefile's, by the pins
    without their comments."""
    pins = "".join(line for line in PINS.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith("#"))
    cache = Path(os.environ.get("EDGESDK_CACHE", Path.home() / ".cache" / "edgesdk"))
    return cache / f"venv-reference-libs-{hashlib.sha256(pins.encode()).hexdigest()[:12]}"


@pytest.fixture(scope="session")
def reference_python() -> Path:
    venv = reference_venv()
    need(None if (venv / ".deps-ok").is_file() else f"the reference-libs venv {venv} is missing (make reference-libs)")
    return venv / "bin" / "python"


def photos() -> list[np.ndarray]:
    """The bundled photos and crops of them at odd sizes (no resampling: real pixels), one smaller
    than every resize target so the pipelines upscale too."""
    full = {p.stem: decode_image(p) for p in sorted(PHOTOS.glob("*.png"))}
    crops = [full["astronaut"][3:, :237], full["chelsea"][:199], full["rocket"][:319, :211], full["coffee"][10:107, 20:150]]
    return list(full.values()) + [np.ascontiguousarray(c) for c in crops]


def run_library(python: Path, jobs: list[dict], folder: Path, pixels: list[np.ndarray] | None = None) -> dict[str, list[np.ndarray] | str]:
    """Each job's tensors from the library itself, per image (RGB HWC uint8; default: photos());
    a job the library failed gives its message."""
    images = []
    for n, image in enumerate(photos() if pixels is None else pixels):
        images.append(str(folder / f"image{n}.npy"))
        np.save(images[-1], image)
    for job in jobs:
        job["out"] = str(folder / job["id"].replace(":", "_").replace("/", "_"))
    request = folder / "jobs.json"
    request.write_text(json.dumps({"images": images, "jobs": jobs}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(DATA)}
    done = subprocess.run([str(python), str(HERE / "library_side.py"), str(request)], capture_output=True, text=True, env=env, cwd=DATA, timeout=LIBRARY_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, list[np.ndarray] | str] = {}
    for job in jobs:
        out = Path(job["out"])
        error = out / "error.txt"
        results[job["id"]] = error.read_text() if error.exists() else [np.load(out / f"{n}.npy") for n in range(len(images))]
    return results
