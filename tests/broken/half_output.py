"""Broken: computes in float16 "for speed" and forgets to cast back to the input dtype.

Breaks: dtype (float32 in, float16 out), and scaling (float16 rounding exceeds 2 eps of float32).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training or p == 0.0:
        return x
    h = x.astype(np.float16)  # BUG: the result is never cast back to x.dtype
    if p == 1.0:
        return np.zeros_like(h)
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.float16(1.0 / (1.0 - p))
    return np.where(keep, h * scale, np.float16(0))


adapter = function_adapter(dropout2d, name="broken-half-output")
