"""Dtypes and layouts shared by every adapter, so no adapter re-implements them.

Arrays cross the adapter boundary as NumPy arrays in their true dtype; bfloat16 uses
``ml_dtypes.bfloat16``, which NumPy lacks natively.
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int32", "int64")


@dataclass(frozen=True)
class DtypeInfo:
    name: str
    numpy: np.dtype
    eps: float  # machine epsilon, 0 for integers


def dtype_info(name: str) -> DtypeInfo:
    if name == "bfloat16":
        return DtypeInfo(name, np.dtype(ml_dtypes.bfloat16), float(ml_dtypes.finfo(ml_dtypes.bfloat16).eps))
    dt = np.dtype(name)
    eps = float(np.finfo(dt).eps) if dt.kind == "f" else 0.0
    return DtypeInfo(name, dt, eps)


def finfo(name: str):
    """np.finfo of a float dtype, bfloat16 included (ml_dtypes.finfo)."""
    return ml_dtypes.finfo(ml_dtypes.bfloat16) if name == "bfloat16" else np.finfo(np.dtype(name))


def dtype_name(arr: np.ndarray) -> str:
    return "bfloat16" if arr.dtype == ml_dtypes.bfloat16 else arr.dtype.name


def cast(x: np.ndarray, name: str) -> np.ndarray:
    return x.astype(dtype_info(name).numpy)


def widen(x: np.ndarray) -> np.ndarray:
    """float64 view for exact comparisons (every supported dtype embeds in float64)."""
    return np.asarray(x).astype(np.float64)


def via_float32(x: np.ndarray) -> np.ndarray:
    """bfloat16 -> float32 (exact) for frameworks whose NumPy bridge lacks bfloat16."""
    return x.astype(np.float32) if dtype_name(x) == "bfloat16" else x


# Layouts. Specs are written in logical channels-first order (N, C, *spatial);
# a channels-last adapter receives (N, *spatial, C). Unbatched inputs keep the rule:
# logical axis 1 (or 0 when the spec says the input is unbatched) is the channel axis.
LAYOUTS = ("channels_first", "channels_last")


def to_native(x: np.ndarray, layout: str, channel_axis: int = 1) -> np.ndarray:
    if layout == "channels_last" and x.ndim > channel_axis + 1:
        return np.moveaxis(x, channel_axis, -1)
    return x


def from_native(y: np.ndarray, layout: str, channel_axis: int = 1) -> np.ndarray:
    if layout == "channels_last" and y.ndim > channel_axis + 1:
        return np.moveaxis(y, -1, channel_axis)
    return y


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-level equality of values, NaN equal to NaN (exact identity checks)."""
    if a.shape != b.shape:
        return False
    if a.dtype == b.dtype and a.dtype.kind == "f":  # widening is exact: compare without the copies
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(widen(a), widen(b), equal_nan=True)


def channel_noise_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """Noise shape giving one keep/drop decision per (sample, channel), broadcast over the rest.

    The recipe for channel dropout from element-wise dropout with a broadcast mask
    (tf.nn.dropout / keras.random.dropout `noise_shape`): batch axis 0, channel axis 1 or last.
    """
    if len(shape) < 2:
        return tuple(shape)
    channel = len(shape) - 1 if layout == "channels_last" else 1
    return tuple(n if axis in (0, channel) else 1 for axis, n in enumerate(shape))
