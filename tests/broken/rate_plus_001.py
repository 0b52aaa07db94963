"""Broken: drops at rate p + 0.01 (a stray safety margin in the threshold).

The edges p = 0 and p = 1 are short-cut and stay exact, so only a drop-rate test sees it; 0.01 is
five times the error that test is sized to catch with power 0.999 (0.002). rate_plus_0002 reuses
this module with the smallest margin the suite must catch.
Breaks: drop-rate only.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def with_margin(margin: float) -> Callable[..., np.ndarray]:
    """Channel dropout whose keep threshold carries `margin` on top of p."""

    def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
        check_inputs(x, p)
        if not training or p == 0.0:
            return x
        if p == 1.0:
            return np.zeros_like(x)
        u = np.random.default_rng(seed).random(x.shape[:2])
        keep = u >= p + margin  # BUG: a margin on the threshold
        return scale_kept(x, keep, p)

    return dropout2d


adapter = function_adapter(with_margin(0.01), name="broken-rate-plus-001")
