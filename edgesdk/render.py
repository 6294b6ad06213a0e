"""Render generated code from Jinja2 templates.

The environment is sandboxed and strict: a template that names something the context lacks is a
bug, never an empty string. Paths inside a template tree may themselves hold `{{ }}` expressions
(e.g. `include/{{ ident.snake }}.hpp`); files ending in `.j2` are rendered, others copied as is.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from edgesdk import naming

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
RUNTIMES_DIR = REPO_ROOT / "runtimes"
SAMPLE_APPS_DIR = REPO_ROOT / "sample_apps"

FILTERS = {
    "snake": naming.snake,
    "pascal": naming.pascal,
    "camel": naming.camel,
    "cpp_ident": naming.cpp_ident,
    "kotlin_ident": naming.kotlin_ident,
    "swift_ident": naming.swift_ident,
    "cpp_string": naming.cpp_string,
    "kotlin_string": naming.kotlin_string,
    "swift_string": naming.swift_string,
    "json_string": naming.json_string,
    "cpp_float": naming.cpp_float,
    "kotlin_float": naming.kotlin_float,
    "swift_float": naming.swift_float,
}


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def render_string(template: str, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> str:
    return (env or make_environment()).from_string(template).render(**context)


def render_tree(src: Path, dst: Path, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> list[Path]:
    """Render every file under `src` into `dst`; returns the written paths, sorted."""
    env = env or make_environment()
    written: list[Path] = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        if "__pycache__" in rel:
            continue
        rel = render_string(rel, context, env)
        target = dst / (rel[:-3] if rel.endswith(".j2") else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".j2":
            target.write_text(env.from_string(path.read_text(encoding="utf-8")).render(**context), encoding="utf-8")
        else:
            shutil.copyfile(path, target)
        written.append(target)
    return sorted(written)
