"""Broken: the same mask on every call, because the generator is seeded once with a constant.

The per-call seed is ignored (`default_rng(0)`), so successive calls repeat one mask and a
different seed changes nothing.
Breaks: independence (across calls) and seeding (a different seed must give other masks).
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
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(0).random(x.shape[:2]) >= p  # BUG: ignores `seed`
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.asarray(1.0 / (1.0 - p)).astype(x.dtype)
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(dropout2d, name="broken-mask-reused")
