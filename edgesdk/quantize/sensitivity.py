"""Layer-wise sensitivity and the greedy choice of layers kept in float.

Backend-neutral: it only needs "run the model quantized with these layers left float" and compares
outputs with the float model on the calibration set. Metrics are the parity metrics (parity.py):
top-1 agreement on the score output, and the worst cosine / SQNR over all outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.parity import compare_arrays, topk_indices

Outputs = list[list[np.ndarray]]  # one list of output arrays per sample
METRICS = ("top1_agreement", "cosine", "sqnr_db")


def measure(reference: Outputs, candidate: Outputs, score_output: int | None) -> dict[str, float]:
    per_output = [compare_arrays(np.stack([s[j] for s in reference]), np.stack([s[j] for s in candidate])) for j in range(len(reference[0]))]
    result = {"cosine": min(m.cosine for m in per_output), "sqnr_db": min(m.sqnr_db for m in per_output)}
    if score_output is not None:
        same = sum(topk_indices(r[score_output], 1) == topk_indices(c[score_output], 1) for r, c in zip(reference, candidate))
        result["top1_agreement"] = same / len(reference)
    return result


def meets(metrics: dict[str, float], metric: str, minimum: float) -> bool:
    return metrics[metric] >= minimum


@dataclass
class LayerSensitivity:
    layer: str
    metrics: dict[str, float]  # this layer alone quantized, every other layer float


def analyze(layers: Sequence[str], run_with_only: Callable[[str], Outputs], reference: Outputs, score_output: int | None) -> list[LayerSensitivity]:
    return [LayerSensitivity(layer, measure(reference, run_with_only(layer), score_output)) for layer in layers]


def ranked(sensitivities: list[LayerSensitivity], metric: str) -> list[LayerSensitivity]:
    """Most sensitive first (lowest metric); ties keep graph order, so the choice is deterministic."""

    def key(s: LayerSensitivity) -> float:
        value = s.metrics[metric]
        return value if not math.isnan(value) else -math.inf

    return sorted(sensitivities, key=key)


@dataclass
class Selection:
    kept_float: list[str]
    steps: list[dict[str, Any]]  # each: layers kept float so far and the metrics that gave
    met: bool


def select_float_layers(order: list[LayerSensitivity], metric: str, minimum: float, run_excluding: Callable[[list[str]], dict[str, float]]) -> Selection:
    """Keep the most sensitive layers float, one more at a time, until the budget holds.

    Keeping every layer float is not a quantized model: that outcome is reported as not met.
    """
    kept: list[str] = []
    steps = []
    for candidate in [None, *order]:
        if candidate is not None:
            kept.append(candidate.layer)
        if len(kept) == len(order):
            break
        metrics = run_excluding(list(kept))
        steps.append({"kept_float": list(kept), "metrics": metrics})
        if meets(metrics, metric, minimum):
            return Selection(kept, steps, True)
    return Selection(kept, steps, False)
