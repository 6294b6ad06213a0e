"""OpenVINO backend (x86): torch sources go through the shared torch.export path, ONNX sources are
read directly; both become an fp32 IR, `model.xml` (graph) + `model.bin` (weights).

The IR has the manifest's input shape (symbolic dims stay dynamic, within their bounds) and the manifest's input/output names, so the
generated glue feeds exactly what the golden vectors hold. Host parity compiles it with the same
settings as the C++ adapter: CPU, INFERENCE_PRECISION_HINT f32 (otherwise a CPU with bf16 silently
runs bf16) and the given number of inference threads. The C++ glue builds against the C++ runtime
inside the same `openvino` wheel, so the Python and C++ versions are one version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import buildlog, shapes
from edgesdk.backends.base import Artifact, Backend, CppPackage, Runner
from edgesdk.backends.torch_export import exported_program
from edgesdk.dtypes import names_by
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest, OutputSpec, TensorSpec
from edgesdk.sources import SourceModel

MODEL_FILE = "model.xml"
WEIGHTS_FILE = "model.bin"
_DTYPES = names_by("openvino")


def config(threads: int) -> dict[str, object]:
    """compile_model settings shared by parity, quantization probes and benchmarks, and the ones
    the C++ adapter sets: f32 (parity), the LATENCY hint (one stream: the SDK runs one request at
    a time, and a THROUGHPUT default would split the threads into streams) and the thread count."""
    return {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}


def version() -> str:
    """The release (e.g. 2026.4.1), without the build suffix the runtime reports."""
    import openvino

    return openvino.__version__.split("-")[0]


class OpenVinoBackend(Backend):
    name = "openvino"
    display_name = "OpenVINO"
    extra = "openvino"
    languages = ("cpp",)
    quantizer = "edgesdk.quantize.openvino"
    dynamic_shapes = "symbolic dims stay dynamic in the IR (bounded where the manifest bounds them); the SDK sets the input tensor's shape per call"

    def is_available(self) -> tuple[bool, str]:
        try:
            import openvino  # noqa: F401
        except ImportError:
            return False, "pip install 'edgesdk[openvino]'"
        return True, f"openvino {version()} (host parity and the C++ glue: same wheel)"

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        import openvino as ov

        model = _convert(source, manifest)
        model.reshape({port: partial_shape(spec) for port, spec in zip(model.inputs, manifest.model.inputs)})
        _check_io(model, manifest, rename=source.is_torch)
        # Conversion parameters can name the source file's path: left in, two builds of the same
        # model would differ.
        stable_names(model)
        info = model.get_rt_info()
        if "conversion_parameters" in info:
            del info["conversion_parameters"]
        out_dir.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(out_dir / MODEL_FILE), compress_to_fp16=False)
        return Artifact(
            folder=out_dir,
            main=MODEL_FILE,
            files=[MODEL_FILE, WEIGHTS_FILE],
            runtime=self.name,
            runtime_versions={"python": version(), "cpp": version()},
            notes=[f"fp32 IR with {'a dynamic' if shapes.is_dynamic(manifest.model.inputs[0]) else 'a static'} input shape; compiled with INFERENCE_PRECISION_HINT f32"],
        )

    def runtime_options(self, artifact: Artifact, manifest: Manifest) -> dict[str, Any]:
        """How the SDK compiles the IR: OpenVINO's CPU defaults compute in bf16 on bf16-capable
        CPUs, so anyone loading model.xml themselves must pin f32 to get the golden numbers."""
        return {
            "device": "CPU",
            "inference_precision_hint": "f32",
            "performance_hint": "LATENCY",
            "why": "the golden vectors and the parity gate are float32; with OpenVINO's defaults a bf16-capable CPU computes in bf16. LATENCY: one stream for the SDK's one request at a time",
        }

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        return ir_runner(artifact.main_path, threads)

    def cpp_package(self) -> CppPackage:
        """The C++ runtime and its CMake package ship inside the Python wheel."""
        try:
            import openvino
        except ImportError as exc:
            raise BackendUnavailable("the OpenVINO C++ package comes with the Python wheel: pip install 'edgesdk[openvino]'") from exc
        root = Path(openvino.__file__).parent
        if not (root / "cmake" / "OpenVINOConfig.cmake").is_file():
            raise BackendUnavailable(f"the openvino wheel at {root} has no C++ CMake package (openvino/cmake/OpenVINOConfig.cmake)")
        return CppPackage((f"-DOpenVINO_DIR={root / 'cmake'}",), (root / "libs",))


_COUNTER_NAME = re.compile(r"[A-Za-z]+_\d+")


def stable_names(model) -> None:
    """Rename the nodes OpenVINO named with a process-wide counter (`Multiply_2811`) to
    `<Type>_<k>`, k counting that type in graph order: two builds of one model write the same
    IR, and layer names (keep_float) stay the same from build to build."""
    model.set_friendly_name("model")
    seen: dict[str, int] = {}
    for op in model.get_ordered_ops():
        if _COUNTER_NAME.fullmatch(op.get_friendly_name()):
            kind = op.get_type_name()
            op.set_friendly_name(f"{kind}_{seen.get(kind, 0)}")
            seen[kind] = seen.get(kind, 0) + 1


def ir_runner(xml: Path, threads: int = 1) -> Runner:
    """Run the IR at `xml` (its weights next to it) on the CPU plugin with the SDK's settings."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", config(threads))
    request = compiled.create_infer_request()

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request.infer({name: np.ascontiguousarray(v) for name, v in feeds.items()})
        # Copies: the request reuses its output buffers on the next call.
        return [np.array(request.get_output_tensor(i).data) for i in range(len(compiled.outputs))]

    return run


def _convert(source: SourceModel, manifest: Manifest):
    import openvino as ov

    try:
        with buildlog.capture("openvino.convert_model"):
            if source.is_torch:
                return ov.convert_model(exported_program(source, manifest, "openvino"))
            return ov.convert_model(str(source.onnx_path))
    except UnsupportedOpError:
        raise
    except Exception as exc:  # the frontends raise many types; the first line names the operator
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"OpenVINO conversion of {source.origin} failed: {text[0] if text else type(exc).__name__}") from exc


def partial_shape(spec: TensorSpec):
    """The IR's input shape: the manifest's concrete dims, and its symbolic dims dynamic (within
    their bounds when given). A symbolic dim whose example size is 1 (the batch) stays 1, as the
    SDK always feeds one image (edgesdk.backends.torch_export.dynamic_shapes)."""
    import openvino as ov

    dims = []
    for axis, d in enumerate(spec.shape):
        if not shapes.is_symbolic(d):
            dims.append(ov.Dimension(int(d)))
        elif axis == 0:
            dims.append(ov.Dimension(1))
        else:
            b = shapes.bounds(spec, axis)
            dims.append(ov.Dimension(b[0], b[1]) if b else ov.Dimension())
    return ov.PartialShape(dims)


def _shape_fits(shape, declared: list) -> bool:
    """A port's shape against a declared one: concrete dims equal, a symbolic dim any size."""
    if shape.rank.is_dynamic or shape.rank.get_length() != len(declared):
        return False
    return all(shapes.is_symbolic(want) or (dim.is_static and dim.get_length() == want) for dim, want in zip(shape, declared))


def _check_io(model, manifest: Manifest, rename: bool) -> None:
    """Counts, dtypes and static shapes must match the manifest. Torch programs carry no names, so
    their ports take the manifest's; an ONNX graph's names must already be the manifest's."""
    groups: list[tuple[str, Any, Sequence[TensorSpec | OutputSpec]]] = [("inputs", model.inputs, manifest.model.inputs), ("outputs", model.outputs, manifest.model.outputs)]
    for kind, ports, specs in groups:
        if len(ports) != len(specs):
            raise ManifestError(f"model.{kind}", f"declares {len(specs)} {kind[:-1]}(s); the model has {len(ports)}")
        for i, (port, spec) in enumerate(zip(ports, specs)):
            field = f"model.{kind}[{i}]"
            if rename:
                port.get_tensor().set_names({spec.name})
            elif spec.name not in port.get_names():
                raise ManifestError(f"{field}.name", f"'{spec.name}' is not the model's {kind[:-1]} name '{port.get_any_name()}'")
            dtype = _DTYPES.get(port.get_element_type().get_type_name(), port.get_element_type().get_type_name())
            if spec.dtype is not None and dtype != spec.dtype:
                raise ManifestError(f"{field}.dtype", f"'{spec.dtype}' does not match the model's '{dtype}'")
            shape = port.get_partial_shape()
            if spec.shape is not None and not _shape_fits(shape, spec.shape):
                raise ManifestError(f"{field}.shape", f"{spec.shape} does not match the model's {shape}")


BACKEND = OpenVinoBackend()
