"""Per-layer sensitivity probes (`keep_float: auto`, `sensitivity: true`) fanned out over a matrix
executor: each probe quantizes one layer and runs the calibration set, independent of the others.

Off unless a caller turns it on (`edgesdk matrix` does, for its cells): a plain build probes
serially, as measured faster for small models (docs/matrix.md). A plan that does not pickle (a
translator holding a live torch program) is probed serially too."""

from __future__ import annotations

import contextlib
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import buildlog
from edgesdk.quantize import sensitivity

_active: tuple[Any, Any] | None = None  # (executor, resources)
probes_fanned_out = 0  # in this process, since it started (edgesdk matrix reports it per cell)


@contextlib.contextmanager
def over(executor: Any, resources: Any) -> Iterator[None]:
    """Probes run as tasks of `executor` (edgesdk.matrix.executors) inside this block."""
    global _active
    previous, _active = _active, (executor, resources)
    try:
        yield
    finally:
        _active = previous


class _Recorder(buildlog.BuildLog):
    """What the probe's tools printed, unaltered: the build's own log files it (and makes it repeatable)."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[tuple[str, str]] = []

    def add_output(self, label: str, text: str) -> None:
        self.raw.append((label, text))


def probe(
    plan: Any, runner_for: Callable[[Path], Callable], layer: str, feeds: list[dict[str, np.ndarray]], reference: sensitivity.Outputs, score_output: int | None, suffix: str
) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """The metrics of the model with only `layer` quantized, and what the tools printed meanwhile."""
    recorder = _Recorder()
    with recorder.active(), tempfile.TemporaryDirectory(prefix="edgesdk-probe-") as tmp:
        path = plan.quantize(Path(tmp) / f"probe{suffix}", only=[layer])
        run_model = runner_for(path)
        metrics = sensitivity.measure(reference, [run_model(f) for f in feeds], score_output)
    return metrics, recorder.raw


def analyze(
    plan: Any, runner_for: Callable[[Path], Callable], feeds: list[dict[str, np.ndarray]], reference: sensitivity.Outputs, score_output: int | None, suffix: str
) -> list[sensitivity.LayerSensitivity] | None:
    """The sensitivity table computed by the active executor, in graph order; None when no executor
    is active or the plan cannot travel to another process (the caller then probes serially)."""
    if _active is None or len(plan.layers) < 2:
        return None
    try:
        pickle.dumps((plan, runner_for))
    except Exception:  # a plan holding a live model or a native handle: serial it is
        return None
    executor, resources = _active
    shared = executor.share((plan, runner_for, feeds, reference))
    handles = {executor.submit(_probe_shared, shared, layer, score_output, suffix, resources=resources): layer for layer in plan.layers}
    done = {handles[h]: value for h, value in executor.as_completed(list(handles))}
    global probes_fanned_out
    probes_fanned_out += len(done)
    log = buildlog.current()
    if log is not None:  # in graph order, as serial probes would have printed it: the build log stays the same
        for layer in plan.layers:
            for label, text in done[layer][1]:
                log.add_output(label, text)
    return [sensitivity.LayerSensitivity(layer, done[layer][0]) for layer in plan.layers]


def _probe_shared(shared: Any, layer: str, score_output: int | None, suffix: str) -> tuple[dict[str, float], list[tuple[str, str]]]:
    plan, runner_for, feeds, reference = shared
    return probe(plan, runner_for, layer, feeds, reference, score_output, suffix)
