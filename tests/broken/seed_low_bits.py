"""Broken: only the low 12 bits of the seed reach the generator (seed % 4096).

Like wrapping a generator whose seed register is narrower than the seed it is handed (a 12- or
16-bit LFSR state, a seed packed into a small bit field of a kernel argument): the high bits are
silently dropped. One seed still reproduces its stream, and two seeds usually differ, but there
are only 4096 streams: among 1024 sessions (function_adapter hashes each session seed and call
index into a 31-bit call seed) about 128 pairs share one.
Breaks: seeding (distinct seeds collide).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept

SEED_BITS = 12


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    rng = np.random.default_rng(seed % (1 << SEED_BITS))  # BUG: the high bits of the seed are lost
    keep = rng.random(x.shape[:2]) >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-seed-low-bits")
