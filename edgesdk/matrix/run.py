"""Run a matrix: the shared work of each manifest first (one task per manifest), then every cell,
on one executor; results and reports written into the output folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.errors import InputError
from edgesdk.matrix import report
from edgesdk.matrix.cell import FAILED, LOGS_DIR, SKIPPED, CellResult, pairing_problem, prepare_shared, run_cell
from edgesdk.matrix.executors import make_executor
from edgesdk.matrix.executors.base import Executor
from edgesdk.matrix.spec import Cell, Matrix, load_matrix, manifest_label

CACHE_DIR = ".shared"  # under the output folder: the shared work as .npz files (local processes)

CellDone = Callable[[dict[str, Any], int, int], None]


@dataclass
class MatrixResult:
    matrix: str
    out: Path
    executor: str
    jobs: int | None  # local processes at once; None on Ray (its resources decide)
    seconds: float
    shared_seconds: float  # wall time of the shared-work tasks, before the first cell started
    cells: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [c["name"] for c in self.cells if c["status"] == FAILED]

    def as_dict(self) -> dict[str, Any]:
        counts = {s: sum(c["status"] == s for c in self.cells) for s in ("ok", FAILED, SKIPPED)}
        return {
            "matrix": self.matrix,
            "out": str(self.out),
            "executor": self.executor,
            "jobs": self.jobs,
            "seconds": round(self.seconds, 3),
            "shared_seconds": round(self.shared_seconds, 3),
            "counts": counts,
            "failed": self.failed,
            "cells": self.cells,
            "files": self.files,
        }


def _representatives(cells: list[Cell]) -> dict[str, Cell]:
    """Per manifest, the cell whose shared work stands for all: one that can be built here, with
    calibration data when any cell has it (calibration tensors are most of what is shared)."""
    chosen: dict[str, Cell] = {}
    for cell in cells:
        if pairing_problem(cell.target, cell.runtime) is not None:
            continue
        best = chosen.get(cell.manifest)
        calibrated = cell.quantization is not None and cell.quantization.get("calibration") is not None
        if best is None or (calibrated and not (best.quantization or {}).get("calibration")):
            chosen[cell.manifest] = cell
    return chosen


def run_matrix(
    matrix_path: str | Path,
    out: str | Path = "dist",
    jobs: int = 1,
    ray_address: str | None = None,
    force: bool = False,
    share_work: bool = True,
    on_cell_done: CellDone | None = None,
) -> MatrixResult:
    """Every cell of the matrix file; `share_work=False` lets each cell compute everything itself
    (the benchmark's baseline). Returns the results; reports are written into `out`."""
    matrix = load_matrix(matrix_path)
    out_dir = Path(out).resolve()
    existing = [c.name for c in matrix.cells if (out_dir / c.name).exists()]
    if existing and not force:
        raise InputError(f"{out_dir / existing[0]} already exists ({len(existing)} cell folder(s) in all): pass --force to rebuild them")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with make_executor(jobs, ray_address, matrix.file.ray.runtime_env) as executor:
        shared, shared_seconds = _share(matrix, executor, out_dir) if share_work else ({}, 0.0)
        results = _run_cells(matrix, executor, out_dir, shared, force, on_cell_done)
        name = executor.name
    seconds = time.perf_counter() - started
    result = MatrixResult(str(matrix.path), out_dir, name, jobs if ray_address is None else None, seconds, shared_seconds, results)
    result.files = report.write_reports(result.as_dict(), out_dir)
    return result


def _share(matrix: Matrix, executor: Executor, out_dir: Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    cache = out_dir / CACHE_DIR
    handles = {}
    for i, (manifest, cell) in enumerate(sorted(_representatives(matrix.cells).items())):
        save_to = None
        if not executor.keeps_results:
            cache.mkdir(exist_ok=True)
            save_to = str(cache / f"{i:03d}-{manifest_label(Path(manifest))}.npz")
        log = str(out_dir / LOGS_DIR / f"shared-{i:03d}-{manifest_label(Path(manifest))}.log")
        handles[manifest] = executor.submit(prepare_shared, cell, log, save_to, resources=matrix.file.resources)
    shared = {manifest: executor.argument(handle) for manifest, handle in handles.items()}
    # Ray hands the references on at once; wait for them here too, so the time is the shared work's own.
    if executor.keeps_results and handles:
        list(executor.as_completed(list(handles.values())))
    return shared, time.perf_counter() - started


def _run_cells(matrix: Matrix, executor: Executor, out_dir: Path, shared: dict[str, Any], force: bool, on_cell_done: CellDone | None) -> list[dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    handles = {}
    for cell in matrix.cells:
        why = pairing_problem(cell.target, cell.runtime)
        if why is not None:  # the target does not offer the runtime: no process needed to say so
            results[cell.name] = CellResult(cell.name, cell.manifest, cell.target, cell.runtime, cell.precision, cell.override_name, SKIPPED, 0, why).as_dict()
            continue
        resources = matrix.file.resources
        handles[executor.submit(run_cell, cell, str(out_dir), shared.get(cell.manifest), force, executor.name, resources, resources=resources)] = cell
    done = 0
    for name in results:
        done += 1
        if on_cell_done:
            on_cell_done(results[name], done, len(matrix.cells))
    for _, value in executor.as_completed(list(handles)):
        results[value["name"]] = value
        done += 1
        if on_cell_done:
            on_cell_done(value, done, len(matrix.cells))
    return [results[c.name] for c in matrix.cells]
