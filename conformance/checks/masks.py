"""Checks on the random channel mask: its granularity, axes, rate, independence and seeding."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import stats
from ..arrays import same_values, widen
from ..seeding import derive_seed
from . import CheckContext, Verdict, check
from .params import (CollisionParams, DropRateParams, HomogeneityParams, IndependenceParams, MaskAxesParams, OptionalRateParams,
                     PairsParams, ShapedParams)


def channel_states(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dropped, mixed) per (N, C) channel of a logical output from nonzero inputs."""
    zero = (np.asarray(y) == 0).reshape(y.shape[0], y.shape[1], -1)
    dropped = zero.all(axis=2)
    mixed = zero.any(axis=2) & ~dropped
    return dropped, mixed


def varying_axes(mask: np.ndarray) -> list[int]:
    """Axes along which the mask takes more than one value somewhere."""
    return [a for a in range(mask.ndim) if mask.shape[a] > 1 and
            bool(np.any(mask != np.take(mask, [0], axis=a)))]


@check("channel-granularity", ShapedParams)
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
    """P(a claimed varying axis looks constant) for a mask varying exactly as claimed: along axis a,
    each of the others = prod(other claimed axes) lines of n = shape[a] decisions is constant with
    probability p^n + (1-p)^n, and the axis looks constant only if every line is."""
    shape, axes, p = params["shape"], params.get("claim_axes") or [], params.get("p", 0.5)
    total = 0.0
    for a in axes:
        others = math.prod(shape[b] for b in axes if b != a)
        total += (p ** shape[a] + (1 - p) ** shape[a]) ** others
    return total


@check("mask-axes", MaskAxesParams, false_alarm=_axes_false_alarm)
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


@check("drop-rate", DropRateParams, false_alarm=lambda params: stats.ALPHA)
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


def _pairs_verdict(a: np.ndarray, b: np.ndarray, p: float, across: str, scan_lags: bool,
                   warnings: list[str]) -> Verdict:
    """Fisher exact test on position-aligned pairs of two decision sequences; with scan_lags also a
    Bonferroni scan over every lag, which catches one stream reused at an offset (alpha split in two)."""
    p_value, table = stats.fisher_pairs(a, b)
    n = int(a.size)
    agree = float((a == b).mean())
    expected_agree = p * p + (1 - p) * (1 - p)
    observed: dict[str, Any] = {"agreement": round(agree, 6), "table": table.tolist()}
    message = (f"paired decisions across {across} agree {agree:.4f} (independent: {expected_agree:.4f}), "
               f"Fisher p-value {p_value:.3g}")
    conforms = p_value > stats.ALPHA
    if scan_lags:
        max_lag = a.size // 2
        bound, lag = stats.lag_scan(a, b, max_lag)
        adjusted = min(1.0, bound * 2 * max_lag)
        conforms = p_value > stats.ALPHA / 2 and adjusted > stats.ALPHA / 2
        observed.update(worst_lag=lag, lag_p_bound=adjusted)
        message += f"; lag scan over +-{max_lag}: worst lag {lag}, adjusted p-value bound {adjusted:.3g}"
    return Verdict(conforms, observed, message, p_value=p_value, n=n,
                   min_detectable=stats.detectable_correlation(n), warnings=warnings)


@check("independence", IndependenceParams, false_alarm=lambda params: stats.ALPHA)
def independence(ctx: CheckContext) -> Verdict:
    """Drop decisions are independent across batch samples, channels, or successive calls (Fisher exact).

    Successive calls are also scanned over lags, so a random stream reused at an offset is caught.
    """
    p, axis = ctx.params["p"], ctx.params["axis"]
    pairs = ctx.params.get("pairs", 2**17)
    session = ctx.session()
    if axis == "calls":
        x = ctx.positive_input(_channels_shape(pairs, ctx.params), "float32")
        first, second = session.run(x, p), session.run(x, p)
        if first.error or second.error:
            return Verdict.unexpected_error(first if first.error else second, "dropout")
        a, b = channel_states(first.y)[0], channel_states(second.y)[0]
        return _pairs_verdict(a, b, p, "calls", True, first.warnings)
    obs = session.run(ctx.positive_input(_channels_shape(2 * pairs, ctx.params), "float32"), p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    dropped = channel_states(obs.y)[0]
    a, b = (dropped[0::2], dropped[1::2]) if axis == "batch" else (dropped[:, 0::2], dropped[:, 1::2])
    return _pairs_verdict(a, b, p, axis, False, obs.warnings)


def _position_decisions(params: dict[str, Any]) -> int:
    """Decisions per position: the per-position exact test at ALPHA / positions catches a rate off by
    position_delta at that one position with power POWER."""
    return stats.required_decisions(params["p"], params["position_delta"], stats.ALPHA / params["positions"])


@check("rate-homogeneity", HomogeneityParams, false_alarm=lambda params: stats.ALPHA)
def rate_homogeneity(ctx: CheckContext) -> Verdict:
    """The drop rate is p at every batch index (or every channel index): an exact binomial test per
    index, Bonferroni over the indices, so a rate wrong at one position fails even if the pooled rate holds."""
    p, axis, positions = ctx.params["p"], ctx.params["axis"], ctx.params["positions"]
    n = _position_decisions(ctx.params)
    shape = [positions, n, 1, 1] if axis == "batch" else [n, positions, 1, 1]
    obs = ctx.session().run(ctx.positive_input(shape, "float32"), p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    dropped = channel_states(obs.y)[0]
    per_position = dropped if axis == "batch" else dropped.T  # positions x decisions
    p_values = stats.per_position_p_values(per_position, p)
    worst = int(np.argmin(p_values))
    adjusted = min(1.0, float(p_values[worst]) * positions)
    rates = per_position.mean(axis=1)
    observed = {"worst_index": worst, "worst_rate": round(float(rates[worst]), 5),
                "rate_range": [round(float(rates.min()), 5), round(float(rates.max()), 5)]}
    return Verdict(adjusted > stats.ALPHA, observed,
                   f"drop rate per {axis} index in [{rates.min():.4f}, {rates.max():.4f}] (expected {p}); "
                   f"worst: index {worst} at {rates[worst]:.4f}, Bonferroni-adjusted p-value {adjusted:.3g} "
                   f"({positions} indices x {n} decisions)",
                   p_value=adjusted, n=n, min_detectable=stats.min_detectable(n, p, stats.ALPHA / positions),
                   warnings=obs.warnings)


def _neighbour(seed: int) -> int:
    """seed + 1, within the 31 bits frameworks take without aliasing."""
    return seed + 1 if seed + 1 < 2**31 else seed - 1


@check("seed-independence", PairsParams, false_alarm=lambda params: stats.ALPHA)
def seed_independence(ctx: CheckContext) -> Verdict:
    """Streams of neighbouring seeds s and s + 1 are independent: aligned pairs and every lag between them."""
    p = ctx.params["p"]
    x = ctx.positive_input(_channels_shape(ctx.params.get("pairs", 2**17), ctx.params), "float32")
    outs = [ctx.session_with_seed(s).run(x, p) for s in (ctx.seed, _neighbour(ctx.seed))]
    errors = [o for o in outs if o.error]
    if errors:
        return Verdict.unexpected_error(errors[0], "dropout")
    a, b = (channel_states(o.y)[0] for o in outs)
    return _pairs_verdict(a, b, p, f"seeds {ctx.seed} and {_neighbour(ctx.seed)}", True, outs[0].warnings)


def _collision_false_alarm(params: dict[str, Any]) -> float:
    """P(two independent streams share a window anywhere): pairs of seeds x pairs of window offsets x
    P(two windows of independent decisions agree) = (p^2 + (1-p)^2)^window."""
    k, w = params["seeds"], params["window"]
    offsets = params["decisions"] - w + 1
    return k * (k - 1) / 2 * offsets ** 2 * stats.all_equal_probability(params["p"], w)


def collision_seeds(seed: int, count: int) -> list[int]:
    """count distinct 31-bit seeds: half consecutive from `seed`, half spread over the range by hashing."""
    consecutive = [(seed + i) % 2**31 for i in range(count // 2)]
    spread = [derive_seed(str(seed), f"spread/{i}") for i in range(count)]
    return list(dict.fromkeys(consecutive + spread))[:count]


def shared_windows(streams: np.ndarray, window: int) -> list[tuple[int, int, int, int]]:
    """(stream i, offset, stream j, offset) for each window of `window` decisions that occurs in two
    different streams (rows of a boolean array): one example per repeated window value."""
    windows = np.lib.stride_tricks.sliding_window_view(streams, window, axis=1)  # streams x offsets x window
    offsets = windows.shape[1]
    packed = np.ascontiguousarray(np.packbits(windows, axis=2).reshape(-1, (window + 7) // 8))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    order = np.argsort(keys, kind="stable")  # equal windows become runs [start, end) of `order`
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ends = np.append(starts[1:], len(order))
    rows = order // offsets
    found = []
    for start, end, low, high in zip(starts, ends, np.minimum.reduceat(rows, starts),
                                     np.maximum.reduceat(rows, starts)):
        if low != high:  # the window value occurs in at least two streams
            first = order[start]
            other = next(i for i in order[start:end] if i // offsets != first // offsets)
            found.append((int(first // offsets), int(first % offsets), int(other // offsets), int(other % offsets)))
    return found


@check("seed-collisions", CollisionParams, false_alarm=_collision_false_alarm)
def seed_collisions(ctx: CheckContext) -> Verdict:
    """Many distinct seeds give streams that share no window of decisions at any offset."""
    prm = ctx.params
    seeds = collision_seeds(ctx.seed, prm["seeds"])
    x = ctx.positive_input(_channels_shape(prm["decisions"], {**prm, "channels": 64, "spatial": [1, 1]}),
                           "float32")
    streams = []
    for seed in seeds:
        obs = ctx.session_with_seed(seed).run(x, prm["p"])
        if obs.error:
            return Verdict.unexpected_error(obs, "dropout")
        streams.append(channel_states(obs.y)[0].ravel())
    shared = shared_windows(np.array(streams), prm["window"])
    example = ""
    if shared:
        i, oi, j, oj = shared[0]
        example = (f"; e.g. seed {seeds[i]} at decision {oi} repeats seed {seeds[j]} at decision {oj}"
                   f" ({'same stream' if oi == oj else f'shifted by {oj - oi}'})")
    observed = {"seeds": len(seeds), "shared_windows": len(shared), "streams_sharing": len({s[0] for s in shared})}
    return Verdict(not shared, observed,
                   f"{len(shared)} windows of {prm['window']} decisions shared between streams of "
                   f"{len(seeds)} distinct seeds{example}")


@check("seeding", OptionalRateParams,
       false_alarm=lambda params: stats.all_equal_probability(params.get("p", 0.5),
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
