"""Pruning.

- l1_unstructured: the smallest-magnitude weights of every Conv2d / Linear become zero, made
  permanent (no masks or hooks remain). The file keeps its size (dense zeros); it helps runtimes
  and compressors that exploit sparsity.
- channels: structured pruning with torch-pruning's dependency graph. Channels that must go
  together (a conv's outputs, its BatchNorm, the inputs of every consumer, and every layer tied to
  them through a residual add or a concat) form one group; in each group `amount` of the channels
  go, those with the lowest L1 weight norm (averaged over the group's layers). The model really
  gets smaller and faster.
  Layers whose outputs reach a model output keep their output channels, so the model's outputs
  keep their shapes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from edgesdk.errors import UnsupportedOpError

_FIELD = "optimize.prune.method"
_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)  # the layers whose output channels torch-pruning removes


def prune_l1_unstructured(model: nn.Module, amount: float) -> tuple[nn.Module, dict[str, float]]:
    from torch.nn.utils import prune

    pruned = copy.deepcopy(model).eval()
    sparsity = {}
    for name, module in pruned.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            prune.l1_unstructured(module, "weight", amount=amount)
            prune.remove(module, "weight")  # bakes the mask into the weight
            sparsity[name] = float((module.weight == 0).float().mean())
    return pruned, sparsity


def prune_channels(model: nn.Module, amount: float, example_inputs: Sequence[torch.Tensor]) -> tuple[nn.Module, dict[str, tuple[int, int]]]:
    """Return (pruned model, {layer name: (output channels before, after)}) for every conv or linear
    layer that lost channels. `example_inputs` (one tensor per model input) drive the trace."""
    import torch_pruning as tp

    inputs = list(example_inputs)  # a list: torch-pruning unpacks it as the forward's arguments
    pruned = copy.deepcopy(model).eval()
    # The dependency graph is read off autograd: every weight must take part in it.
    pruned.requires_grad_(True)
    try:
        with torch.enable_grad():
            pruner = tp.pruner.BasePruner(
                pruned,
                inputs,
                importance=tp.importance.MagnitudeImportance(p=1, group_reduction="mean", normalizer=None),
                pruning_ratio=amount,
                ignored_layers=_output_layers(tp, pruned, inputs),
            )
            pruner.step()
    except Exception as exc:  # torch-pruning fails in many ways on graphs it cannot follow
        raise UnsupportedOpError(
            f"{_FIELD}: 'channels' cannot trace this model's channel dependencies ({type(exc).__name__}: {_first_line(exc)}); use method: l1_unstructured or leave out optimize.prune"
        ) from exc
    _check_still_runs(model, pruned, inputs)
    before = {name: _out_channels(m) for name, m in model.named_modules() if isinstance(m, _LAYERS)}
    changed = {name: (before[name], _out_channels(m)) for name, m in pruned.named_modules() if name in before and _out_channels(m) != before[name]}
    if not changed:
        raise UnsupportedOpError(
            f"{_FIELD}: 'channels' found no channel to remove: every conv and linear layer's output reaches a model "
            "output (whose shape must stay) or has a single channel; use method: l1_unstructured or leave out optimize.prune"
        )
    return pruned, changed


def _out_channels(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return layer.out_features
    assert isinstance(layer, nn.modules.conv._ConvNd)  # the only other layer kind pruned
    return layer.out_channels


def _output_layers(tp, model: nn.Module, inputs: list[torch.Tensor]) -> list[nn.Module]:
    """The conv and linear layers whose output channels reach a model output unchanged in number
    (directly, or through per-channel ops, adds and concats): pruning them would change an output's
    shape. Walks the dependency graph back from each output to the nearest such layers."""
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=inputs, verbose=False)
    stack = [node for node in graph.module2node.values() if not node.outputs]
    seen: set[int] = set()
    found: list[nn.Module] = []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.module, _LAYERS):
            found.append(node.module)
        else:
            stack.extend(node.inputs)
    return found


def _check_still_runs(model: nn.Module, pruned: nn.Module, inputs: list[torch.Tensor]) -> None:
    """torch-pruning cannot see shapes the forward() hard-codes (a view(1, 128) after a conv);
    such a model breaks or changes an output's shape once pruned."""
    with torch.no_grad():
        expected = [tuple(o.shape) for o in _as_list(model(*inputs))]
        try:
            got = [tuple(o.shape) for o in _as_list(pruned(*inputs))]
        except Exception as exc:  # whatever the model's own forward() raises
            raise UnsupportedOpError(
                f"{_FIELD}: 'channels' broke this model, whose forward() depends on channel counts torch-pruning "
                f"cannot see ({type(exc).__name__}: {_first_line(exc)}); use method: l1_unstructured "
                "or leave out optimize.prune"
            ) from exc
    if got != expected:
        raise UnsupportedOpError(f"{_FIELD}: 'channels' changed the model's output shapes from {expected} to {got}; use method: l1_unstructured or leave out optimize.prune")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _as_list(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]
