"""The Kotlin core's limits and option checks on the host JVM: an image over ImageLimits, a
keep_ratio resize of a thin strip, and thread counts out of range are InvalidInputExceptions
naming the limit and the value (issue #22)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgesdk import hosttest_kotlin, naming, render
from edgesdk.backends.onnxruntime import CPP_RUNTIME_VERSION
from edgesdk.limits import IMAGE_LIMITS, MAX_THREADS

pytestmark = pytest.mark.kotlin

NAME = "limits check"
STEPS = [
    {"op": "resize", "size": [100, 100], "interpolation": "bilinear", "keep_ratio": True, "antialias": False},
    {"op": "center_crop", "size": [64, 64]},
    {"op": "layout", "layout": "nchw"},
]


def _context() -> dict:
    context = {
        "name": NAME,
        "ident": {"snake": naming.snake(NAME), "pascal": naming.pascal(NAME), "camel": naming.camel(NAME)},
        "cpp_namespace": naming.cpp_namespace(NAME),
        "version": "1.0.0",
        "task": "custom",
        "target": "android",
        "runtime": "onnxruntime",
        "runtime_version": CPP_RUNTIME_VERSION,
        "edgesdk_version": "0.1.0",
        "model": {"file": "model.onnx", "sha256": "0" * 64, "encrypted": False},
        "inputs": [{"name": "input", "shape": [1, 3, 64, 64], "dtype": "float32"}],
        "outputs": [{"name": "out", "shape": [1, 4], "dtype": "float32"}],
        "preprocess": {"input_color": "rgb", "steps": STEPS},
        "postprocess": {"output_index": 0, "steps": [], "labels": []},
    }
    return {**context, "adapter": render.adapter_fragments("onnxruntime", "kotlin", context)}


def test_kotlin_core_refuses_over_limit_images_and_bad_threads(tmp_path):
    problem = hosttest_kotlin.toolchain_problem()
    if problem:
        pytest.skip(problem)
    sdk = tmp_path / "sdk"
    render.render_tree(render.TEMPLATES_DIR / "kotlin", sdk, _context())
    package = hosttest_kotlin.package_of(NAME)
    check = tmp_path / "LimitsCheck.kt"
    check.write_text(f"package {package}.check\n\nimport {package}.core.*\n\n" + Path(__file__).with_name("LimitsCheck.kt").read_text(encoding="utf-8"), encoding="utf-8")
    jar = tmp_path / "check.jar"
    hosttest_kotlin.compile_kotlin([*hosttest_kotlin.core_sources(sdk), check], jar)
    proc = subprocess.run(["java", "-cp", str(jar), f"{package}.check.LimitsCheckKt"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    side, intermediate = IMAGE_LIMITS["max_image_side"], IMAGE_LIMITS["max_intermediate_side"]
    assert lines == {
        "strip": f"keep_ratio resize output 1638400x100 has a side over ImageLimits.maxIntermediateSide = {intermediate}",
        "wide": f"image 20000x1 has a side over ImageLimits.maxImageSide = {side}",
        "pixels": "image 45x41 has more pixels than ImageLimits.maxImagePixels = 1844",
        "side": "image 45x41 has a side over ImageLimits.maxImageSide = 44",
        "ok": "accepted",
        "threads": f"intraOpThreads is 1000000; allowed: 0 (the runtime's default) to {MAX_THREADS}",
        "negative-threads": f"intraOpThreads is -1; allowed: 0 (the runtime's default) to {MAX_THREADS}",
        "max-threads": "accepted",
        "zero-limit": "ImageLimits.maxIntermediatePixels is 0; allowed: >= 1",
    }
