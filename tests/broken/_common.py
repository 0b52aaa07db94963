"""The input checks every broken implementation gets right (each breaks something else)."""
from __future__ import annotations

import numpy as np


def check_inputs(x: np.ndarray, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    check_shape_and_dtype(x)


def check_shape_and_dtype(x: np.ndarray) -> None:
    if x.ndim < 2:
        raise ValueError("need (N, C, *spatial) input")
    if not np.issubdtype(x.dtype, np.floating) and x.dtype.name != "bfloat16":
        raise TypeError("need a floating input")


def scale_kept(x: np.ndarray, keep: np.ndarray, p: float) -> np.ndarray:
    """The correct rest of channel dropout: keep decisions ((N, C), or already broadcastable) over the
    spatial axes, kept values times 1/(1-p) rounded once to the dtype, dropped values exactly 0."""
    if keep.ndim < 2:
        raise ValueError("keep decisions need the (N, C) axes")
    if keep.ndim < x.ndim:
        keep = keep.reshape(keep.shape + (1,) * (x.ndim - keep.ndim))
    scale = np.asarray(1.0 / (1.0 - p) if p < 1 else 0.0).astype(x.dtype)  # p = 1: nothing is kept
    return np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)
