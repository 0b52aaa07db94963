"""Broken: keeps a channel with probability p (drops 1 - p), the Keras/TF `keep_prob` confusion.

Scaling by 1/(1-p) is still right, so only the rate is wrong; invisible at p = 0.5.
Breaks: drop-rate (and p = 0, which now drops everything).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    u = np.random.default_rng(seed).random(x.shape[:2])
    keep = (u < p).reshape(x.shape[:2] + (1,) * (x.ndim - 2))  # BUG: should be u >= p
    scale = np.asarray(1.0 / (1.0 - p)).astype(x.dtype)
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(dropout2d, name="broken-keep-with-p")
