"""Cells in local processes: spawned (never forked from a process that has imported torch), one
fresh process per task (max_tasks_per_child=1), at most `jobs` at a time."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from edgesdk.matrix.executors.base import Executor
from edgesdk.matrix.spec import Resources


class LocalExecutor(Executor):
    name = "local"
    keeps_results = False

    def __init__(self, jobs: int, fresh_processes: bool = True):
        """`fresh_processes=False`: workers take task after task (sensitivity probes: many small
        tasks of one build, where a process start per task would cost more than the task)."""
        self.jobs = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1 if fresh_processes else None)

    def submit(self, fn: Callable[..., Any], *args: Any, resources: Resources) -> Future:
        # Resources are Ray's to schedule by; here `jobs` alone bounds what runs at once.
        return self.pool.submit(fn, *args)

    def share(self, value: Any) -> Any:
        return value

    def argument(self, handle: Future) -> Any:
        return handle.result()

    def as_completed(self, handles: list[Future]) -> Iterator[tuple[Future, Any]]:
        for future in as_completed(handles):
            yield future, future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
