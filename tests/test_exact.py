"""conformance.exact: the reference is exact, and the rounding budgets are what the analysis says."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from conformance import exact
from conformance.arrays import cast, dtype_info


def fraction_residual(y: float, x: float, a: Decimal, b: Decimal) -> Fraction:
    return Fraction(y) - (Fraction(a) * Fraction(x) + Fraction(b))


@pytest.mark.parametrize("p", [0.0009765625, 0.1, 1 / 3, 0.8, 0.999])
def test_affine_residual_is_exact_to_double_double_precision(p: float) -> None:
    """Against rational arithmetic: the residual's own error is below 2^-100 of |a x| + |b|."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.0, 200)
    a, b, _ = exact.alpha_constants(p)
    y = float(a) * x + float(b)  # one rounding or so away from the formula: a residual to measure
    got = exact.affine_residual(y, x, a, b)
    for yi, xi, gi in zip(y, x, got):
        want = fraction_residual(float(yi), float(xi), a, b)
        terms = abs(Fraction(a) * Fraction(float(xi))) + abs(Fraction(b))
        assert abs(Fraction(float(gi)) - want) <= terms * Fraction(1, 2**100)


def test_constants_match_the_papers_figures() -> None:
    """a, b at p = 0.5 (PaddlePaddle's doc example: dropped value -0.7791938) and the SELU constant."""
    # the frameworks' literal is one ulp from the exact product (ALPHA_BUDGET counts it as two roundings)
    literal, product = 1.7580993408473766, float(exact.SELU_SCALE * exact.SELU_ALPHA)
    assert literal != product and abs(literal - product) == np.spacing(literal)
    a, b, dropped = exact.alpha_constants(0.5)
    assert float(dropped) == pytest.approx(-0.7791938, abs=1e-6)
    assert float(a * -(exact.SELU_SCALE * exact.SELU_ALPHA) + b) == pytest.approx(float(dropped), abs=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_scale_budget_is_four_roundings(dtype: str) -> None:
    u = dtype_info(dtype).eps / 2
    bound = exact.SCALE_BUDGET.relative_bound(dtype)
    assert bound == pytest.approx(exact.gamma(4, u)) and 4 * u < bound < 4 * u * 1.05


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("p", [0.0009765625, 0.1, 1 / 3, 0.5, 0.9, 0.999])
def test_every_allowed_scale_computation_is_within_budget(dtype: str, p: float) -> None:
    """The ways frameworks compute x/(1-p), each in the dtype, stay inside SCALE_BUDGET."""
    x = cast(np.random.default_rng(2).uniform(0.5, 2.0, 5000), dtype)
    np_dtype = dtype_info(dtype).numpy
    one_minus = np.asarray(1 - p).astype(np_dtype)
    ways = {
        "x * fl(1/fl(1-p))": x * (np.asarray(1, np_dtype) / one_minus).astype(np_dtype),
        "x / fl(1-p)": x / one_minus,
        "x * fl_dtype(1/(1-p) in float64)": x * np.asarray(1 / (1 - p)).astype(np_dtype),
    }
    bound = exact.SCALE_BUDGET.relative_bound(dtype)
    for name, y in ways.items():
        err = exact.affine_error(y.astype(np_dtype), x, exact.inverted_scale(p))
        assert err.max() <= bound, (name, err.max() / (dtype_info(dtype).eps / 2))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_a_scale_from_p_rounded_to_the_dtype_is_outside_the_budget(dtype: str) -> None:
    """Rounding p itself (not 1 - p) to the dtype is a real error: at p = 0.999 it is far outside."""
    p = 0.999
    np_dtype = dtype_info(dtype).numpy
    x = cast(np.random.default_rng(3).uniform(0.5, 2.0, 100), dtype)
    p_rounded = float(np.asarray(p).astype(np_dtype))
    if p_rounded == 1.0:
        return  # the scale is infinite: nothing finite to compare (bfloat16)
    y = (x * np.asarray(1 / (1 - p_rounded)).astype(np_dtype)).astype(np_dtype)
    assert exact.affine_error(y, x, exact.inverted_scale(p)).max() > exact.SCALE_BUDGET.relative_bound(dtype)


def test_bfloat16_inputs_widen_exactly() -> None:
    x = np.array([0.5, 1.0078125, 1.9921875], dtype=ml_dtypes.bfloat16)
    assert exact.affine_residual(x, x, Decimal(1)).tolist() == [0.0, 0.0, 0.0]
