"""Broken: the same mask on every call, because the generator is seeded once with a constant.

The per-call seed is ignored (`default_rng(0)`), so successive calls repeat one mask and a
different seed changes nothing.
Breaks: independence (across calls) and seeding (a different seed must give other masks).
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
    keep = np.random.default_rng(0).random(x.shape[:2]) >= p  # BUG: ignores `seed`
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-mask-reused")
