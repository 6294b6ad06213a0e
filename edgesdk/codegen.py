"""Per-step code generation: which manifest steps each generated language implements.

Every language's templates (`templates/<lang>/`) hold a step library, `_steps.j2`, with one macro
per manifest step: `pre_<op>(step)` for a pre-processing step, `post_<op>(step, post)` for a
post-processing step (docs/glue-context.md, "Step macros"). Those macro names are the registry:
`steps_for(language)` reads them, `check_steps` refuses a bundle with a step that one of its
languages has no macro for before anything is rendered, and the templates reach every macro
through `step_code`, which refuses such a step the same way should one ever get that far. No step
is ever left out of the generated code in silence.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment, nodes
from jinja2.environment import TemplateModule
from jinja2.runtime import Macro

from edgesdk.errors import PackagingError, UnsupportedOpError
from edgesdk.package_data import TEMPLATES_DIR

STEP_LIBRARY = "_steps.j2"
# Macro prefix -> the context key (and manifest field) holding those steps.
SECTIONS = {"pre": "preprocess", "post": "postprocess"}


def library_name(language: str) -> str:
    """The step library's name for `{% import %}` (the environment's loader reads TEMPLATES_DIR)."""
    return f"{language}/{STEP_LIBRARY}"


@functools.cache
def steps_for(language: str) -> dict[str, tuple[str, ...]]:
    """{"pre": ops, "post": ops} the `language` glue has a macro for, in library order."""
    path = TEMPLATES_DIR / library_name(language)
    if not path.is_file():
        raise PackagingError(f"the {language} step library is missing from this edgesdk installation ({path}); reinstall edgesdk")
    # Parsed, not rendered: the names are all the registry needs.
    macros = [node.name for node in Environment().parse(path.read_text(encoding="utf-8")).body if isinstance(node, nodes.Macro)]
    return {section: tuple(name[len(section) + 1 :] for name in macros if name.startswith(section + "_")) for section in SECTIONS}


def _field(section: str, index: int, op: Any) -> str:
    return f"{SECTIONS[section]}.steps[{index}].{op}"


def _no_macro(language: str, section: str, index: int, op: Any) -> UnsupportedOpError:
    have = ", ".join(steps_for(language)[section])
    return UnsupportedOpError(f"{_field(section, index, op)}: the {language} glue has no {SECTIONS[section]} step '{op}' (it has: {have})")


def check_steps(context: dict[str, Any], languages: Iterable[str]) -> None:
    """Refuse what the glue of `languages` cannot generate, before anything is rendered: a step
    without a macro, and post-processing the Python reference refuses (argmax/topk outside
    classification or before the last step); generated code never differs from it in silence."""
    from edgesdk.processing import ProcessingError
    from edgesdk.processing.postprocess import check_steps as reference_check

    for language in languages:
        have = steps_for(language)
        for section, key in SECTIONS.items():
            for index, step in enumerate(context[key]["steps"]):
                if step.get("op") not in have[section]:
                    raise _no_macro(language, section, index, step.get("op"))
    try:
        reference_check(context["postprocess"]["steps"], context["task"])
    except ProcessingError as exc:
        raise UnsupportedOpError(f"{exc}; the Python reference refuses it, so no glue is generated for it") from exc


def step_code(library: TemplateModule, section: str, index: int, step: dict[str, Any], *state: Any) -> str:
    """Template global: the code of `step`, the `index`th step of `section` ("pre" or "post"),
    from the macro `<section>_<op>` of the step `library` a template imported. `state` goes to
    the macro as is (post steps: the `post` namespace)."""
    language = (library.__name__ or "").split("/")[0]
    macro = getattr(library, f"{section}_{step['op']}", None)
    if not isinstance(macro, Macro):
        raise _no_macro(language, section, index, step["op"])
    try:
        return macro(step, *state)
    except UnsupportedOpError as exc:  # a macro's refuse(): give it the step's field
        raise UnsupportedOpError(f"{_field(section, index, step['op'])}: {exc} (in the {language} glue)") from exc


# Optional parts of the pre-processing op libraries: generated code carries one only when a step
# needs it, so an SDK that uses none of them keeps the bytes it had before they existed.
PRE_FEATURES = {
    "size_rule": lambda step: step.get("op") == "resize" and step.get("size") is None,
    "pad": lambda step: step.get("op") == "pad",
}


def pre_uses(steps: Iterable[dict[str, Any]], feature: str) -> bool:
    """Template global: whether the normalized pre-processing `steps` need `feature` (PRE_FEATURES)."""
    return any(PRE_FEATURES[feature](step) for step in steps)


def refuse(message: str) -> str:
    """Template global: a step macro's way to refuse a step it cannot generate code for."""
    raise UnsupportedOpError(message)
