"""The glue context of a bare Kotlin core (no model, an 8x8 input unless told), for tests that
render the core's templates with their own steps and run them on the JVM."""

from __future__ import annotations

from edgesdk import naming, render
from edgesdk.backends.onnxruntime import CPP_RUNTIME_VERSION


def core_context(name: str, input_color: str, steps: list[dict], *, input_shape: tuple[int, ...] = (1, 3, 8, 8), task: str = "custom", post_steps: list[dict] | None = None) -> dict:
    context = {
        "name": name,
        "ident": {"snake": naming.snake(name), "pascal": naming.pascal(name), "camel": naming.camel(name)},
        "cpp_namespace": naming.cpp_namespace(name),
        "version": "1.0.0",
        "task": task,
        "target": "android",
        "runtime": "onnxruntime",
        "runtime_version": CPP_RUNTIME_VERSION,
        "edgesdk_version": "0.1.0",
        "model": {"file": "model.onnx", "sha256": "0" * 64, "encrypted": False},
        "inputs": [{"name": "input", "shape": list(input_shape), "dtype": "float32"}],
        "outputs": [{"name": "out", "shape": [1, 4], "dtype": "float32"}],
        "preprocess": {"input_color": input_color, "steps": steps},
        "image_input": None,
        "postprocess": {"output_index": 0, "steps": post_steps or [], "labels": []},
    }
    return {**context, "adapter": render.adapter_fragments("onnxruntime", "kotlin", context)}
