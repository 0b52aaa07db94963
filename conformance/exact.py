"""Exact references for numeric checks, and tolerances that come from counting roundings.

A numeric claim here is always affine: an output y should be a * x + b for constants a, b that the
documented formula derives from p (dropout: a = 1/(1-p), b = 0; alpha dropout: the SELU-preserving
a and b). Each element is compared with the formula evaluated on its own input; nothing is fitted.

The reference is exact for every purpose here: a and b are computed in 40-digit decimal arithmetic
and carried as double-doubles, and the residual y - (a x + b) is formed with error-free
transformations (Dekker's product, Knuth's sum), so its own error is about 2^-104 of the terms.

The tolerance is the error that the allowed roundings can produce, never a fitted number. With unit
roundoff u (half an ulp: a rounding to nearest has relative error <= u), k roundings compound to at
most gamma(k) = k u / (1 - k u) of the magnitudes they act on (Higham, Accuracy and Stability of
Numerical Algorithms, Lemma 3.1). The bound is relative to |a x| + |b|, the sum of the terms'
magnitudes, not to |y|, which may cancel towards zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

from .arrays import dtype_info, widen

_SPLIT = 2.0 ** 27 + 1.0  # Dekker's splitter for float64
UNIT_ROUNDOFF_F64 = 2.0 ** -53


@dataclass(frozen=True)
class RoundingBudget:
    """How many roundings a claim allows, and where.

    in_dtype: roundings whose result has the tensor's dtype or any wider precision (the frameworks
      compute half types through float32 intermediates; each such rounding is <= u of the dtype).
    in_float64: roundings in float64 while the constants are derived from p on the host.
    """

    in_dtype: int
    in_float64: int
    why: str

    def relative_bound(self, dtype: str) -> float:
        """Largest |y - (a x + b)| / (|a x| + |b|) these roundings can produce in `dtype`."""
        u = dtype_info(dtype).eps / 2
        on_device = gamma(self.in_dtype, u)
        return on_device + gamma(self.in_float64, UNIT_ROUNDOFF_F64) * (1 + on_device)


def gamma(k: int, u: float) -> float:
    """Higham's gamma_k: the relative error bound of k roundings of unit roundoff u."""
    return k * u / (1 - k * u)


# x * s with s = 1/(1-p): (1 - p) rounded, the reciprocal (or the division x / (1 - p)) rounded,
# s rounded to the dtype when the host computed it in float64, and the product rounded. Four
# roundings, each to the dtype or wider: torch computes x * fl(1/fl(1-p)) (three), TensorFlow and
# Keras x * fl_dtype(1/(1-p) in float64) (four), XLA x / fl(1-p) (two). A scale taken from a p that
# was itself rounded to the dtype is outside this budget on purpose: at p = 0.999 in bfloat16, p
# rounds to 1.0 and the "scale" is infinite.
SCALE_BUDGET = RoundingBudget(4, 0, "1-p, the reciprocal, the scale cast to the dtype, the product")

# a x + b and the dropped value a alpha' + b. On the host, in float64: the frameworks' literal
# alpha' = 1.7580993408473766 is one ulp (two roundings' worth) from the exact product of the SELU
# constants; alpha'^2 doubles that and rounds once (5), then p alpha'^2, 1 + that, 1 - p, their
# product (4), the power -1/2 (pow is not correctly rounded: 2) gives a within 11 roundings;
# b = -a alpha' p: a's 11, the literal's 2 and two products: 15; the dropped value a alpha' + b (or
# -alpha' a (1 - p)) one more: 16. On the device, in the dtype or wider: a, b and alpha' cast to
# the dtype (3), the product a x (1) and the sum (1): 5. The mask multiplies by exactly 0 or 1.
ALPHA_BUDGET = RoundingBudget(5, 16, "SELU constants derived in float64, then a, b, alpha' cast, a*x, +b")


def _as_decimal(value: float | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)  # a float converts exactly


def double_double(value: Decimal) -> tuple[float, float]:
    """(hi, lo) with hi + lo equal to `value` to about 2^-106 relative."""
    hi = float(value)
    return hi, float(value - Decimal(hi))


def _two_sum(a: np.ndarray, b: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """s + e == a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _two_product(a: float, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p + e == a * b exactly (Dekker; no overflow for the magnitudes used here)."""
    p = a * b

    def split(v):
        c = _SPLIT * v
        hi = c - (c - v)
        return hi, v - hi

    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def affine_residual(y: np.ndarray, x: np.ndarray | float, a: Decimal, b: Decimal = Decimal(0)) -> np.ndarray:
    """y - (a x + b) per element, exact to about 2^-104 of |a x| + |b| (float64 result)."""
    yf = widen(y)
    xf = np.broadcast_to(widen(np.asarray(x)), yf.shape)
    a_hi, a_lo = double_double(a)
    b_hi, b_lo = double_double(b)
    prod, prod_err = _two_product(a_hi, xf)
    s, s_err = _two_sum(yf, -prod)
    t, t_err = _two_sum(s, -b_hi)
    return t + (((s_err + t_err) - prod_err) - (a_lo * xf + b_lo))


def affine_error(y: np.ndarray, x: np.ndarray | float, a: Decimal, b: Decimal = Decimal(0)) -> np.ndarray:
    """|y - (a x + b)| / (|a x| + |b|) per element: the quantity a RoundingBudget bounds."""
    scale = np.abs(float(a) * widen(np.asarray(x))) + abs(float(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(affine_residual(y, x, a, b)) / scale


def inverted_scale(p: float) -> Decimal:
    """1 / (1 - p) for the float p as given, to 40 digits."""
    with localcontext() as ctx:
        ctx.prec = 40
        return 1 / (1 - _as_decimal(p))


# The SELU constants as Klambauer et al. give them (more digits than a double holds).
SELU_ALPHA = Decimal("1.6732632423543772848170429916717")
SELU_SCALE = Decimal("1.0507009873554804934193349852946")


def alpha_constants(p: float) -> tuple[Decimal, Decimal, Decimal]:
    """(a, b, dropped value a alpha' + b) of alpha dropout at rate p, to 40 digits."""
    with localcontext() as ctx:
        ctx.prec = 40
        prime = -SELU_SCALE * SELU_ALPHA
        q = _as_decimal(p)
        a = 1 / ((1 - q) * (1 + q * prime * prime)).sqrt()
        b = -a * prime * q
        return a, b, a * prime + b
