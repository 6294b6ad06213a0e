"""Output size of a `resize` step for an input size (docs/processing.md, "Size rules").

A pure function every language mirrors (C++ `SizeRule::output_size`, Kotlin `SizeRule.outputSize`,
Swift `SizeRule.outputSize`): the sizes are computed in float64, left to right, exactly as the
library each rule reproduces writes it, and rounded by the rule's `rounding`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ProcessingError

# The sides a resize may name instead of `size: [H, W]`.
RULE_SIDES = ("shorter_side", "longer_side", "height", "width")
ROUNDINGS = ("floor", "ceil", "half_even", "half_up")
ONLY = ("upscale", "downscale")
# How the free side is computed from the target T, the free input side o and the named input side s:
#   product_first: R(T * o / s)                      torchvision / Hugging Face get_resize_output_image_size
#   scale_first:   r = T / s; R(s * r), R(o * r)     PaddleOCR DetResizeForTest (the named side is rounded too)
#   aspect_first:  a = o / s; R(T * a)               PaddleOCR resize_norm_img (RecResizeImg, ClsResizeImg)
ARITHMETICS = ("product_first", "scale_first", "aspect_first")


def round_by(value: float, rounding: str) -> int:
    """A float64 side rounded as named; half_up is the contract's floor(v + 0.5)."""
    if rounding == "floor":
        return math.floor(value)
    if rounding == "ceil":
        return math.ceil(value)
    if rounding == "half_even":
        return round(value)
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class SizeRule:
    """One resize rule other than `size: [H, W]`; `side` is one of RULE_SIDES."""

    side: str
    target: int
    max_size: int | None = None
    rounding: str = "floor"
    only: str | None = None
    multiple_of: int | None = None
    multiple_rounding: str = "half_even"
    arithmetic: str = "product_first"

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> SizeRule:
        """The rule of a normalized resize step (which names exactly one of RULE_SIDES)."""
        named = [s for s in RULE_SIDES if step.get(s) is not None]
        if len(named) != 1:
            raise ProcessingError(f"resize: name exactly one of size, {', '.join(RULE_SIDES)}, got {named or 'none'}")
        rule = cls(
            side=named[0],
            target=_positive(step, named[0]),
            max_size=_positive(step, "max_size") if step.get("max_size") is not None else None,
            rounding=_one_of(step, "rounding", ROUNDINGS, "floor"),
            only=_one_of(step, "only", ONLY, None),
            multiple_of=_positive(step, "multiple_of") if step.get("multiple_of") is not None else None,
            multiple_rounding=_one_of(step, "multiple_rounding", ROUNDINGS, "half_even"),
            arithmetic=_one_of(step, "arithmetic", ARITHMETICS, "product_first"),
        )
        if rule.max_size is not None and rule.side == "longer_side":
            raise ProcessingError("resize: max_size caps shorter_side, height or width, not longer_side")
        return rule

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the resized image for an input of height x width."""
        if height < 1 or width < 1:
            raise ProcessingError(f"resize: the input size must be positive, got {height}x{width}")
        if self.side in ("shorter_side", "longer_side"):
            by_height = (height <= width) == (self.side == "shorter_side")
        else:
            by_height = self.side == "height"
        named, free = (height, width) if by_height else (width, height)
        if self._meets_target(named):
            new_named, new_free = named, free
        else:
            new_named, new_free = self._sides(named, free)
        new_named, new_free = self._multiple(max(new_named, 1)), self._multiple(max(new_free, 1))
        return (new_named, new_free) if by_height else (new_free, new_named)

    def _meets_target(self, named: int) -> bool:
        # `only`: the image stays as it is when it already meets the target (PaddleOCR's ratio = 1).
        return (self.only == "upscale" and named >= self.target) or (self.only == "downscale" and named <= self.target)

    def _sides(self, named: int, free: int) -> tuple[int, int]:
        target, r = self.target, self.rounding
        if self.arithmetic == "scale_first":
            scale = target / named
            new_named, new_free = round_by(named * scale, r), round_by(free * scale, r)
        elif self.arithmetic == "aspect_first":
            new_named, new_free = target, round_by(target * (free / named), r)
        else:
            new_named, new_free = target, round_by(target * free / named, r)
        if self.max_size is not None and new_free > self.max_size:
            if self.side == "shorter_side":  # torchvision / HF: the longer side is capped, the shorter follows
                new_named = round_by(self.max_size * new_named / new_free, r)
            new_free = self.max_size
        return new_named, new_free

    def _multiple(self, side: int) -> int:
        if self.multiple_of is None:
            return side
        m = self.multiple_of
        return max(m, round_by(side / m, self.multiple_rounding) * m)


def _positive(step: Mapping[str, Any], key: str) -> int:
    value = step.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProcessingError(f"resize: {key} must be a positive integer, got {value!r}")
    return value


def _one_of(step: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> Any:
    """The step's `key` (None or absent: `default`), one of `allowed`."""
    value = step.get(key)
    if value is None:
        return default
    if value not in allowed:
        raise ProcessingError(f"resize: {key} must be one of {allowed}, got {value!r}")
    return value
