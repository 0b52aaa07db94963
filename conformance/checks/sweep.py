"""Checks the coverage sweep runs for every op: one call on the op's batched rank, judged unit by unit.

A unit is what one decision keeps or drops: an element for element-wise (alpha) dropout, a whole
(N, C) channel for the channel ops. Inputs are constant, so every kept unit must hold one value, the
documented formula's, and every dropped unit the dropped value (0, or alpha dropout's a alpha' + b).
This makes the checks op-agnostic, exact for any input value (NaN, Inf, -0.0, subnormal, near the
dtype's maximum), and as cheap as a single call of `units` decisions.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np

from .. import exact, stats
from ..api import BATCHED_RANK, CHANNEL_OPS
from ..arrays import cast, finfo, widen
from . import CheckContext, Verdict, check
from .alpha import ALPHA_PRIME
from .masks import _axes_false_alarm, varying_axes
from .params import EdgeGradientParams, InputValuesParams, RankParams, UnbiasednessParams

ALPHA_OPS = ("alpha_dropout", "feature_alpha_dropout")
# The sweep makes thousands of statistical assertions per target, so each gets a smaller alpha than
# stats.ALPHA: 2,768 cases on 30 targets stay below 1e-7 of the whole run's 1e-6.
SWEEP_ALPHA = 1e-12
CHANNELS = 64
MIN_UNITS = 4096
# A rate test needs dropped and kept units to be present: at least this many expected of the rarer
# kind makes their absence a 1e-13 event ((1 - q)^n <= e^-30).
RARE_UNITS = 30


def units_needed(p: float) -> int:
    """Units for one call at p: MIN_UNITS, or enough that the rarer outcome is expected RARE_UNITS times."""
    rarer = min(p, 1 - p)
    return MIN_UNITS if rarer <= 0 else shared_size(max(MIN_UNITS, math.ceil(RARE_UNITS / rarer)))


def shared_size(units: int) -> int:
    """units rounded up to a power of two: cases of every p then share a handful of shapes, and so the
    graphs a shape-specialising compiler (XLA, mx.compile) builds for them."""
    return 1 << max(0, units - 1).bit_length()


def unit_shape(op: str, units: int, positions: int = 1) -> list[int]:
    """The op's batched rank (N, C, *spatial) holding `units` decisions, `positions` per spatial axis."""
    spatial = [positions] * (BATCHED_RANK[op] - 2)
    return [math.ceil(units / CHANNELS), CHANNELS, *spatial]


def by_unit(op: str, y: np.ndarray) -> np.ndarray:
    """The output as (units, values per unit): channels for channel ops, elements otherwise."""
    v = widen(y)
    return v.reshape(v.shape[0] * v.shape[1], -1) if op in CHANNEL_OPS else v.reshape(-1, 1)


# ------------------------------------------------------------------ the documented formula

def affine(op: str, p: float) -> tuple[Decimal, Decimal, float, exact.RoundingBudget]:
    """(a, b, dropped value, rounding budget): a kept unit is a x + b, a dropped one the dropped value."""
    if op in ALPHA_OPS:
        if p == 1:  # a is infinite: no documented value; PyTorch's zeros are what the specs record
            return Decimal(0), Decimal(0), 0.0, exact.ALPHA_BUDGET
        a, b, dropped = exact.alpha_constants(p)
        return a, b, float(dropped), exact.ALPHA_BUDGET
    scale = exact.inverted_scale(p) if p < 1 else Decimal(0)
    return scale, Decimal(0), 0.0, exact.SCALE_BUDGET


def special_value(kind: str, dtype: str) -> float:
    """The input value of a kind, exactly representable in `dtype`."""
    info = finfo(dtype)
    return {"finite": 1.0, "nan": math.nan, "inf": math.inf, "neg_inf": -math.inf, "neg_zero": -0.0,
            # an eighth of the smallest normal: subnormal in every float dtype, and exact (>= 3 fraction bits)
            "subnormal": float(info.smallest_normal) / 8,
            # half the maximum: exact, and x / (1 - p) overflows exactly when p > 1/2
            "near_max": float(info.max) / 2}[kind]


def kept_like(y: np.ndarray, x: float, a: Decimal, b: Decimal, dtype: str,
              budget: exact.RoundingBudget) -> np.ndarray:
    """Which outputs equal the formula a x + b for input x, up to the budget's roundings.

    NaN stays NaN; an infinite x gives the infinity of a x's sign; -0.0 keeps its sign (x / (1-p) of
    -0.0 is -0.0); a result past the dtype's overflow threshold (max + half an ulp) must be that
    infinity, one below it finite. A subnormal result may also lose up to one subnormal spacing per
    rounding (two: scale and product)."""
    if math.isnan(x):
        return np.isnan(y)
    exact_value = float(a) * x + float(b)
    if math.isinf(x):
        return y == exact_value
    if x == 0 and b == 0:
        return (y == 0) & (np.signbit(y) == (math.copysign(1.0, x) < 0))
    info = finfo(dtype)
    bound = budget.relative_bound(dtype)
    # Round to nearest overflows from max + half an ulp of max, ulp(max) = eps 2^(maxexp - 1) (infinite
    # for float64 itself, where every finite float64 result is below it)
    overflow = float(info.max) + float(info.eps) * 2.0 ** (int(info.maxexp) - 2)
    magnitude = abs(float(a) * x) + abs(float(b))
    # the exact residual's error-free products overflow near float64's maximum: scale by a power of 2 (exact)
    shrink = 2.0 ** -600 if magnitude > 2.0 ** 900 else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        residual = np.abs(exact.affine_residual(y * shrink, x * shrink, a, b * Decimal(shrink))) / shrink
    finite_ok = np.isfinite(y) & math.isfinite(exact_value) & (abs(exact_value) <= overflow * (1 + bound)) & (
        residual <= bound * magnitude + 2 * float(info.smallest_subnormal))
    inf_ok = (y == math.copysign(math.inf, exact_value)) & (abs(exact_value) >= overflow * (1 - bound))
    return finite_ok | inf_ok


def label(values: np.ndarray) -> str:
    """What a set of outputs that are not the dropped value holds: 'nan', '+inf', '-inf' or 'mixed'."""
    for name, test in (("nan", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        if values.size and np.all(test(values)):
            return name
    return "mixed"


def dropped_like(op: str, units: np.ndarray, p: float, dtype: str) -> np.ndarray:
    """Which units hold the dropped value: exactly 0 (either sign), or alpha dropout's a alpha' + b up to
    its rounding budget (it is the affine map at x = alpha')."""
    if op not in ALPHA_OPS or p == 1:
        return np.all(units == 0, axis=1)
    a, b, _, budget = affine(op, p)
    return kept_like(units, ALPHA_PRIME, a, b, dtype, budget).all(axis=1)


# ------------------------------------------------------------------ input values, p in [0, 1]

def _values_false_alarm(params: dict[str, Any]) -> float:
    """The exact test at SWEEP_ALPHA, and the rarer outcome absent though 0 < p < 1 (e^-RARE_UNITS)."""
    p = params["p"]
    return SWEEP_ALPHA + (math.exp(-RARE_UNITS) if 0 < p < 1 else 0.0)


@check("input-values", InputValuesParams, false_alarm=_values_false_alarm)
def input_values(ctx: CheckContext) -> Verdict:
    """Every unit of a constant input (finite, NaN, +-Inf, -0.0, subnormal, near the maximum) is either
    the formula's kept value or exactly the dropped value, and the dropped share fits p (exact test)."""
    prm = ctx.params
    p, dtype, kind = prm["p"], prm.get("dtype", "float32"), prm.get("values", "finite")
    x_value = special_value(kind, dtype)
    x = cast(np.full(_values_shape(ctx.op, prm), x_value), dtype)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    a, b, _, budget = affine(ctx.op, p)
    units = by_unit(ctx.op, obs.y)
    dropped = dropped_like(ctx.op, units, p, dtype)
    if prm.get("rate_only"):
        kept = ~dropped
    else:
        kept = kept_like(units, x_value, a, b, dtype, budget).all(axis=1) if p < 1 else np.zeros(len(units), bool)
    n, k = int(kept.size), int((~kept).sum())
    p_value = stats.binom_p_value(k, n, p)
    if k:
        dropped_fate = "dropped value" if dropped[~kept].all() else label(units[~kept][~dropped[~kept]])
    elif p == 0:
        dropped_fate = "none dropped"
    else:
        # Nothing looks dropped though p > 0 (absent by chance with probability e^-RARE_UNITS): the dropped
        # units look kept, e.g. a NaN that stayed NaN, or -0.0 times a zero mask; their fate is the kept value
        dropped_fate = "dropped value" if dropped[0] else ("kept value" if np.isfinite(units[0]).all()
                                                           else label(units[0]))
    consistent = k == 0 or p_value > SWEEP_ALPHA
    wrong = "drop rate wrong" if prm.get("rate_only") else "kept value wrong"
    observed = {"in_dropped": dropped_fate if consistent else wrong,
                "dropped_share": round(k / n, 5)}
    conforms = consistent and dropped_fate in ("dropped value", "none dropped")
    if not consistent:
        sample = units[~kept][:1].ravel()[:1]
        message = (f"{k} of {n} units are not the kept value {float(a) * x_value + float(b):.6g} (share "
                   f"{k / n:.5f}, p = {p}, p-value {p_value:.3g}); e.g. {sample.tolist()}")
    else:
        message = f"{kind} input, p = {p}: dropped units hold {dropped_fate}; share {k / n:.5f}"
    sized = prm.get("delta_factor") is not None
    # With nothing looking dropped no rate was tested (the dropped units are indistinguishable from kept
    # ones): no p-value to report, so the report and the p-value monitor do not read a 0 that passed.
    return Verdict(conforms, observed, message, p_value=p_value if k or p == 0 else None, n=n,
                   warnings=obs.warnings,
                   min_detectable=stats.min_detectable(n, p, SWEEP_ALPHA) if sized and 0 < p < 1 else None)


def _values_shape(op: str, params: dict[str, Any]) -> list[int]:
    """Enough units for the rate test (one position per channel: a drop rate, sized by delta_factor),
    or for both outcomes to show (two positions: a channel is dropped whole or not)."""
    p, factor = params["p"], params.get("delta_factor")
    if factor is not None and 0 < p < 1:
        return unit_shape(op, sized_units(p, factor))
    return unit_shape(op, units_needed(p), 2 if op in CHANNEL_OPS else 1)


def sized_units(p: float, factor: float) -> int:
    """Units for a rate test at p sized to catch factor * rate_delta(p) (power 0.999 at SWEEP_ALPHA), and
    never fewer than units_needed(p); a power of two, like every sweep shape."""
    sized = stats.required_decisions(p, stats.rate_delta(p) * factor, SWEEP_ALPHA)
    return shared_size(max(sized, units_needed(p)))


# ------------------------------------------------------------------ unbiasedness

def bias_resolution(p: float, factor: float = 1.0) -> float:
    """The relative bias of E[y] the check resolves at p: the rate error its test is sized for, over 1 - p."""
    return stats.rate_delta(p) * factor / (1 - p)


def rate_tolerance(p: float, factor: float = 1.0) -> float:
    """The drop-rate error unbiasedness tolerates: half the rate error its resolution stands for. The
    drop rate itself is sweep-drop-rate's claim; here a rate error matters for the bias it adds."""
    return stats.rate_delta(p) * factor / 2


@check("unbiasedness", UnbiasednessParams, false_alarm=lambda params: SWEEP_ALPHA)
def unbiasedness(ctx: CheckContext) -> Verdict:
    """E[y] = x: the mean output over dropped and kept units together equals the input.

    With a constant input x = 1 every kept unit holds one value v and the mean is (n - k) v / n for k
    dropped units, so E[y] = (1 - q) v for the true drop rate q. Two parts, both needed:
    - the bias v leaves at rate p, (1 - p) v - 1, within bias_resolution(p): a scale rounded to the dtype
      passes only if its rounding leaves E[y] within it; at p = 2^-10 in bfloat16 it rounds to 1 and the
      bias is -p. Deterministic given v, so this part never hangs on chance or power.
    - the exact test that q lies within rate_tolerance(p) of p (an interval null, not a point null: a
      rate a little off, as float16 draws at p = 0.01 are, would otherwise fail at random once n is large).
      n is sized so that a rate off by delta_factor * rate_delta(p) beyond that tolerance fails with power
      0.999 at SWEEP_ALPHA; the verdict reports the rate error caught."""
    p, dtype, factor = ctx.params["p"], ctx.params.get("dtype", "float32"), ctx.params.get("delta_factor", 1.0)
    n_units = sized_units(p, factor)
    x = cast(np.ones(unit_shape(ctx.op, n_units)), dtype)
    obs = ctx.session().run(x, p)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout")
    units = by_unit(ctx.op, obs.y)[:, 0]
    dropped = units == 0
    kept_values = np.unique(units[~dropped])
    n, k = int(units.size), int(dropped.sum())
    if kept_values.size != 1:
        return Verdict(False, {"kept_values": kept_values.size},
                       f"{kept_values.size} distinct kept values for a constant input: {kept_values[:4].tolist()}")
    v = float(kept_values[0])
    bias = (1 - p) * v - 1
    tolerance = rate_tolerance(p, factor)
    p_value = stats.binom_tolerance_p_value(k, n, p, tolerance)
    resolution = bias_resolution(p, factor)
    observed = {"kept_value": v, "bias_at_p": float(f"{bias:.3g}"), "within_resolution": abs(bias) <= resolution,
                "rate_within_tolerance": p_value > SWEEP_ALPHA, "drop_rate": round(k / n, 6)}
    conforms = abs(bias) <= resolution and p_value > SWEEP_ALPHA
    return Verdict(conforms, observed,
                   f"kept value {v!r}, so E[y]/x = (1-p) v = 1 {bias:+.3g} at rate p (resolution "
                   f"{resolution:.2g}); dropped {k} of {n} (rate {k / n:.5f}; p {p:.5g} +- {tolerance:.2g} "
                   f"tolerated), p-value {p_value:.3g}",
                   p_value=p_value, n=n, min_detectable=tolerance + stats.min_detectable(n, p + tolerance, SWEEP_ALPHA),
                   warnings=obs.warnings)


# ------------------------------------------------------------------ gradients at p = 0 and p = 1

@check("edge-gradient", EdgeGradientParams)
def edge_gradient(ctx: CheckContext) -> Verdict:
    """d(sum y)/dx is exactly 1 everywhere at p = 0 (y = x) and exactly 0 at p = 1 (y = 0), whatever the
    input holds (NaN, Inf: the derivative of the formula does not depend on x)."""
    prm = ctx.params
    p, dtype, kind = prm["p"], prm.get("dtype", "float32"), prm.get("values", "finite")
    x = cast(np.full(unit_shape(ctx.op, MIN_UNITS, 2), special_value(kind, dtype)), dtype)
    obs = ctx.session().run(x, p, grad=True)
    if obs.error:
        return Verdict.unexpected_error(obs, "dropout with gradient")
    if obs.grad is None:
        return Verdict(False, {"gradient": "none"}, "no gradient returned")
    g = widen(obs.grad)
    want = 1.0 if p == 0 else 0.0
    ok = bool(np.all(g == want))
    # a stable summary for expectations: the distinct values, NaN first
    found = "nan" if np.isnan(g).any() else ""
    found = ", ".join(filter(None, [found, *(f"{v:g}" for v in np.unique(g[~np.isnan(g)])[:4])]))
    observed = {"gradient": found}
    return Verdict(ok, observed, f"gradient at p = {p} with {kind} input holds {found} "
                   f"(expected {want:g} everywhere)", warnings=obs.warnings)


# ------------------------------------------------------------------ input rank

def rank_claim(op: str, rank: int) -> tuple[list[int], int, list[int] | None]:
    """(shape, channel axis, axes the mask varies along; None: the rank is rejected) for the op at a rank,
    as PyTorch documents the family: element-wise ops take any shape ("Input: (*)"); a channel op takes
    (N, C, *spatial) or unbatched (C, *spatial) with its number of spatial axes, and nothing else.
    Shapes make a wrongly constant axis a < 1e-18 event (mask-axes' false alarm)."""
    batched = BATCHED_RANK[op]
    if op not in CHANNEL_OPS:
        shape = [4096] if rank == 1 else [32, 32, *[2] * (rank - 2)]
        return shape, 1, list(range(rank))
    if rank == batched:
        return [32, 32, *[2] * (rank - 2)], 1, [0, 1]
    if rank == batched - 1:
        return [64, *[2] * (rank - 1)], 0, [0]
    return ([4096] if rank == 1 else [32, 32, *[2] * (rank - 2)]), 1, None


def _rank_false_alarm(params: dict[str, Any]) -> float:
    """mask-axes' bound for the claim at this rank, the largest over the ops (a case's params lack its op)."""
    rank, p = params["rank"], params.get("p", 0.5)
    bounds = [_axes_false_alarm({"shape": shape, "claim_axes": claim, "p": p})
              for shape, _, claim in (rank_claim(op, rank) for op in BATCHED_RANK)]
    return max(bounds)


@check("rank-contract", RankParams, false_alarm=_rank_false_alarm)
def rank_contract(ctx: CheckContext) -> Verdict:
    """At each input rank the mask varies along the axes the op's documented input shapes give (element-wise:
    all; channel ops: N and C batched, C unbatched), and any other rank is rejected with an error."""
    p = ctx.params.get("p", 0.5)
    shape, channel_axis, claim = rank_claim(ctx.op, ctx.params["rank"])
    obs = ctx.session().run(np.ones(shape, dtype="float32"), p, channel_axis=channel_axis, any_shape=True)
    if obs.error:
        return Verdict(claim is None, obs.describe_error(), f"raised {obs.error}: {obs.error_message}",
                       warnings=obs.warnings)
    if tuple(obs.y.shape) != tuple(shape):
        return Verdict(False, {"shape": list(obs.y.shape)}, f"output shape {list(obs.y.shape)} for input {shape}")
    axes = varying_axes(kept_mask(ctx.op, obs.y, p))
    observed = {"varies_along": axes, "warned": bool(obs.warnings)}
    if claim is None:
        return Verdict(False, observed, f"accepted a {len(shape)}D input (mask varies along axes {axes}); "
                       "the claim is that this rank is rejected", warnings=obs.warnings)
    return Verdict(axes == claim, observed, f"mask varies along axes {axes}, claim: {claim}", warnings=obs.warnings)


def kept_mask(op: str, y: np.ndarray, p: float) -> np.ndarray:
    """Kept units of the output for an input of 1s: nonzero, or for alpha dropout above the midpoint between
    its kept value a + b and its dropped value a alpha' + b (1 > alpha', and a > 0)."""
    if op not in ALPHA_OPS:
        return widen(y) != 0
    a, b, dropped, _ = affine(op, p)
    return widen(y) > (float(a) + float(b) + dropped) / 2
