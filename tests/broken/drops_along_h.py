"""Broken: off-by-one mask axis, one decision per (N, H) row instead of per (N, C) channel.

The mask is built over axes 0 and 2 (an index slip when porting from channels-last code).
Breaks: channel-granularity (channels are zeroed in stripes), layout (the mask varies along H).
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
    axis = min(2, x.ndim - 1)  # BUG: should be axis 1
    shape = [1] * x.ndim
    shape[0], shape[axis] = x.shape[0], x.shape[axis]
    keep = np.random.default_rng(seed).random(shape) >= p
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-drops-along-h")
