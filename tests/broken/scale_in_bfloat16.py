"""Broken: the scale 1/(1-p) is rounded to bfloat16 whatever the input's dtype (a mixed-precision kernel
that keeps its constants in bfloat16).

The drop rate is right and every kept value is within a bfloat16 rounding of x / (1 - p), but the mean
output is biased: at p = 0.01 the scale is 1.0078125, so E[y] = 0.99773 x in float32 too.
Breaks: unbiasedness (and scaling, which holds float32 to float32's roundings).
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training or p == 0:
        return x
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = float(np.asarray(1.0 / (1.0 - p) if p < 1 else 0.0).astype(ml_dtypes.bfloat16))  # BUG
    return np.where(keep, x * np.asarray(scale).astype(x.dtype), np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(dropout2d, name="broken-scale-in-bfloat16")
