"""Broken: one channel mask shared by every sample of the batch (mask shape (1, C, 1, 1)).

A tempting "optimisation" that makes the samples' decisions perfectly dependent.
Breaks: independence (across the batch), and the mask no longer varies along N.
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
    keep = np.random.default_rng(seed).random((1, x.shape[1])) >= p  # BUG: should be (N, C)
    keep = keep.reshape((1, x.shape[1]) + (1,) * (x.ndim - 2))
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-batch-shared-mask")
