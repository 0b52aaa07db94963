"""Broken: drops at rate p + 0.002 (a small safety margin in the threshold).

Like a kernel that compares its uniforms against p plus a tiny epsilon meant to absorb float
rounding. The edges p = 0 and p = 1 are short-cut and stay exact, so only a drop-rate test with
the power to resolve 0.002 sees it: the suite sizes that test to catch an error of 0.002 with
power 0.999 (at p = 0.999 the threshold passes 1 and every channel drops).
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
    keep = u >= p + 0.002  # BUG: margin of 0.002
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-rate-plus-0002")
