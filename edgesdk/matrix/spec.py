"""The matrix file (pydantic, like the manifest) and its expansion into cells.

```yaml
schema_version: 1
manifests: [models/*/edgesdk.yaml]        # paths or globs, relative to this file
axes:
  targets: [x86, arm]                     # default: each manifest's own target
  runtimes: all                           # all: every runtime of each target; a list; default: the target's default
  quantization:                           # a mode, or a whole `quantization:` block; default: the manifest's
    - none
    - fp16
    - {mode: int8, calibration: {data: calib/, samples: 16}}
  overrides:                              # named sets of dotted manifest keys; default: none
    strict: {parity.max_abs: 1.0e-6}
resources: {num_cpus: 1, memory_mb: 3072}  # per cell (Ray schedules by them)
ray: {runtime_env: {working_dir: .}}      # passed to ray.init when the matrix runs on Ray
```
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgesdk.errors import ManifestError
from edgesdk.manifest.translate import to_manifest_error
from edgesdk.targets import TARGETS

MAX_CELLS = 10_000
DOTTED_KEY = r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$"
OVERRIDE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
RUNTIME_NAMES = tuple(dict.fromkeys(r for t in TARGETS.values() for r in t.runtimes))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Axes(_Strict):
    targets: list[Literal[tuple(TARGETS)]] | None = Field(None, min_length=1)  # type: ignore[valid-type]
    # `all` (every runtime of each target) or runtime names; `runtimes: all` reads as [all].
    runtimes: list[Literal[("all", *RUNTIME_NAMES)]] | None = Field(None, min_length=1)  # type: ignore[valid-type]
    quantization: list[str | dict[str, Any]] | None = Field(None, min_length=1)
    overrides: dict[str, dict[str, Any]] | None = None

    @field_validator("runtimes", mode="before")
    @classmethod
    def _one_word(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Resources(_Strict):
    num_cpus: float = Field(1, gt=0, le=256)
    memory_mb: int = Field(3072, ge=64, le=1 << 22)


class RaySettings(_Strict):
    runtime_env: dict[str, Any] | None = None


class MatrixFile(_Strict):
    schema_version: Literal[1]
    manifests: list[str] = Field(min_length=1)
    axes: Axes = Axes()
    resources: Resources = Resources()
    ray: RaySettings = RaySettings()


@dataclass(frozen=True)
class Cell:
    """One build: a manifest with a target, runtime, quantization block and overrides."""

    name: str
    manifest: str  # absolute path
    target: str | None
    runtime: str | None
    quantization: dict[str, Any] | None  # None: the manifest's own
    overrides: dict[str, Any] = field(default_factory=dict)
    override_name: str | None = None

    @property
    def precision(self) -> str:
        return str(self.quantization["mode"]) if self.quantization is not None else "manifest"


@dataclass(frozen=True)
class Matrix:
    path: Path
    file: MatrixFile
    cells: list[Cell]


def load_matrix(path: str | Path) -> Matrix:
    """The matrix file validated and expanded; a bad file is a ManifestError naming the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError("", f"cannot read matrix file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError("", f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError("", f"{path}: a matrix file is a mapping with schema_version, manifests and axes")
    try:
        spec = MatrixFile.model_validate(data)
    except ValidationError as exc:
        raise to_manifest_error(exc) from exc
    _check(spec)
    manifests = _manifest_paths(path.parent.resolve(), spec.manifests)
    cells = _expand(manifests, spec)
    return Matrix(path, spec, cells)


def _check(spec: MatrixFile) -> None:
    if spec.axes.runtimes is not None and "all" in spec.axes.runtimes and len(spec.axes.runtimes) > 1:
        raise ManifestError("axes.runtimes", "either all or a list of runtime names, not both")
    for i, q in enumerate(spec.axes.quantization or []):
        if isinstance(q, dict) and not isinstance(q.get("mode"), str):
            raise ManifestError(f"axes.quantization[{i}].mode", "a quantization block in the matrix names its mode (e.g. {mode: int8, calibration: {data: calib/}})")
    for name, keys in (spec.axes.overrides or {}).items():
        if not re.match(OVERRIDE_NAME, name):
            raise ManifestError(f"axes.overrides.{name}", "an override set's name is lower-case letters, digits, '-' and '_' (it becomes part of the cell's folder name)")
        for key in keys:
            if not re.match(DOTTED_KEY, key):
                raise ManifestError(f"axes.overrides.{name}", f"'{key}' is not a dotted manifest key such as parity.max_abs")
            if key.split(".")[0] in ("target", "runtime") or key == "quantization.mode":
                raise ManifestError(f"axes.overrides.{name}.{key}", "targets, runtimes and quantization modes are axes of their own (axes.targets, axes.runtimes, axes.quantization)")


def _manifest_paths(base: Path, patterns: list[str]) -> list[Path]:
    found: list[Path] = []
    for i, pattern in enumerate(patterns):
        if glob.has_magic(pattern):
            matches = sorted(Path(p).resolve() for p in glob.glob(str(base / pattern), recursive=True))
            if not matches:
                raise ManifestError(f"manifests[{i}]", f"'{pattern}' matches no file under {base}")
        else:
            matches = [(base / pattern).resolve()]
            if not matches[0].is_file():
                raise ManifestError(f"manifests[{i}]", f"{matches[0]} does not exist")
        found += [m for m in matches if m not in found]
    return found


def manifest_label(path: Path) -> str:
    """A manifest's part of its cells' names: the file's stem, or its folder's name for edgesdk.yaml.
    Taken from the path, not the contents, so a manifest that does not load still names its cell."""
    stem = path.stem if path.stem not in ("edgesdk", "manifest") else path.parent.name
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-") or "manifest"


def _target_runtimes(spec: MatrixFile, target: str | None) -> list[str | None]:
    runtimes = spec.axes.runtimes
    if runtimes is None:
        return [None]
    if runtimes == ["all"]:
        return list(TARGETS[target].runtimes) if target is not None else [None]
    return list(runtimes)


def _expand(manifests: list[Path], spec: MatrixFile) -> list[Cell]:
    labels = [manifest_label(p) for p in manifests]
    clash = next((label for label in labels if labels.count(label) > 1), None)
    if clash is not None:
        same = [str(p) for p, label in zip(manifests, labels) if label == clash]
        raise ManifestError("manifests", f"two manifests would name their cells '{clash}' ({', '.join(same)}): give them different file or folder names")
    quantizations: list[dict[str, Any] | None] = [({"mode": q} if isinstance(q, str) else dict(q)) for q in spec.axes.quantization] if spec.axes.quantization else [None]
    overrides: list[tuple[str | None, dict[str, Any]]] = list((spec.axes.overrides or {}).items()) or [(None, {})]
    cells = []
    for path, label in zip(manifests, labels):
        for target in spec.axes.targets or [None]:
            for runtime in _target_runtimes(spec, target):
                for q in quantizations:
                    for override_name, values in overrides:
                        parts = [label, target, runtime, q["mode"] if q is not None else None, override_name]
                        name = "-".join(p for p in parts if p)
                        cells.append(Cell(name, str(path), target, runtime, q, dict(values), override_name))
    names = [c.name for c in cells]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ManifestError("axes", f"two cells would both be named '{duplicate}': an axis lists a value twice")
    if len(cells) > MAX_CELLS:
        raise ManifestError("axes", f"{len(cells)} cells; at most {MAX_CELLS}")
    return cells
