"""How model-input coordinates map back to the original image (docs/processing.md, Geometry).

Coordinates are continuous pixel coordinates: pixel i covers [i, i + 1), its center is
i + 0.5. Every geometric step maps x_in to x_in * scale + shift per axis; composing them gives
x_model = x_orig * scale_x + pad_left, so x_orig = (x_model - pad_left) / scale_x.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Geometry:
    scale_x: float
    scale_y: float
    pad_left: float
    pad_top: float
    src_width: int
    src_height: int
    # Where the original image (a region of interest) sits in the upright camera frame; results
    # are reported in the frame's coordinates (docs/processing.md, Camera frames and orientation).
    origin_x: int = 0
    origin_y: int = 0

    @classmethod
    def identity(cls, width: int, height: int, origin_x: int = 0, origin_y: int = 0) -> Geometry:
        return cls(1.0, 1.0, 0.0, 0.0, width, height, origin_x, origin_y)

    def then(self, scale_x: float, scale_y: float, shift_x: float, shift_y: float) -> Geometry:
        """This mapping followed by x -> x * scale_x + shift_x (and the same for y)."""
        return replace(
            self,
            scale_x=self.scale_x * scale_x,
            scale_y=self.scale_y * scale_y,
            pad_left=self.pad_left * scale_x + shift_x,
            pad_top=self.pad_top * scale_y + shift_y,
        )

    def to_original(self, x: float, y: float) -> tuple[float, float]:
        """A model-input point (continuous pixel coordinates) in original-image pixels."""
        return (x - self.pad_left) / self.scale_x, (y - self.pad_top) / self.scale_y
