"""The quantize stage: between convert and the parity gate (DESIGN.md flow).

One translator per runtime turns the manifest's `quantization:` block into that runtime's tools;
this module holds what is common to all of them: the registry, calibration, sensitivity analysis,
the keep_float choice, the accuracy budget and the report. A runtime without a translator, or a
mode its translator lacks, is an error naming what exists, never a silent float build.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk import buildcache
from edgesdk.errors import BackendUnavailable, ManifestError
from edgesdk.manifest import Manifest
from edgesdk.quantize import fanout, sensitivity
from edgesdk.quantize import report as report  # api.py writes quantize.report.json_safe(...)
from edgesdk.quantize.calibration import CalibrationSet, load_calibration
from edgesdk.sources import SourceModel

FIELD = "quantization"


def translator_modules() -> dict[str, str]:
    """runtime -> the module of its translator, as each backend declares it (`Backend.quantizer`).
    The module exposes TRANSLATOR (with `modes` and `plan(...)`). Optional attributes:
    `calibration_methods` (the methods it can honour, or a dict mode -> those methods for the
    modes whose calibration computes something, others taking any; all when absent), `per_layer` (False: it
    quantizes the whole model, so keep_float is refused; True when absent), `per_tensor` (False:
    weights per output channel only, so `per_channel: false` is refused) and `quantizes_source`
    (True: it quantizes the torch program, not the converted file, and `plan` also gets
    `source=` and `manifest=`) and `runs_model` (False: it never runs the model, which its runtime
    cannot do on this host, so calibration is refused) and `measures` (False: it uses the
    calibration data itself, e.g. to compute TensorRT's calibration cache, but the quantized model
    cannot run here, so nothing is measured: keep_float: auto, accuracy_budget and auto are refused)."""
    from edgesdk.backends import IMPLEMENTED, get_backend

    return {name: module for name in IMPLEMENTED if (module := get_backend(name).quantizer)}


def get_translator(runtime: str, mode: str):
    modules = translator_modules()
    if runtime not in modules:
        raise BackendUnavailable(f"quantization mode '{mode}' is not available for runtime '{runtime}' yet (runtimes with quantization: {', '.join(modules)})")
    translator = importlib.import_module(modules[runtime]).TRANSLATOR
    if mode not in translator.modes:
        raise ManifestError(f"{FIELD}.mode", f"'{mode}' is not supported for runtime '{runtime}' (supported: {', '.join(translator.modes)})")
    return translator


# The modes `mode: auto` measures (quantize/auto.py), most to least precise: on equal speed the earlier wins.
AUTO_CANDIDATE_ORDER = ("none", "fp16", "int8-dynamic", "int8")


def auto_candidate_modes(runtime: str, method: str | None = None) -> list[str]:
    """The modes `auto` tries for `runtime`: float and every mode its translator has, which it must
    be able to run here (each candidate is measured by running it), leaving out a mode that cannot
    honour the calibration `method`."""
    modules = translator_modules()
    if runtime not in modules:
        return ["none"]
    translator = importlib.import_module(modules[runtime]).TRANSLATOR
    if not getattr(translator, "runs_model", True) or not getattr(translator, "measures", True):
        raise ManifestError(f"{FIELD}.mode", f"auto measures each mode by running it, and runtime '{runtime}' cannot run the model on this host (name a mode: {', '.join(translator.modes)})")
    return [m for m in AUTO_CANDIDATE_ORDER if m == "none" or (m in translator.modes and (method is None or method in honoured_methods(translator, m, method)))]


def honoured_methods(translator, mode: str, method: str) -> tuple[str, ...]:
    """The calibration methods `translator` honours in `mode` (all: (method,))."""
    methods = getattr(translator, "calibration_methods", None)
    if isinstance(methods, dict):
        methods = methods.get(mode)
    return (method,) if methods is None else tuple(methods)


def prepare(manifest: Manifest, runtime: str) -> CalibrationSet | None:
    """Everything that can fail on bad input, before anything is written: translator and data."""
    q = manifest.quantization
    if q.mode == "none":
        return None
    if q.mode == "auto":
        # Every candidate is checked as if named; one that quantizes the whole model drops keep_float.
        for mode in auto_candidate_modes(runtime, q.calibration.method if q.calibration is not None else None)[1:]:
            _check_translator(q, runtime, mode, get_translator(runtime, mode), check_keep_float=False)
    else:
        _check_translator(q, runtime, q.mode, get_translator(runtime, q.mode), check_keep_float=True)
    return load_calibration(manifest, q.calibration) if q.calibration is not None else None


def _check_translator(q, runtime: str, mode: str, translator, check_keep_float: bool) -> None:
    if check_keep_float and q.keep_float and not getattr(translator, "per_layer", True):
        raise ManifestError(f"{FIELD}.keep_float", f"runtime '{runtime}' quantizes the whole model; it cannot keep layers float (remove keep_float)")
    if not q.per_channel and not getattr(translator, "per_tensor", True):
        raise ManifestError(f"{FIELD}.per_channel", f"runtime '{runtime}' quantizes weights per output channel only (allowed: true)")
    if q.calibration is not None and not getattr(translator, "runs_model", True):
        raise ManifestError(
            f"{FIELD}.calibration",
            f"runtime '{runtime}' cannot run the model on this host, so its quantization is weights-only and uncalibrated: remove calibration (and keep_float: auto, accuracy_budget)",
        )
    if not getattr(translator, "measures", True) and (q.keep_float == "auto" or q.accuracy_budget is not None or q.sensitivity):
        field = f"{FIELD}.keep_float" if q.keep_float == "auto" else f"{FIELD}.accuracy_budget" if q.accuracy_budget is not None else f"{FIELD}.sensitivity"
        raise ManifestError(field, f"runtime '{runtime}' cannot run the quantized model on this host, so nothing can be measured (remove keep_float: auto, accuracy_budget and sensitivity)")
    if q.calibration is not None and q.calibration.method not in (methods := honoured_methods(translator, mode, q.calibration.method)):
        raise ManifestError(f"{FIELD}.calibration.method", f"'{q.calibration.method}' is not supported for runtime '{runtime}' mode {mode} (supported: {', '.join(methods)})")


@dataclass
class Outcome:
    report: dict[str, Any]
    summary: dict[str, Any]  # the sdk.json `quantization` block
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def model_files(model_path: Path) -> list[Path]:
    """The main file and the files sharing its stem: an OpenVINO IR is model.xml + model.bin (a
    Core ML .mlpackage is one folder)."""
    return [model_path, *sorted(p for p in model_path.parent.glob(f"{model_path.stem}.*") if p != model_path)]


def _size(model_path: Path) -> int:
    return sum(sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size for p in model_files(model_path))


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)


def reference_key(runtime: str, float_model: Path, calibration: CalibrationSet) -> str:
    """The build cache's key of the float model's outputs on the calibration tensors: the model's
    files, the tensors, the runtime, the code of the runners (the settings they run with) and the
    installed runtime versions (buildcache.py)."""
    return buildcache.key(
        runtime, buildcache.files_digest(model_files(float_model)), buildcache.arrays_digest(calibration.tensors), buildcache.code_digest("edgesdk.backends"), buildcache.versions_digest()
    )


def _run_all(run_model: Callable, feeds: list[dict]) -> list[list]:
    return [list(run_model(f)) for f in feeds]


def run(
    manifest: Manifest, runtime: str, model_path: Path, runner_for: Callable[[Path], Callable], calibration: CalibrationSet | None, score_output: int | None, source: SourceModel | None = None
) -> Outcome:
    """Quantize the float model at `model_path` in place; measure it against the float model.

    `source` (the model the artifact was converted from) is required by translators that
    quantize the torch program and write the artifact again."""
    q = manifest.quantization
    translator = get_translator(runtime, q.mode)
    budget = q.accuracy_budget
    with tempfile.TemporaryDirectory(prefix="edgesdk-quantize-") as tmp:
        work = Path(tmp)
        float_model = work / ("float" + model_path.suffix)
        for part in model_files(model_path):
            _copy(part, float_model.with_suffix(part.suffix))
        from_source = {"source": source, "manifest": manifest} if getattr(translator, "quantizes_source", False) else {}
        plan = translator.plan(float_model, q.mode, q.per_channel, calibration, work, **from_source)
        if isinstance(q.keep_float, list):
            unknown = [name for name in q.keep_float if name not in plan.layers]
            if unknown:
                raise ManifestError(f"{FIELD}.keep_float", f"unknown layer '{unknown[0]}' (layers: {', '.join(plan.layers)})")

        # A translator that cannot run the quantized model here (`measures`) had the data in `plan`.
        measured = calibration is not None and getattr(translator, "measures", True)
        feeds = [{plan.input_name: t} for t in calibration.tensors] if calibration is not None and measured else []
        # Only with calibration data: a runtime that cannot predict here (Core ML on Linux) refuses it in `prepare`.
        reference = []
        if feeds:
            assert calibration is not None  # feeds come from it
            reference = buildcache.nested_arrays("reference", reference_key(runtime, float_model, calibration), lambda: _run_all(runner_for(float_model), feeds))
        counter = iter(range(1 << 30))

        def outputs_of(**selection) -> sensitivity.Outputs:
            path = plan.quantize(work / f"probe-{next(counter)}{model_path.suffix}", **selection)
            run_model = runner_for(path)
            outs = [run_model(f) for f in feeds]
            path.unlink()
            return outs

        table: list[sensitivity.LayerSensitivity] = []
        # One probe per layer is most of an int8 build's time: only where it is used or asked for.
        if feeds and (q.keep_float == "auto" or q.sensitivity):
            # Probes are independent: an executor, when one is active (edgesdk matrix), runs them side by side.
            fanned = fanout.analyze(plan, runner_for, feeds, reference, score_output, model_path.suffix)
            table = fanned if fanned is not None else sensitivity.analyze(plan.layers, lambda layer: outputs_of(only=[layer]), reference, score_output)
        selection = None
        if q.keep_float == "auto":
            assert budget is not None  # the manifest refuses keep_float: auto without a budget
            order = sensitivity.ranked(table, budget.metric)
            selection = sensitivity.select_float_layers(order, budget.metric, budget.min, lambda kept: sensitivity.measure(reference, outputs_of(exclude=kept), score_output))
            kept = selection.kept_float
        else:
            kept = list(q.keep_float)
        size_before = _size(model_path)
        plan.quantize(model_path, exclude=kept)
        final = {}
        if feeds:
            run_final = runner_for(model_path)  # one session for all samples: loading a model is slower than running it
            final = sensitivity.measure(reference, [run_final(f) for f in feeds], score_output)
        ranges = plan.ranges() if q.mode == "int8" else {}
        # A translator may add what its runtime's users look for (ncnn: the calibration table).
        translator_report = plan.report() if hasattr(plan, "report") else {}
        # And the settings it quantized with, each with why (`settings`: ONNX Runtime, OpenVINO).
        settings = plan.settings() if hasattr(plan, "settings") else {}

    failures = []
    if budget is not None and ((selection is not None and not selection.met) or not sensitivity.meets(final, budget.metric, budget.min)):
        failures.append(
            f"accuracy_budget {budget.metric} >= {budget.min} cannot be met with any layer quantized"
            if selection is not None and not selection.met
            else f"accuracy_budget {budget.metric} >= {budget.min} not met: {final[budget.metric]:.6g}"
        )
    why = {}
    for name in kept:
        if q.keep_float == "auto" and budget is not None:
            alone = next(s for s in table if s.layer == name).metrics[budget.metric]
            why[name] = f"auto: {budget.metric} {alone:.6g} with only this layer quantized; the budget needed it float"
        else:
            why[name] = "listed in quantization.keep_float"
    summary = {
        "mode": q.mode,
        "calibration": calibration.summary() if calibration is not None else None,
        "kept_float_layers": kept,
        **({"settings": settings} if settings else {}),
    }
    full_report = {
        **summary,
        "runtime": runtime,
        "per_channel": q.per_channel,
        "size_bytes": {"before": size_before, "after": _size(model_path)},
        "size_ratio": round(_size(model_path) / size_before, 6),
        "accuracy_budget": budget.model_dump() if budget is not None else None,
        "metrics": final,
        "layers": plan.layers,
        "sensitivity": [{"layer": s.layer, **s.metrics} for s in table],
        "kept_float": [{"layer": name, "reason": why[name]} for name in kept],
        "selection_steps": selection.steps if selection is not None else [],
        "activation_ranges": ranges,
        "samples": len(feeds),
        "passed": not failures,
        "failures": failures,
        **translator_report,
    }
    return Outcome(full_report, summary, failures)
