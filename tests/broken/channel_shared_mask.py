"""Broken: one decision per sample shared by all its channels (mask shape (N, 1, 1, 1)).

Drops whole samples instead of channels, e.g. from broadcasting the wrong mask axis.
Breaks: independence (across channels), and the mask no longer varies along C.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random((x.shape[0], 1)) >= p  # BUG: should be (N, C)
    keep = keep.reshape((x.shape[0], 1) + (1,) * (x.ndim - 2))
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-channel-shared-mask")
