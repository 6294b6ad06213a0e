"""ExecuTorch backend: torch sources -> torch.export -> XNNPACK-partitioned edge program -> `.pte`.
ONNX sources reach torch.export through edgesdk.onnx_import (onnx2fx) first.

A `.pte` is only defined for the runtime release that wrote it, so the exact ExecuTorch version
is recorded in `runtime_versions` (and from there in sdk.json): `executorch` is the release that
wrote the file and `cpp` the one the generated glue must link. The glue (C++/Kotlin adapters) has
to compare its runtime's version with it and refuse to load on any difference; the host runner
below applies the same rule to the Python runtime.

Host parity runs the file with `executorch.runtime` (the pybindings of the same C++ runtime, with
XNNPACK), its thread pool set to the requested thread count.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from edgesdk import buildlog
from edgesdk.backends.base import Artifact, Backend, Runner
from edgesdk.backends.torch_export import exported_program, route
from edgesdk.dtypes import names_by
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel

MODEL_FILE = "model.pte"
METHOD = "forward"


class ExecuTorchBackend(Backend):
    name = "executorch"
    display_name = "ExecuTorch"
    extra = "executorch"
    quantizer = "edgesdk.quantize.executorch"
    languages = ("kotlin", "swift")

    def is_available(self) -> tuple[bool, str]:
        try:
            version = metadata.version("executorch")
        except metadata.PackageNotFoundError:
            return False, "pip install 'edgesdk[executorch]'"
        return True, f"executorch {version} (XNNPACK export and host parity); the glue needs ExecuTorch {version} exactly"

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        program = exported_program(source, manifest, self.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / MODEL_FILE
        target.write_bytes(lower(program, source.origin))
        _check_io(target, manifest)
        version = metadata.version("executorch")
        return Artifact(
            folder=out_dir,
            main=MODEL_FILE,
            files=[MODEL_FILE],
            runtime=self.name,
            runtime_versions={"executorch": version, "cpp": version, "python": version},
            notes=[f"method '{METHOD}', XNNPACK delegate; loadable only by ExecuTorch {version}"],
            route=route(source, self.display_name),
        )

    def android_libraries(self) -> list[Path]:
        # Never compiled against stand-ins: the real API is on Google Maven / Maven Central only.
        raise BackendUnavailable("no ExecuTorch AAR (org.pytorch:executorch-android) on reachable registries")

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        wrote = artifact.runtime_versions.get("executorch")
        installed = metadata.version("executorch")
        if wrote != installed:
            raise BackendUnavailable(f"{artifact.main} was written by ExecuTorch {wrote}; this runtime is {installed}: a .pte runs only on its own release")
        import torch
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(threads)  # the XNNPACK pool is process-wide; this is its only setter
        method = _load(artifact.main_path)

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            outs = method.execute([torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()])
            return [o.detach().numpy().copy() for o in outs]

        return run


def lower(program, origin: str) -> bytes:
    """The `.pte` bytes of an ExportedProgram, XNNPACK-partitioned; the quantize stage lowers its PT2E programs here too."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    try:
        with buildlog.capture("executorch to_edge_transform_and_lower"):
            return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    except Exception as exc:  # exir raises many types; the first line names the op or the check
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"ExecuTorch lowering of {origin} failed: {text[0] if text else type(exc).__name__}") from exc


def _load(path: Path):
    from executorch.runtime import Runtime, Verification

    return Runtime.get().load_program(path, verification=Verification.InternalConsistency).load_method(METHOD)


# c10::ScalarType codes, as TensorInfo.dtype() gives them.
_ET_DTYPES = names_by("executorch")


def _check_io(path: Path, manifest: Manifest) -> None:
    """The lowered method must take the manifest's inputs (shape, dtype) and give its outputs."""
    meta = _load(path).metadata
    if meta.num_inputs() != len(manifest.model.inputs):
        raise ManifestError("model.inputs", f"declares {len(manifest.model.inputs)} input(s); the .pte takes {meta.num_inputs()}")
    for i, spec in enumerate(manifest.model.inputs):
        info = meta.input_tensor_meta(i)
        dtype = _ET_DTYPES.get(info.dtype(), f"scalar type {info.dtype()}")
        if list(info.sizes()) != list(spec.shape) or dtype != spec.dtype:
            raise ManifestError(f"model.inputs[{i}]", f"{spec.shape} {spec.dtype} is not what the .pte takes: {list(info.sizes())} {dtype}")
    if meta.num_outputs() != len(manifest.model.outputs):
        raise ManifestError("model.outputs", f"declares {len(manifest.model.outputs)} output(s); the .pte gives {meta.num_outputs()}")


BACKEND = ExecuTorchBackend()
