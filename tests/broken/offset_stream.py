"""Broken: every call reads the same random stream, starting at an offset taken from the seed.

Like a counter-based generator whose offset advances by one position per call instead of by the
number of values consumed: the masks of two calls are the same sequence shifted by a lag, so
call 2's decision j equals call 1's decision j + d. Position-aligned comparisons see independent
pairs; only a scan over lags catches it.
Breaks: independence (across calls, at a lag).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept

_STREAM_SEED = 20240601
_MAX_OFFSET = 1 << 12


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    offset = seed % _MAX_OFFSET  # BUG: one shared stream, the seed only picks where to start
    n = x.shape[0] * x.shape[1]
    u = np.random.default_rng(_STREAM_SEED).random(offset + n)[offset:]
    keep = (u >= p).reshape(x.shape[:2])
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-offset-stream")
