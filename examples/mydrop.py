"""The smallest third-party adapter: a NumPy channel dropout wrapped by `function_adapter`.

    python -m conformance run --adapter examples/mydrop.py:adapter

`fn(x, p, *, training, seed)` gets channels-first (N, C, *spatial) input in its true dtype and
a fresh seed for every call. It is held to the reference's documented behaviour (and its
expected divergences): ValueError for p outside [0, 1] or input below 2-D, TypeError for
integer input.
"""
from __future__ import annotations

import numpy as np

from conformance.function_adapter import function_adapter


def mydrop(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if x.ndim < 2:
        raise ValueError(f"channel dropout needs (N, C, *spatial) input, got {x.ndim}-D")
    if x.dtype.kind in "iub":
        raise TypeError(f"channel dropout needs a floating input, got {x.dtype}")
    if not training:
        return x
    keep = np.random.default_rng(seed).random(x.shape[:2]) >= p  # one decision per (sample, channel)
    keep = keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    scale = np.asarray(1.0 / (1.0 - p) if p < 1.0 else 0.0).astype(x.dtype)
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)


adapter = function_adapter(mydrop, name="mydrop")
