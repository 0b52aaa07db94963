"""Broken: scales kept channels by 1/p instead of 1/(1-p) (mixing up drop and keep probability).

Exactly right at p = 0.5, which is why the suite tests asymmetric p.
Breaks: scaling.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.asarray(1.0 / p).astype(x.dtype)  # BUG: should be 1 / (1 - p)
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(dropout2d, name="broken-scale-inverse-p")
