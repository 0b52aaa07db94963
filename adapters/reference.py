"""NumPy reference for channel dropout, written from the documented contract.

It is expressed through `function_adapter`, exactly as a third party would write one:
channels-first (N, C, *spatial) for every rank >= 2, p in [0, 1], inverted scaling by
1/(1-p), a dropped channel is exactly zero (a select, so NaN/Inf do not leak through).
"""
from __future__ import annotations

FRAMEWORK = "reference"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install numpy"

import numpy as np

from conformance.function_adapter import function_adapter


def _keep_mask(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    if x.ndim < 2:
        raise ValueError(f"channel dropout needs (N, C, *spatial) input, got {x.ndim}-D")
    if not np.issubdtype(x.dtype, np.floating) and x.dtype.name != "bfloat16":
        raise TypeError(f"channel dropout needs a floating input, got {x.dtype.name}")
    rng = np.random.default_rng(seed)
    keep = rng.random(x.shape[:2]) >= p
    return keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2))


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def reference_dropout2d(x: np.ndarray, p: float, *, training: bool, seed: int,
                        inplace: bool = False) -> np.ndarray:
    _check_p(p)
    if not training:
        return x
    keep = _keep_mask(x, p, seed)
    if p == 1.0:
        y = np.zeros_like(x)
    else:
        scale = np.asarray(1.0 / (1.0 - p)).astype(x.dtype)  # round the scale once, like the frameworks
        y = np.where(keep, x * scale, np.zeros((), x.dtype)).astype(x.dtype)
    if inplace:
        x[...] = y
        return x
    return y


def reference_dropout2d_grad(x: np.ndarray, p: float, *, training: bool, seed: int,
                             grad_output: np.ndarray) -> np.ndarray:
    """Backward of reference_dropout2d: the same mask (same seed) times 1/(1-p)."""
    _check_p(p)
    if not training:
        return grad_output
    if p == 1.0:
        return np.zeros_like(grad_output)
    keep = _keep_mask(x, p, seed)
    scale = np.asarray(1.0 / (1.0 - p)).astype(x.dtype)
    return np.where(keep, grad_output * scale, np.zeros((), x.dtype)).astype(x.dtype)


def make_adapter():
    return function_adapter(reference_dropout2d, name="reference", layout="NCHW",
                            grad_fn=reference_dropout2d_grad, version=np.__version__,
                            expectations_from=None)
