"""Render generated code from Jinja2 templates.

The environment is sandboxed and strict: a template that names something the context lacks is a
bug, never an empty string. Template trees are package data (found through importlib.resources,
so an installed wheel renders exactly what a checkout does); a path inside a tree names its
variable parts with the placeholders of PATH_PLACEHOLDERS (e.g. `include/__name_snake__.hpp`),
never with `{{ }}`, which cannot be checked out everywhere. Files ending in `.j2` are rendered,
others copied as is; a `.j2` that renders to whitespace only is not written (a file only some
bundles need wraps itself in `{% if %}`). A template tree or adapter that should exist and does not is an error: a
bundle never ships without the glue its target and runtime promise.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from edgesdk import codegen, naming
from edgesdk.dtypes import DTYPES
from edgesdk.errors import PackagingError
from edgesdk.limits import IMAGE_LIMITS, MAX_THREADS
from edgesdk.package_data import CROSS_TOOLCHAINS_DIR, RUNTIMES_DIR, SAMPLE_APPS_DIR, TEMPLATES_DIR, require_dir

# Placeholder in a template path -> its value, from the glue context.
PATH_PLACEHOLDERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "__name_snake__": lambda ctx: naming.snake(ctx["name"]),
    "__kotlin_package__": lambda ctx: naming.kotlin_package(ctx["name"]),
    "__kotlin_class__": lambda ctx: naming.kotlin_ident(naming.pascal(ctx["name"])),
    # The Swift package's module (and its public facade class): `Sources/__swift_module__/`.
    "__swift_module__": lambda ctx: naming.swift_module(ctx["name"]),
    "__swift_class__": lambda ctx: naming.swift_ident(naming.pascal(ctx["name"])),
}


def cpp_double(value: float) -> str:
    """A C++ double literal that reads back as exactly `value` (shortest round-trip repr)."""
    import math

    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} cannot become a literal")
    text = repr(value)
    return text if any(ch in text for ch in ".e") else text + ".0"


def swift_double(value: float) -> str:
    """A Swift Double literal that reads back as exactly `value`. On x86_64 Swift rounds a
    literal to Float80 first, then to Double: the rare literal that double-rounds is written as
    its bit pattern instead."""
    import numpy as np

    text = cpp_double(value)
    if np.float64(np.longdouble(text)) == float(text):
        return text
    return "Double(bitPattern: 0x%016X)" % int(np.float64(value).view(np.uint64))


def canonical_json(value: Any) -> str:
    """sdk.json's text of a value with the whitespace between tokens removed (bundle.write_json
    sorts keys and keeps UTF-8): what edgesdk-run compares a bundle's sdk.json section with."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


FILTERS = {
    "snake": naming.snake,
    "pascal": naming.pascal,
    "camel": naming.camel,
    "cpp_ident": naming.cpp_ident,
    "kotlin_ident": naming.kotlin_ident,
    "kotlin_package": naming.kotlin_package,
    "swift_ident": naming.swift_ident,
    "swift_module": naming.swift_module,
    "cpp_string": naming.cpp_string,
    "kotlin_string": naming.kotlin_string,
    "swift_string": naming.swift_string,
    "json_string": naming.json_string,
    "canonical_json": canonical_json,
    "cpp_float": naming.cpp_float,
    "cpp_double": cpp_double,
    "kotlin_float": naming.kotlin_float,
    # Kotlin reads a Double literal as Java's Double.parseDouble does (correctly rounded): the same text.
    "kotlin_double": cpp_double,
    "swift_float": naming.swift_float,
    "swift_double": swift_double,
}

# Manifest dtype -> how generated code spells it, taken from edgesdk/dtypes.py so that no
# template re-lists dtypes: C++ writes `DType::{{ cpp_dtype_enumerators[d] }}`, Kotlin the whole
# constant `{{ kotlin_dtype_constants[d] }}` (`DType.FLOAT32`).
GLOBALS = {
    "cpp_dtype_enumerators": {name: d.cpp for name, d in DTYPES.items()},
    "kotlin_dtype_constants": {name: f"DType.{d.kotlin}" for name, d in DTYPES.items()},
    # Swift's DType cases are numpy's names: `DType.{{ swift_dtype_cases[d] }}`.
    "swift_dtype_cases": {name: name for name in DTYPES},
    # The default run-time limits of every generated language (edgesdk/limits.py).
    "image_limits": IMAGE_LIMITS,
    "max_threads": MAX_THREADS,
}


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        # Templates import their language's step library by name: {% import "cpp/_steps.j2" as steps %}.
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    env.globals.update(step_code=codegen.step_code, refuse=codegen.refuse, pre_uses=codegen.pre_uses)
    return env


def render_string(template: str, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> str:
    return (env or make_environment()).from_string(template).render(**context)


def template_path(rel: str, context: dict[str, Any]) -> str:
    """`rel` with its placeholders replaced by their values."""
    for placeholder, value in PATH_PLACEHOLDERS.items():
        if placeholder in rel:
            rel = rel.replace(placeholder, value(context))
    return rel


def render_tree(src: Path, dst: Path, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> list[Path]:
    """Render every file under `src` into `dst`; returns the written paths, sorted. Files named
    `_*` directly in `src` are fragments (see `adapter_fragments`), not files of the tree."""
    env = env or make_environment()
    require_dir(src, f"template folder {src.name}")
    written: list[Path] = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        if "__pycache__" in rel or (path.parent == src and path.name.startswith("_") and not path.name.startswith("__")):
            continue
        rel = template_path(rel, context)
        target = dst / (rel[:-3] if rel.endswith(".j2") else rel)
        if path.suffix == ".j2":
            text = env.from_string(path.read_text(encoding="utf-8")).render(**context)
            if not text.strip():
                continue  # a file only some bundles have (e.g. model_crypto.cpp) renders to nothing in the others
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        written.append(target)
    return sorted(written)


# ---- the bundle's generated code ------------------------------------------------------------
# The language of each sample app's SDK (whose runtime fragments the app may use).
SAMPLE_APP_LANGUAGE = {"cpp-cli": "cpp", "android": "kotlin", "ios": "swift"}
# Kotlin and Swift adapters name their own package/module folder (ai/edgesdk/<package>/runtime/,
# <Module>/Runtime/) inside this one.
RUNTIME_ADAPTER_DIR = {"cpp": "src/runtime", "kotlin": "src/main/kotlin/ai/edgesdk", "swift": "Sources"}


def languages_for(target: str, runtime: str) -> tuple[str, ...]:
    """The languages a (target, runtime) bundle is generated in: those of the target for which
    the runtime's backend declares an adapter."""
    from edgesdk.backends import get_backend
    from edgesdk.targets import TARGETS

    glue = get_backend(runtime).languages
    return tuple(lang for lang in TARGETS[target].languages if lang in glue)


def companions(artifact) -> list[dict[str, str]]:
    """The artifact's files besides its main one (OpenVINO's weights), each with its sha256: the
    glue checks them as it checks the main file."""
    import hashlib

    return [{"file": f, "sha256": hashlib.sha256((artifact.folder / f).read_bytes()).hexdigest()} for f in artifact.files if f != artifact.main]


def model_context(model_files: list[dict[str, Any]]) -> dict[str, Any]:
    """`model` of the glue context: the main file and its companions as the glue finds them in
    model/, each with the sha256 of the bytes the runtime loads (the plaintext, when encrypted).
    An encrypted model adds the key id the glue expects; each file's envelope is bound to the
    bundle (name, version, target, runtime) and to its own file name."""
    main, *others = model_files
    context: dict[str, Any] = {
        "file": main["file"],
        "sha256": main["sha256"],
        "encrypted": "encryption" in main,
        "companions": [{"file": c["file"], "sha256": c["sha256"]} for c in others],
    }
    if context["encrypted"]:
        context["key_id"] = main["encryption"]["key_id"]
    return context


def glue_context(manifest, target: str, runtime: str, artifact, model_files: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """The context of docs/glue-context.md, built from the validated manifest; `model_files` as
    api._model_files lists them (main file first)."""
    import edgesdk
    from edgesdk.backends import get_backend

    backend = get_backend(runtime)

    return {
        "name": manifest.name,
        "ident": {"snake": naming.snake(manifest.name), "pascal": naming.pascal(manifest.name), "camel": naming.camel(manifest.name)},
        "cpp_namespace": naming.cpp_namespace(manifest.name),
        "version": manifest.version,
        "task": manifest.task,
        "target": target,
        "runtime": runtime,
        "runtime_display_name": backend.display_name,
        # The runtime release the glue is written for and checks at load (the backend's version guard).
        "runtime_version": backend.glue_runtime_version(artifact),
        "edgesdk_version": edgesdk.__version__,
        "model": model_context(model_files),
        "inputs": [i.model_dump() for i in manifest.model.inputs],
        "outputs": [o.model_dump() for o in manifest.model.outputs],
        "preprocess": {"input_color": manifest.preprocess.input_color, "steps": manifest.pre_steps()},
        "postprocess": {"output_index": manifest.post_output_index(), "steps": manifest.post_steps(), "labels": labels},
    }


def adapter_fragments(runtime: str, lang: str, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> dict[str, str]:
    """The `_<name>.<ext>[.j2]` files of `runtimes/<runtime>/<lang>/`, rendered: text a runtime
    puts into the language's shared templates (e.g. its Gradle dependency), keyed by <name>."""
    env = env or make_environment()
    fragments = {}
    folder = require_dir(RUNTIMES_DIR / runtime / lang, f"the {lang} adapter of runtime '{runtime}'")
    # Files only: the adapter's own `__kotlin_package__/` folder starts with `_` too.
    for path in sorted(p for p in folder.glob("_*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        text = env.from_string(text).render(**context) if path.suffix == ".j2" else text
        fragments[path.name[1:].split(".")[0]] = text.rstrip("\n")  # the template places the line breaks
    return fragments


def render_sdk(sdk_dir: Path, lang: str, runtime: str, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> None:
    """sdk/<lang>/: the language's templates, then the runtime's adapter inside them; both get
    the runtime's fragments as `adapter`."""
    env = env or make_environment()
    templates = require_dir(TEMPLATES_DIR / lang, f"the {lang} SDK templates")
    lang_context = {**context, "adapter": adapter_fragments(runtime, lang, context, env)}
    render_tree(templates, sdk_dir, lang_context, env)
    render_tree(RUNTIMES_DIR / runtime / lang, sdk_dir / RUNTIME_ADAPTER_DIR[lang], lang_context, env)


def render_sample_app(app_dir: Path, app: str, runtime: str, context: dict[str, Any], env: SandboxedEnvironment | None = None) -> None:
    """The sample app `app`; it gets its language's runtime fragments (e.g. the bench's bare session)."""
    env = env or make_environment()
    app_context = {**context, "adapter": adapter_fragments(runtime, SAMPLE_APP_LANGUAGE[app], context, env)}
    render_tree(require_dir(SAMPLE_APPS_DIR / app, f"the {app} sample app"), app_dir, app_context, env)


def render_bundle(stage: Path, context: dict[str, Any], target: str, runtime: str) -> None:
    from edgesdk.codegen import check_steps
    from edgesdk.targets import TARGETS

    env = make_environment()
    languages = languages_for(target, runtime)
    check_steps(context, languages)  # before anything is written: no step is ever left out in silence
    for lang in languages:
        render_sdk(stage / "sdk" / lang, lang, runtime, context, env)
    toolchain = TARGETS[target].cross_toolchain
    if toolchain is not None and "cpp" in languages:
        source = CROSS_TOOLCHAINS_DIR / f"{toolchain}.cmake"
        if not source.is_file():
            raise PackagingError(f"this edgesdk installation lacks the CMake toolchain file {source}")
        (stage / "sdk" / "cpp" / "cmake").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, stage / "sdk" / "cpp" / "cmake" / source.name)
    app = TARGETS[target].sample_app
    if app is not None and languages:  # a sample app without the SDK it builds on would not build
        render_sample_app(stage / "sample_app", app, runtime, context, env)
