"""`edgesdk inspect`: I/O spec, operators, size and FLOPs of a model file or a bundle."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import bundle as bundle_mod
from edgesdk.dtypes import DTYPES, names_by
from edgesdk.errors import InputError

_ONNX_DTYPES = names_by("onnx", DTYPES)


def inspect_path(path: Path) -> dict[str, Any]:
    if path.is_dir():
        return _inspect_bundle(path)
    if not path.is_file():
        raise InputError(f"not found: {path}")
    if path.suffix == ".onnx":
        return inspect_onnx(path)
    if path.suffix in (".pt", ".pt2"):
        return _inspect_torch(path)
    raise InputError(f"{path}: cannot inspect '{path.suffix}' files (a bundle folder, .onnx, .pt or .pt2)")


def _inspect_bundle(path: Path) -> dict[str, Any]:
    sdk = bundle_mod.load_sdk_json(path)
    model_file = path / sdk["model"]["file"]
    info = {
        "bundle": str(path),
        "name": sdk["name"],
        "version": sdk["version"],
        "target": sdk["target"],
        "runtime": sdk["runtime"],
        "task": sdk["task"],
        "io": sdk["io"],
        "parity": _parity_summary(sdk["parity"]),
        "runtime_versions": sdk["runtime_versions"],
    }
    if model_file.suffix == ".onnx" and model_file.is_file():
        info["model"] = inspect_onnx(model_file)
    return info


def _parity_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The parity gate's verdict, or why it was not run and what was validated instead (Core ML on Linux)."""
    if report.get("status") == "not_run":
        return {"status": "not_run", "reason": report.get("reason"), "validated": report.get("validated", {})}
    return {"passed": report["passed"], "outputs": report["outputs"], "task": report.get("task", {})}


def _shape_of(value) -> list[int | str]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def inspect_onnx(path: Path) -> dict[str, Any]:
    import onnx

    try:
        # Weights are counted from their dims: external data (which may name any file) stays unread.
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)  # an empty or random file parses as an empty ModelProto
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise InputError(f"{path} is not a readable ONNX model: {exc}") from exc
    graph = inferred.graph
    inits = {i.name for i in graph.initializer}
    constants = _constant_tensors(graph)
    shapes = {v.name: _shape_of(v) for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
    output_names = {v.name for v in graph.output}
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "inputs": [{"name": v.name, "shape": _shape_of(v), "dtype": _ONNX_DTYPES.get(v.type.tensor_type.elem_type, "other")} for v in graph.input if v.name not in inits],
        "outputs": [{"name": v.name, "shape": _shape_of(v), "dtype": _ONNX_DTYPES.get(v.type.tensor_type.elem_type, "other")} for v in graph.output],
        "parameters": sum(int(np.prod(dims)) for dims, dtype in constants.values() if dtype not in _NOT_PARAMETERS),
        "operators": dict(sorted(Counter(n.op_type for n in graph.node).items())),
        # The op producing each graph output (e.g. Softmax: `init` adds no second one).
        "output_ops": {o: n.op_type for n in graph.node for o in n.output if o in output_names},
        "flops": _flops(graph, shapes, {name: dims for name, (dims, _) in constants.items()}),
    }


# Not learned weights: ONNX takes shapes, axes, pads and sizes as int64 tensors, masks as bool.
# (int32 stays counted: quantized biases are int32.)
_NOT_PARAMETERS = {7, 9}  # TensorProto.INT64, BOOL
_FLOAT = 1  # TensorProto.FLOAT


def _constant_tensors(graph) -> dict[str, tuple[list[int], int]]:
    """{name: (dims, element type)} of the graph's constant tensors: initializers, and Constant
    nodes, which is where some exporters store every weight."""
    found = {i.name: (list(i.dims), i.data_type) for i in graph.initializer}
    for node in graph.node:
        if node.op_type != "Constant":
            continue
        for att in node.attribute:
            if att.name == "value":
                found[node.output[0]] = (list(att.t.dims), att.t.data_type)
            elif att.name == "value_floats":
                found[node.output[0]] = ([len(att.floats)], _FLOAT)
            elif att.name == "value_float":
                found[node.output[0]] = ([], _FLOAT)
    return found


def _static(shape: list[int | str] | None) -> list[int] | None:
    if not shape or any(not isinstance(d, int) or d <= 0 for d in shape):
        return None
    return [int(d) for d in shape]


def _flops(graph, shapes: dict[str, list], constants: dict[str, list[int]]) -> int | None:
    """Multiply-adds x 2 of Conv, Gemm and MatMul (the layers that dominate CNN cost); None when a
    shape is not static. A weight's shape comes from the constant itself or, behind a
    DequantizeLinear or Identity, from shape inference."""

    def dims(name: str) -> list[int] | None:
        return _static(shapes.get(name)) or constants.get(name)

    total = 0
    for node in graph.node:
        if node.op_type == "Conv":
            out, w = _static(shapes.get(node.output[0])), dims(node.input[1])
            if out is None or w is None:
                return None
            _cout, cin_per_group, *kernel = w
            total += 2 * int(np.prod(out)) * cin_per_group * int(np.prod(kernel))
        elif node.op_type in ("Gemm", "MatMul"):
            out, a = _static(shapes.get(node.output[0])), dims(node.input[0])
            if out is None or a is None:
                return None
            transposed = node.op_type == "Gemm" and any(att.name == "transA" and att.i for att in node.attribute)
            k = a[-2] if transposed else a[-1]
            total += 2 * int(np.prod(out)) * k
    return total


def _inspect_torch(path: Path) -> dict[str, Any]:
    import torch

    from edgesdk.sources import TORCH_FILE_ERRORS

    try:
        if path.suffix == ".pt":
            module = torch.jit.load(str(path), map_location="cpu")
            state = module.state_dict()
            io = _torchscript_io(module)
        else:
            program = torch.export.load(str(path))
            state = {**program.state_dict, **program.constants}  # weights may be lifted constants, not parameters
            io = _exported_io(program)
    except TORCH_FILE_ERRORS as exc:
        raise InputError(f"{path} is not a readable {'TorchScript' if path.suffix == '.pt' else 'torch.export'} file: {exc}") from exc
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "format": "torchscript" if path.suffix == ".pt" else "torch.export",
        "parameters": int(sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor) and t.is_floating_point())),
        **io,
    }


def _torch_dims(shape) -> list[int | str]:
    """Concrete dims as ints, symbolic ones (torch.export's dynamic dims) by their symbol."""
    return [int(d) if isinstance(d, int) else str(d) for d in shape]


def _exported_io(program) -> dict[str, Any]:
    """Inputs and outputs as the export names them (the forward's argument names; an output is
    named after the node computing it), with shapes, dtypes and each output's producing op."""
    signature = program.graph_signature
    nodes = {n.name: n for n in program.graph.nodes}

    def spec(name: str) -> dict[str, Any]:
        value = nodes[name].meta.get("val")
        shape = _torch_dims(value.shape) if value is not None and hasattr(value, "shape") else None
        dtype = str(value.dtype).replace("torch.", "") if value is not None and hasattr(value, "dtype") else None
        return {"name": name, "shape": shape, "dtype": dtype}

    outputs = [name for name in signature.user_outputs if name in nodes]
    return {
        "inputs": [spec(name) for name in signature.user_inputs],
        "outputs": [spec(name) for name in outputs],
        "output_ops": {name: str(nodes[name].target) for name in outputs if nodes[name].op == "call_function"},
    }


def _torchscript_io(module) -> dict[str, Any]:
    """A TorchScript file records its forward's argument names and graph, not its shapes; the
    op that makes the single returned value is read from the inlined graph."""
    names = [a.name for a in module.forward.schema.arguments[1:]]  # [0] is self
    graph = module.inlined_graph  # held: its nodes are invalid once the graph object is freed
    returned = list(graph.return_node().inputs())
    output_ops = {"output": returned[0].node().kind()} if len(returned) == 1 else {}
    return {"inputs": [{"name": n, "shape": None, "dtype": None} for n in names], "outputs": [{"name": "output", "shape": None}], "output_ops": output_ops}
