"""Broken: computes in float16 "for speed" and forgets to cast back to the input dtype.

Breaks: dtype (float32 in, float16 out), and scaling (float16 rounding exceeds 2 eps of float32).
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
    h = x.astype(np.float16)  # BUG: the result is never cast back to x.dtype
    if p == 1.0:
        return np.zeros_like(h)
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.float16(1.0 / (1.0 - p))
    return np.where(keep, h * scale, np.float16(0))


adapter = function_adapter(dropout2d, name="broken-half-output")
