"""Broken: the first sample of a batch drops at p + 0.05 and the last at p - 0.05; the pooled rate is p.

Like a kernel that splits the batch into blocks, peels the first and last sample into head and
tail loops, and dithers their fixed-point keep threshold in opposite directions so that its
rounding cancels on average, with the dither written as 0.05 (a fraction of the range) instead
of half a fixed-point step. The offsets are clamped to keep both rates in [0, 1] and still
cancel, so the share of dropped channels over the batch is exactly p on average: only a
per-batch-index rate test sees it.
Breaks: rate-homogeneity (across batch indices).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept
from tests.broken.rate_varies_by_channel import dithered_thresholds  # the same dither, on the batch axis


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    u = np.random.default_rng(seed).random(x.shape[:2])
    keep = u >= dithered_thresholds(x.shape[0], p)[:, None]
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-rate-varies-by-sample")
