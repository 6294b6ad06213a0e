"""Runs in the reference-libs venv (scripts/reference_libs_venv.sh), never in edgesdk's: each
library's own evaluation pipeline on the test images, the tensors written as .npy.

Usage: python library_side.py JOBS.json, where JOBS.json is {"images": [NPY, ...], "jobs":
[{"id", "kind": torchvision|timm|hf, "spec", "out": DIR}]}; DIR/<n>.npy is the tensor for image n
(batch dimension kept, float32), or DIR/error.txt what the library said.
"""

from __future__ import annotations

import enum
import importlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def torchvision_pipeline(spec: str):
    module_name, _, attr_path = spec.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, enum.Enum):  # a weights enum member: its preset
        obj = obj.transforms()
    return lambda image: obj(image).unsqueeze(0).numpy()


def timm_pipeline(path: str):
    from timm.data import create_transform, resolve_data_config

    cfg = json.loads(Path(path).read_text())
    cfg = cfg.get("pretrained_cfg", cfg)
    transform = create_transform(**resolve_data_config(pretrained_cfg=cfg))
    return lambda image: transform(image).unsqueeze(0).numpy()


def hf_pipeline(path: str):
    from transformers import AutoImageProcessor

    # backend="pil": the Pillow/numpy processor (transformers 4's default), what edgesdk imports.
    processor = AutoImageProcessor.from_pretrained(str(Path(path).parent), backend="pil")
    return lambda image: np.asarray(processor(images=image, return_tensors="np")["pixel_values"])


PIPELINES = {"torchvision": torchvision_pipeline, "timm": timm_pipeline, "hf": hf_pipeline}


def main(jobs_file: str) -> int:
    request = json.loads(Path(jobs_file).read_text())
    images = [Image.fromarray(np.load(p)) for p in request["images"]]
    for job in request["jobs"]:
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        try:
            run = PIPELINES[job["kind"]](job["spec"])
            for n, image in enumerate(images):
                np.save(out / f"{n}.npy", np.asarray(run(image), dtype=np.float32))
        except Exception as exc:  # reported per job: the test names the library's message
            (out / "error.txt").write_text(f"{type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
