"""Bring every source kind to one `torch.export` ExportedProgram, the entry point of the LiteRT,
ExecuTorch and Core ML converters, traced on zeros of the manifest's input shapes. ONNX sources go
through edgesdk.onnx_import (onnx2fx); `route` names that step for sdk.json and the build log."""

from __future__ import annotations

import numpy as np

from edgesdk import buildcache, buildlog, onnx_import, shapes
from edgesdk.errors import UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel


def example_inputs(manifest: Manifest) -> tuple:
    """Zeros of each input's example shape (symbolic dims: what the pipeline gives an example photo)."""
    import torch

    return tuple(torch.from_numpy(np.zeros(shapes.example_shape(i, manifest.pre_steps()), dtype=i.dtype)) for i in manifest.model.inputs)


def dynamic_shapes(manifest: Manifest) -> tuple | None:
    """torch.export's `dynamic_shapes` for the manifest's symbolic dims (None when all are fixed):
    one `Dim` per symbolic axis, named as the manifest names it, within its bounds. An axis whose
    example size is 1 (the batch) stays 1: torch.export specializes sizes 0 and 1, and the SDK
    always feeds a batch of 1."""
    import torch

    steps = manifest.pre_steps()
    per_input = []
    for spec in manifest.model.inputs:
        example = shapes.example_shape(spec, steps)
        axes = {}
        for axis in shapes.symbolic_axes(spec.shape):
            if example[axis] < 2:
                continue
            b = shapes.bounds(spec, axis)
            name = shapes.dim_name(spec, axis)
            axes[axis] = torch.export.Dim(name, min=max(b[0], 2), max=b[1]) if b else torch.export.Dim(name)
        per_input.append(axes or None)
    return tuple(per_input) if any(per_input) else None


def dynamic_axes(manifest: Manifest) -> dict[str, dict[int, str]] | None:
    """The TorchScript ONNX exporter's `dynamic_axes` for the same axes as dynamic_shapes."""
    found = {spec.name: {axis: shapes.dim_name(spec, axis) for axis in shapes.symbolic_axes(spec.shape)} for spec in manifest.model.inputs if shapes.is_dynamic(spec)}
    return found or None


def _export(source: SourceModel, manifest: Manifest, runtime: str):
    """One export (exported_program); this body keeps its lines, which warnings quote in build.log."""
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

                if dynamic_shapes(manifest) is not None:
                    raise UnsupportedOpError(
                        f"{source.origin} is TorchScript, whose conversion to torch.export keeps the example's shape: symbolic dims for '{runtime}' "
                        "need a .pt2 (torch.export), python:module:factory or .onnx source"
                    )
                return TS2EPConverter(source.module, example).convert()
            return torch.export.export(source.module, example, dynamic_shapes=dynamic_shapes(manifest))
    except Exception as exc:  # export raises many types; the first line says what failed
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"torch.export of {source.origin} for '{runtime}' failed: {text[0] if text else type(exc).__name__}") from exc


# Exports made in this process, by what they are made from (_export_key): the LiteRT, ExecuTorch,
# OpenVINO and Core ML converters, and the ExecuTorch quantizer, of one build or of several (a
# matrix, the build-time benchmark) start from the same program.
_EXPORTS: dict[str, tuple[object, list]] = {}  # key -> (program, what exporting it printed)
_EXPORTS_KEPT = 2


def exported_program(source: SourceModel, manifest: Manifest, runtime: str):
    """The source as an ExportedProgram; a source that cannot be exported is an UnsupportedOpError.

    A file source exported before in this process is not exported again: the caller gets a copy
    of that export (copies: a converter or quantizer may change the program it is given). With
    the build cache off (EDGESDK_BUILD_CACHE=off) every call exports, as every other stage computes."""
    import copy

    key = _export_key(source, manifest) if buildcache.folder() is not None else None
    log = buildlog.current()
    if key is not None and key in _EXPORTS:
        program, printed = _EXPORTS[key]
        if log is not None:
            log.replay(printed)  # what the export printed, as if it ran again
        return copy.deepcopy(program)
    mark = log.mark() if log is not None else 0
    program = _export(source, manifest, runtime)
    if key is not None:
        while len(_EXPORTS) >= _EXPORTS_KEPT:  # a model's weights each: keep the latest few
            _EXPORTS.pop(next(iter(_EXPORTS)))
        _EXPORTS[key] = (copy.deepcopy(program), log.since(mark) if log is not None else [])
    return program


def _export_key(source: SourceModel, manifest: Manifest) -> str | None:
    """What an export depends on: the TorchScript file's bytes and the inputs it is traced on
    (None for other sources: a python: factory's digest covers its weights only, an ONNX file's
    import depends on the runtime asking). Not the runtime asking: a TorchScript export reads it
    only for the message of a failed export, which is raised, never kept, so every runtime that
    starts from torch.export shares one program."""
    if source.kind != "torchscript":  # a .pt2 is its own program: nothing to export
        return None
    import json

    inputs = [i.model_dump(mode="json") for i in manifest.model.inputs]
    return json.dumps([source.kind, source.sha256, inputs, manifest.pre_steps()], sort_keys=True, default=str)


def route(source: SourceModel, runtime_display_name: str) -> str:
    """The conversion route sdk.json records for a source that is not a torch program ("" for
    torch sources, whose route is the runtime's own converter)."""
    return "" if source.is_torch else onnx_import.route(runtime_display_name)
