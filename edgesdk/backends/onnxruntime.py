"""ONNX Runtime backend: torch sources are exported to ONNX (opset 18), ONNX sources are copied.

Host parity runs the artifact in the Python onnxruntime package; the generated C++ glue links the
ONNX Runtime C/C++ package and the Kotlin glue its Android library, both fetched by
`edgesdk/runtimes/onnxruntime/fetch_native.sh` (`make native-deps`) into the cache; their version
(CPP_RUNTIME_VERSION, the only place it is written) is recorded in sdk.json.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from edgesdk import buildlog, shapes
from edgesdk.backends.base import Artifact, Backend, CppPackage, Runner, cache_dir
from edgesdk.backends.torch_export import dynamic_axes, dynamic_shapes, example_inputs
from edgesdk.dtypes import names_by
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel, onnx_file_runner

OPSET = 18
# The ONNX Runtime C/C++ package and Android library the generated glue is built against.
CPP_RUNTIME_VERSION = "1.29.0"
MODEL_FILE = "model.onnx"
FETCH_SCRIPT = Path(__file__).resolve().parent.parent / "runtimes" / "onnxruntime" / "fetch_native.sh"
FETCH_AARCH64_SCRIPT = FETCH_SCRIPT.with_name("fetch_native_aarch64.sh")


def package_root() -> Path:
    """The ONNX Runtime package folder: include/, lib/ and android/onnxruntime.aar."""
    return Path(os.environ.get("ONNXRUNTIME_ROOT", cache_dir() / f"onnxruntime-{CPP_RUNTIME_VERSION}"))


def cross_package_root(arch: str) -> Path:
    """An ONNX Runtime package for another CPU (include/ + lib/), fetched by `make native-deps`."""
    return cache_dir() / f"onnxruntime-{CPP_RUNTIME_VERSION}-linux-{arch}"


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    display_name = "ONNX Runtime"
    extra = "onnx"
    languages = ("cpp", "kotlin", "swift")
    quantizer = "edgesdk.quantize.onnxruntime"
    dynamic_shapes = "symbolic dims stay symbolic in the .onnx; the SDK passes each image's shape per run"

    def is_available(self) -> tuple[bool, str]:
        try:
            import onnxruntime
        except ImportError:
            return False, "pip install 'edgesdk[onnx]'"
        return True, f"onnxruntime {onnxruntime.__version__} (host parity); C++ glue targets ONNX Runtime {CPP_RUNTIME_VERSION}"

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / MODEL_FILE
        if source.is_torch:
            _export_torch(source, manifest, target)
        else:
            assert source.onnx_path is not None  # every non-torch source is an ONNX file
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

    def cpp_package(self) -> CppPackage:
        root = package_root()
        if not (root / "include").is_dir() or not (root / "lib").is_dir():
            raise BackendUnavailable(f"the ONNX Runtime C++ package is not at {root} (run `make native-deps`, or set ONNXRUNTIME_ROOT to a folder with include/ and lib/)")
        return CppPackage((f"-DONNXRUNTIME_ROOT={root}",), (root / "lib",))

    def cross_cpp_package(self, arch: str) -> CppPackage:
        root = cross_package_root(arch)
        if arch != "aarch64" or not (root / ".ok").is_file():
            raise BackendUnavailable(f"no ONNX Runtime C++ package for {arch} at {root} (aarch64 only; run `make native-deps`)")
        return CppPackage((f"-DONNXRUNTIME_ROOT={root}",), (root / "lib",))

    def android_libraries(self) -> list[Path]:
        aar = package_root() / "android" / "onnxruntime.aar"
        if not aar.is_file():
            raise BackendUnavailable(f"the ONNX Runtime Android aar is not at {aar} (run `make native-deps`)")
        return [aar]

    def fetch_native(self, cache: Path) -> None:
        host = cache / f"onnxruntime-{CPP_RUNTIME_VERSION}"
        subprocess.run(["bash", str(FETCH_SCRIPT), CPP_RUNTIME_VERSION, str(host)], check=True)
        subprocess.run(["bash", str(FETCH_AARCH64_SCRIPT), str(host), str(cache / f"onnxruntime-{CPP_RUNTIME_VERSION}-linux-aarch64")], check=True)


def _export_torch(source: SourceModel, manifest: Manifest, target: Path) -> None:
    import torch

    example = example_inputs(manifest)
    module = source.module
    # TorchScript cannot go through torch.export; it takes the TorchScript exporter.
    dynamo = source.kind != "torchscript"
    input_names = [i.name for i in manifest.model.inputs]
    output_names = [o.name for o in manifest.model.outputs]
    # Symbolic dims stay symbolic in the graph (torch.export Dims; the TorchScript exporter's dynamic_axes).
    # A .pt2 carries its own (its dims are checked against the manifest after the export).
    dynamic = {"torchscript": {"dynamic_axes": dynamic_axes(manifest)}, "exported_program": {}}.get(source.kind, {"dynamic_shapes": dynamic_shapes(manifest)})
    try:
        with buildlog.capture("torch.onnx.export"):
            torch.onnx.export(module, example, str(target), dynamo=dynamo, external_data=False, opset_version=OPSET, verbose=False, input_names=input_names, output_names=output_names, **dynamic)
    except Exception as exc:  # the exporters raise many types; the message is what matters
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"ONNX export of {source.origin} failed: {text[0] if text else type(exc).__name__}") from exc


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


_ONNX_DTYPES = names_by("onnx")


def _check_shape(field: str, shape: list[int], dtype: str | None, value) -> None:
    ttype = value.type.tensor_type
    actual_dtype = _ONNX_DTYPES.get(ttype.elem_type, f"onnx type {ttype.elem_type}")
    if dtype is not None and actual_dtype != dtype:
        raise ManifestError(f"{field}.dtype", f"'{dtype}' does not match the model's '{actual_dtype}'")
    problem = shapes.model_dims_problem(shape, *onnx_dims(value))
    if problem is not None:
        raise ManifestError(f"{field}.shape", problem)


def onnx_dims(value) -> tuple[list[int | None], list[int | str]]:
    """An ONNX value's dims: (an int where fixed, None where symbolic; as the model writes them)."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims], [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


BACKEND = OnnxRuntimeBackend()
