"""Broken: the first channel drops at p + 0.05 and the last at p - 0.05; the pooled rate is p.

Like a vectorised kernel that peels the first and last channel of each row into head and tail
lanes and dithers their fixed-point keep threshold in opposite directions so that its rounding
cancels on average, with the dither written as 0.05 (a fraction of the range) instead of half a
fixed-point step. The offsets are clamped to keep both rates in [0, 1] and still cancel, so the
share of dropped channels over all channels is exactly p on average: only a per-channel-index
rate test sees it.
Breaks: rate-homogeneity (across channel indices).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept

DITHER = 0.05  # meant: half a step of the fixed-point threshold


def dithered_thresholds(count: int, p: float) -> np.ndarray:
    thresholds = np.full(count, p)
    if count:
        step = min(DITHER, p, 1.0 - p)  # both rates stay in [0, 1]; the offsets still cancel
        thresholds[0] += step  # BUG: the head lane (or sample) rounds up by a whole 0.05
        thresholds[-1] -= step  # BUG: the tail lane (or sample) rounds down by a whole 0.05
    return thresholds


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    u = np.random.default_rng(seed).random(x.shape[:2])
    keep = u >= dithered_thresholds(x.shape[1], p)[None, :]
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-rate-varies-by-channel")
