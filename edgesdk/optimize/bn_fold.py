"""Conv + BatchNorm folding: the BN affine transform is merged into the conv weights and bias.

Works on the traced graph (torch.fx), so it finds every conv whose only consumer is a BatchNorm,
wherever the model's forward() calls them, not only inside nn.Sequential.
"""

from __future__ import annotations

import copy

from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _parent(root: nn.Module, target: str) -> tuple[nn.Module, str]:
    *path, name = target.split(".")
    module = root
    for part in path:
        module = getattr(module, part)
    return module, name


def fold_batchnorm(model: nn.Module) -> tuple[fx.GraphModule, list[str]]:
    """Return (folded model, names of the BatchNorm modules folded away)."""
    graph_module = fx.symbolic_trace(copy.deepcopy(model).eval())
    modules = dict(graph_module.named_modules())
    folded = []
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        source = node.args[0]
        if not (isinstance(source, fx.Node) and source.op == "call_module" and isinstance(modules.get(source.target), nn.Conv2d) and len(source.users) == 1):
            continue
        fused = fuse_conv_bn_eval(modules[source.target], modules[node.target])
        parent, name = _parent(graph_module, str(source.target))
        setattr(parent, name, fused)
        node.replace_all_uses_with(source)
        graph_module.graph.erase_node(node)
        folded.append(node.target)
    graph_module.graph.lint()
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
    return graph_module, folded
