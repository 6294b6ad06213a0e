"""The Kotlin core's limits and option checks on the host JVM: an image over ImageLimits, a
keep_ratio resize of a thin strip, and thread counts out of range are InvalidInputExceptions
naming the limit and the value (issue #22)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from core_context import core_context

from edgesdk import hosttest_kotlin, render
from edgesdk.limits import IMAGE_LIMITS, MAX_THREADS

pytestmark = pytest.mark.kotlin

NAME = "limits check"
STEPS = [
    {"op": "resize", "size": [100, 100], "interpolation": "bilinear", "keep_ratio": True, "antialias": False},
    {"op": "center_crop", "size": [64, 64]},
    {"op": "layout", "layout": "nchw"},
]


def _context() -> dict:
    return core_context(NAME, "rgb", STEPS, input_shape=(1, 3, 64, 64))


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
        "threads": f"LoadOptions.threads is 1000000; allowed: 0 (the runtime's default) to {MAX_THREADS}",
        "negative-threads": f"LoadOptions.threads is -1; allowed: 0 (the runtime's default) to {MAX_THREADS}",
        "max-threads": "accepted",
        "zero-limit": "ImageLimits.maxIntermediatePixels is 0; allowed: >= 1",
    }
