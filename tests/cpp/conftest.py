"""Build generated C++ SDK bundles once per render context and share them across a test module."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from toolchains import need

from edgesdk.backends.onnxruntime import CPP_RUNTIME_VERSION, package_root
from edgesdk.bundle import write_json
from edgesdk.render import render_sample_app, render_sdk

ORT_ROOT = package_root()


def cpp_toolchain_missing() -> str | None:
    for tool in ("cmake", "g++"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps)"
    if not (ORT_ROOT / ".ok").exists():
        return f"ONNX Runtime C++ package missing at {ORT_ROOT} (make native-deps)"
    return None


def context(name: str, model_bytes: bytes, *, task: str, inputs: list, outputs: list, input_color: str, pre: list, post: list, labels: list[str], output_index: int = 0) -> dict:
    """A render context as docs/glue-context.md describes it."""
    from edgesdk.naming import camel, cpp_namespace, pascal, snake

    return {
        "name": name,
        "ident": {"snake": snake(name), "pascal": pascal(name), "camel": camel(name)},
        "cpp_namespace": cpp_namespace(name),
        "version": "1.0.0",
        "task": task,
        "target": "x86",
        "runtime": "onnxruntime",
        "runtime_display_name": "ONNX Runtime",
        "runtime_version": CPP_RUNTIME_VERSION,
        "edgesdk_version": "0.1.0",
        "model": {"file": "model.onnx", "sha256": hashlib.sha256(model_bytes).hexdigest(), "encrypted": False, "companions": []},
        "inputs": inputs,
        "outputs": outputs,
        "preprocess": {"input_color": input_color, "steps": pre},
        "postprocess": {"output_index": output_index, "steps": post, "labels": labels},
    }


class Bundle:
    """A rendered bundle (model/, sdk/cpp/, sample_app/) and its built edgesdk-run."""

    def __init__(self, root: Path, ctx: dict, model_bytes: bytes):
        self.root, self.ctx, self.model_bytes = root, ctx, model_bytes
        self.exe = root / "build" / "edgesdk-run"
        self.build_seconds = 0.0

    def render(self) -> None:
        render_sdk(self.root / "sdk" / "cpp", "cpp", self.ctx["runtime"], self.ctx)
        render_sample_app(self.root / "sample_app", "cpp-cli", self.ctx["runtime"], self.ctx)
        (self.root / "model").mkdir(parents=True, exist_ok=True)
        (self.root / "model" / self.ctx["model"]["file"]).write_bytes(self.model_bytes)
        # edgesdk-run refuses a bundle whose sdk.json pre-processing is not the one it was generated with.
        write_json(self.root / "sdk.json", {"name": self.ctx["name"], "preprocess": self.ctx["preprocess"], "task": self.ctx["task"]})

    def build(self) -> None:
        env = dict(os.environ, ONNXRUNTIME_ROOT=str(ORT_ROOT))
        start = time.monotonic()
        for cmd in (
            ["cmake", "-S", "sample_app", "-B", "build", "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=-Werror"],
            ["cmake", "--build", "build", "-j2"],
        ):
            proc = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        self.build_seconds = time.monotonic() - start

    def run(self, *args: str, bundle: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.exe), "--bundle", str(bundle or self.root), *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def build_bundle(tmp_path_factory):
    """build_bundle(key, ctx, model_bytes) -> Bundle, rendered and built once per module and key."""
    need(cpp_toolchain_missing())
    built: dict[str, Bundle] = {}

    def build(key: str, ctx: dict, model_bytes: bytes) -> Bundle:
        if key not in built:
            bundle = Bundle(tmp_path_factory.mktemp(key), ctx, model_bytes)
            bundle.render()
            bundle.build()
            built[key] = bundle
        return built[key]

    return build


@pytest.fixture(scope="module")
def bundles(build_bundle, request):
    """bundles(key) -> the Bundle of the test module's CONTEXTS[key] = (glue context, model bytes)."""
    contexts = request.module.CONTEXTS

    def get(key):
        ctx, model = contexts[key]
        return build_bundle(key, ctx, model)

    return get
