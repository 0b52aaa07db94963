"""Broken: below p = 0.02 a sparse fast path drops channels at rate 1.1 * p.

For small p, drawing one uniform per channel is wasteful, so the implementation draws how many
channels drop (binomial) and then which ones (a uniform subset): that gives exactly independent
Bernoulli decisions, at whatever rate the count is drawn with. The path sizes its index buffer
with 10% headroom over the expected number of drops, and the count is drawn with that inflated
rate instead of p. The dense path (p >= 0.02) is correct, so only a drop-rate test at small p
sized to catch an error of 10% of p sees it (the suite's drop-rate test at p = 2^-10 is).
Breaks: drop-rate, at small p only.
"""
from __future__ import annotations

import math

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept

SPARSE_BELOW = 0.02  # below this rate, pick the dropped channels instead of testing each one
HEADROOM = 1.1  # index buffer: 10% more room than the expected number of drops


def _sparse_keep(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    buffer_rate = HEADROOM * p
    capacity = math.ceil(buffer_rate * n) + 16  # room for the dropped indices (overflow grows it)
    k = int(rng.binomial(n, buffer_rate))  # BUG: the count is drawn at the buffer's rate, not at p
    dropped = np.empty(max(capacity, k), dtype=np.int64)
    dropped[:k] = rng.choice(n, size=k, replace=False)
    keep = np.ones(n, dtype=bool)
    keep[dropped[:k]] = False
    return keep


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    rng = np.random.default_rng(seed)
    if p < SPARSE_BELOW:
        keep = _sparse_keep(rng, x.shape[0] * x.shape[1], p).reshape(x.shape[:2])
    else:
        keep = rng.random(x.shape[:2]) >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-rate-small-p-relative")
