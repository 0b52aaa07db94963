"""Broken: scales first and masks by multiplication, (x * (1 / (1 - p))) * keep.

For ordinary inputs this is dropout; but where x / (1 - p) overflows (x near the dtype's maximum, p > 1/2)
a dropped unit is Inf * 0 = NaN instead of 0, and a dropped NaN or Inf stays NaN.
Breaks: input-values (near_max, nan, inf) and the non-finite and p = 1 checks.
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
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2)).astype(x.dtype)
    scale = np.asarray(1.0 / (1.0 - p) if p < 1 else 0.0).astype(x.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return ((x * scale) * keep).astype(x.dtype)  # BUG: Inf * 0 is NaN


adapter = function_adapter(dropout2d, name="broken-scale-then-mask")
