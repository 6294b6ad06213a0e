"""Rules a manifest must keep beyond its schema: those that span fields or touch the file system.

`cli` says whether the target and runtime came from the command line, so an error names the
flag (`--runtime`) instead of the manifest field. Checks that need the model itself (shapes
against the real graph) live in the backends and api.py, after the model is loaded.
"""

from __future__ import annotations

import re

from edgesdk import targets
from edgesdk.errors import ManifestError
from edgesdk.manifest.files import calibration_files
from edgesdk.manifest.schema import MODEL_SUFFIXES, Manifest, step_op
from edgesdk.processing.postprocess import TASK_STEPS
from edgesdk.processing.preprocess import output_shape


def check_semantics(m: Manifest, cli: bool) -> None:
    """Raise the first rule `m` breaks; with several problems, this order decides which one is reported."""
    source = m.model.source
    if source.startswith("python:"):
        if not re.fullmatch(r"python:[A-Za-z_][\w.]*:[A-Za-z_]\w*", source):
            raise ManifestError("model.source", f"'{source}' is not python:package.module:factory")
    else:
        p = m.resolve(source)
        if p.suffix not in MODEL_SUFFIXES:
            raise ManifestError("model.source", f"'{source}' has an unsupported extension (allowed: {', '.join(MODEL_SUFFIXES)} or python:module:factory)")
        if not p.is_file():
            raise ManifestError("model.source", f"model file not found: {p}")
    out_names = [o.name for o in m.model.outputs]
    if len(set(out_names)) != len(out_names):
        raise ManifestError("model.outputs", "output names must be unique")
    if m.postprocess.output is not None and m.postprocess.output not in out_names:
        raise ManifestError("postprocess.output", f"'{m.postprocess.output}' is not a model output (outputs: {', '.join(out_names)})")
    post_ops = [step_op(s) for s in m.postprocess.steps]
    allowed_post = TASK_STEPS[m.task]
    for i, op in enumerate(post_ops):
        if op not in allowed_post:
            raise ManifestError(f"postprocess.steps[{i}]", f"'{op}' is not a {m.task} step (allowed: {', '.join(allowed_post)})")
    if m.task in ("detection", "segmentation"):
        _check_task_steps(m, post_ops, out_names)
    selections = [op for op in post_ops if op in ("argmax", "topk")]
    if len(selections) > 1 or (selections and post_ops[-1] != selections[0]):
        raise ManifestError("postprocess.steps", "one 'argmax' or 'topk' step may select classes, as the last step")
    if m.postprocess.labels is not None:
        m.labels()  # raises on a missing or empty file
    if m.task == "custom" and m.postprocess.labels:
        raise ManifestError("postprocess.labels", "labels name classes: they apply to classification, detection and segmentation, not custom")
    if m.golden.images is not None and not m.resolve(m.golden.images).is_dir():
        raise ManifestError("golden.images", f"folder not found: {m.resolve(m.golden.images)}")
    _check_static_shapes(m)
    _check_target_runtime(m, cli)
    _check_quantization(m)
    if (m.optimize.fold_bn or m.optimize.prune is not None) and not source.startswith("python:"):
        raise ManifestError("optimize", f"needs a torch module source (model.source: python:module:factory) to rewrite; '{source}' cannot be changed in place")
    if m.encryption.enabled and m.encryption.key is None:
        raise ManifestError("encryption.key", "required with encryption.enabled: env:NAME or file:PATH naming the 32-byte model key (make one with `edgesdk keygen`)")
    if not m.encryption.enabled and m.encryption.key is not None:
        raise ManifestError("encryption.key", "set, but encryption.enabled is false: the model would ship unencrypted (set enabled: true, or remove the key)")


def _check_task_steps(m: Manifest, post_ops: list[str], out_names: list[str]) -> None:
    """Detection is decode_boxes then nms, segmentation one mask step; outputs they name exist."""
    wanted = list(TASK_STEPS[m.task])
    if post_ops != wanted:
        raise ManifestError("postprocess.steps", f"{m.task} takes exactly the steps {', '.join(wanted)}, in this order (got: {', '.join(post_ops) or 'none'})")
    if m.task != "detection":
        return
    decode = m.postprocess.steps[0].decode_boxes  # type: ignore[attr-defined]
    if decode.format == "boxes_scores":
        if m.postprocess.output is not None:
            raise ManifestError("postprocess.output", "format boxes_scores reads two outputs: name them with decode_boxes.boxes and decode_boxes.scores")
        for key, default in (("boxes", 0), ("scores", 1)):
            name = getattr(decode, key)
            if name is None and len(out_names) <= default:
                raise ManifestError(f"postprocess.steps[0].decode_boxes.{key}", f"boxes_scores needs two outputs ([1, N, 4] boxes, [1, N, C] scores); the manifest declares {len(out_names)}")
            if name is not None and name not in out_names:
                raise ManifestError(f"postprocess.steps[0].decode_boxes.{key}", f"'{name}' is not a model output (outputs: {', '.join(out_names)})")


def _check_quantization(m: Manifest) -> None:
    q = m.quantization
    if q.bits is not None and q.mode != "palettize":
        raise ManifestError("quantization.bits", f"only for mode palettize (mode is '{q.mode}'); remove it")
    if q.mode == "none":
        if q.calibration is not None or q.keep_float or q.accuracy_budget is not None or q.sensitivity:
            raise ManifestError("quantization.mode", "calibration, keep_float, accuracy_budget and sensitivity need a quantization mode (allowed: fp16, int8-dynamic, int8, palettize, auto)")
        return
    if q.mode == "auto" and (q.calibration is None or q.accuracy_budget is None):
        missing = "quantization.calibration" if q.calibration is None else "quantization.accuracy_budget"
        example = "calibration: {data: calib/}, accuracy_budget: {metric: top1_agreement, min: 0.99}"
        raise ManifestError(missing, f"required for mode auto: each mode is measured against the budget on the calibration data, e.g. {example}")
    if q.calibration is None:
        if q.mode == "int8":
            raise ManifestError("quantization.calibration", "required for mode int8: a folder of images or .npy tensors that sets the activation ranges, e.g. {data: calib/, samples: 64}")
        if q.keep_float == "auto" or q.accuracy_budget is not None or q.sensitivity:
            raise ManifestError("quantization.calibration", "required for keep_float: auto, accuracy_budget and sensitivity: they are measured on the calibration data")
    if q.keep_float == "auto" and q.accuracy_budget is None:
        raise ManifestError("quantization.accuracy_budget", "required with keep_float: auto (e.g. {metric: top1_agreement, min: 0.99})")
    if q.accuracy_budget is not None and q.accuracy_budget.metric == "top1_agreement" and m.task != "classification":
        raise ManifestError("quantization.accuracy_budget.metric", f"top1_agreement needs task classification (allowed for '{m.task}': cosine, sqnr_db)")
    if q.calibration is not None:
        calibration_files(m, q.calibration)


def _check_static_shapes(m: Manifest) -> None:
    """The pre-processed tensor must match the declared model input (shape, dtype)."""
    spec = m.model.inputs[0]
    steps = m.pre_steps()
    for i, step in enumerate(steps):
        if step["op"] == "center_crop":
            earlier = [s for s in steps[:i] if s["op"] in ("resize", "letterbox", "pad")]
            if not earlier:
                raise ManifestError(f"preprocess.steps[{i}].center_crop", "needs a resize, letterbox or pad step before it (an arbitrary image may be smaller than the crop)")
            prev = earlier[-1]
            if prev.get("size") is None:
                continue  # a size rule: the size follows the image, checked per image
            ph, pw = prev["size"]
            ch, cw = step["size"]
            if ch > ph or cw > pw:
                raise ManifestError(f"preprocess.steps[{i}].center_crop.size", f"{[ch, cw]} is larger than the {prev['op']} size {[ph, pw]}")
    shape = output_shape(None, steps)
    if shape is None or any(d is None for d in shape):
        raise ManifestError("preprocess.steps", "the pre-processed tensor has no fixed size: end with a fixed-size resize, a center_crop or a letterbox")
    if list(shape) != list(spec.shape):
        raise ManifestError("model.inputs[0].shape", f"{spec.shape} does not match the pre-processed tensor shape {list(shape)}")
    cast = next((s["dtype"] for s in steps if s["op"] == "cast"), "float32")
    if cast != spec.dtype:
        raise ManifestError("model.inputs[0].dtype", f"'{spec.dtype}' does not match the pre-processed tensor dtype '{cast}' (add or change the cast step)")


def _check_target_runtime(m: Manifest, cli: bool) -> None:
    if m.target is None:
        return
    allowed = targets.runtimes_for(m.target)
    if m.runtime is not None and m.runtime not in allowed:
        field = "--runtime" if cli else "runtime"
        raise ManifestError(field, f"'{m.runtime}' is not a runtime of target '{m.target}' (allowed: {', '.join(allowed)})")
