"""What the CLI and the tests call: build, verify, test, inspect, init, targets.

`build` runs the one-directional flow of DESIGN.md: load -> convert -> verify (parity gate) ->
render -> package. Everything is checked before anything is written; the bundle is assembled in
a staging folder and appears only when complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgesdk
from edgesdk import buildcache, buildlog, golden, parity, quantize, render, roofline, shapes, stagecache, workcache
from edgesdk import bundle as bundle_mod
from edgesdk.backends import check_input_shape, get_backend
from edgesdk.backends.base import Artifact, ImageFeed
from edgesdk.errors import BackendUnavailable, EdgeSdkError, InputError, ManifestError, PackagingError, ParityError
from edgesdk.manifest import Manifest, load_manifest, with_overrides
from edgesdk.processing import Geometry, Preprocessed, ProcessingError
from edgesdk.processing.postprocess import run_postprocess
from edgesdk.processing.preprocess import run_preprocess
from edgesdk.quantize import auto as auto_precision
from edgesdk.sources import SourceModel, load_source

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    bundle: Path
    zip: Path
    zip_sha256: str
    target: str
    runtime: str
    parity: dict[str, Any]
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "zip": str(self.zip),
            "zip_sha256": self.zip_sha256,
            "target": self.target,
            "runtime": self.runtime,
            "parity": self.parity,
            "seconds": round(self.seconds, 3),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
        }


class _Stages:
    def __init__(self, progress: Progress | None):
        self.progress = progress or (lambda _msg: None)
        self.times: dict[str, float] = {}
        self.log = buildlog.BuildLog()

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        self.progress(name)
        start = time.perf_counter()
        with self.log.stage(name):
            value = fn()
        self.times[name] = time.perf_counter() - start
        return value

    def note(self, line: str) -> None:
        self.log.note(line)


@contextlib.contextmanager
def _log_kept_on_failure(log: buildlog.BuildLog, path: Path) -> Iterator[None]:
    """A failed build's staging folder is deleted; once a converter has run, its log, the converters'
    output included, stays beside where the bundle would have been, and the error names it. What
    the user fixes outside the build (the manifest, the flags, a source the runtime refuses before
    converting, a broken installation) writes nothing, as everywhere else."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, (ManifestError, InputError, PackagingError)) or not log.tools_ran:
            raise
        failure = "".join(traceback.format_exception(exc))
        path.write_text(log.text() + f"--- build failed ---\n{failure}", encoding="utf-8")
        if isinstance(exc, EdgeSdkError):
            exc.log_path = str(path)
        else:
            exc.add_note(f"build log: {path}")
        raise


def _resolve(manifest_path: str | Path | Manifest, target: str | None, runtime: str | None) -> tuple[Manifest, str, str, Any]:
    """The validated manifest with the command line's target/runtime, and the runtime's backend if it runs here."""
    loaded = manifest_path if isinstance(manifest_path, Manifest) else load_manifest(manifest_path)
    manifest = with_overrides(loaded, target=target, runtime=runtime)
    target_name = manifest.resolved_target()
    runtime_name = manifest.resolved_runtime()
    backend = get_backend(runtime_name)
    ok, why = backend.is_available()
    if not ok:
        raise BackendUnavailable(f"runtime '{runtime_name}' is not available here: {why}")
    backend.check_manifest(manifest)
    check_input_shape(backend, manifest)
    if manifest.encryption.enabled:
        _check_encryption_glue(target_name, runtime_name)
    return manifest, target_name, runtime_name, backend


def _check_encryption_glue(target: str, runtime: str) -> None:
    """An encrypted model is only shipped with glue that opens it in memory: a language that
    cannot would leave the app writing the plaintext model to disk, or not loading it at all."""
    from edgesdk.crypto.sealing import ENCRYPTION_LANGUAGES, PATH_ONLY_LOADERS

    languages = render.languages_for(target, runtime)
    for lang in languages:
        if (runtime, lang) in PATH_ONLY_LOADERS:
            raise ManifestError("encryption.enabled", f"not available for {target}/{runtime}: {PATH_ONLY_LOADERS[runtime, lang]} (allowed: false)")
    missing = [lang for lang in languages if lang not in ENCRYPTION_LANGUAGES]
    if missing:
        raise ManifestError(
            "encryption.enabled",
            f"the {' and '.join(missing)} SDK of {target}/{runtime} cannot decrypt a model in memory in this edgesdk (encrypted models are supported for: {', '.join(ENCRYPTION_LANGUAGES)} SDKs)",
        )


def _model_key(manifest: Manifest) -> bytes | None:
    """The model key named by `encryption.key`, read before anything is built; None when not encrypted."""
    if not manifest.encryption.enabled:
        return None
    from edgesdk.crypto import keys

    assert manifest.encryption.key is not None  # checks.py requires it
    return keys.load_key(manifest.encryption.key, "encryption.key", manifest.base_dir)


@dataclass
class _Inputs:
    """What a manifest names besides the model, read and checked before anything is built."""

    labels: list[str]
    images: list[golden.GoldenImage]
    calibration: quantize.CalibrationSet | None
    model_key: bytes | None


def _read_inputs(manifest: Manifest, runtime: str) -> _Inputs:
    images = golden.collect_images(manifest.resolve(manifest.golden.images) if manifest.golden.images else None, manifest.golden.count)
    return _Inputs(manifest.labels(), images, quantize.prepare(manifest, runtime), _model_key(manifest))


def validate(manifest_path: str | Path, target: str | None = None, runtime: str | None = None) -> dict[str, Any]:
    """Everything `build` checks before it loads the model: the manifest, the files it names (labels,
    golden images, calibration data, decoded) and the runtime's presence. Writes nothing."""
    manifest, target_name, runtime_name, _ = _resolve(manifest_path, target, runtime)
    inputs = _read_inputs(manifest, runtime_name)
    return {
        "manifest": str(manifest_path),
        "name": manifest.name,
        "version": manifest.version,
        "target": target_name,
        "runtime": runtime_name,
        "labels": len(inputs.labels),
        "golden_images": len(inputs.images),
        "calibration_samples": len(inputs.calibration.tensors) if inputs.calibration is not None else 0,
    }


def build(
    manifest_path: str | Path | Manifest,
    target: str | None = None,
    runtime: str | None = None,
    out: str | Path = "dist",
    force: bool = False,
    progress: Progress | None = None,
    sign_key: str | Path | None = None,
) -> BuildResult:
    """`manifest_path`: the manifest's file, or a Manifest already loaded (edgesdk matrix applies its
    overrides to one). `sign_key`: an ed25519 private key (PEM) that signs SHA256SUMS into SHA256SUMS.sig."""
    started = time.perf_counter()
    stages = _Stages(progress)
    manifest, target_name, runtime_name, backend = _resolve(manifest_path, target, runtime)
    out_dir = Path(out)
    dirname = bundle_mod.bundle_dirname(manifest.name, manifest.version, target_name, runtime_name)
    bundle_mod.check_free(out_dir, dirname, force)
    inputs = _read_inputs(manifest, runtime_name)
    labels, images, calibration, model_key = inputs.labels, inputs.images, inputs.calibration, inputs.model_key
    sign = _signer(Path(sign_key)) if sign_key is not None else None

    source = stages.run("load model", lambda: load_source(manifest))
    optimized = None
    if manifest.optimize.fold_bn or manifest.optimize.prune is not None:
        source, optimized = stages.run("optimize", lambda: _optimize(manifest, source, images))
    # An optimized model is this build's own; the source file's outputs, conversion and quantization
    # are shared with other builds of it, in this process (workcache) and on this machine (the
    # build cache, stagecache.py).
    shared = optimized is None
    reference = workcache.cached_runner(stagecache.source_runner(source.reference_runner(), source), source.sha256) if shared else source.reference_runner()
    _check_model_against_manifest(manifest, source, reference, labels)
    stages.note(f"source {manifest.model.source} ({source.kind}) sha256 {source.sha256}")
    stages.log.hide_folder(manifest.base_dir, "<project>")

    with _log_kept_on_failure(stages.log, out_dir / f"{dirname}.build-failed.log"), stages.log.active(), bundle_mod.staging(out_dir, dirname, force, sign) as stage:
        stages.log.hide_folder(stage, "<bundle>")
        artifact = stages.run(f"convert ({runtime_name})", lambda: _convert(backend, source, manifest, stage / "model", shared))
        stages.note(f"converted to {artifact.main} with {runtime_name} {artifact.runtime_versions}")
        if artifact.route:
            stages.note(f"route: {artifact.route}")
        quantized = None
        auto_report = None
        if manifest.quantization.mode == "auto":
            auto_report = stages.run("choose precision (auto)", lambda: _choose_precision(manifest, runtime_name, backend, artifact, calibration, stage, source))
            chosen = next(c for c in auto_report["candidates"] if c["mode"] == auto_report["chosen"])
            manifest = auto_precision.named_manifest(manifest, chosen["mode"], keep_float=chosen["kept_float_layers"])
            stages.note(f"auto chose {chosen['mode']}: {auto_report['why']}")
        if manifest.quantization.mode != "none":
            quantized = stages.run(f"quantize ({manifest.quantization.mode})", lambda: _quantize(manifest, runtime_name, backend, artifact, calibration, stage, source, shared))
            if not quantized.passed:
                kept = out_dir / f"{dirname}.quantization-failed.json"
                bundle_mod.write_json(kept, quantize.report.json_safe(quantized.report))
                raise ParityError("quantization failed: " + "; ".join(quantized.failures), str(kept))
            stages.note(f"quantized ({manifest.quantization.mode}): {quantized.summary}")
        # After quantizing, whose measurements compare with the float model run as converted.
        artifact = backend.configure(artifact, manifest)
        if roofline.needs_record(artifact.main_path):
            stages.run("count work (roofline)", lambda: _record_source_work(manifest, source, stage, shared))
        cannot_predict = backend.host_prediction()
        # A model that takes the image before normalize (Core ML ImageType) is fed that image.
        feed = backend.image_feed(manifest)
        report: parity.ParityReport | parity.NotRun
        candidate: Callable[[dict[str, np.ndarray]], list[np.ndarray]]
        if cannot_predict is None:
            # The golden images are the parity gate's first variants: their outputs are not computed twice.
            candidate = _Remembering(backend.runner(artifact))
            report = stages.run("parity gate", lambda: _parity(manifest, images, reference, candidate, labels, feed))
        else:
            # The golden vectors then hold the reference's outputs: what the device must reproduce.
            candidate = reference
            report = stages.run(f"validate ({runtime_name}, no host prediction)", lambda: parity.NotRun(cannot_predict, backend.validate(artifact, manifest, source)))
        report_path = stage / "reports" / "parity.json"
        bundle_mod.write_json(report_path, report.as_dict())
        if not report.passed:
            kept = out_dir / f"{dirname}.parity-failed.json"
            bundle_mod.write_json(kept, report.as_dict())
            what = "parity gate failed: " if cannot_predict is None else f"{backend.display_name} validation failed: "
            raise ParityError(what + "; ".join(report.failures), str(kept))
        if isinstance(report, parity.NotRun):
            stages.note(f"parity not run ({cannot_predict}); validated: {report.validated}")
        else:
            stages.note(f"parity passed on {report.samples} samples: {report.outputs}")
        golden_cases = stages.run("golden vectors", lambda: _write_golden(stage, manifest, images, candidate, labels, cannot_predict is not None, feed, backend.device_precision(artifact)))
        model_sha = bundle_mod.sha256_path(artifact.main_path)
        model_files = _model_files(artifact, model_sha)
        if model_key is not None:
            # Parity and the golden vectors ran on the plaintext above; from here on the bundle holds only the envelope.
            model_files = stages.run("encrypt model", lambda: _seal(model_files, artifact, model_key, manifest, target_name, runtime_name))
        context = render.glue_context(manifest, target_name, runtime_name, artifact, model_files, labels)
        stages.run("render SDK", lambda: render.render_bundle(stage, context, target_name, runtime_name))
        if not render.languages_for(target_name, runtime_name):
            stages.note(
                f"no SDK generated: no {target_name} language has a {runtime_name} adapter (runtimes/{runtime_name}/<language>/) yet; "
                "this bundle holds the converted model, golden vectors and reports only"
            )
        sdk = _sdk_json(manifest, target_name, runtime_name, artifact, model_files, source, report, labels, golden_cases)
        if quantized is not None:
            sdk["quantization"] = quantized.summary
        if auto_report is not None:
            columns = ("mode", "meets_budget", "latency_ms", "speedup_vs_float", "size_bytes")
            sdk["quantization"]["auto"] = {"chosen": auto_report["chosen"], "why": auto_report["why"], "candidates": [{k: c[k] for k in columns} for c in auto_report["candidates"]]}
        if optimized is not None:
            bundle_mod.write_json(stage / "reports" / "optimize.json", quantize.report.json_safe(optimized))
        bundle_mod.write_json(stage / bundle_mod.SDK_JSON, sdk)
        (stage / "reports" / "build.log").write_text(stages.log.text(), encoding="utf-8")
    final = out_dir / dirname
    zip_path = bundle_mod.zip_path(final)
    return BuildResult(
        bundle=final,
        zip=zip_path,
        zip_sha256=bundle_mod.sha256_bytes(zip_path.read_bytes()),
        target=target_name,
        runtime=runtime_name,
        parity=report.as_dict(),
        seconds=time.perf_counter() - started,
        stages=stages.times,
    )


def shared_work(manifest: Manifest, target: str | None = None, runtime: str | None = None) -> workcache.Entries:
    """What every build of `manifest` computes the same way whatever its runtime and precision:
    the calibration tensors and the source model's reference outputs on the parity images. Builds
    given these entries (workcache.seeded) take them instead of computing them again."""
    with workcache.seeded() as cache:
        manifest, _, runtime_name, _ = _resolve(manifest, target, runtime)
        inputs = _read_inputs(manifest, runtime_name)
        if manifest.optimize.fold_bn or manifest.optimize.prune is not None:
            return cache.entries  # the reference is then the optimized model, each build's own
        source = load_source(manifest)
        reference = workcache.cached_runner(source.reference_runner(), source.sha256)
        _check_model_against_manifest(manifest, source, reference, inputs.labels)
        name = manifest.model.inputs[0].name
        for pixels in golden.parity_variants(inputs.images):
            reference({name: _pre(manifest, pixels)})
        return cache.entries


def _signer(path: Path) -> Callable[[bytes], bytes]:
    """Loads the signing key now, so a bad key file stops the build before anything is built."""
    from edgesdk.crypto import signing

    private = signing.load_private(path)
    return lambda message: signing.sign(private, message)


def _model_files(artifact, model_sha: str) -> list[dict[str, Any]]:
    """The model's files as the glue context and sdk.json describe them, main file first: name
    (in model/), sha256 of what the runtime loads, size in the bundle. A main that is a folder (a
    Core ML .mlpackage) has the digest of bundle.sha256_path and its files are the companions."""
    main = artifact.main_path
    size = sum(p.stat().st_size for p in main.rglob("*") if p.is_file()) if main.is_dir() else main.stat().st_size
    return [
        {"file": artifact.main, "sha256": model_sha, "size_bytes": size},
        *({**c, "size_bytes": (artifact.folder / c["file"]).stat().st_size} for c in render.companions(artifact)),
    ]


def _seal(model_files: list[dict[str, Any]], artifact, key: bytes, manifest: Manifest, target: str, runtime: str) -> list[dict[str, Any]]:
    """Encrypt every model file; each entry then names the sealed file and carries its `encryption` record."""
    from edgesdk.crypto import sealing

    sealed = sealing.seal_files(artifact.folder, [f["file"] for f in model_files], key, manifest.name, manifest.version, target, runtime)
    key_id = sealing.key_id_hex(key)
    return [{"file": s.sealed_name, "sha256": s.plaintext_sha256, "size_bytes": s.size_bytes, "encryption": s.record(key_id)} for s in (sealed[f["file"]] for f in model_files)]


def _check_model_against_manifest(manifest: Manifest, source: SourceModel, reference, labels: list[str]) -> None:
    """Run the reference once on the declared input: shapes, output count and labels must agree."""
    spec = manifest.model.inputs[0]
    if source.kind == "onnx" and source.input_names != [spec.name]:
        raise ManifestError("model.inputs[0].name", f"'{spec.name}' is not the model's input (inputs: {', '.join(source.input_names)})")
    if source.kind == "onnx" and shapes.is_dynamic(spec):
        # Before the zero run: a symbolic dim the graph fixes is named as such, not as a runtime error.
        import onnx

        from edgesdk.backends.onnxruntime import onnx_dims

        graph = onnx.load(str(source.onnx_path), load_external_data=False).graph
        value = next(v for v in graph.input if v.name == spec.name)
        problem = shapes.model_dims_problem(spec.shape, *onnx_dims(value))
        if problem is not None:
            raise ManifestError("model.inputs[0].shape", problem)
    if source.kind == "onnx":
        # Every runtime, including those reached through torch (whose files number their outputs),
        # holds an ONNX model's outputs to their names.
        for i, (declared_output, name) in enumerate(zip(manifest.model.outputs, source.output_names)):
            if declared_output.name != name:
                raise ManifestError(f"model.outputs[{i}].name", f"'{declared_output.name}' is not the model's output name '{name}' (outputs: {', '.join(source.output_names)})")
    example = shapes.example_shape(spec, manifest.pre_steps())
    try:
        outs = reference({spec.name: np.zeros(example, dtype=spec.dtype)})
    except Exception as exc:  # the model's own error says why the shape is wrong
        text = str(exc).strip().splitlines()
        raise ManifestError("model.inputs[0].shape", f"the model rejects an input of shape {example} {spec.dtype} (declared {spec.shape}): {text[0] if text else type(exc).__name__}") from exc
    declared = manifest.model.outputs
    if len(outs) != len(declared):
        raise ManifestError("model.outputs", f"declares {len(declared)} output(s); the model returns {len(outs)}")
    for i, (o, value) in enumerate(zip(declared, outs)):
        # A symbolic output dim (a mask that follows the input size) takes the size the model gives.
        if o.shape is not None and (len(value.shape) != len(o.shape) or any(not shapes.is_symbolic(d) and d != v for d, v in zip(o.shape, value.shape))):
            raise ManifestError(f"model.outputs[{i}].shape", f"{o.shape} does not match the model's {list(value.shape)} (for an input of {example})")
    if manifest.task == "classification":
        scores = outs[manifest.post_output_index()]
        if scores.ndim != 2 or scores.shape[0] != 1:
            raise ManifestError("model.outputs", f"classification needs a [1, classes] score output; the model gives {list(scores.shape)}")
        if labels and len(labels) != scores.shape[1]:
            raise ManifestError("postprocess.labels", f"{manifest.postprocess.labels} has {len(labels)} labels; the model has {scores.shape[1]} classes")
    if manifest.task in ("detection", "segmentation"):
        # The steps read the outputs' layout (rows, classes, mask planes): try them on these outputs.
        height, width = manifest_input_hw(manifest)
        try:
            run_postprocess(outs, manifest.task, _post_spec(manifest, labels), Geometry.identity(width, height), (height, width))
        except ProcessingError as exc:
            field = "postprocess.labels" if "labels for" in str(exc) else "postprocess.steps"
            raise ManifestError(field, f"{exc} (model outputs: {', '.join(f'{o.name} {list(v.shape)}' for o, v in zip(declared, outs))})") from exc


# What a runtime's convert never reads: the gate, the golden images and (unless the backend says
# it does, `Backend.convert_reads_quantization`) the quantization block, so a runtime's float and
# int8 builds share one conversion.
_NOT_READ_BY_CONVERT = ("parity", "golden", "quantization")


def convert_key(backend, source: SourceModel, manifest: Manifest) -> str | None:
    """The build cache's key of `backend`'s conversion of `source` (stagecache.py); None when the
    source's digest does not cover its code (a python: factory)."""
    if not stagecache.content_keyed(source):
        return None
    settings = manifest.model_dump(mode="json", exclude=set(_NOT_READ_BY_CONVERT))
    if backend.convert_reads_quantization:
        settings["quantization"] = manifest.quantization.model_dump(mode="json")
    return stagecache.stage_key("convert", backend.name, source.kind, source.sha256, json.dumps(settings, sort_keys=True))


def _convert(backend, source: SourceModel, manifest: Manifest, out_dir: Path, cacheable: bool) -> Artifact:
    """`backend.convert`, or the same conversion from the build cache. `cacheable`: False for a
    model the build optimized (its own, not the source file's)."""

    def convert() -> dict[str, Any]:
        artifact = backend.convert(source, manifest, out_dir)
        assert artifact.folder == out_dir, artifact.folder  # what the cache stores
        return {k: v for k, v in dataclasses.asdict(artifact).items() if k != "folder"}

    record = stagecache.folder_stage("convert", convert_key(backend, source, manifest) if cacheable else None, out_dir, convert)
    return Artifact(folder=out_dir, **record)


def source_work_key(source: SourceModel, manifest: Manifest) -> str | None:
    """The build cache's key of the work of `source`'s ONNX graph: the same for every runtime and
    precision built from it (what the ONNX export reads: the model block and the pre-processing that
    sets the example input); None where the source's digest does not cover its code."""
    if not stagecache.content_keyed(source):
        return None
    settings = {"model": manifest.model.model_dump(mode="json"), "preprocess": manifest.preprocess.model_dump(mode="json")}
    return stagecache.stage_key("source-work", source.kind, source.sha256, json.dumps(settings, sort_keys=True))


def _record_source_work(manifest: Manifest, source: SourceModel, stage: Path, cacheable: bool) -> None:
    """reports/work.json (roofline.WORK_REPORT) of a bundle whose model count_work does not read: the
    operations and bytes of the ONNX graph of the source (the file itself, or ONNX Runtime's export
    of a PyTorch source, which the ncnn and MNN conversions start from too), or why not. Counted once
    per source and kept in the build cache (a log line the export printed is replayed from it)."""
    from edgesdk.backends.onnxruntime import BACKEND as onnx_exporter

    holder = stage / ".source-work"
    graph = "the ONNX export of the PyTorch source" if source.is_torch else "the source ONNX"

    def count() -> dict[str, Any]:
        onnx_dir = stage / ".source-onnx"
        try:
            record = roofline.work_record(roofline.count_work(onnx_exporter.convert(source, manifest, onnx_dir).main_path), graph)
        except EdgeSdkError as exc:  # no ONNX Runtime or OpenVINO here, a dynamic shape, an op the export lacks
            record = {"graph": graph, "skipped": str(exc)}
        finally:
            shutil.rmtree(onnx_dir, ignore_errors=True)
        bundle_mod.write_json(holder / "work.json", record)
        return record

    try:
        stagecache.folder_stage("source-work", source_work_key(source, manifest) if cacheable else None, holder, count)
        (stage / roofline.WORK_REPORT).parent.mkdir(parents=True, exist_ok=True)
        (holder / "work.json").replace(stage / roofline.WORK_REPORT)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def _optimize(manifest: Manifest, source: SourceModel, images: list[golden.GoldenImage]):
    from edgesdk.optimize import stage

    feeds = [{manifest.model.inputs[0].name: _pre(manifest, px)} for px in golden.parity_variants(images)]
    return stage.run(manifest, source, feeds, manifest.post_output_index() if manifest.task == "classification" else None)


@dataclass(frozen=True)
class _RunnerFor:
    """The runtime's host runner for another file of `artifact`'s kind (a quantized probe). A value
    that pickles, so sensitivity probes can run in other processes (quantize/fanout.py)."""

    runtime: str
    artifact: Any

    def __call__(self, path: Path):
        from dataclasses import replace

        return get_backend(self.runtime).runner(replace(self.artifact, folder=path.parent, main=path.name))


def _runner_for(backend, artifact) -> _RunnerFor:
    return _RunnerFor(backend.name, artifact)


def _quantize(manifest: Manifest, runtime: str, backend, artifact, calibration, stage: Path, source: SourceModel, cacheable: bool) -> quantize.Outcome:
    """quantize.run on the converted model, or its result (model files, report, build.log lines)
    from the build cache. `cacheable`: False for a model the build optimized."""
    score_output = manifest.post_output_index() if manifest.task == "classification" else None

    def run() -> dict[str, Any]:
        outcome = quantize.run(manifest, runtime, artifact.main_path, _runner_for(backend, artifact), calibration, score_output, source)
        return {"report": outcome.report, "summary": outcome.summary, "failures": outcome.failures}

    key = quantize_key(runtime, artifact, manifest, calibration, source) if cacheable else None
    record = stagecache.folder_stage("quantize", key, artifact.folder, run)
    outcome = quantize.Outcome(record["report"], record["summary"], record["failures"])
    quantize.report.write(outcome.report, stage / "reports")
    return outcome


def quantize_key(runtime: str, artifact: Artifact, manifest: Manifest, calibration: quantize.CalibrationSet | None, source: SourceModel) -> str | None:
    """The build cache's key of quantizing `artifact` (stagecache.py): the converted model's
    files, the manifest but its gate and golden images (the quantization block, and the model and
    pre-processing a translator that starts from the source reads), the source's bytes and the
    calibration tensors. None when the source's digest does not cover its code."""
    if not stagecache.content_keyed(source):
        return None
    settings = manifest.model_dump(mode="json", exclude={"parity", "golden"})
    data = "-" if calibration is None else f"{calibration.sha256} {buildcache.arrays_digest(calibration.tensors)}"
    return stagecache.stage_key("quantize", runtime, buildcache.files_digest([artifact.folder]), json.dumps(settings, sort_keys=True), source.kind, source.sha256, data)


def _choose_precision(manifest: Manifest, runtime: str, backend, artifact, calibration, stage: Path, source: SourceModel) -> dict[str, Any]:
    score_output = manifest.post_output_index() if manifest.task == "classification" else None
    _, report = auto_precision.choose(manifest, runtime, artifact.main_path, _runner_for(backend, artifact), calibration, score_output, source)
    bundle_mod.write_json(stage / "reports" / auto_precision.REPORT_FILE, quantize.report.json_safe(report))
    return report


def _preprocessed(manifest: Manifest, rgb: np.ndarray) -> Preprocessed:
    color = manifest.preprocess.input_color
    pre = run_preprocess(golden.to_app_order(rgb, color), color, manifest.pre_steps())
    spec = manifest.model.inputs[0]
    problem = shapes.fit_problem(spec, pre.tensor.shape)
    if problem is not None:  # a bounded symbolic dim: the SDK refuses such an image, so the build does too
        field = "model.inputs[0].dynamic" if spec.dynamic else "model.inputs[0].shape"
        raise ManifestError(field, f"a {rgb.shape[1]}x{rgb.shape[0]} golden or parity image does not fit: {problem}")
    return pre


def _pre(manifest: Manifest, rgb: np.ndarray) -> np.ndarray:
    return _preprocessed(manifest, rgb).tensor


def manifest_input_hw(manifest: Manifest) -> tuple[int, int]:
    """The model input's (height, width), from the declared input shape (symbolic dims: their
    example size) and the layout step."""
    shape = shapes.example_shape(manifest.model.inputs[0], manifest.pre_steps())
    layout = next((s["layout"] for s in manifest.pre_steps() if s["op"] == "layout"), None)
    return (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])


def _post_spec(manifest: Manifest, labels: list[str]) -> dict[str, Any]:
    return {"output_index": manifest.post_output_index(), "steps": manifest.post_steps(), "labels": labels}


def _fed(manifest: Manifest, rgb: np.ndarray, feed: ImageFeed | None, pre: Preprocessed) -> Preprocessed:
    """What the SDK feeds the converted model: the manifest's tensor `pre`, or the image `feed` says."""
    if feed is None:
        return pre
    color = manifest.preprocess.input_color
    return run_preprocess(golden.to_app_order(rgb, color), color, feed.steps)


class _Remembering:
    """A runner that answers an input it has run before with what it gave then (copies: a caller
    may write into what it is given). The golden stage feeds each golden image as the parity gate
    fed it (golden.parity_variants starts each image's variants with the image itself)."""

    def __init__(self, run: Callable[[dict[str, np.ndarray]], list[np.ndarray]]):
        self.run = run
        self.outputs: dict[str, list[np.ndarray]] = {}
        self.runs = 0

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        key = workcache.digest(*(x for name in sorted(feeds) for x in (name, np.asarray(feeds[name]))))
        if key not in self.outputs:
            self.runs += 1
            self.outputs[key] = [np.array(a, copy=True) for a in self.run(feeds)]
        return [np.array(a, copy=True) for a in self.outputs[key]]


def _parity(manifest: Manifest, images: list[golden.GoldenImage], reference, candidate, labels: list[str], feed: ImageFeed | None = None) -> parity.ParityReport:
    name = manifest.model.inputs[0].name
    refs, cands, pairs = [], [], []
    post = _post_spec(manifest, labels)
    for pixels in golden.parity_variants(images):
        pre = _preprocessed(manifest, pixels)
        refs.append(reference({name: pre.tensor}))
        cands.append(candidate({name: _fed(manifest, pixels, feed, pre).tensor}))
        if manifest.task in ("detection", "segmentation"):
            ref_result, cand_result = (run_postprocess(outs, manifest.task, post, pre.geometry, pre.input_hw) for outs in (refs[-1], cands[-1]))
            pairs.append((ref_result, cand_result))
    tolerances = parity.tolerances_for(manifest.quantization.mode, manifest.parity.model_dump())
    score_output = manifest.post_output_index() if manifest.task == "classification" else None
    return parity.evaluate([o.name for o in manifest.model.outputs], refs, cands, tolerances, score_output, pairs or None)


def _write_golden(
    stage: Path,
    manifest: Manifest,
    images: list[golden.GoldenImage],
    candidate,
    labels: list[str],
    from_reference: bool = False,
    feed: ImageFeed | None = None,
    device_precision: str = "float32",
) -> list[dict[str, Any]]:
    """`from_reference`: `candidate` is the reference itself (the runtime cannot predict here), and
    index.json says so. With `feed`, the golden pre-processed input is the image the SDK feeds the
    model. `device_precision`: what the runtime may compute in on a device (parity.golden_tolerances)."""
    folder = stage / golden.GOLDEN_DIR
    names = [o.name for o in manifest.model.outputs]
    cases = []
    for image in images:
        pre = _preprocessed(manifest, image.pixels)
        fed = _fed(manifest, image.pixels, feed, pre)
        outputs = candidate({manifest.model.inputs[0].name: (pre if from_reference else fed).tensor})
        result = run_postprocess(outputs, manifest.task, _post_spec(manifest, labels), pre.geometry, pre.input_hw)
        cases.append(golden.write_case(folder, image, manifest.preprocess.input_color, fed.tensor, names, outputs, result))
    bundle_mod.write_json(
        folder / golden.INDEX_FILE,
        {
            "input_color": manifest.preprocess.input_color,
            "task": manifest.task,
            "tolerances": {**parity.golden_tolerances(device_precision), **(parity.device_output_tolerances(manifest.quantization.mode) if from_reference else {})},
            **({"outputs_from": "reference"} if from_reference else {}),
            "cases": cases,
        },
    )
    return cases


def _sdk_model_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One model file in sdk.json: `sha256` is always that of the file in the bundle (what `verify`
    checks); an encrypted file adds its `encryption` record with the plaintext's sha256."""
    if "encryption" not in entry:
        return {"file": f"model/{entry['file']}", "sha256": entry["sha256"], "size_bytes": entry["size_bytes"]}
    return {"file": f"model/{entry['file']}", "sha256": entry["encryption"]["ciphertext_sha256"], "size_bytes": entry["size_bytes"], "encryption": entry["encryption"]}


def _sdk_json(
    manifest: Manifest,
    target: str,
    runtime: str,
    artifact,
    model_files: list[dict[str, Any]],
    source: SourceModel,
    report: parity.ParityReport | parity.NotRun,
    labels: list[str],
    cases: list[dict[str, Any]],
) -> dict[str, Any]:
    import onnx
    import torch

    epoch = bundle_mod.source_date_epoch()
    main, *others = model_files
    encryption = main.get("encryption")
    return {
        "schema_version": 1,
        "name": manifest.name,
        "version": manifest.version,
        "target": target,
        "runtime": runtime,
        "task": manifest.task,
        "model": {
            **_sdk_model_entry(main),
            "encrypted": encryption is not None,
            "key_id": encryption["key_id"] if encryption else None,
            **({"companions": [_sdk_model_entry(c) for c in others]} if others else {}),
        },
        "io": {
            "inputs": [i.as_json() for i in manifest.model.inputs],
            "outputs": [o.model_dump(exclude_none=True) for o in manifest.model.outputs],
        },
        "preprocess": {"input_color": manifest.preprocess.input_color, "steps": manifest.pre_steps()},
        "postprocess": {**_post_spec(manifest, labels), "output": manifest.model.outputs[manifest.post_output_index()].name},
        "quantization": {"mode": manifest.quantization.mode, "calibration": None, "kept_float_layers": []},
        "parity": report.as_dict(),
        "golden": {"dir": golden.GOLDEN_DIR, "cases": [c["id"] for c in cases]},
        "runtime_versions": artifact.runtime_versions,
        **({"runtime_options": options} if (options := get_backend(runtime).runtime_options(artifact, manifest)) else {}),
        "tool": {
            "edgesdk": edgesdk.__version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
        },
        "source": {"model": manifest.model.source, "kind": source.kind, "sha256": source.sha256, **({"route": artifact.route} if artifact.route else {})},
        "languages": list(render.languages_for(target, runtime)),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
    }


# ---- verify -----------------------------------------------------------------------------------
REQUIRED_SDK_KEYS = {
    "schema_version": int,
    "name": str,
    "version": str,
    "target": str,
    "runtime": str,
    "task": str,
    "model": dict,
    "io": dict,
    "preprocess": dict,
    "postprocess": dict,
    "parity": dict,
    "runtime_versions": dict,
}


def verify(bundle_path: str | Path, pubkey: str | Path | None = None) -> dict[str, Any]:
    """Checksums, sdk.json shape, and the model file's sha256 against sdk.json; with `pubkey`, the
    ed25519 signature of SHA256SUMS first (a valid signature over changed sums is no help). A
    bundle .zip is extracted safely first (bundle.extract_zip)."""
    public = None
    if pubkey is not None:
        from edgesdk.crypto import signing

        public = signing.load_public(Path(pubkey))
    with bundle_mod.opened(Path(bundle_path)) as bundle:
        return _verify_folder(bundle, public, str(bundle_path))


def _verify_folder(bundle: Path, public, label: str) -> dict[str, Any]:
    from edgesdk.errors import IntegrityError

    sdk = bundle_mod.load_sdk_json(bundle)
    problems = []
    for key, kind in REQUIRED_SDK_KEYS.items():
        if not isinstance(sdk.get(key), kind):
            problems.append(f"sdk.json: '{key}' is missing or not a {kind.__name__}")
    if sdk.get("schema_version") != 1:
        problems.append(f"sdk.json: schema_version {sdk.get('schema_version')!r} is not supported (1)")
    if public is not None:
        sums, sig = bundle / bundle_mod.SUMS_FILE, bundle / bundle_mod.SIGNATURE_FILE
        if not sig.is_file() or not sums.is_file():
            raise IntegrityError(f"{label} is not signed ({bundle_mod.SIGNATURE_FILE} is missing)" if sums.is_file() else f"{label}: {bundle_mod.SUMS_FILE} is missing")
        if sig.stat().st_size > 1024:
            raise IntegrityError(f"{sig}: not an ed25519 signature ({sig.stat().st_size} bytes)")
        from edgesdk.crypto import signing

        signing.verify(public, sums.read_bytes(), sig.read_bytes(), f"{label}: {bundle_mod.SIGNATURE_FILE}")
    problems += bundle_mod.verify_checksums(bundle)
    model: dict[str, Any] = sdk["model"] if isinstance(sdk.get("model"), dict) else {}
    companions: list[Any] = model["companions"] if isinstance(model.get("companions"), list) else []
    for entry in [model, *(c for c in companions if isinstance(c, dict))]:
        name = str(entry.get("file", ""))
        if name and not bundle_mod.is_inside(bundle, name):
            problems.append(f"sdk.json names a model file outside the bundle: {name!r}")
        elif name and (bundle / name).exists() and bundle_mod.sha256_path(bundle / name) != entry.get("sha256"):
            problems.append(f"{entry['file']}: sha256 differs from sdk.json")
    if problems:
        raise IntegrityError(f"{label} failed verification: " + "; ".join(problems))
    return {
        "bundle": label,
        "ok": True,
        "name": sdk["name"],
        "version": sdk["version"],
        "files_checked": len((bundle / bundle_mod.SUMS_FILE).read_text().splitlines()),
        "signature": "verified" if public is not None else "not checked",
    }


# ---- test -------------------------------------------------------------------------------------
def test(
    bundle_path: str | Path,
    device: str = "host",
    build_dir: str | Path | None = None,
    key: str | None = None,
    cmake_args: list[str] | None = None,
    remote_env: list[str] | None = None,
) -> dict[str, Any]:
    """The bundle's generated SDK held to its golden vectors: here (`host`), on an Android device
    (`adb:SERIAL`), on a board over ssh (`ssh:[USER@]HOST[:PORT]`, with `cmake_args` for its
    build and `remote_env` for its runs) or cross-compiled for aarch64 and run under qemu
    (`qemu-aarch64`). `key` (env:NAME | file:PATH) opens an encrypted model.
    A bundle .zip is extracted safely first (bundle.extract_zip)."""
    with bundle_mod.opened(Path(bundle_path)) as bundle:
        return _test_folder(bundle, device, build_dir, key, cmake_args or [], remote_env or [])


def _test_folder(bundle_path: Path, device: str, build_dir: str | Path | None, key: str | None, cmake_args: list[str], remote_env: list[str]) -> dict[str, Any]:
    from edgesdk import hosttest, hosttest_kotlin, hosttest_swift, qemutest, remotetest
    from edgesdk.errors import IntegrityError

    sdk = bundle_mod.load_sdk_json(Path(bundle_path))
    # A tampered bundle is refused whatever else is true of it.
    problems = bundle_mod.verify_checksums(Path(bundle_path))
    if problems:
        raise IntegrityError(f"{bundle_path} failed its checksums: " + "; ".join(problems[:5]))
    if not sdk.get("languages"):
        # Passing with nothing compiled would claim a tested SDK that does not exist.
        raise BackendUnavailable("no generated SDK to test in this bundle (sdk.json languages: []): its runtime has no glue for its target yet; the model itself passed the build's parity gate")
    kotlin = "kotlin" in sdk["languages"]
    # An iOS bundle's SDK is its Swift package (its C++ is the one x86 bundles test).
    swift = "swift" in sdk["languages"]
    if swift and (device == "macos" or device.startswith(hosttest_swift.SIMULATOR_PREFIX)):
        if key is not None or sdk["model"].get("encrypted"):
            raise InputError("the Swift SDK does not open encrypted models yet")
        return hosttest_swift.test_on_xcode(Path(bundle_path), device)
    if device.startswith("adb:") and kotlin:
        if key is not None or sdk["model"].get("encrypted"):
            raise InputError(
                "--device adb: does not pass a model key to the instrumented GoldenTest yet; run it with -Pandroid.testInstrumentationRunnerArguments.model_key_hex=HEX (see the module README)"
            )
        return hosttest_kotlin.test_on_device(Path(bundle_path), device[len("adb:") :])
    if device.startswith(remotetest.SSH_PREFIX) and not kotlin:
        if key is not None or sdk["model"].get("encrypted"):
            raise InputError("--device ssh: does not carry a model key to the board yet: test an encrypted bundle on the host (--key), or its unencrypted build on the board")
        ssh = remotetest.SshTarget.parse(device)
        env = remotetest.parse_env(remote_env)
        report = remotetest.test_bundle(Path(bundle_path), remotetest.Remote(ssh.command_prefix(), ssh.destination), cmake_args, env)
        data = {**report.as_dict(), "device": device}
    elif device == qemutest.DEVICE:
        target = qemutest.target(Path(bundle_path))
        report = hosttest.test_bundle(Path(bundle_path), Path(build_dir) if build_dir else None, key, target)
        data = {**report.as_dict(), "device": device}
    elif device != "host":
        raise InputError(
            f"--device '{device}': 'host' tests every bundle; 'adb:SERIAL' a Kotlin (Android) SDK on a device; "
            f"'ssh:[USER@]HOST[:PORT]' a C++ SDK on a board; '{qemutest.DEVICE}' an ARM bundle's C++ SDK cross-compiled and run under qemu; "
            "'macos' or 'simulator:NAME' a Swift (iOS) SDK with Xcode"
        )
    elif swift:
        report, timings = hosttest_swift.test_bundle(Path(bundle_path), Path(build_dir) if build_dir else None, key)
        data = {**report.as_dict(), "language": "swift", **timings}
    elif kotlin:
        report, timings = hosttest_kotlin.test_bundle(Path(bundle_path), Path(build_dir) if build_dir else None, key)
        data = {**report.as_dict(), "language": "kotlin", **timings}
    else:
        report = hosttest.test_bundle(Path(bundle_path), Path(build_dir) if build_dir else None, key)
        data = report.as_dict()
    if not report.passed:
        problems = [f"{c.id}: {p}" for c in report.cases for p in c.problems]
        raise ParityError("generated SDK disagrees with the golden vectors: " + "; ".join(problems[:8]))
    return data


# ---- targets ----------------------------------------------------------------------------------
def targets_table() -> list[dict[str, Any]]:
    from edgesdk import hosttest, hosttest_kotlin, hosttest_swift
    from edgesdk.backends import availability
    from edgesdk.targets import TARGETS

    toolchain = hosttest.toolchain_problem()
    kotlin_problem = hosttest_kotlin.toolchain_problem()
    swift_problem = hosttest_swift.toolchain_problem()

    def cpp_status(target, runtime: str) -> str:
        if target.sample_app != "cpp-cli":
            return "generated (the same C++ is compiled and tested in x86 bundles; this target's sample app is not C++)"
        try:
            hosttest.cpp_package(runtime)
        except (BackendUnavailable, ImportError) as exc:
            return f"generated; not testable here: {exc}"
        if toolchain:
            return f"generated; not testable here: {toolchain}"
        where = "" if target.name == "x86" else f" for this host's CPU (x86-64; not cross-compiled for {target.name})"
        return f"generated; compiled and tested here{where}"

    rows = []
    for target in TARGETS.values():
        for runtime in target.runtimes:
            ok, why = availability(runtime)
            # A runtime that cannot predict here builds with its artifact validated instead of the parity gate.
            cannot_predict = get_backend(runtime).host_prediction() if ok else None
            if cannot_predict is not None:
                why = f"{why}; parity gate not run here: {cannot_predict}"
            rendered = render.languages_for(target.name, runtime) if ok else ()
            languages = {}
            for lang in target.languages:
                if lang not in rendered:
                    languages[lang] = "not generated for this runtime yet"
                elif lang == "cpp":
                    languages[lang] = cpp_status(target, runtime)
                elif lang == "kotlin":
                    unchecked = hosttest_kotlin.android_layer_problem(runtime)
                    layer = f"Android layer not compile-checked here ({unchecked})" if unchecked else "Android layer compile-checked here"
                    languages[lang] = f"generated; core tested on the host JVM, {layer}" if not kotlin_problem else f"generated; not testable here: {kotlin_problem}"
                elif lang == "swift":
                    apple = "the Apple layer and runtime adapter need Xcode (`edgesdk test --device macos|simulator:NAME`)"
                    languages[lang] = f"generated; core built and tested here with swift test, {apple}" if not swift_problem else f"generated; not testable here: {swift_problem}"
            rows.append(
                {
                    "target": target.name,
                    "runtime": runtime,
                    "default": runtime == target.default_runtime,
                    "available": ok,
                    "host_parity": ok and cannot_predict is None,
                    "detail": why,
                    "languages": languages,
                    "dynamic_shapes": _dynamic_shapes_support(runtime),
                }
            )
    return rows


def _dynamic_shapes_support(runtime: str) -> str:
    """What a manifest with symbolic input dims gets from `runtime` (`edgesdk targets`)."""
    try:
        how = get_backend(runtime).dynamic_shapes
    except (BackendUnavailable, ImportError):
        return "no backend here"
    return f"yes: {how}" if how else "no: fixed input shape only (a symbolic dim is refused at build time)"


# ---- inspect ----------------------------------------------------------------------------------
def inspect(path: str | Path) -> dict[str, Any]:
    from edgesdk import inspection

    return inspection.inspect_path(Path(path))
