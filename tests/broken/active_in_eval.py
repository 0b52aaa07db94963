"""Broken: ignores `training`, so dropout keeps dropping in evaluation mode.

Breaks: eval-identity.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    # BUG: no `if not training: return x`
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-active-in-eval")
