"""Model input shapes with symbolic dims (docs/processing.md, "Model input shape").

A declared dim is a positive integer or symbolic: a name (`height`) or -1. A symbolic dim takes the
size the pre-processing gives each image, within its bounds (`dynamic: {height: {min, max}}`) when
the manifest gives them. This module is the one place that reads such a shape: what the
pre-processing must produce, what an example tensor for tracing looks like, what the templates and
the runtimes' converters see, and whether one image's tensor fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The photo size an example tensor is made for (tracing, the model's zero run): a landscape
# 640 x 480 image through the pipeline, so a keep-ratio resize gives unequal height and width and a
# trace cannot mistake the two for one size.
EXAMPLE_IMAGE_HW = (480, 640)


def is_symbolic(dim: Any) -> bool:
    return isinstance(dim, str) or dim == -1


def symbolic_axes(shape: Sequence[Any]) -> list[int]:
    return [i for i, d in enumerate(shape) if is_symbolic(d)]


def is_dynamic(spec) -> bool:
    return bool(symbolic_axes(spec.shape))


def fixed_shape(shape: Sequence[Any]) -> list[int]:
    """A shape every dim of which is concrete, as ints: for runtimes that refuse symbolic dims
    before they get here (backends.check_dynamic_shapes), so a symbolic one is a bug, not input."""
    if symbolic_axes(shape):
        raise ValueError(f"shape {list(shape)} has symbolic dims where only a fixed shape can be used")
    return [int(d) for d in shape]


def dim_name(spec, axis: int) -> str:
    """How messages and converters name a symbolic axis: its manifest name, or `dim<axis>` for -1."""
    d = spec.shape[axis]
    return d if isinstance(d, str) else f"dim{axis}"


def bounds(spec, axis: int) -> tuple[int, int] | None:
    """(min, max) of a named symbolic dim the manifest bounds, else None."""
    d = spec.shape[axis]
    if isinstance(d, str) and spec.dynamic and d in spec.dynamic:
        b = spec.dynamic[d]
        return b.min, b.max
    return None


def describe(spec) -> str:
    """`[1, 3, height (32..1024), width]`: the declared shape with its bounds, for messages."""
    parts = []
    for axis, d in enumerate(spec.shape):
        b = bounds(spec, axis)
        parts.append(f"{d} ({b[0]}..{b[1]})" if b else str(d))
    return "[" + ", ".join(parts) + "]"


def fit_problem(spec, shape: Sequence[int]) -> str | None:
    """Why a tensor of `shape` does not fit the declared input (None when it fits): the rank,
    each concrete dim, each bounded symbolic dim."""
    if len(shape) != len(spec.shape):
        return f"the tensor {list(shape)} has rank {len(shape)}; model input '{spec.name}' is {describe(spec)}"
    for axis, (want, got) in enumerate(zip(spec.shape, shape)):
        if not is_symbolic(want) and got != want:
            return f"dim {axis} of the tensor {list(shape)} is {got}; model input '{spec.name}' {describe(spec)} takes {want}"
        b = bounds(spec, axis)
        if b is not None and not b[0] <= got <= b[1]:
            return f"'{want}' = {got} in the tensor {list(shape)} is outside {b[0]}..{b[1]} (model input '{spec.name}' {describe(spec)}); the image gives that size after pre-processing"
    return None


def model_dims_problem(declared: Sequence[Any], dims: Sequence[int | None], shown: Sequence[Any]) -> str | None:
    """Why a declared shape does not describe a model's input dims (`dims`: an int where the model
    fixes the size, None where it is symbolic; `shown` as the model writes them), or None."""
    if len(dims) != len(declared) or any(d is not None and not is_symbolic(s) and d != s for d, s in zip(dims, declared)):
        return f"{list(declared)} does not match the model's {list(shown)}"
    fixed = [a for a, (d, s) in enumerate(zip(dims, declared)) if is_symbolic(s) and d is not None and d != 1]
    if fixed:
        # The graph takes one size there: declaring it symbolic would promise sizes the model refuses.
        a = fixed[0]
        return f"{list(declared)} declares dim {a} symbolic; the model's is fixed at {dims[a]} ({list(shown)}): declare {dims[a]}, or export the model with that dim dynamic"
    return None


def example_shape(spec, steps: Sequence[dict]) -> list[int]:
    """A concrete shape for tracing and for the model's zero run: the declared concrete dims, and
    for each symbolic one what the pipeline gives an EXAMPLE_IMAGE_HW photo, clamped into its bounds."""
    from edgesdk.processing.preprocess import output_shape

    produced = output_shape(EXAMPLE_IMAGE_HW, steps)
    shape = []
    for axis, d in enumerate(spec.shape):
        if not is_symbolic(d):
            shape.append(int(d))
            continue
        got = produced[axis] if axis < len(produced) else None
        value = got if got is not None else 1
        b = bounds(spec, axis)
        shape.append(min(max(int(value), b[0]), b[1]) if b else int(value))
    return shape


def template_dims(spec) -> list[dict[str, Any]]:
    """Each axis as the templates see it: `axis`, `size` (-1 when symbolic), `name` (None when concrete),
    `min` and `max` (the bounds; 1 and 0 for an unbounded symbolic dim; size and size when concrete)."""
    dims: list[dict[str, Any]] = []
    for axis, d in enumerate(spec.shape):
        if not is_symbolic(d):
            dims.append({"axis": axis, "size": int(d), "name": None, "min": int(d), "max": int(d)})
            continue
        b = bounds(spec, axis)
        dims.append({"axis": axis, "size": -1, "name": dim_name(spec, axis), "min": b[0] if b else 1, "max": b[1] if b else 0})
    return dims
