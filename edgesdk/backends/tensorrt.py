"""TensorRT backend (Jetson, JetPack 6: TensorRT 10.3, CUDA 12): the bundle carries the ONNX model
(the ONNX Runtime backend's export, opset 18, which TensorRT 10's ONNX parser takes: opsets 9 to 20)
and the C++ that turns it into an engine on the device and runs it (`runtimes/tensorrt/cpp/`: the
engine builder program, a trtexec script, the runtime adapter, a CMake project). A TensorRT engine
is specific to the GPU and the TensorRT release that built it, so it is never built here.

No TensorRT runs on this host (it is on no registry edgesdk reaches; JetPack ships it), so, as for
Core ML on Linux, `host_prediction()` says why, and the build validates instead of running the
parity gate (`validate`): the ONNX file passes onnx.checker, its opset and every operator are ones
TensorRT 10's ONNX parser imports, its inputs and outputs are the manifest's, and, stated as what
it is, the same ONNX file run in ONNX Runtime (CPU, float32) gives the reference's outputs: that
checks the export the engine is built from, not TensorRT. For int8, the calibration cache
(quantize/tensorrt.py) is read back and checked against the ONNX graph's tensors.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.backends.base import Artifact, Backend, CppPackage, Runner
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.shapes import fixed_shape
from edgesdk.sources import SourceModel, onnx_file_runner

# The TensorRT release the C++ glue is written for (JetPack 6.1/6.2) and its CUDA.
CPP_RUNTIME_VERSION = "10.3.0"
CUDA_VERSION = "12"
MODEL_FILE = "model.onnx"
CALIBRATION_CACHE = "calibration.cache"
# TensorRT 10's ONNX parser imports opsets 9 to 20 (onnx-tensorrt docs/operators.md).
PARSER_OPSETS = (9, 20)
PARSER_OPS_FILE = Path(__file__).resolve().parent.parent / "runtimes" / "tensorrt" / "onnx_parser_ops.txt"
# What the ONNX Runtime stand-in must reproduce of the reference: the float32 gate's max_abs.
STANDIN_MAX_ABS = 1e-4
# The manifest's quantization mode -> the engine precision the builder is given (`best` is a
# builder option: TensorRT then picks fp32, fp16 or int8 per layer).
PRECISIONS = {"none": "fp32", "fp16": "fp16", "int8": "int8"}
NO_TENSORRT = (
    "no TensorRT on this host: TensorRT is on no registry edgesdk reaches (it ships with JetPack), and an engine is built "
    "for one GPU and TensorRT release, on the device (sdk/cpp/src/runtime/build_engine.cpp or build_engine_trtexec.sh); "
    "the ONNX model is validated instead, and run in ONNX Runtime as a stand-in for the export only"
)


def parser_ops() -> frozenset[str]:
    lines = PARSER_OPS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def precision(manifest: Manifest) -> str:
    return PRECISIONS[manifest.quantization.mode]


class TensorRtBackend(Backend):
    name = "tensorrt"
    convert_reads_quantization = True  # the mode names the files (the int8 calibration cache) and the engine precision
    display_name = "TensorRT"
    extra = "onnx"
    languages = ("cpp",)
    quantizer = "edgesdk.quantize.tensorrt"

    def is_available(self) -> tuple[bool, str]:
        try:
            import onnx  # noqa: F401
            import onnxruntime
        except ImportError:
            return False, "pip install 'edgesdk[onnx]' (the ONNX export, its checks and the int8 calibration cache)"
        return True, (
            f"builds the ONNX model, the engine builder, a trtexec script and the int8 calibration cache for TensorRT {CPP_RUNTIME_VERSION} "
            f"(JetPack 6, CUDA {CUDA_VERSION}); onnxruntime {onnxruntime.__version__} computes the cache and checks the export"
        )

    def host_prediction(self) -> str | None:
        return NO_TENSORRT

    def check_manifest(self, manifest: Manifest) -> None:
        """The glue copies float32 tensors to and from the GPU; the engine is built on the device
        from the plain ONNX file, and the engine file itself is plain."""
        if manifest.encryption.enabled:
            raise ManifestError("encryption.enabled", "TensorRT builds its engine on the device from the plain ONNX model and stores the engine unencrypted (allowed: false)")
        for i, spec in enumerate(manifest.model.inputs):
            if spec.dtype != "float32":
                raise ManifestError(f"model.inputs[{i}].dtype", f"the TensorRT glue feeds float32 inputs; '{spec.dtype}' is not supported (allowed: float32)")
        for i, output in enumerate(manifest.model.outputs):
            if output.dtype not in (None, "float32"):
                raise ManifestError(f"model.outputs[{i}].dtype", f"the TensorRT glue reads float32 outputs; '{output.dtype}' is not supported (allowed: float32)")

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        self.check_manifest(manifest)
        import onnxruntime

        from edgesdk.backends.onnxruntime import BACKEND as onnx_exporter
        from edgesdk.backends.onnxruntime import OPSET

        with tempfile.TemporaryDirectory(prefix="edgesdk-tensorrt-") as tmp:
            onnx_path = onnx_exporter.convert(source, manifest, Path(tmp)).main_path  # checks names and shapes against the graph
            problems = parser_problems(onnx_path)
            if problems:
                raise UnsupportedOpError(f"TensorRT {CPP_RUNTIME_VERSION}'s ONNX parser cannot take {source.origin}: {problems[0]}")
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(onnx_path, out_dir / MODEL_FILE)
        # The int8 calibration cache is written by the quantize stage (quantize/tensorrt.py) and
        # checked by the glue like the model: it is the engine builder's second input.
        files = [MODEL_FILE, CALIBRATION_CACHE] if manifest.quantization.mode == "int8" else [MODEL_FILE]
        return Artifact(
            folder=out_dir,
            main=MODEL_FILE,
            files=files,
            runtime=self.name,
            runtime_versions={"cpp": CPP_RUNTIME_VERSION, "cuda": CUDA_VERSION, "onnx_opset": str(OPSET), "onnxruntime": onnxruntime.__version__},
            notes=[
                "the engine is built on the device from model.onnx (engines are specific to one GPU and TensorRT release): sdk/cpp/src/runtime/build_engine.cpp or build_engine_trtexec.sh",
                f"engine precision {precision(manifest)}" + (f"; int8 scales from {CALIBRATION_CACHE} (EntropyCalibration2, computed by edgesdk)" if manifest.quantization.mode == "int8" else ""),
            ],
        )

    def runtime_options(self, artifact: Artifact, manifest: Manifest) -> dict[str, Any]:
        """How the engine is built on the device; the generated builder, trtexec script and
        adapter are rendered from these values, and sdk.json records them."""
        import hashlib

        mode = precision(manifest)
        digest = hashlib.sha256(artifact.main_path.read_bytes()).hexdigest()
        return {
            "engine": "built on the device from model/model.onnx: engines are specific to one GPU and TensorRT release",
            "engine_file": f"{manifest.name}-{digest[:16]}-{mode}.engine",
            "precision": mode,
            "builder_flags": {"fp32": [], "fp16": ["kFP16"], "int8": ["kINT8"]}[mode],
            # TensorRT's default TF32 would round float32 conv/matmul inputs: off for fp32 engines,
            # which are held to the golden vectors' float32 tolerance.
            "tf32": mode != "fp32",
            "calibration_cache": f"model/{CALIBRATION_CACHE}" if mode == "int8" else None,
            "calibration_algorithm": "EntropyCalibration2 (computed by edgesdk on the calibration data, read by the builder's calibrator)" if mode == "int8" else None,
            "optimization_profile": optimization_profile(artifact.main_path, manifest),
            "builder": "sdk/cpp/src/runtime/build_engine.cpp (CMake target <name>_build_engine) or sdk/cpp/src/runtime/build_engine_trtexec.sh",
            "host_parity": "not run: no TensorRT on the build host; the ONNX model was run in ONNX Runtime as a stand-in for the export only (reports/parity.json)",
        }

    def validate(self, artifact: Artifact, manifest: Manifest, source: SourceModel) -> dict[str, Any]:
        import onnx

        problems = parser_problems(artifact.main_path)
        try:
            onnx.checker.check_model(str(artifact.main_path))
        except onnx.checker.ValidationError as exc:
            problems.append(f"{artifact.main} fails onnx.checker: {str(exc).strip().splitlines()[0]}")
        standin = onnx_runtime_standin(artifact.main_path, manifest, source)
        if standin["max_abs"] > STANDIN_MAX_ABS:
            problems.append(f"{artifact.main} in ONNX Runtime differs from the reference by {standin['max_abs']:.3g} (allowed {STANDIN_MAX_ABS})")
        checked: dict[str, Any] = {
            "model": artifact.main,
            "opset": onnx_opset(artifact.main_path),
            "parser_opsets": list(PARSER_OPSETS),
            "operators": sorted({n.op_type for n in onnx.load(str(artifact.main_path), load_external_data=False).graph.node}),
            "onnx_runtime_standin": standin,
        }
        if CALIBRATION_CACHE in artifact.files:
            from edgesdk.quantize.tensorrt_calibration import check_cache

            cache = check_cache(artifact.folder / CALIBRATION_CACHE, artifact.main_path, CPP_RUNTIME_VERSION)
            found = cache.pop("problems")
            problems += found if isinstance(found, list) else [str(found)]
            checked["calibration_cache"] = cache
        checked["summary"] = (
            f"{artifact.main}: opset {checked['opset']}, {len(checked['operators'])} operator types"
            f"{' TensorRT ' + CPP_RUNTIME_VERSION + ' parses' if not problems else ''}; in ONNX Runtime max_abs {standin['max_abs']:.2e} vs the reference (checks the export, not TensorRT)"
            + (f"; {checked['calibration_cache']['file']}: {checked['calibration_cache'].get('tensors', 0)} tensor scales" if "calibration_cache" in checked else "")
        )
        return {**checked, "problems": problems}

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        raise BackendUnavailable(NO_TENSORRT)

    def cpp_package(self) -> CppPackage:
        raise BackendUnavailable(
            f"TensorRT's C++ headers and libraries are on no registry reachable here and no GPU runs them: the C++ SDK is generated for TensorRT {CPP_RUNTIME_VERSION} "
            "(JetPack 6) and built on the device (its README says how); its C++ outside src/runtime/ is compiled here"
        )


def optimization_profile(path: Path, manifest: Manifest) -> dict[str, Any] | None:
    """min/opt/max shapes of the input when the ONNX graph leaves a dimension open (a symbolic or
    missing dim_value); None for a static input, which needs no profile. The SDK feeds the
    manifest's shape, so that shape is all three."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    spec = manifest.model.inputs[0]
    value = next(v for v in graph.input if v.name == spec.name)
    if all(d.HasField("dim_value") for d in value.type.tensor_type.shape.dim):
        return None
    return {"input": spec.name, "min": list(spec.shape), "opt": list(spec.shape), "max": list(spec.shape)}


def onnx_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def parser_problems(path: Path) -> list[str]:
    """What TensorRT's ONNX parser would refuse: an opset outside 9..20, operators of another
    domain (TensorRT plugins are not generated) or ones it does not import."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    problems = []
    opset = onnx_opset(path)
    if not PARSER_OPSETS[0] <= opset <= PARSER_OPSETS[1]:
        problems.append(f"opset {opset} is outside the parser's {PARSER_OPSETS[0]}..{PARSER_OPSETS[1]}")
    known = parser_ops()
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"operator {node.domain}::{node.op_type} (node {node.name or '?'}) needs a TensorRT plugin")
        elif node.op_type not in known:
            problems.append(f"operator {node.op_type} (node {node.name or '?'}) is not one TensorRT's ONNX parser imports")
    return problems


def onnx_runtime_standin(path: Path, manifest: Manifest, source: SourceModel) -> dict[str, Any]:
    """The ONNX file the engine is built from, run in ONNX Runtime on the CPU in float32 against
    the reference, on a zero input and two seeded random ones: how faithful the export is. It says
    nothing of TensorRT's own numerics (fp16/int8 kernels, layer fusion)."""
    spec = manifest.model.inputs[0]
    rng = np.random.default_rng(0)
    shape = fixed_shape(spec.shape)  # TensorRT bundles take a fixed shape (backends.check_dynamic_shapes)
    inputs = [np.zeros(shape, np.float32), *(rng.uniform(-2.0, 2.0, shape).astype(np.float32) for _ in range(2))]
    run, reference = onnx_file_runner(path), source.reference_runner()
    worst = 0.0
    for value in inputs:
        feeds = {spec.name: value}
        for got, want in zip(run(feeds), reference(feeds)):
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0)
    return {
        "what": "model.onnx in ONNX Runtime (CPU, float32) vs the reference: checks the export the engine is built from, not TensorRT",
        "inputs": "zeros and 2 seeded uniform(-2, 2) tensors",
        "max_abs": worst,
    }


BACKEND = TensorRtBackend()
