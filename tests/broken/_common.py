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
