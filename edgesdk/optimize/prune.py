"""Pruning.

- l1_unstructured: the smallest-magnitude weights of every Conv2d / Linear become zero, made
  permanent (no masks or hooks remain). The file keeps its size (dense zeros); it helps runtimes
  and compressors that exploit sparsity.
- channels: structured pruning that removes whole output channels of a conv (lowest L1 filter
  norm) and the matching input channels of the next conv, and the BatchNorm between them. The
  model really gets smaller and faster. Only convs whose output reaches exactly one next conv
  through per-channel ops (BatchNorm, ReLU, pooling) are pruned: a residual add or a concat would
  need its partner pruned identically.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import fx, nn

from edgesdk.optimize.bn_fold import _parent

_PER_CHANNEL_MODULES = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout)
_PER_CHANNEL_FUNCTIONS = (torch.relu, nn.functional.relu)


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


def _plain_conv(module: nn.Module | None) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups == 1


def prune_channels(model: nn.Module, amount: float) -> tuple[fx.GraphModule, dict[str, tuple[int, int]]]:
    """Return (pruned model, {conv name: (channels before, after)})."""
    graph_module = fx.symbolic_trace(copy.deepcopy(model).eval())
    modules = dict(graph_module.named_modules())
    changed = {}
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or not _plain_conv(modules.get(node.target)):
            continue
        chain, current, consumer = [], node, None
        while len(current.users) == 1:
            user = next(iter(current.users))
            module = modules.get(user.target) if user.op == "call_module" else None
            if _plain_conv(module):
                consumer = user
                break
            if isinstance(module, _PER_CHANNEL_MODULES) or (user.op == "call_function" and user.target in _PER_CHANNEL_FUNCTIONS):
                chain.append(user)
                current = user
                continue
            break
        if consumer is None:
            continue
        conv = modules[node.target]
        keep_count = max(1, math.ceil(conv.out_channels * (1 - amount)))
        if keep_count == conv.out_channels:
            continue
        norms = conv.weight.detach().abs().sum(dim=(1, 2, 3))
        keep = torch.sort(torch.argsort(norms, descending=True, stable=True)[:keep_count]).values
        _replace(graph_module, node.target, _slice_conv(conv, out_idx=keep))
        for link in chain:
            bn = modules.get(link.target) if link.op == "call_module" else None
            if isinstance(bn, nn.BatchNorm2d):
                _replace(graph_module, link.target, _slice_bn(bn, keep))
        _replace(graph_module, consumer.target, _slice_conv(modules[consumer.target], in_idx=keep))
        modules = dict(graph_module.named_modules())
        changed[node.target] = (conv.out_channels, keep_count)
    graph_module.recompile()
    return graph_module, changed


def _replace(root: nn.Module, target: str, module: nn.Module) -> None:
    parent, name = _parent(root, target)
    setattr(parent, name, module)


def _slice_conv(conv: nn.Conv2d, out_idx: torch.Tensor | None = None, in_idx: torch.Tensor | None = None) -> nn.Conv2d:
    weight = conv.weight.detach()
    bias = conv.bias.detach() if conv.bias is not None else None
    if out_idx is not None:
        weight = weight[out_idx]
        bias = bias[out_idx] if bias is not None else None
    if in_idx is not None:
        weight = weight[:, in_idx]
    new = nn.Conv2d(weight.shape[1], weight.shape[0], conv.kernel_size, conv.stride, conv.padding, conv.dilation, 1, bias is not None, conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new.eval()


def _slice_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(idx), bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    with torch.no_grad():
        if bn.affine:
            new.weight.copy_(bn.weight[idx])
            new.bias.copy_(bn.bias[idx])
        new.running_mean.copy_(bn.running_mean[idx])
        new.running_var.copy_(bn.running_var[idx])
    return new.eval()
