"""Bring every source kind to one `torch.export` ExportedProgram, the entry point of the LiteRT,
ExecuTorch and Core ML converters, traced on zeros of the manifest's input shapes. ONNX sources go
through edgesdk.onnx_import (onnx2fx); `route` names that step for sdk.json and the build log."""

from __future__ import annotations

import numpy as np

from edgesdk import buildlog, onnx_import
from edgesdk.errors import UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel


def example_inputs(manifest: Manifest) -> tuple:
    import torch

    return tuple(torch.from_numpy(np.zeros(i.shape, dtype=i.dtype)) for i in manifest.model.inputs)


def exported_program(source: SourceModel, manifest: Manifest, runtime: str):
    """The source as an ExportedProgram; a source that cannot be exported is an UnsupportedOpError."""
    import torch

    if not source.is_torch:
        return onnx_import.exported_program(source, manifest, runtime)
    if source.kind == "exported_program":
        return source.module
    example = example_inputs(manifest)
    try:
        with buildlog.capture("torch.export"):
            if source.kind == "torchscript":
                # TorchScript is not traceable by torch.export; torch's own converter rebuilds the
                # graph as an ExportedProgram (it runs the scripted graph, not Python code).
                from torch._export.converter import TS2EPConverter

                return TS2EPConverter(source.module, example).convert()
            return torch.export.export(source.module, example)
    except Exception as exc:  # export raises many types; the first line says what failed
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"torch.export of {source.origin} for '{runtime}' failed: {text[0] if text else type(exc).__name__}") from exc


def route(source: SourceModel, runtime_display_name: str) -> str:
    """The conversion route sdk.json records for a source that is not a torch program ("" for
    torch sources, whose route is the runtime's own converter)."""
    return "" if source.is_torch else onnx_import.route(runtime_display_name)
