"""Importers for `edgesdk init MODEL --from SPEC`: a training library's evaluation pre-processing
read from its own config or objects and written as manifest steps, so it is never transcribed by
hand (docs/importing.md). One module per source; each refuses by name what it cannot express."""

from __future__ import annotations

from edgesdk.errors import InputError
from edgesdk.importers.recipe import Recipe

SOURCES = ("torchvision", "timm", "hf")
FORMS = "torchvision:MODULE:ATTR, timm:PATH/pretrained_cfg.json or hf:PATH/preprocessor_config.json"


def import_recipe(spec: str) -> Recipe:
    """The Recipe `spec` names (`SOURCE:REST`)."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in SOURCES or not rest:
        raise InputError(f"--from {spec}: expected {FORMS}")
    if kind == "torchvision":
        from edgesdk.importers import torchvision

        return torchvision.load(rest)
    if kind == "timm":
        from edgesdk.importers import timm

        return timm.load(rest)
    from edgesdk.importers import hf

    return hf.load(rest)
