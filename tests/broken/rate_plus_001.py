"""Broken: drops at rate p + 0.01 (a stray safety margin in the threshold).

The edges p = 0 and p = 1 are short-cut and stay exact, so only a drop-rate test with enough
power sees it: the suite sizes that test to catch an error of 0.01 with power 0.999.
Breaks: drop-rate only.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    u = np.random.default_rng(seed).random(x.shape[:2])
    keep = u >= p + 0.01  # BUG: margin of 0.01
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-rate-plus-001")
