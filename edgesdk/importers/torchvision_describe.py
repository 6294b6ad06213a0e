"""Describe a torchvision transform as plain data: `python -m edgesdk.importers.torchvision_describe
MODULE:ATTR` prints it as JSON.

It runs in whichever interpreter imports torchvision (the training environment, which need not be
edgesdk's), so it imports nothing from edgesdk and decides nothing: each transform becomes
`{"type", "module", "attrs"}` with its plain attributes; edgesdk.importers.torchvision maps them.
"""

from __future__ import annotations

import enum
import importlib
import json
import sys
from typing import Any

SKIP = object()


def resolve(spec: str) -> Any:
    """`pkg.module:Name.attr`: the module imported, then the dotted attribute path followed. A
    torchvision weights enum member stands for its `.transforms()` preset."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise ValueError(f"{spec!r} is not MODULE:ATTR (e.g. mypkg.data:eval_transform or torchvision.models:ResNet50_Weights.IMAGENET1K_V2)")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    preset = getattr(obj, "transforms", None)
    if isinstance(obj, enum.Enum) and hasattr(obj, "meta") and callable(preset):
        obj = preset()
    return obj


def plain(value: Any) -> Any:
    """The value as JSON data, or SKIP for what is not plain (sub-modules, callables, buffers)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        return SKIP if any(v is SKIP for v in items) else items
    if type(value).__name__ == "dtype" and type(value).__module__ == "torch":
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # a tensor or array (timm passes mean as a tensor)
        return value.tolist()
    return SKIP


def describe(transform: Any) -> list[dict[str, Any]]:
    """The transform as a flat list (Compose unrolled), each with its plain public attributes."""
    inner = getattr(transform, "transforms", None)
    if type(transform).__name__ == "Compose" and isinstance(inner, (list, tuple)):
        return [d for t in inner for d in describe(t)]
    attrs = {}
    for key, value in vars(transform).items():
        if key.startswith("_") and key != "_size":
            continue
        converted = plain(value)
        if converted is not SKIP:
            attrs[key] = converted
    return [{"type": type(transform).__name__, "module": type(transform).__module__, "attrs": attrs}]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(json.dumps({"error": "usage: python -m edgesdk.importers.torchvision_describe MODULE:ATTR"}))
        return 2
    try:
        found = describe(resolve(argv[0]))
    except Exception as exc:  # an import or attribute error in the user's module: report it as data
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps({"transforms": found}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
