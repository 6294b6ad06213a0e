"""TFLite / LiteRT backend (Android's default): torch sources -> torch.export -> litert-torch -> `.tflite`.

The `.tflite` keeps the manifest's input layout: litert-torch converts the NCHW graph as is and
puts the layout transposes inside the model, so the bundle's golden tensors (NCHW, as the manifest
declares) are exactly what the interpreter consumes. ONNX sources reach torch.export through
edgesdk.onnx_import (onnx2fx) first, so they keep the NCHW layout too; the ONNX -> TensorFlow ->
TFLite route (onnx2tf) would need TensorFlow and rewrites layouts to NHWC.

Host parity runs the file in the `ai-edge-litert` interpreter (never `tflite-runtime`, which
needs numpy<2 and gave wrong int8 results here). The model has one signature, `serving_default`,
with inputs `args_<i>` and outputs `output_<i>` in the manifest's order.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import numpy as np

from edgesdk import buildlog
from edgesdk.backends.base import Artifact, Backend, Runner
from edgesdk.backends.torch_export import example_inputs, exported_program, route
from edgesdk.dtypes import names_by
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel

MODEL_FILE = "model.tflite"
SIGNATURE = "serving_default"


class TfliteBackend(Backend):
    name = "tflite"
    display_name = "LiteRT"
    extra = "tflite"
    quantizer = "edgesdk.quantize.tflite"
    languages = ("kotlin",)

    def is_available(self) -> tuple[bool, str]:
        try:
            versions = _versions()
        except metadata.PackageNotFoundError:
            return False, "pip install 'edgesdk[tflite]'"
        return True, f"litert-torch {versions['litert-torch']} (convert), ai-edge-litert {versions['ai-edge-litert']} (host parity)"

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        program = exported_program(source, manifest, self.name)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / MODEL_FILE
        _convert(program, example_inputs(manifest), target, source.origin)
        _check_io(target, manifest)
        return Artifact(
            folder=out_dir,
            main=MODEL_FILE,
            files=[MODEL_FILE],
            runtime=self.name,
            runtime_versions=_versions(),
            notes=[f"signature '{SIGNATURE}': inputs args_<i>, outputs output_<i>, in the manifest's order; NCHW input as declared"],
            route=route(source, self.display_name),
        )

    def glue_runtime_version(self, artifact: Artifact) -> str:
        return artifact.runtime_versions.get("android", "")

    def android_libraries(self) -> list[Path]:
        # Never compiled against stand-ins: the real API is on Google Maven / Maven Central only.
        raise BackendUnavailable("no LiteRT AAR (com.google.ai.edge.litert:litert) on reachable registries")

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        signature = _interpreter(artifact.main_path, threads).get_signature_runner(SIGNATURE)

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            outs = signature(**{f"args_{i}": np.ascontiguousarray(v) for i, v in enumerate(feeds.values())})
            return [outs[k] for k in sorted(outs, key=_output_position)]

        return run


def _versions() -> dict[str, str]:
    litert = metadata.version("ai-edge-litert")
    # android: the LiteRT AAR (com.google.ai.edge.litert:litert) the Kotlin glue depends on. LiteRT
    # ships the Python interpreter and the AAR from one release, so the Android app runs the release
    # the parity gate ran; newer ones keep supporting the .tflite's op versions.
    return {"litert-torch": metadata.version("litert-torch"), "ai-edge-litert": litert, "android": litert}


def _output_position(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def _interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path), num_threads=threads)


def _convert(program, example: tuple, target: Path, origin: str) -> None:
    # litert-torch imports TensorFlow/JAX pieces that log at import; keep the build's output clean.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import litert_torch

    try:
        with buildlog.capture("litert_torch.convert"):
            # litert-torch re-exports what it is given, so it gets the program's module.
            litert_torch.convert(program.module(), example).export(str(target))
    except Exception as exc:  # the converter raises many types; the first line says which op failed
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"TFLite conversion of {origin} failed: {text[0] if text else type(exc).__name__}") from exc


_TFLITE_DTYPES = names_by("numpy")  # the interpreter reports numpy scalar types


def _check_io(path: Path, manifest: Manifest) -> None:
    """The converted signature must take the manifest's inputs (shape, dtype) and give its outputs."""
    interpreter = _interpreter(path, 1)
    details = interpreter.get_signature_runner(SIGNATURE)
    inputs, outputs = details.get_input_details(), details.get_output_details()
    if len(inputs) != len(manifest.model.inputs):
        raise ManifestError("model.inputs", f"declares {len(manifest.model.inputs)} input(s); the .tflite has {len(inputs)}")
    for i, spec in enumerate(manifest.model.inputs):
        got = inputs[f"args_{i}"]
        dtype = _TFLITE_DTYPES.get(got["dtype"], str(got["dtype"]))
        if list(got["shape"]) != list(spec.shape) or dtype != spec.dtype:
            raise ManifestError(f"model.inputs[{i}]", f"{spec.shape} {spec.dtype} is not what the .tflite takes: {list(got['shape'])} {dtype}")
    if len(outputs) != len(manifest.model.outputs):
        raise ManifestError("model.outputs", f"declares {len(manifest.model.outputs)} output(s); the .tflite gives {len(outputs)}")


BACKEND = TfliteBackend()
