"""MNN backend (ARM): the model goes to ONNX (an ONNX source as it is; a torch source through the
ONNX Runtime backend's exporter, with the same I/O checks), then `mnnconvert` makes `model.mnn`,
run in float32 (MNN's `precision: high`; `normal` lets an ARMv8.2 CPU compute in fp16).

Two things the MNN wheel does that a build tool must not:
- `MNN.tools.mnnconvert` (the module behind the `mnnconvert` script) imports a usage logger that
  runs `pip install aliyun-log-python-sdk` and reports each conversion over the network. The
  converter is called here through the wheel's `_tools` extension directly, in a subprocess (its
  output is C++ stdout), and nothing under `MNN.tools` is imported.
- every conversion writes a random model UUID into the file, so two builds would differ. It is
  replaced with a UUID derived from the file's own bytes (same length, so the FlatBuffer stays
  valid): bundles stay reproducible, and the UUID still tells different models apart.

Host parity runs the file through MNN's Python `Interpreter`/`Session` API, the same API and
settings as the C++ adapter (`runtimes/mnn/cpp`). MNN's C++ headers and library are on no registry
this project reaches (the wheel has neither, and there is no sdist), so the C++ glue is rendered
for MNN CPP_RUNTIME_VERSION's documented API and compiled by the user against their MNN build;
`cpp_package()` says so, and so do `edgesdk targets` and the tests that skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from edgesdk import buildlog
from edgesdk.backends.base import Artifact, Backend, CppPackage, Runner, first_output_shape_mismatch
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel

# The MNN release the C++ glue is written for and the Python pin of the `mnn` extra.
CPP_RUNTIME_VERSION = "3.6.1"
MODEL_FILE = "model.mnn"
# Session settings of the runner and the C++ adapter (tests/backends/test_mnn.py holds them to each other).
SESSION_CONFIG = {"backend": "CPU", "precision": "high"}
PRECISION = "fp32: BackendConfig precision high (normal computes fp16 on CPUs that have it)"
# What sdk.json records for a full int8 model: how it was made and what running it needs.
INT8_RUNTIME = {
    "quantizer": "mnnquant (MNN 3.6.1 tools/quantization)",
    "features": "int8, one scale per tensor, from the manifest's calibration tensors (KL)",
    "weights": "int8 per output channel (MAX_ABS)",
    "needs": "nothing beyond a default MNN build: its CPU backend runs the int8 convolutions with int8 kernels (MNN_LOW_MEMORY is for weight-only int8, not this)",
}
CONVERT_TIMEOUT_S = 900
# `_tools` is the wheel's converter extension; MNN.tools.mnnconvert would import the usage logger.
_CONVERT_SCRIPT = "import sys, _tools; sys.exit(0 if _tools.mnnconvert(sys.argv) else 1)"
_UUID_NAMESPACE = uuid.UUID("6f1c3b8e-55a7-4f0e-9a53-3f1d2c7a9e41")
_NO_MNN_CPP = (
    "MNN's C++ headers and library are on no registry reachable here (the MNN wheel ships neither, and there is no sdist): "
    f"the C++ SDK is generated for MNN {CPP_RUNTIME_VERSION} and built against the user's MNN (its README says how)"
)


def _version() -> str:
    """Raises PackageNotFoundError when the extra is missing."""
    return metadata.version("mnn")


def import_mnn():  # the MNN module (no stubs)
    """The MNN module, the converter extension loaded too. Their native library prints the CPU's features to stdout when it first loads;
    that goes to stderr, so `edgesdk targets --json` and other stdout stay clean."""
    with buildlog.stdout_to_stderr():
        import _tools  # noqa: F401  (the converter extension; loading it prints the same line)
        import MNN
    return MNN


class MnnBackend(Backend):
    name = "mnn"
    display_name = "MNN"
    extra = "mnn"
    languages = ("cpp",)
    quantizer = "edgesdk.quantize.mnn"

    def is_available(self) -> tuple[bool, str]:
        try:
            version = _version()
            import_mnn()  # with `_tools`, the converter
            import onnxruntime  # noqa: F401  (the ONNX export is checked with it)
        except (metadata.PackageNotFoundError, ImportError):
            return False, "pip install 'edgesdk[mnn]' (the MNN wheel converts and runs host parity; models reach it as ONNX)"
        return True, f"MNN {version} (convert, host parity); C++ glue targets MNN {CPP_RUNTIME_VERSION}, built by the user: {_NO_MNN_CPP.split(':')[0]}"

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        _check_manifest_io(manifest)
        from edgesdk.backends.onnxruntime import BACKEND as onnx_exporter

        with tempfile.TemporaryDirectory(prefix="edgesdk-mnn-") as tmp:
            work = Path(tmp)
            onnx = onnx_exporter.convert(source, manifest, work).main_path  # checks names and shapes against the graph
            run_mnnconvert("ONNX", onnx, work / MODEL_FILE, f"convert {source.origin} to MNN")
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / MODEL_FILE, out_dir / MODEL_FILE)
        artifact = Artifact(
            folder=out_dir,
            main=MODEL_FILE,
            files=[MODEL_FILE],
            runtime=self.name,
            runtime_versions={"python": _version(), "cpp": CPP_RUNTIME_VERSION, "precision": PRECISION},
            notes=[PRECISION, "the converter's random model UUID is replaced with one derived from the model's bytes, so builds are reproducible"],
            output_names=[o.name for o in manifest.model.outputs],
        )
        _check_outputs(self.runner(artifact), source, manifest)
        return artifact

    def runtime_options(self, artifact: Artifact, manifest: Manifest) -> dict:
        """A full int8 model (mnnquant, quantize/mnn.py) records what it is and what it needs."""
        if manifest.quantization.mode != "int8":
            return {}
        return {"int8": dict(INT8_RUNTIME)}

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        MNN = import_mnn()

        if not artifact.output_names:
            raise ValueError("an MNN runner needs the artifact's output_names (MNN keeps outputs by name, not in order)")
        interpreter = MNN.Interpreter(str(artifact.main_path))
        session = interpreter.createSession({**SESSION_CONFIG, "numThread": max(threads, 1)})

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            for name, value in feeds.items():
                array = np.ascontiguousarray(value, dtype=np.float32)
                host = MNN.Tensor(list(array.shape), MNN.Halide_Type_Float, array, MNN.Tensor_DimensionType_Caffe)
                interpreter.getSessionInput(session, name).copyFrom(host)
            interpreter.runSession(session)
            results = []
            for name in artifact.output_names:
                device = interpreter.getSessionOutput(session, name)
                shape = list(device.getShape())
                host = MNN.Tensor(shape, MNN.Halide_Type_Float, np.zeros(shape, dtype=np.float32), MNN.Tensor_DimensionType_Caffe)
                device.copyToHostTensor(host)
                results.append(np.array(host.getData(), dtype=np.float32).reshape(shape))
            return results

        return run

    def cpp_package(self) -> CppPackage:
        root = os.environ.get("MNN_ROOT")
        if not root:
            raise BackendUnavailable(f"{_NO_MNN_CPP}; set MNN_ROOT to an MNN {CPP_RUNTIME_VERSION} install prefix (include/MNN, lib/libMNN) to build it here")
        prefix = Path(root)
        if not (prefix / "include" / "MNN" / "Interpreter.hpp").is_file():
            raise BackendUnavailable(f"MNN_ROOT={prefix} holds no include/MNN/Interpreter.hpp")
        return CppPackage((f"-DMNN_ROOT={prefix}",), (prefix / "lib",))


def stable_uuid(data: bytes) -> bytes:
    """`data` (an .mnn file) with its random model UUID replaced by uuid5 of the file's bytes with
    that UUID blanked: the same model always gets the same UUID."""
    import re

    found = [m for m in re.finditer(rb"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", data)]
    if len(found) != 1:
        raise UnsupportedOpError(f"mnnconvert wrote {len(found)} model UUIDs (1 expected): this MNN's file layout is not the one edgesdk was written for")
    start, end = found[0].span()
    blanked = data[:start] + b"0" * (end - start) + data[end:]
    stable = str(uuid.uuid5(_UUID_NAMESPACE, hashlib.sha256(blanked).hexdigest())).encode()
    return data[:start] + stable + data[end:]


def _check_manifest_io(manifest: Manifest) -> None:
    """The glue feeds MNN float32 host tensors in NCHW ("Caffe") layout."""
    for i, spec in enumerate(manifest.model.inputs):
        if spec.dtype != "float32":
            raise ManifestError(f"model.inputs[{i}].dtype", f"the MNN glue feeds float32 inputs; '{spec.dtype}' is not supported (use runtime onnxruntime)")
    for i, output in enumerate(manifest.model.outputs):
        if output.dtype not in (None, "float32"):
            raise ManifestError(f"model.outputs[{i}].dtype", f"the MNN glue reads float32 outputs; '{output.dtype}' is not supported")


def tool_folders(source: Path, target: Path) -> dict[Path, str]:
    """The placeholders of an MNN tool's folders in the build log: its output's, and its input's
    where that is elsewhere (a compression or mnnquant reads the float model from the quantize
    stage's temporary folder, whose random name the tools print)."""
    folders = {target.parent: "<mnn work>"}
    if source.resolve().parent != target.resolve().parent:
        folders[source.resolve().parent] = "<mnn input>"
    return folders


def run_mnnconvert(framework: str, source: Path, target: Path, what: str, flags: Sequence[str] = ()) -> None:
    """mnnconvert (without MNN.tools, see the module's docstring): `source` (an ONNX or MNN file,
    `framework`) to `target` with a content-derived UUID. `what` ("convert X to MNN") names the job
    in errors and the build log."""
    raw = target.with_name(target.name + ".converting")
    cmd = [sys.executable, "-c", _CONVERT_SCRIPT, "-f", framework, "--modelFile", str(source), "--MNNModel", str(raw), "--bizCode", "edgesdk", *flags]
    try:
        proc = subprocess.run(cmd, cwd=target.parent, capture_output=True, text=True, errors="replace", timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise UnsupportedOpError(f"mnnconvert did not {what} within {CONVERT_TIMEOUT_S} s") from exc
    buildlog.record(f"mnnconvert ({what})", proc.stdout + proc.stderr, folders=tool_folders(source, target))
    if proc.returncode != 0 or not raw.is_file():
        log = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        tail = " | ".join(log[-3:]) if log else "no output"
        raise UnsupportedOpError(f"mnnconvert could not {what} (exit {proc.returncode}): {tail}")
    target.write_bytes(stable_uuid(raw.read_bytes()))
    raw.unlink()


def _check_outputs(run: Runner, source: SourceModel, manifest: Manifest) -> None:
    """The MNN graph must give the model's outputs, by name and shape, for a zero input."""
    mismatch = first_output_shape_mismatch(run, source, manifest)
    if mismatch is not None:
        k, w, g = mismatch
        raise UnsupportedOpError(f"MNN output {manifest.model.outputs[k].name} of {source.origin} has shape {list(g)}; the model's is {list(w)}")


BACKEND = MnnBackend()
