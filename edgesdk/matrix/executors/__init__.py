"""Where matrix cells run: local processes (local.py) or Ray tasks (ray.py), behind one small
interface. A task is a top-level function and picklable arguments; each runs in a process of its
own, so a converter that crashes or leaks takes only its own cell with it."""

from __future__ import annotations

from typing import Any

from edgesdk.matrix.executors.base import Executor


def make_executor(jobs: int, ray_address: str | None, runtime_env: dict[str, Any] | None = None) -> Executor:
    if ray_address is None:
        from edgesdk.matrix.executors.local import LocalExecutor

        return LocalExecutor(jobs)
    from edgesdk.matrix.executors.ray import RayExecutor

    return RayExecutor(ray_address, runtime_env)
