"""Load the model a manifest names, and run it as the float32 reference.

Sources: `.pt` (TorchScript), `.pt2` (torch.export), `.onnx`, and `python:package.module:factory`
(a callable returning an `nn.Module`, imported with the manifest's folder on sys.path).
The reference is the source model itself: eager PyTorch (1 thread, float32, no grad) for torch
sources, ONNX Runtime on the unmodified file for ONNX sources.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import pickle
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.bundle import sha256_file
from edgesdk.errors import EdgeSdkError, ManifestError
from edgesdk.manifest import Manifest

# What torch.jit.load / torch.export.load raise for a file that is not theirs: a .pt2 that is not
# a zip is a BadZipFile, a damaged pickle inside one an UnpicklingError or EOFError.
TORCH_FILE_ERRORS = (RuntimeError, ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, pickle.UnpicklingError)

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass
class SourceModel:
    kind: str  # "torchscript" | "exported_program" | "torch_module" | "onnx"
    origin: str  # the manifest's model.source, as written
    sha256: str
    module: Any = None  # torch.nn.Module / ScriptModule / ExportedProgram
    onnx_path: Path | None = None
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    @property
    def is_torch(self) -> bool:
        return self.kind != "onnx"

    def reference_runner(self) -> Runner:
        if self.is_torch:
            return _torch_runner(self.module, self.kind, self.input_names)
        assert self.onnx_path is not None  # every non-torch source is an ONNX file
        return onnx_file_runner(self.onnx_path, threads=1)


def load_source(manifest: Manifest) -> SourceModel:
    import torch

    source = manifest.model.source
    in_names = [i.name for i in manifest.model.inputs]
    out_names = [o.name for o in manifest.model.outputs]
    if source.startswith("python:"):
        module = _load_factory(manifest, source)
        return SourceModel("torch_module", source, _state_dict_sha256(module), module=module, input_names=in_names, output_names=out_names)
    path = manifest.resolve(source)
    digest = sha256_file(path)
    try:
        if path.suffix == ".pt":
            module = torch.jit.load(str(path), map_location="cpu").eval()
            return SourceModel("torchscript", source, digest, module=module, input_names=in_names, output_names=out_names)
        if path.suffix == ".pt2":
            program = torch.export.load(str(path))
            return SourceModel("exported_program", source, digest, module=program, input_names=in_names, output_names=out_names)
    except TORCH_FILE_ERRORS as exc:
        raise ManifestError("model.source", f"cannot load {path}: {_first_line(exc)} (is it a {'TorchScript' if path.suffix == '.pt' else 'torch.export'} file?)") from exc
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise ManifestError("model.source", f"{path} is not a valid ONNX model: {_first_line(exc)}") from exc
    initializers = {i.name for i in proto.graph.initializer}
    graph_inputs = [i.name for i in proto.graph.input if i.name not in initializers]
    graph_outputs = [o.name for o in proto.graph.output]
    return SourceModel("onnx", source, digest, onnx_path=path, input_names=graph_inputs, output_names=graph_outputs)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def _on_sys_path(folder: Path):
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _load_factory(manifest: Manifest, source: str):
    import torch

    _, module_name, factory_name = source.split(":")
    with _on_sys_path(manifest.base_dir):
        try:
            mod = importlib.import_module(module_name)
        except ImportError as exc:
            raise ManifestError("model.source", f"cannot import '{module_name}' (searched {manifest.base_dir} and sys.path): {exc}") from exc
        factory = getattr(mod, factory_name, None)
        if not callable(factory):
            raise ManifestError("model.source", f"'{module_name}' has no callable '{factory_name}'")
        model = factory()
    if not isinstance(model, torch.nn.Module):
        raise ManifestError("model.source", f"{module_name}:{factory_name}() returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def _state_dict_sha256(module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensor.detach().cpu().numpy()).tobytes())
    return h.hexdigest()


def _torch_runner(module, kind: str, input_names: list[str]) -> Runner:
    import torch

    call = module.module() if kind == "exported_program" else module

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread: the reference is bit-reproducible run to run
        try:
            with torch.no_grad():
                out = call(*args)
        finally:
            torch.set_num_threads(threads)
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.detach().cpu().numpy() for o in outs]

    return run


def onnx_file_runner(path: Path, threads: int = 1) -> Runner:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EdgeSdkError("onnxruntime is not installed: pip install 'edgesdk[onnx]'") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(session.run(None, feeds))

    return run
