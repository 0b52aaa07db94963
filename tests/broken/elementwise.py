"""Broken: draws one decision per element (plain dropout) instead of one per channel.

The classic mix-up of F.dropout and F.dropout2d.
Breaks: channel-granularity (and everything that reads whole-channel decisions).
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
    keep = np.random.default_rng(seed).random(x.shape) >= p  # BUG: should be x.shape[:2]
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-elementwise")
