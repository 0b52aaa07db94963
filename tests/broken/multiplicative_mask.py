"""Broken: applies the mask by multiplication, x * mask / (1 - p), with no p = 1 special case.

At p = 1 the scale is 1/0 = inf and 0 * inf = NaN, so everything becomes NaN; and a dropped
channel holding NaN or Inf stays NaN, because 0 * NaN = NaN (PyTorch's known divergence).
Breaks: p-edges (p = 1 must give zeros) and non-finite (a dropped channel must be zero).
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
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (np.float64(1.0) / np.float64(1.0 - p)).astype(x.dtype)  # inf at p = 1
        return x * keep.astype(x.dtype) * scale  # BUG: multiply instead of select


adapter = function_adapter(dropout2d, name="broken-multiplicative-mask")
