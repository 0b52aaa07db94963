"""Broken: subnormal inputs are flushed to zero (a kernel run with FTZ/DAZ on, as XLA's CPU backend does).

A kept subnormal becomes 0 and so looks dropped; everything about ordinary values is right.
Breaks: input-values (the subnormal kind).
"""
from __future__ import annotations

import numpy as np

from conformance.arrays import finfo
from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    tiny = finfo("bfloat16" if x.dtype.name == "bfloat16" else x.dtype.name).smallest_normal
    wide = x.astype(np.float64)
    x = np.where((wide != 0) & (np.abs(wide) < float(tiny)), np.copysign(0.0, wide), wide).astype(x.dtype)  # BUG: DAZ
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-flush-subnormals")
