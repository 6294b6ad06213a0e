"""Backend registry: runtime name -> module. Modules import lazily, so a missing optional
dependency only matters when its runtime is asked for, and then it is reported, never swallowed.

Adding a runtime is one line in IMPLEMENTED (see docs/adding-a-runtime.md)."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from edgesdk.backends.base import Artifact, Backend, CppPackage
from edgesdk.errors import BackendUnavailable


@dataclass(frozen=True)
class PlannedRuntime:
    """A runtime of the target matrix whose backend module is not written yet."""

    name: str
    extra: str
    probe_module: str  # the Python package its backend will use


IMPLEMENTED = {
    "onnxruntime": "edgesdk.backends.onnxruntime",
    "tflite": "edgesdk.backends.tflite",
    "executorch": "edgesdk.backends.executorch",
    "openvino": "edgesdk.backends.openvino",
    "ncnn": "edgesdk.backends.ncnn",
    "mnn": "edgesdk.backends.mnn",
    "coreml": "edgesdk.backends.coreml",
    "tensorrt": "edgesdk.backends.tensorrt",
}
PLANNED: dict[str, PlannedRuntime] = {}


def registered_pairs() -> list[tuple[str, str]]:
    """Every (target, runtime) pair of the target table, implemented or planned, in table order."""
    from edgesdk.targets import TARGETS

    return [(target.name, runtime) for target in TARGETS.values() for runtime in target.runtimes]


def get_backend(name: str) -> Backend:
    if name in IMPLEMENTED:
        return importlib.import_module(IMPLEMENTED[name]).BACKEND
    if name in PLANNED:
        raise BackendUnavailable(f"runtime '{name}' has no backend in this edgesdk version yet (implemented: {', '.join(IMPLEMENTED)})")
    raise BackendUnavailable(f"unknown runtime '{name}' (known: {', '.join([*IMPLEMENTED, *PLANNED])})")


def dynamic_shape_runtimes() -> list[str]:
    """The implemented runtimes that take a model input with symbolic dims."""
    found = []
    for name in IMPLEMENTED:
        try:
            if get_backend(name).dynamic_shapes is not None:
                found.append(name)
        except ImportError:
            continue
    return found


def check_input_shape(backend: Backend, manifest) -> None:
    """Refuse symbolic input dims for a runtime that takes a fixed input shape only, naming the
    runtimes that take them (docs/processing.md, "Model input shape")."""
    from edgesdk import shapes
    from edgesdk.errors import ManifestError

    spec = manifest.model.inputs[0]
    if backend.dynamic_shapes is not None or not shapes.is_dynamic(spec):
        return
    names = ", ".join(shapes.dim_name(spec, a) for a in shapes.symbolic_axes(spec.shape))
    raise ManifestError(
        "model.inputs[0].shape",
        f"{shapes.describe(spec)} has symbolic dims ({names}); runtime '{backend.name}' ({backend.display_name}) takes a fixed input shape only "
        f"(symbolic dims build for runtimes: {', '.join(dynamic_shape_runtimes())}; or declare every dim and end the pre-processing with a fixed-size step)",
    )


def availability(name: str) -> tuple[bool, str]:
    """Whether `name` can build and run parity here, and why not."""
    if name in IMPLEMENTED:
        try:
            backend = get_backend(name)
        except ImportError as exc:
            return False, f"import failed: {exc}"
        return backend.is_available()
    planned = PLANNED[name]
    try:
        found = importlib.util.find_spec(planned.probe_module) is not None
    except (ImportError, ValueError):
        found = False
    state = "its Python package is installed" if found else (f"pip install 'edgesdk[{planned.extra}]'" if planned.extra else "no TensorRT on any reachable registry; runs on the device")
    return False, f"backend not implemented in this edgesdk version ({state})"


__all__ = ["IMPLEMENTED", "PLANNED", "Artifact", "Backend", "CppPackage", "availability", "check_input_shape", "dynamic_shape_runtimes", "get_backend", "registered_pairs"]
