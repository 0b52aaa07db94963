"""Checks on the random channel mask: its granularity, axes, rate, independence and seeding."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import stats
from ..arrays import same_values, widen
from . import CheckContext, Observation, Verdict, check


def channel_states(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dropped, mixed) per (N, C) channel of a logical output from nonzero inputs."""
    zero = widen(y).reshape(y.shape[0], y.shape[1], -1) == 0
    dropped = zero.all(axis=2)
    mixed = zero.any(axis=2) & ~dropped
    return dropped, mixed


def varying_axes(mask: np.ndarray) -> list[int]:
    """Axes along which the mask takes more than one value somewhere."""
    return [a for a in range(mask.ndim) if mask.shape[a] > 1 and
            bool(np.any(mask != np.take(mask, [0], axis=a)))]


@check("channel-granularity")
def channel_granularity(ctx: CheckContext) -> Verdict:
    """Every channel is either entirely kept or entirely zero across its spatial positions."""
    p, x = ctx.params["p"], ctx.positive_input(ctx.params["shape"], ctx.params.get("dtype", "float32"))
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    dropped, mixed = channel_states(obs.y)
    observed = {"channels": int(dropped.size), "dropped": int(dropped.sum()), "mixed": int(mixed.sum())}
    return Verdict(not mixed.any(), observed,
                   f"{observed['mixed']} of {observed['channels']} channels were partly zeroed",
                   warnings=obs.warnings)


def _axes_false_alarm(params: dict[str, Any]) -> float:
    """P(a claimed varying axis looks constant) at p = 0.5, for a mask varying exactly as claimed."""
    shape, axes = params["shape"], params.get("claim_axes") or []
    total = 0.0
    for a in axes:
        others = math.prod(shape[b] for b in axes if b != a)
        total += 2.0 ** ((1 - shape[a]) * others)
    return total


@check("mask-axes", false_alarm=_axes_false_alarm)
def mask_axes(ctx: CheckContext) -> Verdict:
    """The mask varies along exactly the claimed axes (which axes are channels, batch, spatial)."""
    prm = ctx.params
    x = np.ones(prm["shape"], dtype=prm.get("dtype", "float32"))
    obs = ctx.session().run(x, prm.get("p", 0.5), native=prm.get("native", False),
                            channel_axis=prm.get("channel_axis", 1))
    claim = sorted(prm["claim_axes"]) if prm.get("claim_axes") is not None else None
    if obs.error:
        observed = obs.describe_error()
        conforms = claim is None  # the claim is that this rank is rejected
        return Verdict(conforms, observed, f"raised {obs.error}: {obs.error_message}", warnings=obs.warnings)
    axes = varying_axes(widen(obs.y) != 0)
    observed = {"varies_along": axes, "warned": bool(obs.warnings)}
    if claim is None:
        return Verdict(False, observed, f"accepted the input (mask varies along axes {axes}); "
                       "the claim is that it is rejected", warnings=obs.warnings)
    return Verdict(axes == claim, observed,
                   f"mask varies along axes {axes}, claim: {claim}", warnings=obs.warnings)


def _decisions(params: dict[str, Any]) -> int:
    return max(stats.required_decisions(params["p"]), params.get("min_decisions", 0))


def _channels_shape(n: int, params: dict[str, Any]) -> list[int]:
    channels = params.get("channels", 64)
    return [math.ceil(n / channels), channels, *params.get("spatial", [2, 2])]


@check("drop-rate", false_alarm=lambda params: stats.ALPHA)
def drop_rate(ctx: CheckContext) -> Verdict:
    """The share of dropped channels equals p (exact two-sided binomial test on channel decisions)."""
    p = ctx.params["p"]
    shape = _channels_shape(_decisions(ctx.params), ctx.params)
    obs = ctx.session().run(ctx.positive_input(shape, ctx.params.get("dtype", "float32")), p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    dropped, _ = channel_states(obs.y)
    n, k = int(dropped.size), int(dropped.sum())
    p_value = stats.binom_p_value(k, n, p)
    return Verdict(p_value > stats.ALPHA, {"drop_rate": k / n, "dropped": k},
                   f"dropped {k} of {n} channels (rate {k / n:.5f}, expected {p}), p-value {p_value:.3g}",
                   p_value=p_value, n=n, min_detectable=stats.min_detectable(n, p), warnings=obs.warnings)


@check("independence", false_alarm=lambda params: stats.ALPHA)
def independence(ctx: CheckContext) -> Verdict:
    """Drop decisions are independent across batch samples, channels, or successive calls (Fisher exact).

    Successive calls are also scanned over lags, so a random stream reused at an offset is caught.
    """
    p, axis = ctx.params["p"], ctx.params["axis"]
    pairs = ctx.params.get("pairs", 2**17)
    session = ctx.session()
    if axis == "calls":
        shape = _channels_shape(pairs, ctx.params)
        x = ctx.positive_input(shape, "float32")
        first, second = session.run(x, p), session.run(x, p)
        if first.error or second.error:
            return Verdict.unexpected_error(first if first.error else second, "dropout")
        a, b = channel_states(first.y)[0], channel_states(second.y)[0]
    else:
        shape = _channels_shape(2 * pairs, ctx.params)
        obs = session.run(ctx.positive_input(shape, "float32"), p)
        if obs.error:
            return Verdict.unexpected_error(obs, "dropout")
        dropped = channel_states(obs.y)[0]
        a, b = (dropped[0::2], dropped[1::2]) if axis == "batch" else (dropped[:, 0::2], dropped[:, 1::2])
    p_value, table = stats.fisher_pairs(a, b)
    n = int(a.size)
    agree = float((a == b).mean())
    expected_agree = p * p + (1 - p) * (1 - p)
    observed = {"agreement": round(agree, 6), "table": table.tolist()}
    message = (f"paired decisions across {axis} agree {agree:.4f} (independent: {expected_agree:.4f}), "
               f"Fisher p-value {p_value:.3g}")
    conforms = p_value > stats.ALPHA
    if axis == "calls":  # alpha split: aligned pairs and a Bonferroni scan over lags, ALPHA / 2 each
        max_lag = a.size // 2
        bound, lag = stats.lag_scan(a, b, max_lag)
        adjusted = min(1.0, bound * 2 * max_lag)
        conforms = p_value > stats.ALPHA / 2 and adjusted > stats.ALPHA / 2
        observed.update(worst_lag=lag, lag_p_bound=adjusted)
        message += f"; lag scan over +-{max_lag}: worst lag {lag}, adjusted p-value bound {adjusted:.3g}"
    return Verdict(conforms, observed, message,
                   p_value=p_value, n=n, min_detectable=stats.detectable_correlation(n))


@check("seeding", false_alarm=lambda params: stats.all_equal_probability(params.get("p", 0.5),
                                                                         params["shape"][0] * params["shape"][1]))
def seeding(ctx: CheckContext) -> Verdict:
    """The same seed reproduces a stream of outputs bit for bit; a different seed gives other outputs."""
    p, x = ctx.params.get("p", 0.5), ctx.positive_input(ctx.params["shape"], "float32")
    # Sessions are opened one after the other: opening one may reset a framework's global seed.
    # Streams 1 and 1 share a seed; stream 2 has another.
    outs = [[run.run(x, p) for _ in range(2)] for run in (ctx.session(s) for s in (1, 1, 2))]
    errors = [o for seq in outs for o in seq if o.error]
    if errors:
        return Verdict.unexpected_error(errors[0], "dropout")
    same_seed = all(same_values(a.y, b.y) for a, b in zip(outs[0], outs[1]))
    other_seed = not same_values(outs[0][0].y, outs[2][0].y)
    observed = {"same_seed_reproduces": same_seed, "different_seed_differs": other_seed}
    return Verdict(same_seed and other_seed, observed,
                   ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in observed.items()))
