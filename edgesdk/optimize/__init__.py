"""Optimizations of a torch model before conversion (DESIGN.md flow: load -> optimize -> convert).

Each returns a new module (the input is left untouched) so the caller can measure what the change
cost against the original on real inputs.
"""

from edgesdk.optimize.bn_fold import fold_batchnorm
from edgesdk.optimize.prune import prune_channels, prune_l1_unstructured

__all__ = ["fold_batchnorm", "prune_channels", "prune_l1_unstructured"]
