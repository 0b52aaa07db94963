"""Broken: zeroes channels but never rescales the kept ones (non-inverted dropout).

Expected values shrink by (1 - p) in training, so train and eval disagree.
Breaks: scaling.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    return np.where(keep, x, np.zeros((), x.dtype))  # BUG: missing * 1 / (1 - p)


adapter = function_adapter(dropout2d, name="broken-no-scaling")
