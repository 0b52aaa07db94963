"""Statistics for random masks: exact tests on channel decisions, sized from a power target.

Design (see shared/design/statistics.md): every statistical assertion is an exact test at
ALPHA; the whole-run false-alarm probability is bounded by the sum of the per-assertion
false-alarm probabilities (Bonferroni: valid whatever the dependence between assertions).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats

# Per statistical assertion. The whole run is the full matrix (`tox -m full`, CI's gate): about 30 execution
# targets of up to ~60 assertions each at this alpha, plus the sweep's at SWEEP_ALPHA, must stay below
# RUN_BOUND_TARGET. At 1e-9 the matrix summed to 1.1e-6 once its 20th implementation was added.
ALPHA = 1e-10
POWER = 0.999  # probability of catching a drop rate off by rate_delta(p)
DELTA = 0.002  # absolute drop-rate error that must be caught ...
SMALL_P = 0.02  # ... or, below this p, a relative error of
RELATIVE_DELTA = 0.1  # 10% of p
RUN_BOUND_TARGET = 1e-6


def rate_delta(p: float) -> float:
    """The drop-rate error the rate test must catch at p: 0.002 absolute, or 10% of p when p < 0.02."""
    return RELATIVE_DELTA * p if 0.0 < p < SMALL_P else DELTA


def binom_p_value(k: int, n: int, p0: float) -> float:
    """Exact two-sided (equal-tailed) binomial test: 2 * min(P(X <= k), P(X >= k))."""
    return float(binom_p_values(np.asarray(k), n, p0))


def binom_p_values(k: np.ndarray, n: int, p0: float) -> np.ndarray:
    """binom_p_value for an array of counts k, each out of n."""
    if p0 <= 0.0:
        return np.where(k == 0, 1.0, 0.0)
    if p0 >= 1.0:
        return np.where(k == n, 1.0, 0.0)
    lower = stats.binom.cdf(k, n, p0)
    upper = stats.binom.sf(k - 1, n, p0)
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper))


def binom_tolerance_p_value(k: int, n: int, p0: float, tolerance: float) -> float:
    """Exact test of H0: the true rate lies within p0 +- tolerance. Twice the tail of k beyond the nearer
    end of that interval (1 inside it), so at every rate in the interval it rejects with probability at
    most alpha: a rate the claim tolerates never fails by more than chance however large n grows."""
    lo, hi = max(0.0, p0 - tolerance), min(1.0, p0 + tolerance)
    if k > n * hi:
        tail = stats.binom.sf(k - 1, n, hi)
    elif k < n * lo:
        tail = stats.binom.cdf(k, n, lo)
    else:
        return 1.0
    return float(min(1.0, 2.0 * tail))


@lru_cache(maxsize=None)
def _rejection_bounds(n: int, p0: float, alpha: float) -> tuple[int, int]:
    """(k_lo, k_hi): reject when k <= k_lo or k >= k_hi."""
    half = alpha / 2
    k_lo = int(stats.binom.ppf(half, n, p0))
    while k_lo >= 0 and stats.binom.cdf(k_lo, n, p0) > half:
        k_lo -= 1
    k_hi = int(stats.binom.isf(half, n, p0))
    while stats.binom.sf(k_hi - 1, n, p0) > half:
        k_hi += 1
    return k_lo, k_hi


def power(n: int, p0: float, delta: float, alpha: float = ALPHA) -> float:
    """Smallest power against a true rate p0 - delta or p0 + delta (where those lie in [0, 1])."""
    k_lo, k_hi = _rejection_bounds(n, p0, alpha)
    powers = []
    for p1 in (p0 - delta, p0 + delta):
        if 0.0 <= p1 <= 1.0:
            powers.append(stats.binom.cdf(k_lo, n, p1) + stats.binom.sf(k_hi - 1, n, p1))
    return float(min(powers))


@lru_cache(maxsize=None)
def required_decisions(p0: float, delta: float | None = None, alpha: float = ALPHA, target: float = POWER) -> int:
    """Smallest n (to within 0.5%) whose exact test has the target power against p0 +- delta
    (default: rate_delta(p0))."""
    delta = rate_delta(p0) if delta is None else delta
    if p0 <= 0.0 or p0 >= 1.0:
        # Degenerate null: a single wrong decision refutes it; n with (1-delta)^n <= 1-target.
        return math.ceil(math.log(1 - target) / math.log(1 - delta))
    z = stats.norm.isf(alpha / 2) + stats.norm.isf(1 - target)
    spread = max(math.sqrt(p0 * (1 - p0)), math.sqrt(max(p0 + delta, 1e-12) * max(1 - p0 - delta, 1e-12)))
    n = max(64, int((z * spread / delta) ** 2 * 0.9))
    while power(n, p0, delta, alpha) < target:
        n = int(n * 1.005) + 1
    return n


@lru_cache(maxsize=None)  # 40 exact power evaluations; cases of every op, dtype and form share (n, p0)
def min_detectable(n: int, p0: float, alpha: float = ALPHA, target: float = POWER) -> float:
    """Smallest |deviation| of the drop rate caught with the target power at sample size n."""
    if p0 <= 0.0 or p0 >= 1.0:
        return 1 - (1 - target) ** (1 / n)
    lo, hi = 0.0, max(p0, 1 - p0)
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if power(n, p0, mid, alpha) >= target else (mid, hi)
    return hi


def per_position_p_values(dropped: np.ndarray, p0: float) -> np.ndarray:
    """Exact two-sided binomial p-value of each position's drop count (dropped: positions x trials)."""
    return binom_p_values(dropped.sum(axis=1), dropped.shape[1], p0)


def fisher_pairs(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """Two-sided Fisher exact test of independence between paired boolean decisions."""
    a, b = a.ravel().astype(bool), b.ravel().astype(bool)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 1.0, table  # a constant margin carries no evidence about dependence
    return float(stats.fisher_exact(table).pvalue), table


def _bernstein_two_sided(t: np.ndarray, draws: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Bound on P(|X - E X| >= t) for a hypergeometric count X of `draws` draws from a population
    with success share `share`: Bernstein's inequality, valid without replacement by Hoeffding (1963, Thm 4)."""
    var = draws * share * (1 - share)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = 2 * np.exp(-t * t / (2 * (var + t / 3)))
    return np.where(t > 0, np.minimum(bound, 1.0), 1.0)


def lag_scan(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Smallest p-value bound over lags 1..max_lag in both directions between two decision sequences.

    Catches a stream reused at an offset (b[j] == a[j + lag]), which position-aligned pairs miss.
    At each lag the overlapping pairs are i.i.d. under independence, so their 1-1 count is
    hypergeometric given the margins; counts for all lags come from one FFT cross-correlation.
    Returns (bound, lag); lag > 0 pairs a[j + lag] with b[j], lag < 0 pairs a[j] with b[j - lag].
    """
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    n, lags = a.size, np.arange(1, max_lag + 1)
    size = 1 << (2 * n - 1).bit_length()
    cross = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    ca, cb = np.concatenate([[0.0], np.cumsum(a)]), np.concatenate([[0.0], np.cumsum(b)])
    pairs = n - lags
    best, best_lag = 1.0, 0
    for sign, both, ka, kb in ((1, cross[lags], ca[n] - ca[lags], cb[n - lags]),
                               (-1, cross[size - lags], ca[n - lags], cb[n] - cb[lags])):
        t = np.abs(np.rint(both) - ka * kb / pairs)
        bound = np.minimum(_bernstein_two_sided(t, kb, ka / pairs), _bernstein_two_sided(t, ka, kb / pairs))
        i = int(np.argmin(bound))
        if bound[i] < best:
            best, best_lag = float(bound[i]), sign * int(lags[i])
    return best, best_lag


def detectable_correlation(n_pairs: int, alpha: float = ALPHA, target: float = POWER) -> float:
    """Approximate smallest |phi| between paired decisions caught with the target power."""
    z = stats.norm.isf(alpha / 2) + stats.norm.isf(1 - target)
    return min(1.0, z / math.sqrt(n_pairs))


def all_equal_probability(p: float, n: int) -> float:
    """P(two independent masks of n decisions at rate p coincide) = (p^2 + (1-p)^2)^n."""
    return float((p * p + (1 - p) * (1 - p)) ** n)
