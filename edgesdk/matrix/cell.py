"""One matrix cell: an ordinary build (api.build, its own staging folder and output folder) run in
a process of its own, and what the matrix reports of it. Everything here runs in the worker: a cell
that fails, or crashes its converter, touches no other cell."""

from __future__ import annotations

import copy
import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.matrix.spec import Cell
from edgesdk.targets import TARGETS

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
# Parity figures the result table carries per output (parity.json holds them all).
PARITY_FIGURES = ("max_abs", "mean_abs", "cosine", "sqnr_db")


@dataclass
class CellResult:
    name: str
    manifest: str
    target: str | None
    runtime: str | None
    precision: str
    override: str | None
    status: str  # ok | failed | skipped
    exit_code: int
    reason: str = ""  # why it failed or was skipped
    seconds: float = 0.0  # the build, as api.build timed it (skipped or failed early: the cell's own time)
    bundle: str | None = None
    bundle_sha256: str | None = None  # over the bundle's files (bundle_digest)
    zip_sha256: str | None = None
    size_bytes: int | None = None
    parity: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    shared_hits: int = 0  # entries taken from the shared work (workcache) instead of computed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairing_problem(target: str | None, runtime: str | None) -> str | None:
    """Why `target` cannot take `runtime` at all (targets.py; no import of any runtime)."""
    if target is not None and runtime is not None and runtime not in TARGETS[target].runtimes:
        return f"target '{target}' offers runtimes {', '.join(TARGETS[target].runtimes)}; not {runtime}"
    return None


def skip_reason(target: str | None, runtime: str | None, mode: str | None) -> str | None:
    """Why `target`/`runtime`/`mode` cannot be built here, in the words `edgesdk targets` uses; None if it can."""
    if (problem := pairing_problem(target, runtime)) is not None or runtime is None:
        return problem
    from edgesdk.backends import availability

    ok, why = availability(runtime)
    if not ok:
        return f"runtime '{runtime}' is not available here: {why}"
    if mode is None or mode in ("none", "auto"):
        return None
    import importlib

    from edgesdk import quantize

    modules = quantize.translator_modules()
    if runtime not in modules:
        return f"runtime '{runtime}' has no quantization (runtimes with quantization: {', '.join(modules)})"
    modes = importlib.import_module(modules[runtime]).TRANSLATOR.modes
    if mode not in modes:
        return f"runtime '{runtime}' has no quantization mode '{mode}' (modes: {', '.join(modes)})"
    return None


def cell_manifest(cell: Cell):
    """The cell's manifest: the file with the cell's quantization block and dotted overrides in place."""
    from edgesdk.manifest import load_manifest, manifest_from_dict

    manifest = load_manifest(cell.manifest)
    if cell.quantization is None and not cell.overrides:
        return manifest
    data = copy.deepcopy(manifest._raw)
    if cell.quantization is not None:
        data["quantization"] = copy.deepcopy(cell.quantization)
    for key, value in cell.overrides.items():
        *parents, last = key.split(".")
        node = data
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {} if child is None else child
            if not isinstance(child, dict):
                from edgesdk.errors import ManifestError

                raise ManifestError(key, f"cannot set: '{part}' is not a mapping in {cell.manifest}")
            node = child
        node[last] = value
    return manifest_from_dict(data, manifest.base_dir, manifest.path)


def bundle_digest(folder: Path) -> str:
    """sha256 over every file of the bundle: its path and its bytes' sha256, in path order. A
    bundle holds no timestamp (sdk.json `created` is SOURCE_DATE_EPOCH; build.log has placeholders),
    so two builds of one cell give one digest."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return h.hexdigest()


def _parity_figures(report: dict[str, Any]) -> dict[str, Any]:
    if report.get("status") == "not_run":
        return {"status": "not_run", "reason": report.get("reason", "")}
    outputs = {name: {k: m[k] for k in PARITY_FIGURES if k in m} for name, m in report.get("outputs", {}).items()}
    return {"status": "passed" if report.get("passed") else "failed", "samples": report.get("samples"), "outputs": outputs, **({"task": report["task"]} if report.get("task") else {})}


def run_cell(cell: Cell, out_root: str, shared: Any = None, force: bool = False) -> dict[str, Any]:
    """Build `cell` into OUT_ROOT/<cell name>/; never raises (a failure is the result). `shared`:
    the shared work's entries, or the path of the .npz that holds them (workcache)."""
    started = time.perf_counter()
    result = CellResult(cell.name, cell.manifest, cell.target, cell.runtime, cell.precision, cell.override_name, OK, 0)
    try:
        from edgesdk.manifest import with_overrides

        manifest = with_overrides(cell_manifest(cell), target=cell.target, runtime=cell.runtime)
        result.target, result.runtime = manifest.resolved_target(), manifest.resolved_runtime()
        why = skip_reason(result.target, result.runtime, manifest.quantization.mode)
        if why is not None:
            result.status, result.reason = SKIPPED, why
        else:
            _build(manifest, Path(out_root) / cell.name, shared, force, result)
    except Exception as exc:
        from edgesdk.errors import EdgeSdkError

        result.status = FAILED
        result.exit_code = exc.exit_code if isinstance(exc, EdgeSdkError) else 1
        result.reason = str(exc) if isinstance(exc, EdgeSdkError) else f"internal error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        parity_path = getattr(exc, "report_path", None)
        if parity_path and Path(parity_path).is_file():
            result.parity = _parity_figures(json.loads(Path(parity_path).read_text(encoding="utf-8")))
    if not result.seconds:
        result.seconds = time.perf_counter() - started
    return result.as_dict()


def _build(manifest, out: Path, shared: Any, force: bool, result: CellResult) -> None:
    from edgesdk import api, workcache

    entries = workcache.load(Path(shared)) if isinstance(shared, (str, Path)) else shared
    with workcache.seeded(entries) as cache:
        built = api.build(manifest, out=out, force=force)
    result.shared_hits = cache.hits
    result.seconds = built.seconds
    result.stages = {k: round(v, 3) for k, v in built.stages.items()}
    result.bundle = str(built.bundle)
    result.bundle_sha256 = bundle_digest(built.bundle)
    result.zip_sha256 = built.zip_sha256
    result.size_bytes = sum(p.stat().st_size for p in built.bundle.rglob("*") if p.is_file())
    result.parity = _parity_figures(built.parity)


def prepare_shared(cell: Cell, save_to: str | None = None) -> Any:
    """The shared work of `cell`'s manifest (api.shared_work), in a worker: written to `save_to` (an
    .npz) when given, and that path returned; else the entries themselves (Ray keeps them in its
    object store). A manifest that does not load shares nothing; its cells report why."""
    from edgesdk import api, workcache

    try:
        entries = api.shared_work(cell_manifest(cell), cell.target, cell.runtime)
    except Exception:  # sharing saves time, nothing more: each cell then computes (and reports) for itself
        entries = {}
    if save_to is None:
        return entries
    workcache.save(entries, Path(save_to))
    return save_to
