"""Cells as Ray tasks: `auto` starts Ray on this machine (ray.init()), an address connects to a
cluster. Each task declares its CPUs and memory (the matrix file's `resources`) and gets a fresh
worker process (max_calls=1). A Ray session already started by the caller is used as it is and
left running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from edgesdk.errors import BackendUnavailable, ManifestError
from edgesdk.matrix.executors.base import Executor
from edgesdk.matrix.spec import Resources

# ray.init() sizes its object store from the machine's memory; the matrix keeps only its shared
# work there (calibration tensors, reference outputs): a small store leaves the memory to the cells.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


class RayExecutor(Executor):
    name = "ray"
    keeps_results = True

    def __init__(self, address: str, runtime_env: dict[str, Any] | None = None, fresh_processes: bool = True, this_node: bool = False):
        """`fresh_processes=False`: workers are reused (sensitivity probes); `this_node`: tasks stay
        on the node that submits them (probes read the build's temporary files)."""
        self.fresh_processes = fresh_processes
        self.this_node = this_node
        try:
            import ray
        except ImportError as exc:
            raise BackendUnavailable("--ray needs Ray: pip install 'edgesdk[ray]'") from exc
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "runtime_env": runtime_env}
            if address == "auto":
                options["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
            else:
                options["address"] = address
            try:
                ray.init(**options)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise BackendUnavailable(f"--ray {address}: cannot start or reach Ray: {exc}") from exc
            self.started = True
        self._remotes: dict[tuple[Callable[..., Any], Resources], Any] = {}

    def _check_fits(self, resources: Resources) -> None:
        """A task no node can hold would wait forever: refuse it, naming the field to change."""
        nodes = [n["Resources"] for n in self.ray.nodes() if n.get("Alive")]
        cpus = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
        memory_mb = max((n.get("memory", 0.0) for n in nodes), default=0.0) / (1024 * 1024)
        if resources.num_cpus > cpus:
            raise ManifestError("resources.num_cpus", f"{resources.num_cpus} CPUs per cell; the largest Ray node has {cpus:g}")
        if resources.memory_mb > memory_mb:
            raise ManifestError("resources.memory_mb", f"{resources.memory_mb} MB per cell; the largest Ray node offers {memory_mb:.0f} MB to tasks")

    def submit(self, fn: Callable[..., Any], *args: Any, resources: Resources) -> Any:
        key = (fn, resources)
        if key not in self._remotes:
            self._check_fits(resources)
            options: dict[str, Any] = {"num_cpus": resources.num_cpus, "memory": resources.memory_mb * 1024 * 1024, "max_calls": 1 if self.fresh_processes else 0}
            if self.this_node:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(self.ray.get_runtime_context().get_node_id(), soft=False)
            self._remotes[key] = self.ray.remote(**options)(fn)
        return self._remotes[key].remote(*args)

    def share(self, value: Any) -> Any:
        return self.ray.put(value)

    def argument(self, handle: Any) -> Any:
        return handle  # Ray resolves an ObjectRef argument from its object store on the worker's node

    def as_completed(self, handles: list[Any]) -> Iterator[tuple[Any, Any]]:
        pending = list(handles)
        while pending:
            ready, pending = self.ray.wait(pending, num_returns=1)
            yield ready[0], self.ray.get(ready[0])

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
