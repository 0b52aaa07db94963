"""Declared false-alarm probabilities are correct: checked against enumeration and simulation on
cases small enough for the chance event to be common, and summed over the whole matrix."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sp

from conformance import stats
from conformance.checks import CHECKS, CheckContext
from conformance.checks.alpha import _mode_misread
from conformance.checks.masks import _collision_false_alarm, varying_axes
from conformance.spec import load_all

from adapters.reference import make_adapter


def simulated_fail_rate(check: str, params: dict, runs: int) -> tuple[int, int]:
    """How often `check` fails the (correct) NumPy reference over `runs` seeds."""
    adapter = make_adapter()
    device = adapter.devices()[0]
    fails = sum(not CHECKS[check].fn(CheckContext(adapter, device, "eager", "dropout2d", params, seed)).conforms
                for seed in range(runs))
    return fails, runs


def assert_rate_matches(fails: int, runs: int, declared: float, exact_rate: float | None = None) -> None:
    """The observed rate does not exceed the declared bound (and matches the exact rate, if given):
    two-sided 1e-6 Clopper-Pearson interval, so this test itself fails by chance below 1e-6."""
    low, high = sp.binomtest(fails, runs).proportion_ci(confidence_level=1 - 1e-6, method="exact")
    assert low <= declared, f"{fails}/{runs} failures: more than the declared {declared:.4g}"
    if exact_rate is not None:
        assert low <= exact_rate <= high, f"{fails}/{runs} failures, exact rate {exact_rate:.4g}"


def test_scaling_declares_the_chance_that_nothing_is_kept() -> None:
    params = {"shape": [2, 2, 1, 1], "p": 0.5, "dtype": "float32"}
    declared = CHECKS["scaling"].false_alarm(params)
    assert declared == 0.5 ** 4
    assert_rate_matches(*simulated_fail_rate("scaling", params, 1600), declared, exact_rate=declared)


def test_mask_axes_declares_the_chance_that_a_varying_axis_looks_constant() -> None:
    """Enumerated exactly on a 3 x 2 mask at p = 0.3, then simulated: the declared value is the union
    bound of the two axes' probabilities, and the true rate lies between the larger one and it."""
    params = {"shape": [3, 2, 1, 1], "p": 0.3, "claim_axes": [0, 1]}
    declared = CHECKS["mask-axes"].false_alarm(params)
    p = params["p"]
    exact = 0.0
    for bits in itertools.product([0, 1], repeat=6):
        mask = np.array(bits).reshape(3, 2)
        if varying_axes(mask) != [0, 1]:
            exact += math.prod(p if b == 0 else 1 - p for b in bits)
    axis0, axis1 = (p ** 3 + (1 - p) ** 3) ** 2, (p ** 2 + (1 - p) ** 2) ** 3
    assert declared == pytest.approx(axis0 + axis1)
    assert max(axis0, axis1) <= exact <= declared
    assert_rate_matches(*simulated_fail_rate("mask-axes", params, 1200), declared, exact_rate=exact)


def test_seed_collision_bound_counts_every_pair_of_windows() -> None:
    params = {"seeds": 3, "decisions": 5, "window": 4, "p": 0.5}
    # 3 pairs of seeds x 2 x 2 window offsets x 2^-4
    assert _collision_false_alarm(params) == pytest.approx(3 * 4 / 16)
    spec_params = next(s.params for s in load_all()[0] if s.id == "dropout2d-seed-collisions")
    assert _collision_false_alarm(spec_params) < 1e-25


def test_seed_collisions_fail_at_the_declared_rate_on_tiny_streams() -> None:
    """With 8 seeds x 12 decisions and 6-decision windows, chance coincidences are common; the
    check's failure rate stays under the declared bound."""
    params = {"seeds": 8, "decisions": 12, "window": 6, "p": 0.5}
    declared = _collision_false_alarm(params)
    fails, runs = simulated_fail_rate("seed-collisions", params, 300)
    assert fails > 0  # the event is real at this size: the check is not blind
    assert_rate_matches(fails, runs, min(declared, 1.0))


def test_mode_misread_is_negligible_for_the_spec_sizes_and_real_for_tiny_ones() -> None:
    assert _mode_misread(8192, 2048, 0.2) < 1e-100
    assert _mode_misread(4, 4, 0.5) > 0.01


def test_every_case_declares_a_probability_and_the_full_matrix_stays_below_target() -> None:
    """Each case's false alarm is a probability; summed over the 15 execution targets of
    `tox -m full` on a CPU machine it stays below the whole-run target of 1e-6."""
    specs, errors = load_all()
    assert not errors
    per_target = 0.0
    for spec in specs:
        for params in spec.expanded_cases():
            value = CHECKS[spec.check].false_alarm(params)
            assert 0.0 <= value <= 1.0, (spec.id, params, value)
            per_target += value
    full_matrix_targets = 15  # torch, mlx, jax x 2 modes; tfjs, tensorflow, keras x 2, paddle x 3, tinygrad, ort
    assert full_matrix_targets * per_target < stats.RUN_BOUND_TARGET
