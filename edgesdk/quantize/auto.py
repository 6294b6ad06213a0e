"""`quantization: {mode: auto, accuracy_budget: ...}`: measure the precisions the runtime has and
keep the fastest that meets the budget.

Each candidate is a whole quantization run of its own (quantize.run, on a copy of the converted
float model), measured on the calibration data exactly as a manifest naming that mode would be:
the budget's metric against the float model, then its latency in the runtime's own Python runner
on this machine (one thread, one calibration tensor, candidates timed in interleaved rounds). The float
model is always a candidate and always meets the budget, so `auto` never fails for accuracy.
A candidate must also meet its mode's parity-gate minimums (parity.py) on the calibration data:
the build gates the chosen mode like a named one, and a loose budget must not choose a mode the
gate then stops.

int8 candidates search for layers to keep float (keep_float: auto) unless the manifest lists them,
so "int8 with sensitive layers float" is what an int8 candidate becomes when plain int8 misses
the budget. A candidate must be faster than the float model by MIN_SPEEDUP to be chosen over it:
a smaller file that runs no faster is not worth its accuracy loss.

The choice depends on this machine's timings: two builds can choose differently where two modes
are close. The report (reports/quantization-auto.json, and `auto` in sdk.json) names every
candidate with its numbers; pin the chosen mode in the manifest for reproducible builds.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesdk.manifest import Manifest
from edgesdk.quantize import AUTO_CANDIDATE_ORDER as CANDIDATE_ORDER
from edgesdk.quantize import Outcome, auto_candidate_modes, get_translator, model_files, run
from edgesdk.quantize.calibration import CalibrationSet

LATENCY_ROUNDS = 4
LATENCY_RUNS = 7
MIN_SPEEDUP = 1.05
REPORT_FILE = "quantization-auto.json"


def named_manifest(manifest: Manifest, mode: str, keep_float: list[str] | str | None = None) -> Manifest:
    """The manifest as it would read with `mode` named instead of auto. int8 modes search for
    layers to keep float (keep_float: auto) unless the manifest lists them or `keep_float` is
    given (the layers a candidate run found: the build then repeats no search)."""
    q = manifest.quantization
    if mode == "none":
        update: dict[str, Any] = {"mode": "none", "calibration": None, "keep_float": [], "accuracy_budget": None}
    else:
        if keep_float is None:
            listed = q.keep_float if isinstance(q.keep_float, list) else []
            keep_float = (listed or "auto") if mode.startswith("int8") else listed
        update = {"mode": mode, "keep_float": keep_float}
    return manifest.model_copy(update={"quantization": q.model_copy(update=update)})


def interleaved_latency_ms(runners: list[Callable], feed: dict) -> list[float]:
    """Each runner's latency: the candidates take turns, LATENCY_ROUNDS rounds of LATENCY_RUNS
    runs each, and each keeps its fastest round's median. Taking turns spreads a burst of load
    from elsewhere over all of them instead of penalizing whichever ran during it."""
    for run_model in runners:
        for _ in range(3):
            run_model(feed)
    from edgesdk.benchmark import median_ms

    best = [float("inf")] * len(runners)
    for _ in range(LATENCY_ROUNDS):
        for i, run_model in enumerate(runners):
            best[i] = min(best[i], median_ms(lambda: run_model(feed), LATENCY_RUNS, warmup=0))  # noqa: B023 (called at once)
    return best


def choose(
    manifest: Manifest,
    runtime: str,
    model_path: Path,
    runner_for: Callable[[Path], Callable],
    calibration: CalibrationSet,
    score_output: int | None,
    source=None,
) -> tuple[str, dict[str, Any]]:
    """(the chosen mode, the report of every candidate). The float model at `model_path` is left
    as it is; the build then quantizes it with the chosen mode like any named mode."""
    budget = manifest.quantization.accuracy_budget
    assert budget is not None  # the manifest refuses auto without a budget and calibration
    feeds = [{manifest.model.inputs[0].name: t} for t in calibration.tensors]
    candidates: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgesdk-auto-") as tmp:
        for mode in auto_candidate_modes(runtime, calibration.method.name):
            folder = Path(tmp) / mode
            folder.mkdir()
            for part in model_files(model_path):
                shutil.copy2(part, folder / part.name)
            path = folder / model_path.name
            row: dict[str, Any] = {"mode": mode}
            if mode == "none":
                row.update(meets_budget=True, metrics={}, kept_float_layers=[])
            else:
                named = named_manifest(manifest, mode)
                if named.quantization.keep_float and not getattr(get_translator(runtime, mode), "per_layer", True):
                    named = named_manifest(manifest, mode, keep_float=[])  # it quantizes the whole model
                outcome: Outcome = run(named, runtime, path, runner_for, calibration, score_output, source)
                misses = outcome.failures + _gate_misses(outcome.report["metrics"], mode, manifest)
                kept = outcome.summary["kept_float_layers"]
                if kept and set(kept) >= set(outcome.report["layers"]):
                    misses.append("every layer had to stay float: that is the float model")
                elif outcome.report["metrics"].get("sqnr_db") == float("inf"):
                    # E.g. keep_float kept every layer the translator really quantizes.
                    misses.append("its outputs equal the float model's on every calibration tensor: nothing it quantized takes effect")
                row.update(meets_budget=not misses, metrics=outcome.report["metrics"], kept_float_layers=kept, failures=misses)
            row["size_bytes"] = sum(p.stat().st_size for p in model_files(path))
            candidates.append(row)
        runners = [runner_for(Path(tmp) / row["mode"] / model_path.name) for row in candidates]
        for row, ms in zip(candidates, interleaved_latency_ms(runners, feeds[0])):
            row["latency_ms"] = ms
    float_ms = candidates[0]["latency_ms"]
    for row in candidates:
        row["speedup_vs_float"] = float_ms / row["latency_ms"]
    eligible = [r for r in candidates if r["meets_budget"] and (r["mode"] == "none" or r["speedup_vs_float"] >= MIN_SPEEDUP)]
    chosen = min(eligible, key=lambda r: (r["latency_ms"], CANDIDATE_ORDER.index(r["mode"])))
    why = (
        f"fastest of the modes meeting {budget.metric} >= {budget.min}: {chosen['latency_ms']:.3g} ms, {chosen['speedup_vs_float']:.2f}x the float model"
        if chosen["mode"] != "none"
        else f"no quantized mode met {budget.metric} >= {budget.min} while running at least {MIN_SPEEDUP}x faster than float"
    )
    report = {
        "chosen": chosen["mode"],
        "why": why,
        "accuracy_budget": budget.model_dump(),
        "latency": f"{runtime} Python runner, 1 thread, one calibration tensor: the best of {LATENCY_ROUNDS} interleaved rounds' medians of {LATENCY_RUNS} runs",
        "min_speedup": MIN_SPEEDUP,
        "candidates": candidates,
        "samples": len(feeds),
    }
    return chosen["mode"], report


# The parity gate's minimums and the metric each is measured by on the calibration data.
_GATE_METRICS = {"cosine_min": "cosine", "sqnr_db_min": "sqnr_db", "top1_agreement_min": "top1_agreement"}


def _gate_misses(metrics: dict[str, float], mode: str, manifest: Manifest) -> list[str]:
    """The parity gate's minimums for `mode` this candidate already misses on the calibration
    data: the build would stop at the gate, so the candidate cannot be chosen whatever the budget."""
    from edgesdk.parity import tolerances_for

    tolerances = tolerances_for(mode, manifest.parity.model_dump())
    return [
        f"parity gate {name} {tolerances[name]} not met on the calibration data: {metrics[metric]:.6g}"
        for name, metric in _GATE_METRICS.items()
        if name in tolerances and metric in metrics and metrics[metric] < tolerances[name]
    ]
