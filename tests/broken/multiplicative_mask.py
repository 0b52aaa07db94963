"""Broken: applies the mask by multiplication, x * mask / (1 - p), with no p = 1 special case.

At p = 1 the scale is 1/0 = inf and 0 * inf = NaN, so everything becomes NaN; and a dropped
channel holding NaN or Inf stays NaN, because 0 * NaN = NaN (PyTorch's known divergence).
Breaks: p-edges (p = 1 must give zeros) and non-finite (a dropped channel must be zero).
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
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (np.float64(1.0) / np.float64(1.0 - p)).astype(x.dtype)  # inf at p = 1
        return x * keep.astype(x.dtype) * scale  # BUG: multiply instead of select


adapter = function_adapter(dropout2d, name="broken-multiplicative-mask")
