"""One matrix cell: an ordinary build (api.build, its own staging folder and output folder) run in
a process of its own, and what the matrix reports of it. Everything here runs in the worker: a cell
that fails, or crashes its converter, touches no other cell."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.matrix.spec import Cell, Resources
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
    log: str | None = None  # what the cell's process printed
    probes_fanned_out: int = 0  # sensitivity probes (keep_float: auto) run as executor tasks

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairing_problem(target: str | None, runtime: str | None) -> str | None:
    """Why `target` cannot take `runtime` at all (targets.py; no import of any runtime)."""
    if target is not None and runtime is not None and runtime not in TARGETS[target].runtimes:
        return f"target '{target}' offers runtimes {', '.join(TARGETS[target].runtimes)}; not {runtime}"
    return None


def skip_reason(target: str | None, runtime: str | None, mode: str | None, calibration_method: str | None = None) -> str | None:
    """Why `target`/`runtime`/`mode` (calibrated with `calibration_method`) cannot be built here, in
    the words `edgesdk targets` uses; None if it can. One matrix axis serves every runtime, and
    runtimes differ in the calibration methods they honour: a method the runtime lacks is a cell it
    cannot take, not a failed one."""
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
    translator = importlib.import_module(modules[runtime]).TRANSLATOR
    if mode not in translator.modes:
        return f"runtime '{runtime}' has no quantization mode '{mode}' (modes: {', '.join(translator.modes)})"
    methods = quantize.honoured_methods(translator, mode, calibration_method) if calibration_method is not None else ()
    if calibration_method is not None and calibration_method not in methods:
        return f"runtime '{runtime}' has no calibration method '{calibration_method}' for {mode} (methods: {', '.join(methods)})"
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


LOGS_DIR = ".logs"  # under the matrix's output folder: what each cell's process printed


def _output_to(path: Path) -> None:
    """This process's stdout and stderr (native code's included) into `path`: the process is the
    cell's alone, and the converters' chatter would bury the matrix's one line per cell."""
    import os
    import sys

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@contextlib.contextmanager
def _probes_on(executor_name: str | None, resources: Resources | None) -> Iterator[None]:
    """Sensitivity probes (keep_float: auto) of this cell's build as tasks of the matrix's kind of
    executor: on Ray, tasks on this cell's node (they read its temporary files); locally, a pool of
    as many processes as the cell's declared CPUs (one CPU: serial, as a plain build)."""
    from edgesdk.quantize import fanout

    probe_resources = Resources(num_cpus=1, memory_mb=64)  # the cell holds the memory; a probe is a slice of it
    if executor_name == "ray":
        from edgesdk.matrix.executors.ray import RayExecutor

        with RayExecutor("auto", fresh_processes=False, this_node=True) as executor, fanout.over(executor, probe_resources):
            yield
    elif executor_name == "local" and resources is not None and int(resources.num_cpus) >= 2:
        from edgesdk.matrix.executors.local import LocalExecutor

        with LocalExecutor(int(resources.num_cpus), fresh_processes=False) as executor, fanout.over(executor, probe_resources):
            yield
    else:
        yield


def run_cell(cell: Cell, out_root: str, shared: Any = None, force: bool = False, executor_name: str | None = None, resources: Resources | None = None) -> dict[str, Any]:
    """Build `cell` into OUT_ROOT/<cell name>/; never raises (a failure is the result). `shared`:
    the shared work's entries, or the path of the .npz that holds them (workcache). What the
    process prints goes to OUT_ROOT/.logs/<cell name>.log."""
    started = time.perf_counter()
    log = Path(out_root) / LOGS_DIR / f"{cell.name}.log"
    _output_to(log)
    result = CellResult(cell.name, cell.manifest, cell.target, cell.runtime, cell.precision, cell.override_name, OK, 0, log=str(log))
    try:
        from edgesdk.manifest import with_overrides

        manifest = with_overrides(cell_manifest(cell), target=cell.target, runtime=cell.runtime)
        result.target, result.runtime = manifest.resolved_target(), manifest.resolved_runtime()
        calibration = manifest.quantization.calibration
        why = skip_reason(result.target, result.runtime, manifest.quantization.mode, calibration.method if calibration is not None else None)
        if why is not None:
            result.status, result.reason = SKIPPED, why
        else:
            with _probes_on(executor_name, resources):
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
    from edgesdk.quantize import fanout

    entries = workcache.load(Path(shared)) if isinstance(shared, (str, Path)) else shared
    with workcache.seeded(entries) as cache:
        built = api.build(manifest, out=out, force=force)
    result.shared_hits = cache.hits
    result.probes_fanned_out = fanout.probes_fanned_out
    result.seconds = built.seconds
    result.stages = {k: round(v, 3) for k, v in built.stages.items()}
    result.bundle = str(built.bundle)
    result.bundle_sha256 = bundle_digest(built.bundle)
    result.zip_sha256 = built.zip_sha256
    result.size_bytes = sum(p.stat().st_size for p in built.bundle.rglob("*") if p.is_file())
    result.parity = _parity_figures(built.parity)


def prepare_shared(cell: Cell, log: str, save_to: str | None = None) -> Any:
    """The shared work of `cell`'s manifest (api.shared_work), in a worker: written to `save_to` (an
    .npz) when given, and that path returned; else the entries themselves (Ray keeps them in its
    object store). A manifest that does not load shares nothing; its cells report why."""
    from edgesdk import api, workcache

    _output_to(Path(log))
    try:
        entries = api.shared_work(cell_manifest(cell), cell.target, cell.runtime)
    except Exception:  # sharing saves time, nothing more: each cell then computes (and reports) for itself
        entries = {}
    if save_to is None:
        return entries
    workcache.save(entries, Path(save_to))
    return save_to
