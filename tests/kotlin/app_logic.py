"""tests/kotlin/AppLogicCheck.kt against Kotlin cores rendered from a template tree (the package's
own, or a mutated copy: tests/opcheck/mutants.py), compiled with kotlinc and run on the JVM. The core is a bare classification one (two classes, softmax + topk 5) on the ONNX Runtime
accelerators."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core_context import core_context
from jinja2 import FileSystemLoader

from edgesdk import hosttest_kotlin
from edgesdk.render import make_environment

CHECK = Path(__file__).resolve().parent / "AppLogicCheck.kt"
CORE = "kotlin/src/main/kotlin/ai/edgesdk/__kotlin_package__/core"
POST_STEPS = [{"op": "softmax", "axis": -1}, {"op": "topk", "k": 5}]
RUN_TIMEOUT_S = 120


def render_core(templates: Path, name: str, out: Path) -> list[Path]:
    """Every core file of `templates` for a model `name`, and the check in its package."""
    context = core_context(name, "rgb", [], task="classification", post_steps=POST_STEPS)
    env = make_environment()
    env.loader = FileSystemLoader(str(templates))  # the step and name macros come from this tree too
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted((templates / CORE).glob("*.kt.j2")):
        target = folder / template.name.removesuffix(".j2")
        target.write_text(env.from_string(template.read_text(encoding="utf-8")).render(**context), encoding="utf-8")
        written.append(target)
    return [*written, hosttest_kotlin.write_runner(hosttest_kotlin.package_of(name), folder, CHECK)]


def run_checks(cores: dict[str, Path], work: Path) -> dict[str, subprocess.CompletedProcess]:
    """name -> templates folder; returns each core's check run (stdout: one `ok`/`FAIL` line per
    check). One kotlinc run per core: several cores in one run pass the compile timeout on a busy
    machine, and an unchanged core's jar comes from the cache."""
    runs = {}
    for name, templates in cores.items():
        jar = work / f"{name}.jar"
        hosttest_kotlin.compile_kotlin(render_core(templates, name, work / "src"), jar)
        runs[name] = subprocess.run(["java", "-cp", str(jar), f"{hosttest_kotlin.package_of(name)}.golden.AppLogicCheckKt"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return runs
