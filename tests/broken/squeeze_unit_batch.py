"""Broken: a batch of one is taken for an unbatched (C, *spatial) input and loses its batch axis.

Like an implementation that accepts both (N, C, H, W) and (C, H, W) and normalises with
`if x.shape[0] == 1: x = x[0]` to share the unbatched path, then never puts the axis back. The
mask is still per channel and correctly scaled, so every statistical check (large batches)
passes; only an input with N = 1 shows it, coming back one axis short.
Breaks: shape (axes of size 1).
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept


def dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    check_inputs(x, p)
    if x.shape[0] == 1:
        x = x[0]  # BUG: read as unbatched (C, *spatial); the batch axis is never restored
        channels = x.shape[:1]
    else:
        channels = x.shape[:2]
    if not training:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.default_rng(seed).random(channels) >= p
    keep = keep.reshape(channels + (1,) * (x.ndim - len(channels)))
    return scale_kept(x, keep, p)


adapter = function_adapter(dropout2d, name="broken-squeeze-unit-batch")
