"""Bring every torch source kind to one `torch.export` ExportedProgram, the entry point of the
LiteRT and ExecuTorch converters, traced on zeros of the manifest's input shapes."""

from __future__ import annotations

import numpy as np

from edgesdk import buildlog
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
        raise UnsupportedOpError(
            f"runtime '{runtime}' converts PyTorch models only; {source.origin} is ONNX. Give model.source as a "
            "TorchScript .pt, a torch.export .pt2 or python:module:factory, or build with --runtime onnxruntime"
        )
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
