"""pydantic ValidationError -> one ManifestError naming the field path (e.g.
`preprocess.steps[1].resize.size`) and what is allowed there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from edgesdk.errors import ManifestError
from edgesdk.manifest.schema import POST_STEPS, PRE_STEPS, Manifest, PostprocessSpec, PreprocessSpec


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    items = list(loc)
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            # A tagged union repeats the tag before the field of the same name: keep one.
            if i + 1 < len(items) and items[i + 1] == item and (item in PRE_STEPS or item in POST_STEPS):
                i += 1
            parts.append(("." if parts else "") + str(item))
        i += 1
    return "".join(parts)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that holds the key at `loc` (for 'unknown key' messages)."""
    model: Any = Manifest
    items = list(loc[:-1])
    i = 0
    while i < len(items) and model is not None:
        item = items[i]
        if isinstance(item, int):
            i += 1
            continue
        if item == "steps" and model in (PreprocessSpec, PostprocessSpec):
            table = PRE_STEPS if model is PreprocessSpec else POST_STEPS
            tag = next((x for x in items[i + 1 :] if not isinstance(x, int)), None)
            if tag not in table:
                return []
            model = table[tag]
            i = items.index(tag, i + 1) + 1
            continue
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            return []
        model = _model_in(field.annotation)
        i += 1
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    if getattr(annotation, "__metadata__", None) is not None:
        return _model_in(annotation.__origin__)
    return None


def to_manifest_error(exc: ValidationError) -> ManifestError:
    """The first error of `exc` as one ManifestError: the field path and what is allowed there."""
    errors = exc.errors(include_url=False)
    # Prefer the most specific error: a missing key beats the union noise around it.
    err = errors[0]
    loc = tuple(err["loc"])
    path = _loc_to_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        parent = _loc_to_path(loc[:-1])
        return ManifestError(parent or str(loc[-1]), f"unknown key '{loc[-1]}'" + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
    if kind == "missing":
        return ManifestError(path, "required field is missing")
    if kind == "union_tag_not_found":
        table = PRE_STEPS if loc and loc[0] == "preprocess" else POST_STEPS
        return ManifestError(path, "each step is a mapping with exactly one key, one of: " + ", ".join(table))
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return ManifestError(path, f"unknown step '{ctx.get('tag')}' (allowed: {ctx.get('expected_tags', '').replace(chr(39), '')})")
    if kind == "string_pattern_mismatch":
        hints = {
            "name": "lower-case letters, digits and '-', starting with a letter, at most 64 characters",
            "version": "semantic version MAJOR.MINOR.PATCH, e.g. 1.2.0",
            "key": "env:NAME or file:path (never a literal key)",
        }
        # A tensor's name (model.inputs[i].name) is not the manifest's name: it has its own pattern.
        tensor = len(loc) > 1 and loc[0] == "model"
        hint = f"must match {err.get('ctx', {}).get('pattern')}" if tensor else hints.get(str(loc[-1]), f"must match {err.get('ctx', {}).get('pattern')}")
        return ManifestError(path, f"{err['input']!r} is not valid: {hint}")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "finite_number":
        message = f"{err['input']!r} is not allowed: must be a finite number"
    elif kind == "literal_error":
        message = f"{err['input']!r} is not allowed (expected {err.get('ctx', {}).get('expected')})"
    return ManifestError(path, message)
