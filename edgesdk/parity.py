"""Parity metrics and the gate. Tolerances are data, here and nowhere else.

Two comparisons use them:
- the build gate: the converted model in its runtime vs the reference (source model, float32),
  on real images; a failure stops the build (exit 3);
- the golden check (`edgesdk test`): the generated SDK vs the golden vectors in the bundle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.results import TaskResult

# Build gate defaults per quantization mode; the manifest's `parity:` block overrides any key.
# Task metrics apply to their task only: top-1 agreement (classification), detection F1 (boxes
# matched at IoU >= 0.5 with the same class, after NMS) and mask pixel agreement (segmentation).
# Float32 gates detection and segmentation on max_abs alone and only reports their task metrics:
# with many overlapping boxes of nearly equal scores, a 1e-6 difference changes which box NMS
# keeps (and a tied argmax which class a pixel gets), while max_abs bounds the real difference.
GATE_TOLERANCES: dict[str, dict[str, float]] = {
    "none": {"max_abs": 1e-4, "cosine_min": 0.99999, "top1_agreement_min": 1.0},
    "fp16": {"cosine_min": 0.999, "top1_agreement_min": 0.98, "detection_f1_min": 0.95, "mask_agreement_min": 0.99},
    "int8-dynamic": {"cosine_min": 0.99, "top1_agreement_min": 0.99, "detection_f1_min": 0.9, "mask_agreement_min": 0.97},
    # Weights looked up in a per-tensor table (Core ML palettization): gated like int8 weights.
    "palettize": {"cosine_min": 0.99, "top1_agreement_min": 0.99, "detection_f1_min": 0.9, "mask_agreement_min": 0.97},
    "int8": {"cosine_min": 0.99, "top1_agreement_min": 0.99, "detection_f1_min": 0.9, "mask_agreement_min": 0.97},
}
DETECTION_MATCH_IOU = 0.5  # the usual mAP@0.5 match

# Generated SDK vs golden vectors: pre-processing is defined op by op, so it must agree tightly.
GOLDEN_TOLERANCES: dict[str, float] = {
    "preprocessed_float_max_abs": 1e-5,  # integer tensors must be equal
    "output_max_abs": 1e-4,
    "score_max_abs": 1e-4,
    # detection: each golden box matched by one SDK box of the same label at this IoU or more,
    # corners within box_max_abs_px pixels; segmentation: this share of pixels agree.
    "detection_match_iou_min": 0.99,
    "box_max_abs_px": 0.5,
    "mask_agreement_min": 0.999,
}

# The golden check of a bundle whose runtime stores or computes in reduced precision on devices
# that have it (Backend.device_precision): the golden vectors come from this host, which may not
# (x86 has no fp16 arithmetic), so a device's answers differ by that precision's rounding. float16:
# ncnn's fp16 arithmetic under qemu-aarch64 (ARMv8.2 asimdhp) was 1.6e-3 .. 3.1e-3 off the x86
# golden logits (magnitude 4) and 1.6e-4 off the scores; without asimdhp (-cpu cortex-a72) 3.6e-7.
# bfloat16: bf16 storage was 1.1e-2 off float32 on this CPU (avx512bf16), and device and golden
# may each be that far off.
GOLDEN_REDUCED_PRECISION: dict[str, dict[str, float]] = {
    "float16": {"output_max_abs": 5e-3, "score_max_abs": 1e-3},
    "bfloat16": {"output_max_abs": 5e-2, "score_max_abs": 1e-2},
}


def golden_tolerances(device_precision: str) -> dict[str, float]:
    """GOLDEN_TOLERANCES, loosened for a runtime that may compute in `device_precision` on a device."""
    return {**GOLDEN_TOLERANCES, **GOLDEN_REDUCED_PRECISION.get(device_precision, {})}


# Golden outputs computed by the reference, because the runtime cannot predict where the bundle is
# built (Core ML, TensorRT), hold a float32 run on the device to GOLDEN_TOLERANCES. A reduced-precision
# run there (fp16 or int8 engines, palettized weights) cannot meet 1e-4; it is held to the bar the
# build gate sets for its mode where the runtime does run: outputs by cosine, the top-1 class, the
# detections' F1 at IoU >= DETECTION_MATCH_IOU, the mask's pixel agreement. Pre-processing and
# anything computed from the golden outputs themselves stay under GOLDEN_TOLERANCES.
def device_output_tolerances(mode: str) -> dict[str, float]:
    """The index.json keys (none for quantization mode `none`) that `edgesdk test` and the Swift
    runtime tests use instead of output_max_abs / score_max_abs for a device's own inference."""
    if mode == "none":
        return {}
    gate = GATE_TOLERANCES[mode]
    return {
        "device_output_cosine_min": gate["cosine_min"],
        "device_detection_f1_min": gate["detection_f1_min"],
        "device_mask_agreement_min": gate["mask_agreement_min"],
    }


# A normalize folded into the model's image input (Core ML ImageType, docs/coreml.md) computes
# `(scale / std) * x + (-mean[c] / std)` instead of `(x * scale - mean[c]) / std`: different
# roundings of the same value. Per compute precision, the bound on |folded - reference| over every
# whole-number pixel 0..255, as a share of the operands' magnitude 255 * |scale / std| + max |mean / std|
# (the difference comes from rounding those operands, not the result, which may cancel to 0).
# float32: a few roundings of 2**-24 each (measured at most 1.9 * 2**-24); float16: one fp16
# rounding of 2**-11 where the compute unit does the multiply-add in half floats (measured at most
# 1.0 * 2**-11), twice that for margin.
FOLDED_NORMALIZE_RELATIVE: dict[str, float] = {"float32": 4 * 2.0**-24, "float16": 2 * 2.0**-11}


def folded_normalize_max_abs(precision: str, scale: float, mean: list[float], std: float) -> float:
    """The largest |folded - reference normalize| allowed for these parameters (FOLDED_NORMALIZE_RELATIVE)."""
    magnitude = 255.0 * abs(scale / std) + max(abs(m / std) for m in mean)
    return FOLDED_NORMALIZE_RELATIVE[precision] * magnitude


@dataclass
class OutputMetrics:
    max_abs: float
    mean_abs: float
    cosine: float
    sqnr_db: float

    def as_dict(self) -> dict[str, float | str]:
        return {k: _finite(v) for k, v in self.__dict__.items()}


def _finite(v: float) -> float | str:
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


def compare_arrays(reference: np.ndarray, candidate: np.ndarray) -> OutputMetrics:
    if reference.shape != candidate.shape:
        raise ValueError(f"shape {candidate.shape} differs from the reference {reference.shape}")
    ref = reference.astype(np.float64).ravel()
    got = candidate.astype(np.float64).ravel()
    diff = got - ref
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    mean_abs = float(np.mean(np.abs(diff))) if diff.size else 0.0
    norms = float(np.linalg.norm(ref) * np.linalg.norm(got))
    cosine = float(np.dot(ref, got) / norms) if norms > 0 else (1.0 if max_abs == 0 else 0.0)
    noise = float(np.sum(diff * diff))
    signal = float(np.sum(ref * ref))
    sqnr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    return OutputMetrics(max_abs, mean_abs, min(cosine, 1.0), sqnr)


def topk_indices(scores: np.ndarray, k: int) -> list[int]:
    """Stable descending order: ties keep the lower index first."""
    flat = scores.reshape(-1)
    order = np.argsort(-flat, kind="stable")
    return [int(i) for i in order[:k]]


@dataclass
class ParityReport:
    samples: int
    outputs: dict[str, dict[str, Any]]
    task_metrics: dict[str, float]
    tolerances: dict[str, float]
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "samples": self.samples,
            "tolerances": self.tolerances,
            "outputs": self.outputs,
            "task": self.task_metrics,
            "failures": self.failures,
        }


@dataclass
class NotRun:
    """The parity report of a runtime that cannot predict on this host (Backend.host_prediction):
    why not, and what was validated instead; the build stops on a validation problem, as on a
    parity failure."""

    reason: str
    validated: dict[str, Any]

    @property
    def failures(self) -> list[str]:
        return list(self.validated.get("problems", []))

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {"status": "not_run", "reason": self.reason, "validated": self.validated}


def tolerances_for(mode: str, overrides: dict[str, float | None]) -> dict[str, float]:
    merged = dict(GATE_TOLERANCES[mode])
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return merged


def box_match(a, b, corner_tol: float) -> float:
    """IoU of two [x0, y0, x1, y1] boxes, except that two empty boxes (a box clipped to a line
    has no area, and no IoU with itself) match fully when their corners are within corner_tol."""
    from edgesdk.processing.detection import area, iou

    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if area(a64) == 0 and area(b64) == 0:
        return 1.0 if float(np.max(np.abs(a64 - b64))) <= corner_tol else 0.0
    return float(iou(a64, b64[None])[0])


def detection_agreement(pairs: list[tuple[TaskResult, TaskResult]]) -> dict[str, float]:
    """Reference vs candidate detections per sample: greedy matching (reference boxes by score)
    at IoU >= DETECTION_MATCH_IOU with the same class; F1, precision, recall and the matched
    boxes' mean IoU over all samples."""
    matched = total_ref = total_got = 0
    ious: list[float] = []
    for ref, got in pairs:
        total_ref += len(ref.detections)
        total_got += len(got.detections)
        free = list(got.detections)
        for want in ref.detections:
            same = [g for g in free if g.index == want.index]
            if not same:
                continue
            overlaps = [box_match(want.box, g.box, GOLDEN_TOLERANCES["box_max_abs_px"]) for g in same]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= DETECTION_MATCH_IOU:
                matched += 1
                ious.append(float(overlaps[best]))
                free.remove(same[best])
    both = total_ref + total_got
    return {
        "detection_f1": 2 * matched / both if both else 1.0,
        "detection_precision": matched / total_got if total_got else 1.0,
        "detection_recall": matched / total_ref if total_ref else 1.0,
        "matched_box_iou_mean": float(np.mean(ious)) if ious else 1.0,
        "reference_detections": float(total_ref),
    }


def mask_agreement(pairs: list[tuple[TaskResult, TaskResult]]) -> dict[str, float]:
    same = total = 0
    for ref, got in pairs:
        assert ref.mask is not None and got.mask is not None
        a = np.frombuffer(ref.mask.class_ids, np.uint8)
        b = np.frombuffer(got.mask.class_ids, np.uint8)
        same += int(np.count_nonzero(a == b))
        total += a.size
    return {"mask_agreement": same / total if total else 1.0}


def _joined(reference: list[list[np.ndarray]], candidate: list[list[np.ndarray]], j: int) -> tuple[np.ndarray, np.ndarray]:
    """Output `j` of every sample, end to end: flattened, since an output with a dynamic dim (a
    mask that follows the input size) has its own shape per sample. The metrics read the values
    flattened anyway, so this equals stacking when all samples share a shape."""
    for k, (ref, got) in enumerate(zip(reference, candidate)):
        if ref[j].shape != got[j].shape:
            raise ValueError(f"sample {k}: shape {got[j].shape} differs from the reference {ref[j].shape}")
    return np.concatenate([sample[j].ravel() for sample in reference]), np.concatenate([sample[j].ravel() for sample in candidate])


def evaluate(
    output_names: list[str],
    reference: list[list[np.ndarray]],
    candidate: list[list[np.ndarray]],
    tolerances: dict[str, float],
    score_output: int | None,
    task_pairs: list[tuple[TaskResult, TaskResult]] | None = None,
) -> ParityReport:
    """reference/candidate: one list of outputs per sample. score_output: the output whose
    top-k agreement is measured (classification), or None. task_pairs: the reference's and the
    candidate's post-processed results per sample, for detection and segmentation."""
    per_output: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for j, name in enumerate(output_names):
        metrics = compare_arrays(*_joined(reference, candidate, j))
        per_output[name] = metrics.as_dict()
        if "max_abs" in tolerances and metrics.max_abs > tolerances["max_abs"]:
            failures.append(f"{name}: max_abs {metrics.max_abs:.3g} > {tolerances['max_abs']:.3g}")
        if "mean_abs" in tolerances and metrics.mean_abs > tolerances["mean_abs"]:
            failures.append(f"{name}: mean_abs {metrics.mean_abs:.3g} > {tolerances['mean_abs']:.3g}")
        if "cosine_min" in tolerances and metrics.cosine < tolerances["cosine_min"]:
            failures.append(f"{name}: cosine {metrics.cosine:.6f} < {tolerances['cosine_min']}")
        if "sqnr_db_min" in tolerances and metrics.sqnr_db < tolerances["sqnr_db_min"]:
            failures.append(f"{name}: SQNR {metrics.sqnr_db:.1f} dB < {tolerances['sqnr_db_min']} dB")
    task: dict[str, float] = {}
    if score_output is not None:
        top1 = top5 = 0
        for ref_outputs, got_outputs in zip(reference, candidate):
            r, g = ref_outputs[score_output], got_outputs[score_output]
            top1 += topk_indices(r, 1) == topk_indices(g, 1)
            top5 += set(topk_indices(r, 5)) == set(topk_indices(g, 5))
        n = max(len(reference), 1)
        task = {"top1_agreement": top1 / n, "top5_agreement": top5 / n}
        if "top1_agreement_min" in tolerances and task["top1_agreement"] < tolerances["top1_agreement_min"]:
            failures.append(f"top-1 agreement {task['top1_agreement']:.3f} < {tolerances['top1_agreement_min']}")
    if task_pairs:
        if task_pairs[0][0].task == "detection":
            task = detection_agreement(task_pairs)
            if "detection_f1_min" in tolerances and task["detection_f1"] < tolerances["detection_f1_min"]:
                failures.append(f"detection F1 {task['detection_f1']:.3f} < {tolerances['detection_f1_min']} (boxes matched at IoU >= {DETECTION_MATCH_IOU}, same class)")
        else:
            task = mask_agreement(task_pairs)
            if "mask_agreement_min" in tolerances and task["mask_agreement"] < tolerances["mask_agreement_min"]:
                failures.append(f"mask agreement {task['mask_agreement']:.4f} < {tolerances['mask_agreement_min']}")
    return ParityReport(len(reference), per_output, task, tolerances, failures)
