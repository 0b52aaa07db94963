"""Broken: draws from NumPy's global, unseeded generator instead of the seed it is given.

Masks look perfectly random, but no run can be reproduced from its seed.
Breaks: seeding (the same seed must reproduce the outputs bit for bit).
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
    keep = np.random.random(x.shape[:2]) >= p  # BUG: global RNG, `seed` unused
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-global-rng")
