"""The optimize stage: apply the manifest's `optimize:` block to a torch source and measure it.

BN folding must not change the function: it is held to the float32 gate tolerances (parity.py).
Pruning does change it: its cost against the unpruned model is measured and reported, and the
pruned model becomes the reference the converted artifact is gated against.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from edgesdk import parity
from edgesdk.errors import ParityError
from edgesdk.manifest import Manifest
from edgesdk.optimize.bn_fold import fold_batchnorm
from edgesdk.optimize.prune import prune_channels, prune_l1_unstructured
from edgesdk.quantize.sensitivity import measure
from edgesdk.sources import SourceModel


def _parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def run(manifest: Manifest, source: SourceModel, feeds: list[dict[str, np.ndarray]], score_output: int | None) -> tuple[SourceModel, dict[str, Any]]:
    spec = manifest.optimize
    original = source.reference_runner()
    before = [original(f) for f in feeds]
    module = source.module
    report: dict[str, Any] = {"parameters_before": _parameters(module)}
    if spec.fold_bn:
        module, folded = fold_batchnorm(module)
        run_folded = dataclasses.replace(source, module=module).reference_runner()
        check = parity.evaluate(source.output_names, before, [run_folded(f) for f in feeds], parity.tolerances_for("none", {}), score_output)
        report["fold_bn"] = {"folded": folded, "parity": check.as_dict()}
        if not check.passed:
            raise ParityError("BatchNorm folding changed the model: " + "; ".join(check.failures))
    if spec.prune is not None:
        if spec.prune.method == "channels":
            example = [torch.from_numpy(np.ascontiguousarray(feeds[0][name])) for name in source.input_names]
            module, changed = prune_channels(module, spec.prune.amount, example)
            detail: dict[str, Any] = {"channels": {k: list(v) for k, v in changed.items()}}
        else:
            module, sparsity = prune_l1_unstructured(module, spec.prune.amount)
            detail = {"sparsity": sparsity}
        run_pruned = dataclasses.replace(source, module=module).reference_runner()
        report["prune"] = {"method": spec.prune.method, "amount": spec.prune.amount, **detail, "accuracy_vs_unpruned": measure(before, [run_pruned(f) for f in feeds], score_output)}
    report["parameters_after"] = _parameters(module)
    return dataclasses.replace(source, module=module), report
