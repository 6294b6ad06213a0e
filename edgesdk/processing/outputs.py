"""Model outputs as the post-processing steps read them: the batch is always 1, and every step
works on its one item."""

from __future__ import annotations

import numpy as np

from .errors import ProcessingError


def drop_batch(tensor: np.ndarray, what: str = "the model output") -> np.ndarray:
    """The single item of a batch-1 output; `what` names the output in the error."""
    tensor = np.asarray(tensor)
    if tensor.ndim < 1 or tensor.shape[0] != 1:
        raise ProcessingError(f"{what} must have a batch dimension of 1, got shape {list(tensor.shape)}")
    return tensor[0]
