"""Checks on output values: scaling, identities, edges, errors, dtypes, non-finite inputs, gradients."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import cast, dtype_info, dtype_name, same_values, widen
from . import CheckContext, Verdict, check, output_dtype_matches
from .masks import channel_states

SCALE_TOLERANCE_EPS = 2  # kept values within 2 eps (relative) of x / (1 - p)


def _scale_errors(x: np.ndarray, y: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, relative error in eps units) of outputs against x / (1 - p) in float64."""
    kept = widen(y) != 0
    exact = widen(x) / (1.0 - p)
    rel = np.abs(widen(y) - exact) / np.abs(exact)
    return kept, rel[kept] / dtype_info(dtype_name(x)).eps


def _none_kept_probability(params: dict[str, Any]) -> float:
    shape = params["shape"]
    return float(params["p"] ** (shape[0] * shape[1]))


@check("scaling", false_alarm=_none_kept_probability)
def scaling(ctx: CheckContext) -> Verdict:
    """Every kept value equals x / (1 - p) within 2 eps of the dtype (relative)."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    kept, err_eps = _scale_errors(x, obs.y, p)
    if not kept.any():
        return Verdict(False, {"kept": 0}, "no value was kept: nothing to check the scale on")
    ratio = widen(obs.y)[kept] / widen(x)[kept]
    observed = {"kept": int(kept.sum()), "max_error_eps": round(float(err_eps.max()), 3),
                "violations": int((err_eps > SCALE_TOLERANCE_EPS).sum()),
                "median_scale": float(np.median(ratio))}
    return Verdict(observed["violations"] == 0, observed,
                   f"kept values scaled by {observed['median_scale']:.6g} (expected {1 / (1 - p):.6g}); "
                   f"worst error {observed['max_error_eps']} eps, {observed['violations']} beyond "
                   f"{SCALE_TOLERANCE_EPS} eps", warnings=obs.warnings)


@check("identity")
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


@check("all-zero")
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


@check("raises")
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


@check("dtype")
def dtype_preserved(ctx: CheckContext) -> Verdict:
    """The output has the input's shape and dtype."""
    prm = ctx.params
    dtype = prm["dtype"]
    x = ctx.positive_input(prm["shape"], dtype) if "int" not in dtype else \
        cast(ctx.rng.integers(1, 100, size=prm["shape"]), dtype)
    obs = ctx.session().run(x, prm["p"])
    if obs.error:
        return Verdict(False, obs.describe_error(), f"raised {obs.error}: {obs.error_message}",
                       warnings=obs.warnings)
    observed = {"dtype": obs.dtype, "shape": list(obs.y.shape)}
    ok = obs.dtype == dtype and tuple(obs.y.shape) == tuple(x.shape)
    return Verdict(ok, observed, f"{dtype} {list(x.shape)} -> {obs.dtype} {list(obs.y.shape)}",
                   warnings=obs.warnings)


def _fate(values: np.ndarray) -> str:
    v = widen(values)
    if np.all(v == 0):
        return "zero"
    if np.all(np.isnan(v)):
        return "nan"
    if np.all(np.isinf(v)):
        return "inf"
    return "mixed"


@check("non-finite", false_alarm=lambda params: 6 * 0.5 ** (params["shape"][0] * params["shape"][1] // 4))
def non_finite(ctx: CheckContext) -> Verdict:
    """A dropped channel is zero even where the input holds NaN or Inf."""
    prm = ctx.params
    x = widen(ctx.positive_input(prm["shape"], "float32"))
    channels = np.arange(x.shape[1])
    x[:, channels % 4 == 1, 0, 0] = np.nan  # one poisoned position per channel; the rest stay finite
    x[:, channels % 4 == 2, 0, 0] = np.inf
    x[:, channels % 4 == 3, 0, 0] = -np.inf
    x = cast(x, prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm.get("p", 0.5))
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    y = widen(obs.y)
    finite_part = y[:, :, 1:, :].reshape(y.shape[0], y.shape[1], -1)
    dropped = np.all(finite_part == 0, axis=2)
    poisoned = y[:, :, 0, 0]
    observed: dict[str, Any] = {}
    for label, kind in (("nan", 1), ("inf", 2), ("neg_inf", 3)):
        sel = (channels % 4 == kind)[None, :]
        if not (dropped & sel).any() or not (~dropped & sel).any():
            return Verdict(False, {"inconclusive": label}, f"no dropped or no kept {label} channel")
        observed[f"{label}_in_dropped"] = _fate(poisoned[dropped & sel])
        observed[f"{label}_in_kept"] = _fate(poisoned[~dropped & sel])
    conforms = all(observed[f"{k}_in_dropped"] == "zero" for k in ("nan", "inf", "neg_inf"))
    return Verdict(conforms, observed,
                   "dropped channels with NaN/Inf/-Inf became: " + ", ".join(
                       observed[f"{k}_in_dropped"] for k in ("nan", "inf", "neg_inf")),
                   warnings=obs.warnings)


@check("empty")
def empty(ctx: CheckContext) -> Verdict:
    """An empty input gives an empty output of the same shape, without error."""
    prm = ctx.params
    x = np.zeros(prm["shape"], dtype=prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm.get("p", 0.5))
    if obs.error:
        return Verdict(False, obs.describe_error(), f"raised {obs.error}: {obs.error_message}")
    ok = tuple(obs.y.shape) == tuple(x.shape)
    return Verdict(ok, {"shape": list(obs.y.shape)}, f"{list(x.shape)} -> {list(obs.y.shape)}",
                   warnings=obs.warnings)


@check("gradient", false_alarm=_none_kept_probability)
def gradient(ctx: CheckContext) -> Verdict:
    """d(sum y)/dx equals the forward pass's mask times 1/(1-p)."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x, p, grad=True)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout with gradient")
    kept = widen(obs.y) != 0
    if not kept.any():
        return Verdict(False, {"kept": 0}, "no value was kept: nothing to check the gradient on")
    scale = 1.0 / (1.0 - p)
    g = widen(obs.grad)
    wrong_dropped = int(np.count_nonzero(g[~kept]))
    err_eps = np.abs(g[kept] - scale) / scale / dtype_info(dtype).eps
    observed = {"grad_nonzero_where_dropped": wrong_dropped,
                "max_error_eps": round(float(err_eps.max()), 3),
                "median_grad_kept": float(np.median(g[kept]))}
    ok = wrong_dropped == 0 and observed["max_error_eps"] <= SCALE_TOLERANCE_EPS
    return Verdict(ok, observed, f"gradient on kept values {observed['median_grad_kept']:.6g} "
                   f"(expected {scale:.6g}), nonzero where dropped: {wrong_dropped}", warnings=obs.warnings)


@check("inplace", false_alarm=_none_kept_probability)
def inplace(ctx: CheckContext) -> Verdict:
    """inplace=True returns the input object, now holding a valid dropout output."""
    p, dtype = ctx.params["p"], ctx.params.get("dtype", "float32")
    x = ctx.positive_input(ctx.params["shape"], dtype)
    obs = ctx.session().run(x.copy(), p, inplace=True)
    if obs.error:
        return Verdict.unexpected_error(obs, "in-place dropout")
    _, mixed = channel_states(obs.y)
    kept, err_eps = _scale_errors(x, obs.y, p)
    valid = not mixed.any() and kept.any() and bool((err_eps <= SCALE_TOLERANCE_EPS).all())
    observed = {"same_object": obs.same_object, "input_modified": obs.input_modified, "valid_output": valid}
    ok = bool(obs.same_object and obs.input_modified and valid)
    return Verdict(ok, observed, ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in observed.items()),
                   warnings=obs.warnings)
