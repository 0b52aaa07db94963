"""Checks for alpha dropout and feature alpha dropout (SELU-preserving dropout).

Alpha dropout (Klambauer et al., "Self-Normalizing Neural Networks") sets a dropped value to
alpha' = -lambda * alpha (SELU's negative saturation) and then applies y = a * x + b to every
value, with a = ((1 - p) * (1 + p * alpha'^2))^-1/2 and b = -a * alpha' * p, so that inputs of
zero mean and unit variance keep them. A dropped value is therefore the constant a * alpha' + b
(never zero). alpha-values compares every element with both branches of the formula (conformance.exact);
the checks about the mask read it as the output's most frequent value, which needs no constants.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import binom

from .. import exact, stats
from ..arrays import dtype_info, widen
from . import CheckContext, Verdict, check
from .params import AlphaMaskAxesParams, DropRateParams, OptionalRateParams, ShapedParams
from .masks import _axes_false_alarm, _channels_shape, _decisions, varying_axes

ALPHA_PRIME = float(-exact.SELU_SCALE * exact.SELU_ALPHA)  # a dropped unit's value before the affine map


def alpha_constants(p: float) -> tuple[float, float, float]:
    """(a, b, dropped value) of alpha dropout at rate p, as floats (see exact.alpha_constants)."""
    return tuple(float(c) for c in exact.alpha_constants(p))  # type: ignore[return-value]


def dropped_mask(y: np.ndarray) -> tuple[np.ndarray, float]:
    """(dropped elements, dropped value): the output's most frequent value marks a drop.

    Used where the mask matters and the constants do not (axes, rate, gradient, non-finite), so a
    framework with other constants is still judged on its mask. See _mode_misread for its bound."""
    values, counts = np.unique(widen(y), return_counts=True)
    if counts.max() < 2:
        return np.zeros(y.shape, dtype=bool), math.nan
    value = float(values[counts.argmax()])
    return widen(y) == value, value


def _mode_misread(elements: int, decisions: int, p: float, dtype: str = "float32") -> float:
    """Bound on P(the most frequent output value is not the dropped one) for a conforming implementation.

    Inputs are uniform on [0.5, 2) rounded to `dtype`. The mode is misread only if some kept output
    value has at least as many preimages as there are dropped elements D (D >= the dropped
    decisions). For any m: P(D <= m) + P(some kept output value has > m preimages). Inputs mapping to
    one output lie in an interval of width w <= ulp(out)/a + 2 ulp(in), hit with probability
    q <= w / 1.5; over the (at most 2-fold overlapping) intervals, P(> m preimages somewhere)
    <= 2 C(n, m+1) q^m. Minimised over m."""
    a, b, _ = alpha_constants(p)
    eps = dtype_info(dtype).eps
    top = 2 * a + b  # largest kept output
    q = (2.0 ** math.floor(math.log2(top)) * eps / a + 2 * eps) / 1.5
    best = 1.0
    for m in range(1, min(200, elements + 1)):
        crowded = 0.0 if m + 1 > elements else 2 * math.exp(
            math.lgamma(elements + 1) - math.lgamma(m + 2) - math.lgamma(elements - m) + m * math.log(q))
        best = min(best, float(binom.cdf(m, decisions, p)) + crowded)
    return min(best, 1.0)


def _too_few(params: dict[str, Any]) -> float:
    """P(no dropped or no kept decision): N*C decisions at least (more for element-wise)."""
    shape, p = params["shape"], params["p"]
    n = shape[0] * shape[1]
    return float((1 - p) ** n + p ** n) if 0 < p < 1 else 0.0


def classify(x: np.ndarray, y: np.ndarray, p: float,
             dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(kept, dropped, kept_err, dropped_err): each element is kept when it is a x + b within
    exact.ALPHA_BUDGET, dropped when it is a alpha' + b within it. Inputs are >= 0.5 > alpha', so the two
    are never both (they lie 2.26 a apart, far beyond the budget)."""
    a, b, drop_value = exact.alpha_constants(p)
    bound = exact.ALPHA_BUDGET.relative_bound(dtype)
    kept_err = exact.affine_error(y, x, a, b) / bound
    # the dropped value is a alpha' + b: the same affine map at x = alpha'
    dropped_err = exact.affine_error(y, float(ALPHA_PRIME), a, b) / bound
    return kept_err <= 1, dropped_err <= 1, kept_err, dropped_err


@check("alpha-values", ShapedParams, false_alarm=_too_few)
def alpha_values(ctx: CheckContext) -> Verdict:
    """Every value is a*x + b (kept) or a*alpha' + b (dropped), element by element (exact.ALPHA_BUDGET)."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "alpha dropout")
    kept, dropped, kept_err, dropped_err = classify(x, obs.y, p, dtype)
    neither = ~(kept | dropped)
    mode_value = dropped_mask(obs.y)[1]
    a, b, drop_value = alpha_constants(p)
    # worst error, in units of the budget, of each element against the branch it is closest to
    worst = float(np.minimum(kept_err, dropped_err).max())
    budget_eps = exact.ALPHA_BUDGET.relative_bound(dtype) / dtype_info(dtype).eps
    observed = {"kept": int(kept.sum()), "dropped": int(dropped.sum()), "neither": int(neither.sum()),
                "most_frequent_value": None if math.isnan(mode_value) else round(mode_value, 7),
                "zero_dropped": mode_value == 0.0, "max_error_eps": round(worst * budget_eps, 3)}
    conforms = bool(not neither.any() and kept.any() and dropped.any())
    why = "" if kept.any() and dropped.any() else "; no kept or no dropped value to check"
    return Verdict(conforms, observed,
                   f"{observed['neither']} of {x.size} values are neither a x + b ({a:.6g} x + {b:.6g}) nor the "
                   f"dropped value {drop_value:.6g} within {budget_eps:.3g} eps of |a x| + |b|; worst error "
                   f"{observed['max_error_eps']} eps; most frequent value {mode_value:.6g}{why}",
                   warnings=obs.warnings)


def _misread(params: dict[str, Any], shape: list[int] | None = None) -> float:
    """_mode_misread for a case: every element a kept candidate, N*C decisions at least."""
    shape = shape or params["shape"]
    return _mode_misread(math.prod(shape), shape[0] * shape[1], params.get("p", 0.5),
                         params.get("dtype", "float32"))


@check("alpha-mask-axes", AlphaMaskAxesParams,
       false_alarm=lambda params: _axes_false_alarm(params) + _misread(params))
def alpha_mask_axes(ctx: CheckContext) -> Verdict:
    """The alpha-dropout mask varies along exactly the claimed axes (element-wise or per channel)."""
    prm = ctx.params
    x = ctx.positive_input(prm["shape"], prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm.get("p", 0.5))
    if obs.error:
        return Verdict.unexpected_error(obs, "alpha dropout")
    axes = varying_axes(dropped_mask(obs.y)[0])
    claim = sorted(prm["claim_axes"])
    return Verdict(axes == claim, {"varies_along": axes},
                   f"mask varies along axes {axes}, claim: {claim}", warnings=obs.warnings)


@check("alpha-drop-rate", DropRateParams,
       false_alarm=lambda params: stats.ALPHA + _misread(params, _channels_shape(_decisions(params), params)))
def alpha_drop_rate(ctx: CheckContext) -> Verdict:
    """The share of dropped units (elements, or channels for feature alpha dropout) equals p."""
    p = ctx.params["p"]
    shape = _channels_shape(_decisions(ctx.params), ctx.params)
    obs = ctx.session().run(ctx.positive_input(shape, "float32"), p)
    if obs.error:
        return Verdict.unexpected_error(obs, "alpha dropout")
    dropped = dropped_mask(obs.y)[0].reshape(shape[0], shape[1], -1).all(axis=2)
    n, k = int(dropped.size), int(dropped.sum())
    p_value = stats.binom_p_value(k, n, p)
    return Verdict(p_value > stats.ALPHA, {"drop_rate": k / n, "dropped": k},
                   f"dropped {k} of {n} units (rate {k / n:.5f}, expected {p}), p-value {p_value:.3g}",
                   p_value=p_value, n=n, min_detectable=stats.min_detectable(n, p), warnings=obs.warnings)


@check("alpha-gradient", ShapedParams,
       false_alarm=lambda params: _too_few(params) + _misread(params))
def alpha_gradient(ctx: CheckContext) -> Verdict:
    """d(sum y)/dx is a on kept units and 0 on dropped ones, with the forward pass's mask."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p, grad=True)
    if obs.error:
        return Verdict.unexpected_error(obs, "alpha dropout with gradient")
    dropped, _ = dropped_mask(obs.y)
    kept = ~dropped
    if dropped.sum() < 2 or kept.sum() < 2:
        return Verdict(False, {"dropped": int(dropped.sum()), "kept": int(kept.sum())},
                       "too few dropped or kept values to read the mask from")
    a = exact.alpha_constants(p)[0]
    g = widen(obs.grad)
    wrong_dropped = int(np.count_nonzero(g[dropped]))
    # d(sum y)/dx = a on kept units: a's derivation and cast (within ALPHA_BUDGET); the product
    # with the upstream gradient 1 and the mask is exact
    err_eps = float(exact.affine_error(g[kept], 1.0, a).max()) / dtype_info(dtype).eps
    tolerance = exact.ALPHA_BUDGET.relative_bound(dtype) / dtype_info(dtype).eps
    observed = {"grad_nonzero_where_dropped": wrong_dropped, "max_error_eps": round(err_eps, 3),
                "median_grad_kept": float(np.median(g[kept]))}
    ok = wrong_dropped == 0 and err_eps <= tolerance
    return Verdict(ok, observed, f"gradient on kept values {observed['median_grad_kept']:.6g} (expected a = "
                   f"{float(a):.6g}), nonzero where dropped: {wrong_dropped}", warnings=obs.warnings)


def _alpha_non_finite_false_alarm(params: dict[str, Any]) -> float:
    from .values import _channel_false_alarm
    # a case is either the channel variant (feature alpha dropout) or the element one: the larger bound holds
    return max(_channel_false_alarm(params), stats.ALPHA) + _misread(params)


@check("alpha-non-finite", OptionalRateParams, false_alarm=_alpha_non_finite_false_alarm)
def alpha_non_finite(ctx: CheckContext) -> Verdict:
    """A dropped unit holding NaN or Inf takes the dropped value a*alpha' + b like any other."""
    from .values import (_verdict_fates, channel_fates, element_fates, poisoned_channel_input,
                         poisoned_element_input)
    p = ctx.params.get("p", 0.5)
    channels = ctx.op == "feature_alpha_dropout"
    x = poisoned_channel_input(ctx) if channels else poisoned_element_input(ctx)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "alpha dropout")
    y = widen(obs.y)
    finite_out = y.reshape(y.shape[0], y.shape[1], -1)[:, :, 1:] if channels else \
        y.reshape(-1)[np.arange(y.size) % 4 == 0]
    _, value = dropped_mask(finite_out)
    if math.isnan(value):
        return Verdict(False, {"inconclusive": "dropped value"}, "no repeated value among finite outputs")
    if channels:
        observed = channel_fates(x, y, value)
        if isinstance(observed, str):
            return Verdict(False, {"inconclusive": observed}, f"no dropped or no kept {observed} channel")
    else:
        observed, _ = element_fates(x, y, p, value)
    return _verdict_fates(observed, obs, "channels" if channels else "elements", expected="dropped_value")
