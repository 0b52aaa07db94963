"""Broken: the same mask on every call, because the generator is seeded once with a constant.

The per-call seed is ignored (`default_rng(0)`), so successive calls repeat one mask and a
different seed changes nothing.
Breaks: independence (across calls) and seeding (a different seed must give other masks).
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
    keep = np.random.default_rng(0).random(x.shape[:2]) >= p  # BUG: ignores `seed`
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.asarray(1.0 / (1.0 - p)).astype(x.dtype)
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(dropout2d, name="broken-mask-reused")
