"""Broken: keeps a channel with probability p (drops 1 - p), the Keras/TF `keep_prob` confusion.

Scaling by 1/(1-p) is still right, so only the rate is wrong; invisible at p = 0.5.
Breaks: drop-rate (and p = 0, which now drops everything).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    u = np.random.default_rng(seed).random(x.shape[:2])
    keep = u < p  # BUG: should be u >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-keep-with-p")
