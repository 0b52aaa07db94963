"""Broken: accepts any p; p < 0 keeps everything and scales down, p > 1 gives zeros (like Flax).

Breaks: p-validation (p outside [0, 1] must raise ValueError).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_shape_and_dtype, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    # BUG: no check that 0 <= p <= 1
    check_shape_and_dtype(x)
    if not training:
        return x
    if p >= 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-p-not-validated")
