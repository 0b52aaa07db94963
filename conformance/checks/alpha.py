"""Checks for alpha dropout and feature alpha dropout (SELU-preserving dropout).

Alpha dropout (Klambauer et al., "Self-Normalizing Neural Networks") sets a dropped value to
alpha' = -lambda * alpha (SELU's negative saturation) and then applies y = a * x + b to every
value, with a = ((1 - p) * (1 + p * alpha'^2))^-1/2 and b = -a * alpha' * p, so that inputs of
zero mean and unit variance keep them. A dropped value is therefore the constant a * alpha' + b
(never zero), and the mask is read from the output: the dropped constant is the output's most
frequent value (kept values a * x + b of a continuous input are distinct).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import binom

from .. import stats
from ..arrays import dtype_info, widen
from . import CheckContext, Verdict, check
from .masks import _axes_false_alarm, _channels_shape, _decisions, varying_axes

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ALPHA_PRIME = -SELU_SCALE * SELU_ALPHA  # the value a dropped unit takes before the affine map
VALUE_TOLERANCE_EPS = 8  # affine constants and kept values within 8 eps (relative) of the formula


def alpha_constants(p: float) -> tuple[float, float, float]:
    """(a, b, dropped value) of alpha dropout at rate p."""
    a = ((1.0 - p) * (1.0 + p * ALPHA_PRIME ** 2)) ** -0.5
    b = -a * ALPHA_PRIME * p
    return a, b, a * ALPHA_PRIME + b


def dropped_mask(y: np.ndarray) -> tuple[np.ndarray, float]:
    """(dropped elements, dropped value): the output's most frequent value marks a drop."""
    values, counts = np.unique(widen(y), return_counts=True)
    if counts.max() < 2:
        return np.zeros(y.shape, dtype=bool), math.nan
    value = float(values[counts.argmax()])
    return widen(y) == value, value


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares a, b of y = a * x + b and the largest residual."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept), float(np.abs(y - (slope * x + intercept)).max())


def _too_few(params: dict[str, Any]) -> float:
    """P(fewer than 2 dropped or fewer than 2 kept values) for a conforming implementation."""
    n, p = math.prod(params["shape"]), params["p"]
    return float(binom.cdf(1, n, p) + binom.cdf(1, n, 1 - p)) if 0 < p < 1 else 0.0


@check("alpha-values", false_alarm=_too_few)
def alpha_values(ctx: CheckContext) -> Verdict:
    """Kept values are a*x + b and dropped values a*alpha' + b, with the SELU-preserving a and b."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "alpha dropout")
    dropped, value = dropped_mask(obs.y)
    kept = ~dropped
    if dropped.sum() < 2 or kept.sum() < 2:
        return Verdict(False, {"dropped": int(dropped.sum()), "kept": int(kept.sum())},
                       "too few dropped or kept values to read the affine map from")
    a, b, drop_value = alpha_constants(p)
    fit_a, fit_b, residual = _fit(widen(x)[kept], widen(obs.y)[kept])
    eps = dtype_info(dtype).eps
    scale = abs(a) * 2 + abs(b)  # magnitude of kept outputs (x < 2)
    err = {"a": abs(fit_a - a) / abs(a), "b": abs(fit_b - b) / scale,
           "dropped_value": abs(value - drop_value) / abs(drop_value), "residual": residual / scale}
    worst = max(err.values()) / eps
    observed = {"a": round(fit_a, 7), "b": round(fit_b, 7), "dropped_value": round(value, 7),
                "zero_dropped": value == 0.0, "max_error_eps": round(worst, 2)}
    return Verdict(worst <= VALUE_TOLERANCE_EPS, observed,
                   f"kept = {fit_a:.6g} x + {fit_b:.6g}, dropped = {value:.6g} (expected {a:.6g} x + {b:.6g}, "
                   f"{drop_value:.6g}); worst error {worst:.3g} eps", warnings=obs.warnings)


@check("alpha-mask-axes", false_alarm=_axes_false_alarm)
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


@check("alpha-drop-rate", false_alarm=lambda params: stats.ALPHA)
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


@check("alpha-gradient", false_alarm=_too_few)
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
    a = alpha_constants(p)[0]
    g = widen(obs.grad)
    wrong_dropped = int(np.count_nonzero(g[dropped]))
    err_eps = float((np.abs(g[kept] - a) / a).max()) / dtype_info(dtype).eps
    observed = {"grad_nonzero_where_dropped": wrong_dropped, "max_error_eps": round(err_eps, 3),
                "median_grad_kept": float(np.median(g[kept]))}
    ok = wrong_dropped == 0 and err_eps <= VALUE_TOLERANCE_EPS
    return Verdict(ok, observed, f"gradient on kept values {observed['median_grad_kept']:.6g} (expected a = "
                   f"{a:.6g}), nonzero where dropped: {wrong_dropped}", warnings=obs.warnings)


def _alpha_non_finite_false_alarm(params: dict[str, Any]) -> float:
    from .values import _channel_false_alarm
    # a case is either the channel variant (feature alpha dropout) or the element one: the larger bound holds
    return max(_channel_false_alarm(params), stats.ALPHA)


@check("alpha-non-finite", false_alarm=_alpha_non_finite_false_alarm)
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
