"""Broken: scales kept channels by 1/p instead of 1/(1-p) (mixing up drop and keep probability).

Exactly right at p = 0.5, which is why the suite tests asymmetric p.
Breaks: scaling.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if x.ndim < 2:
        raise ValueError("need (N, C, *spatial) input")
    if not np.issubdtype(x.dtype, np.floating) and x.dtype.name != "bfloat16":
        raise TypeError("need a floating input")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.asarray(1.0 / p).astype(x.dtype)  # BUG: should be 1 / (1 - p)
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(dropout2d, name="broken-scale-inverse-p")
