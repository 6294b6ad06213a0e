"""Validation entry points: a manifest file (safe YAML, duplicate keys refused), a mapping, or a
manifest with command-line overrides -> a validated Manifest, or one ManifestError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgesdk import targets
from edgesdk.errors import ManifestError
from edgesdk.manifest import limits
from edgesdk.manifest.checks import check_semantics
from edgesdk.manifest.schema import SCHEMA_VERSION, Manifest, expand_bare_step
from edgesdk.manifest.translate import to_manifest_error


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys instead of silently keeping the last one, and nesting
    deeper than limits.MAX_YAML_DEPTH (PyYAML composes recursively: 2000 levels is a RecursionError)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > limits.MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {limits.MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _count_nodes(data: Any, budget: int) -> int:
    """Nodes in `data` with shared (aliased) objects counted each time they appear, stopping once
    `budget` is exceeded: an anchor bomb is refused without walking it."""
    seen, stack = 0, [data]
    while stack and seen <= budget:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return seen


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    if not path.exists():
        raise ManifestError("", f"manifest not found: {path}")
    if not path.is_file():
        raise ManifestError("", f"{path} is not a regular file (a manifest is a YAML file)")
    size = path.stat().st_size
    if size > limits.MAX_MANIFEST_BYTES:
        raise ManifestError("", f"{path} is {size} bytes; a manifest may hold at most {limits.MAX_MANIFEST_BYTES}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f": line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # A ReaderError (a control character) has no problem text, and its str() spans lines.
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ManifestError("", f"{path}{where}: invalid YAML: {problem}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError("", f"{path} is not UTF-8 text") from exc
    if not isinstance(data, dict):
        raise ManifestError("", f"{path}: the manifest must be a YAML mapping (got {type(data).__name__})")
    if _count_nodes(data, limits.MAX_YAML_NODES) > limits.MAX_YAML_NODES:
        raise ManifestError("", f"{path}: more than {limits.MAX_YAML_NODES} YAML values (with anchors expanded); a manifest is far smaller")
    return _validate(data, path.parent.resolve(), path.resolve())


def manifest_from_dict(data: dict[str, Any], base_dir: Path, path: Path | None = None) -> Manifest:
    """`path`: the file `data` was derived from, if any (edgesdk matrix: a manifest with overrides)."""
    return _validate(data, Path(base_dir).resolve(), path)


def with_overrides(manifest: Manifest, target: str | None = None, runtime: str | None = None) -> Manifest:
    """`manifest` validated again with --target / --runtime in place of its own fields."""
    data = dict(manifest._raw)
    if target is not None:
        data["target"] = target
        if runtime is None and manifest.runtime is not None and manifest.runtime not in targets.runtimes_for(target):
            data["runtime"] = None  # a --target switch drops a manifest runtime the new target lacks
    if runtime is not None:
        data["runtime"] = runtime
    return _validate(data, manifest.base_dir, manifest.path, cli=True)


def _validate(data: dict[str, Any], base_dir: Path, path: Path | None, cli: bool = False) -> Manifest:
    if isinstance(data, dict) and "schema_version" in data and data["schema_version"] != SCHEMA_VERSION:
        raise ManifestError("schema_version", f"{data['schema_version']!r} is not supported (this edgesdk reads schema_version {SCHEMA_VERSION})")
    if isinstance(data, dict):
        data = _expand_bare_steps(data)
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise to_manifest_error(exc) from exc
    manifest._raw = data
    manifest._base_dir = base_dir
    manifest._path = path
    check_semantics(manifest, cli=cli)
    return manifest


def _expand_bare_steps(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    post = data.get("postprocess")
    if isinstance(post, dict) and isinstance(post.get("steps"), list):
        data["postprocess"] = {**post, "steps": [expand_bare_step(s) for s in post["steps"]]}
    return data
