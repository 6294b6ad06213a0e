"""ONNX Runtime backend: torch sources are exported to ONNX (opset 18), ONNX sources are copied.

Host parity runs the artifact in the Python onnxruntime package; the generated C++ glue links the
ONNX Runtime C++ package (`make native-deps`), whose version is recorded in sdk.json.
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
import warnings
from pathlib import Path

from edgesdk.backends.base import Artifact, Runner
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel, onnx_file_runner

OPSET = 18
# The ONNX Runtime C/C++ package the generated glue is built against (scripts/fetch_onnxruntime.sh).
CPP_RUNTIME_VERSION = "1.29.0"
MODEL_FILE = "model.onnx"


class OnnxRuntimeBackend:
    name = "onnxruntime"
    extra = "onnx"
    languages = ("cpp", "kotlin")

    def is_available(self) -> tuple[bool, str]:
        try:
            import onnxruntime
        except ImportError:
            return False, "pip install 'edgesdk[onnx]'"
        return True, f"onnxruntime {onnxruntime.__version__} (host parity); C++ glue targets ONNX Runtime {CPP_RUNTIME_VERSION}"

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        ok, why = self.is_available()
        if not ok:
            raise BackendUnavailable(f"runtime 'onnxruntime' is not installed: {why}")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / MODEL_FILE
        if source.is_torch:
            _export_torch(source, manifest, target)
        else:
            _copy_onnx(source.onnx_path, target)
        _check_io(target, manifest)
        import onnxruntime

        return Artifact(
            folder=out_dir,
            main=MODEL_FILE,
            files=[MODEL_FILE],
            runtime=self.name,
            runtime_versions={"python": onnxruntime.__version__, "cpp": CPP_RUNTIME_VERSION, "opset": str(OPSET)},
        )

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        return onnx_file_runner(artifact.main_path, threads=threads)


def _export_torch(source: SourceModel, manifest: Manifest, target: Path) -> None:
    import numpy as np
    import torch

    spec = manifest.model.inputs[0]
    example = (torch.from_numpy(np.zeros(spec.shape, dtype=spec.dtype)),)
    module = source.module
    # TorchScript cannot go through torch.export; it takes the TorchScript exporter.
    dynamo = source.kind != "torchscript"
    names = dict(input_names=[i.name for i in manifest.model.inputs], output_names=[o.name for o in manifest.model.outputs])
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, str(target), dynamo=dynamo, external_data=False, opset_version=OPSET, verbose=False, **names)
    except Exception as exc:  # the exporters raise many types; the message is what matters
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"ONNX export of {source.origin} failed: {text[0] if text else type(exc).__name__}") from None


def _copy_onnx(path: Path, target: Path) -> None:
    import onnx

    proto = onnx.load(str(path))  # pulls external data in: the bundle ships one self-contained file
    if proto.ByteSize() < (2 << 30) - 1:
        onnx.save(proto, str(target))
    else:
        shutil.copyfile(path, target)


def _check_io(path: Path, manifest: Manifest) -> None:
    """The manifest's I/O spec must describe the graph: names, counts and static shapes."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    _check_values("inputs", manifest.model.inputs, [i for i in graph.input if i.name not in initializers])
    _check_values("outputs", manifest.model.outputs, list(graph.output))


def _check_values(kind: str, declared: list, values: list) -> None:
    if len(values) != len(declared):
        raise ManifestError(f"model.{kind}", f"declares {len(declared)} {kind[:-1]}(s); the model has {len(values)}: {', '.join(v.name for v in values)}")
    for i, (spec, value) in enumerate(zip(declared, values)):
        if spec.name != value.name:
            raise ManifestError(f"model.{kind}[{i}].name", f"'{spec.name}' is not the model's {kind[:-1]} name '{value.name}'")
        if spec.shape is not None:
            _check_shape(f"model.{kind}[{i}]", spec.shape, spec.dtype, value)


_ONNX_DTYPES = {1: "float32", 10: "float16", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}


def _check_shape(field: str, shape: list[int], dtype: str | None, value) -> None:
    ttype = value.type.tensor_type
    actual_dtype = _ONNX_DTYPES.get(ttype.elem_type, f"onnx type {ttype.elem_type}")
    if dtype is not None and actual_dtype != dtype:
        raise ManifestError(f"{field}.dtype", f"'{dtype}' does not match the model's '{actual_dtype}'")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
    if len(dims) != len(shape) or any(d is not None and d != s for d, s in zip(dims, shape)):
        shown = [d if d is not None else "?" for d in dims]
        raise ManifestError(f"{field}.shape", f"{shape} does not match the model's {shown}")


BACKEND = OnnxRuntimeBackend()
