"""Bring an ONNX source to a `torch.export` ExportedProgram, for the runtimes whose converters read
PyTorch programs only (LiteRT, ExecuTorch, Core ML).

Route: onnx2fx rebuilds the ONNX graph as a torch.fx GraphModule (one call per ONNX node, the
initializers and Constant nodes as tensors); a real-valued trace of it (`make_fx`) turns the
constant tensors the graph reads as numbers (Slice bounds, Reshape shapes, TopK's k) into
literals, which torch.export cannot do itself (it sees every tensor as data and refuses a shape
that depends on one); torch.export then gives the program the existing converters take. The
result is parity-gated against the ONNX file run in ONNX Runtime, like any conversion.

Why onnx2fx: onnx2torch imports torchvision at import time, and no torchvision release loads
beside torch 2.13 here; onnx2tf goes through TensorFlow, which the toolchain does not carry (and
its current releases need Python 3.12). onnx2fx needs only torch and onnx.

A trace at a fixed input shape is exact unless a number the graph computes from the input's
*values* picks a shape or an index (NonZero, a data-dependent TopK k): those would be frozen at the
traced values. The graph is therefore traced on two different inputs and refused when the two
traces differ.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np

from edgesdk import buildlog
from edgesdk.errors import BackendUnavailable, UnsupportedOpError
from edgesdk.shapes import fixed_shape

if TYPE_CHECKING:
    from edgesdk.manifest import Manifest
    from edgesdk.sources import SourceModel

CONVERTER = "onnx2fx"
# The pip extras of the runtimes that take ONNX sources through this route; onnx2fx is in each.
INSTALL_HINT = "pip install onnx2fx (it comes with the tflite, executorch and coreml extras)"


def converter_version() -> str:
    try:
        return metadata.version(CONVERTER)
    except metadata.PackageNotFoundError as exc:
        raise BackendUnavailable(f"an ONNX source reaches this runtime through {CONVERTER}, which is not installed: {INSTALL_HINT}") from exc


def route(runtime_display_name: str) -> str:
    """How an ONNX source reaches the runtime, as sdk.json and the build log record it."""
    return f"onnx -> {CONVERTER} {converter_version()} -> torch.export -> {runtime_display_name}"


def exported_program(source: SourceModel, manifest: Manifest, runtime: str):
    """The ONNX source as an ExportedProgram traced at the manifest's input shapes. An operator
    onnx2fx has no converter for, or a graph it cannot rebuild, is an UnsupportedOpError naming it."""
    import onnx

    assert source.onnx_path is not None  # every non-torch source is an ONNX file
    version = converter_version()
    proto = onnx.load(str(source.onnx_path))
    _refuse_unsupported_ops(proto, source.origin, runtime, version)
    module = _graph_module(proto, source.origin, runtime, version)
    traced = _frozen_trace(module, manifest, source.origin, runtime)
    return _export(traced, manifest, source.origin, runtime)


def _refuse_unsupported_ops(proto, origin: str, runtime: str, version: str) -> None:
    import onnx2fx

    missing = onnx2fx.analyze_model(proto).unsupported_ops
    if missing:
        ops = ", ".join(f"{op}{f' (domain {domain})' if domain else ''} at opset {opset}" for op, domain, opset in missing)
        raise UnsupportedOpError(
            f"{origin} uses ONNX operator(s) {ops}, which {CONVERTER} {version} cannot convert to torch for runtime '{runtime}'; "
            "build with --runtime onnxruntime, or export the model from its torch source"
        )


def _graph_module(proto, origin: str, runtime: str, version: str):
    import onnx2fx

    try:
        with buildlog.capture(f"{CONVERTER} convert"):
            return onnx2fx.convert(proto).eval()
    except Exception as exc:  # the converter raises its own errors and torch's; the first line names the node
        raise UnsupportedOpError(f"{CONVERTER} {version} could not convert {origin} to torch for runtime '{runtime}': {_first_line(exc)}") from exc


def _trace_inputs(manifest: Manifest) -> tuple[tuple, tuple]:
    """Two sets of inputs of the manifest's shapes and dtypes whose values differ everywhere."""
    import torch

    rng = np.random.default_rng(0)
    zeros, varied = [], []
    for spec in manifest.model.inputs:
        dtype = np.dtype(spec.dtype)
        shape = fixed_shape(spec.shape)  # the runtimes this route reaches refuse symbolic dims
        zeros.append(torch.from_numpy(np.zeros(shape, dtype=dtype)))
        values = rng.standard_normal(shape) if dtype.kind == "f" else rng.integers(1, 8, size=shape)
        varied.append(torch.from_numpy(np.ascontiguousarray(values.astype(dtype))))
    return tuple(zeros), tuple(varied)


def _frozen_trace(module, manifest: Manifest, origin: str, runtime: str):
    """`module` re-traced into aten operations with its constants' values as literals."""
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    zeros, varied = _trace_inputs(manifest)
    try:
        with torch.no_grad():
            traced = make_fx(module, tracing_mode="real")(*zeros)
            again = make_fx(module, tracing_mode="real")(*varied)
    except Exception as exc:  # a node the converter emitted that does not run on these shapes
        raise UnsupportedOpError(f"the torch graph {CONVERTER} made of {origin} does not run for runtime '{runtime}': {_first_line(exc)}") from exc
    if traced.code != again.code:
        raise UnsupportedOpError(
            f"{origin}: a shape or index in the graph depends on the input's values (e.g. NonZero, or a TopK whose k is computed), "
            f"which a fixed-shape torch program for runtime '{runtime}' cannot express; build with --runtime onnxruntime"
        )
    return traced


def _export(traced, manifest: Manifest, origin: str, runtime: str):
    import torch

    zeros, _ = _trace_inputs(manifest)
    try:
        with buildlog.capture("torch.export"):
            return torch.export.export(traced, zeros)
    except Exception as exc:  # export raises many types; the first line says what failed
        raise UnsupportedOpError(f"torch.export of {origin} (converted by {CONVERTER}) for '{runtime}' failed: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
