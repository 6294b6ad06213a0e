"""Typed results per task: the same shapes every generated SDK returns and the CLI prints as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

TASKS = ("classification", "detection", "segmentation", "custom")


@dataclass(frozen=True)
class Classification:
    label: str
    index: int
    score: float


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in original-image pixels
    label: str
    index: int
    score: float


@dataclass(frozen=True)
class Mask:
    width: int
    height: int
    class_ids: bytes  # row-major, one byte per original-image pixel
    class_pixels: dict[str, int] = field(default_factory=dict)  # label -> pixel count, classes present only, by class id
    x: int = 0  # the mask's top-left corner in the upright frame (a region of interest's offset)
    y: int = 0


@dataclass
class TaskResult:
    """What a pipeline run returns; only the field of its task is filled."""

    task: str
    classifications: list[Classification] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    mask: Mask | None = None
    tensors: list[np.ndarray] = field(default_factory=list)  # custom: every model output, batch kept

    def to_json(self) -> dict:
        if self.task == "classification":
            return {"classifications": [asdict(c) for c in self.classifications]}
        if self.task == "detection":
            return {"detections": [{**asdict(d), "box": list(d.box)} for d in self.detections]}
        if self.task == "segmentation":
            assert self.mask is not None
            mask = {"width": self.mask.width, "height": self.mask.height, "class_pixels": dict(self.mask.class_pixels)}
            if self.mask.x or self.mask.y:  # only with a region of interest, so upright-frame results read as before
                mask.update(x=self.mask.x, y=self.mask.y)
            return {"mask": mask}
        return {}
