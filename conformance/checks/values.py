"""Checks on output values: scaling, identities, edges, errors, dtypes, non-finite inputs, gradients."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import stats

from ..arrays import cast, dtype_info, dtype_name, same_values, widen
from ..exact import SCALE_BUDGET, affine_error, inverted_scale
from . import CheckContext, Verdict, check, output_dtype_matches
from .params import DtypeParams, EdgeParams, IdentityParams, OptionalRateParams, RaisesParams, ShapedParams
from .masks import channel_states


def _scale_errors(x: np.ndarray, y: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, error of each kept value against x / (1 - p), in eps of the dtype, relative).

    Kept values are the nonzero ones: inputs are >= 0.5, so a kept value is never zero."""
    kept = widen(y) != 0
    err = affine_error(np.asarray(y)[kept], np.asarray(x)[kept], inverted_scale(p))
    return kept, err / dtype_info(dtype_name(x)).eps


def scale_tolerance_eps(dtype: str) -> float:
    """SCALE_BUDGET in eps of the dtype: about 2 eps (four roundings of half an eps)."""
    return SCALE_BUDGET.relative_bound(dtype) / dtype_info(dtype).eps


def _none_kept_probability(params: dict[str, Any]) -> float:
    """P(no decision keeps): the N*C channel decisions of a batched input (element-wise dropout
    makes more decisions, so this bounds it too)."""
    shape = params["shape"]
    return float(params["p"] ** (shape[0] * shape[1]))


@check("scaling", ShapedParams, false_alarm=_none_kept_probability)
def scaling(ctx: CheckContext) -> Verdict:
    """Every kept value equals x / (1 - p) up to the roundings the formula allows (exact.SCALE_BUDGET)."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    kept, err_eps = _scale_errors(x, obs.y, p)
    if not kept.any():
        return Verdict(False, {"kept": 0}, "no value was kept: nothing to check the scale on")
    tolerance = scale_tolerance_eps(dtype)
    ratio = widen(obs.y)[kept] / widen(x)[kept]
    observed = {"kept": int(kept.sum()), "max_error_eps": round(float(err_eps.max()), 3),
                "violations": int((err_eps > tolerance).sum()),
                "median_scale": float(np.median(ratio))}
    return Verdict(observed["violations"] == 0, observed,
                   f"kept values scaled by {observed['median_scale']:.6g} (expected {1 / (1 - p):.6g}); "
                   f"worst error {observed['max_error_eps']} eps, {observed['violations']} beyond "
                   f"{tolerance:.3g} eps", warnings=obs.warnings)


@check("identity", IdentityParams)
def identity(ctx: CheckContext) -> Verdict:
    """The output is bit-identical to the input (eval mode, or p = 0 in training)."""
    prm = ctx.params
    x = cast(ctx.rng.standard_normal(prm["shape"]), prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm["p"], training=prm.get("training", False))
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    identical = same_values(x, obs.y) and output_dtype_matches(obs, x)
    observed = {"identical": identical, "same_object": obs.same_object}
    return Verdict(identical, observed,
                   f"output {'is' if identical else 'is not'} bit-identical to the input; "
                   f"same object returned: {obs.same_object}", warnings=obs.warnings)


@check("all-zero", EdgeParams)
def all_zero(ctx: CheckContext) -> Verdict:
    """Every output value is exactly zero (p = 1 in training)."""
    prm = ctx.params
    x = ctx.positive_input(prm["shape"], prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm["p"])
    if obs.error:
        return Verdict(False, obs.describe_error(), f"raised {obs.error}: {obs.error_message}",
                       warnings=obs.warnings)
    nonzero = int(np.count_nonzero(widen(obs.y)))
    return Verdict(nonzero == 0, {"all_zero": nonzero == 0, "nonzero": nonzero},
                   f"{nonzero} of {obs.y.size} values are nonzero", warnings=obs.warnings)


@check("raises", RaisesParams)
def raises(ctx: CheckContext) -> Verdict:
    """The call raises one of the claimed exception types (e.g. ValueError for p outside [0, 1])."""
    prm = ctx.params
    x = ctx.positive_input(prm["shape"], prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm["p"])
    claimed = prm.get("errors", ["ValueError"])
    if obs.error:
        return Verdict(obs.error in claimed, obs.describe_error(),
                       f"raised {obs.error}: {obs.error_message}", warnings=obs.warnings)
    y = widen(obs.y)
    summary = "zeros" if not y.any() else ("input" if same_values(x, obs.y) else "values")
    return Verdict(False, {"error": None, "output": summary},
                   f"no error for p={prm['p']}; the output holds {summary}", warnings=obs.warnings)


@check("dtype", DtypeParams)
def dtype_preserved(ctx: CheckContext) -> Verdict:
    """The output has the input's shape and dtype."""
    prm = ctx.params
    dtype = prm["dtype"]
    x = ctx.positive_input(prm["shape"], dtype) if "int" not in dtype else \
        cast(ctx.rng.integers(1, 100, size=prm["shape"]), dtype)
    obs = ctx.session().run(x, prm["p"], any_shape=True)
    if obs.error:
        return Verdict(False, obs.describe_error(), f"raised {obs.error}: {obs.error_message}",
                       warnings=obs.warnings)
    observed = {"dtype": obs.dtype, "shape": list(obs.y.shape)}
    ok = obs.dtype == dtype and tuple(obs.y.shape) == tuple(x.shape)
    return Verdict(ok, observed, f"{dtype} {list(x.shape)} -> {obs.dtype} {list(obs.y.shape)}",
                   warnings=obs.warnings)


def _fate(values: np.ndarray, dropped_value: float = 0.0) -> str:
    """What a set of outputs became: the dropped value ('zero', or 'dropped_value' for alpha
    dropout's constant), 'nan', 'inf' (either sign, as dropout2d-non-finite has always recorded it),
    or 'mixed'."""
    v = widen(values)
    if np.all(v == dropped_value):
        return "zero" if dropped_value == 0 else "dropped_value"
    if np.all(np.isnan(v)):
        return "nan"
    if np.all(np.isinf(v)):
        return "inf"
    return "mixed"


POISONS = (("nan", 1, np.nan), ("inf", 2, np.inf), ("neg_inf", 3, -np.inf))


def poisoned_channel_input(ctx: CheckContext) -> np.ndarray:
    """Logical (N, C, *spatial) input, rank >= 3: channel c holds NaN, +Inf or -Inf (c % 4 = 1, 2, 3)
    at its first spatial position; every other position is finite."""
    prm = ctx.params
    if len(prm["shape"]) < 3 or math.prod(prm["shape"][2:]) < 2:
        raise ValueError("the non-finite channel check needs (N, C, *spatial) with >= 2 spatial positions")
    x = widen(ctx.positive_input(prm["shape"], "float32"))
    flat = x.reshape(x.shape[0], x.shape[1], -1)  # a view: spatial position 0 is (0, ..., 0)
    channels = np.arange(x.shape[1])
    for _, kind, value in POISONS:
        flat[:, channels % 4 == kind, 0] = value
    return cast(x, prm.get("dtype", "float32"))


def channel_fates(x: np.ndarray, y: np.ndarray, dropped_value: float = 0.0) -> dict[str, Any] | str:
    """Fates of the poisoned positions in dropped and kept channels (a channel is dropped when all its
    finite positions hold the dropped value), or the label of a kind lacking a dropped or a kept channel."""
    flat = widen(y).reshape(y.shape[0], y.shape[1], -1)
    dropped = np.all(flat[:, :, 1:] == dropped_value, axis=2)
    poisoned = flat[:, :, 0]
    channels = np.arange(y.shape[1])
    observed: dict[str, Any] = {}
    for label, kind, _ in POISONS:
        sel = (channels % 4 == kind)[None, :]
        if not (dropped & sel).any() or not (~dropped & sel).any():
            return label
        observed[f"{label}_in_dropped"] = _fate(poisoned[dropped & sel], dropped_value)
        observed[f"{label}_in_kept"] = _fate(poisoned[~dropped & sel], dropped_value)
    return observed


def _channel_false_alarm(params: dict[str, Any]) -> float:
    """P(some poison kind has no dropped or no kept channel) at p (0.5 by default), channels c % 4 = k."""
    p = params.get("p", 0.5)
    n = params["shape"][0] * (params["shape"][1] // 4)
    return 3 * (p ** n + (1 - p) ** n)


def _verdict_fates(observed: dict[str, Any], obs, unit: str, expected: str = "zero") -> Verdict:
    conforms = all(observed[f"{k}_in_dropped"] == expected for k, _, _ in POISONS)
    return Verdict(conforms, observed,
                   f"dropped {unit} with NaN/Inf/-Inf became: " + ", ".join(
                       str(observed[f"{k}_in_dropped"]) for k, _, _ in POISONS),
                   warnings=obs.warnings)


@check("non-finite", OptionalRateParams, false_alarm=_channel_false_alarm)
def non_finite(ctx: CheckContext) -> Verdict:
    """A dropped channel is zero even where the input holds NaN or Inf (any rank >= 3)."""
    x = poisoned_channel_input(ctx)
    obs = ctx.session().run(x, ctx.params.get("p", 0.5))
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    observed = channel_fates(x, obs.y)
    if isinstance(observed, str):
        return Verdict(False, {"inconclusive": observed}, f"no dropped or no kept {observed} channel")
    return _verdict_fates(observed, obs, "channels")


def poisoned_element_input(ctx: CheckContext) -> np.ndarray:
    """Input whose flat element i holds NaN, +Inf or -Inf where i % 4 = 1, 2, 3, a finite value where 0."""
    prm = ctx.params
    x = widen(ctx.positive_input(prm["shape"], "float32"))
    flat = x.reshape(-1)
    kinds = np.arange(flat.size) % 4
    for _, kind, value in POISONS:
        flat[kinds == kind] = value
    return cast(x, prm.get("dtype", "float32"))


def element_fates(x: np.ndarray, y: np.ndarray, p: float, dropped_value: float,
                  kept_value=lambda v: v) -> tuple[dict[str, Any], bool]:
    """Fates of dropped non-finite elements, where the mask cannot be read from a neighbour.

    A kept poisoned element stays what it was (NaN stays NaN; +-Inf times a positive scale stays
    +-Inf; `kept_value` maps the input for alpha dropout's affine map). An element that does not look
    kept was dropped; how many there are must fit Binomial(n, p) (two-sided exact test, ALPHA / 3 per
    kind). If none looks dropped, the dropped ones (present except with probability (1-p)^n) look
    kept: a dropped NaN that stays NaN is indistinguishable from a kept one, and that is its fate.
    Returns (observed, counts consistent with p for every kind)."""
    xf, yf = widen(x).reshape(-1), widen(y).reshape(-1)
    kinds = np.arange(xf.size) % 4
    observed: dict[str, Any] = {}
    consistent = True
    for label, kind, value in POISONS:
        out = yf[kinds == kind]
        kept_like = np.isnan(out) if np.isnan(value) else out == kept_value(value)
        other = out[~kept_like]
        n, k = int(out.size), int(other.size)
        p_value = stats.binom_p_value(k, n, p)
        observed[f"{label}_dropped_share"] = round(k / n, 5)
        if k == 0:
            observed[f"{label}_in_dropped"] = _fate(out[:1], dropped_value)
        elif p_value <= stats.ALPHA / 3:
            observed[f"{label}_in_dropped"] = "mixed"  # some dropped elements look kept
            consistent = False
        else:
            observed[f"{label}_in_dropped"] = _fate(other, dropped_value)
    return observed, consistent


def _element_false_alarm(params: dict[str, Any]) -> float:
    """The three exact tests at ALPHA / 3, and a kind none of whose n = size / 4 elements is dropped
    (then a kept-looking NaN is read as its fate): 3 (1-p)^n."""
    n = math.prod(params["shape"]) // 4
    return stats.ALPHA + 3 * (1 - params.get("p", 0.5)) ** n


@check("non-finite-elements", OptionalRateParams, false_alarm=_element_false_alarm)
def non_finite_elements(ctx: CheckContext) -> Verdict:
    """A dropped element is zero even where it held NaN or Inf (element-wise dropout)."""
    p = ctx.params.get("p", 0.5)
    x = poisoned_element_input(ctx)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    observed, _ = element_fates(x, obs.y, p, 0.0)
    return _verdict_fates(observed, obs, "elements")


@check("same-shape", ShapedParams)
def same_shape(ctx: CheckContext) -> Verdict:
    """The output has the input's shape, without error: empty axes and axes of size 1 included."""
    prm = ctx.params
    x = ctx.positive_input(prm["shape"], prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm.get("p", 0.5), any_shape=True)
    if obs.error:
        return Verdict(False, obs.describe_error(), f"raised {obs.error}: {obs.error_message}")
    ok = tuple(obs.y.shape) == tuple(x.shape)
    return Verdict(ok, {"shape": list(obs.y.shape)}, f"{list(x.shape)} -> {list(obs.y.shape)}",
                   warnings=obs.warnings)


@check("gradient", ShapedParams, false_alarm=_none_kept_probability)
def gradient(ctx: CheckContext) -> Verdict:
    """d(sum y)/dx equals the forward pass's mask times 1/(1-p) (exact.SCALE_BUDGET)."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p, grad=True)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout with gradient")
    kept = widen(obs.y) != 0
    if not kept.any():
        return Verdict(False, {"kept": 0}, "no value was kept: nothing to check the gradient on")
    g = widen(obs.grad)
    wrong_dropped = int(np.count_nonzero(g[~kept]))
    # d(sum y)/dx = 1 * s on kept values: the scale's own roundings, and the product with 1 exact
    err_eps = affine_error(g[kept], 1.0, inverted_scale(p)) / dtype_info(dtype).eps
    tolerance = scale_tolerance_eps(dtype)
    observed = {"grad_nonzero_where_dropped": wrong_dropped,
                "max_error_eps": round(float(err_eps.max()), 3),
                "median_grad_kept": float(np.median(g[kept]))}
    ok = wrong_dropped == 0 and float(err_eps.max()) <= tolerance
    return Verdict(ok, observed, f"gradient on kept values {observed['median_grad_kept']:.6g} "
                   f"(expected {1 / (1 - p):.6g}), nonzero where dropped: {wrong_dropped}", warnings=obs.warnings)


@check("inplace", ShapedParams, false_alarm=_none_kept_probability)
def inplace(ctx: CheckContext) -> Verdict:
    """inplace=True returns the input object, now holding a valid dropout output."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x.copy(), p, inplace=True)
    if obs.error:
        return Verdict.unexpected_error(obs, "in-place dropout")
    _, mixed = channel_states(obs.y)
    kept, err_eps = _scale_errors(x, obs.y, p)
    valid = not mixed.any() and kept.any() and bool((err_eps <= scale_tolerance_eps(dtype)).all())
    observed = {"same_object": obs.same_object, "input_modified": obs.input_modified, "valid_output": valid}
    ok = bool(obs.same_object and obs.input_modified and valid)
    return Verdict(ok, observed, ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in observed.items()),
                   warnings=obs.warnings)
