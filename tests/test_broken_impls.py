"""The suite must fail every deliberately broken implementation, for the behaviour its bug breaks.

Each broken module in tests/broken/ runs through the real CLI, as a third party would run
their own adapter. For each we assert: exit code 1; results.json records a "fail" for the
behaviour the bug breaks (and, where it matters for power, for a named case); the CLI summary
names that behaviour; and nothing outside the bug's declared reach fails or errors, so the
failures are specific. The reference and a correct third-party copy of it must pass.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

import pytest
from conftest import CliRun

from conformance.record import Status

SALT = "fixed"


@dataclass(frozen=True)
class Breaks:
    behavior: str  # the behaviour the bug breaks: must have a "fail" result
    must_fail: str = "*"  # glob over result ids: at least one failing result matches
    also: frozenset[str] = field(default_factory=frozenset)  # side effects allowed to fail too


def breaks(behavior: str, must_fail: str = "*", also: tuple[str, ...] = ()) -> Breaks:
    return Breaks(behavior, must_fail, frozenset(also))


# Side effects, where listed, follow from the bug (e.g. a mask shared across the batch also no
# longer varies along N, which the input-rank and layout specs see). Masks with fewer decisions
# can keep nothing at p = 0.999, which the scaling check reports as a failure.
BROKEN = {
    # A rate wrong everywhere is wrong at each index too, which rate-homogeneity tests.
    # The sweep's unit tests (input-values, unbiasedness) include a rate test at p, so a wrong rate fails
    # them too, as does anything that makes decisions dependent (a shared mask) or partial (a mixed channel).
    "keep_with_p": breaks("drop-rate", "*drop-rate*p0.1]", ("p-edges", "rate-homogeneity", "input-values",
                                                            "unbiasedness")),
    # An error of 0.01 is five times what the drop-rate test is sized for (0.002 with power 0.999).
    "rate_plus_001": breaks("drop-rate", "*drop-rate*p0.5]", ("scaling", "rate-homogeneity", "input-values",
                                                              "unbiasedness")),
    # A wrong scale is a wrong kept value (input-values) and a biased mean (unbiasedness).
    "scale_inverse_p": breaks("scaling", "*scaling*p0.1-float32]", ("input-values", "unbiasedness")),
    "no_scaling": breaks("scaling", "*scaling*p0.5-float32]", ("input-values", "unbiasedness")),
    "elementwise": breaks("channel-granularity", also=("drop-rate", "input-rank", "layout", "non-finite",
                                                       "input-values")),
    # Shared masks repeat one row (or column) of decisions: per-index rates are 0 or 1 and two seeds'
    # streams are periodic, so rate-homogeneity and the seed tests (which need i.i.d. decisions) fail too;
    # the mask no longer varies along N (or C), which channel-dropout-mask-axes sees.
    "batch_shared_mask": breaks("independence", "*independence*batch*",
                                ("channel-granularity", "drop-rate", "input-rank", "layout", "scaling",
                                 "rate-homogeneity", "seeding", "input-values", "unbiasedness")),
    "channel_shared_mask": breaks("independence", "*independence*channel*",
                                  ("channel-granularity", "drop-rate", "input-rank", "layout", "scaling",
                                   "rate-homogeneity", "seeding", "input-values", "unbiasedness")),
    "mask_reused": breaks("independence", "*independence*calls*", ("seeding",)),
    "active_in_eval": breaks("eval-identity"),
    "p_not_validated": breaks("p-validation"),
    "multiplicative_mask": breaks("p-edges", "*p-one*", ("non-finite", "input-values")),
    "global_rng": breaks("seeding"),
    # Half-precision output for every input: float16 has no subnormal for a bfloat16 one, and no
    # longer rounds the small-p scale to 1 (so the bfloat16 bias expected of everyone is gone).
    "half_output": breaks("dtype", "*channel-dropout-dtype*float32*", ("scaling", "input-values", "unbiasedness")),
    "drops_along_h": breaks("channel-granularity", also=("drop-rate", "independence", "input-rank",
                                                         "layout", "non-finite", "scaling", "rate-homogeneity",
                                                         "seeding", "input-values", "unbiasedness")),
    "inplace_ignored": breaks("inplace"),
    # Successive calls read one stream at seed-dependent offsets: position-aligned pairs look
    # independent; the lag scan of the calls independence check catches it. With one stream for all
    # seeds, distinct seeds share windows too (seeding).
    "offset_stream": breaks("independence", "*independence*calls*", ("seeding",)),
    # The drop-rate test is sized to catch 0.002 (absolute) with power 0.999; p = 0.5 needs the most
    # data. At p = 0.999 the threshold p + 0.002 passes 1: nothing is kept, which scaling reports.
    "rate_plus_0002": breaks("drop-rate", "*drop-rate*p0.5]", ("scaling", "input-values", "unbiasedness")),
    # Off by 10% of p, only below p = 0.02: the drop-rate test at p = 2^-10 is sized for that.
    "rate_small_p_relative": breaks("drop-rate", "*drop-rate*p0.000976562]", ("unbiasedness",)),
    # Rate p +- 0.05 at the first/last index, cancelling in the pooled rate (drop-rate passes).
    "rate_varies_by_channel": breaks("rate-homogeneity", "*rate-homogeneity*channel*"),
    "rate_varies_by_sample": breaks("rate-homogeneity", "*rate-homogeneity*batch*"),
    # 4096 streams in all: birthday collisions among the 1024 seeds of seed-collisions.
    "seed_low_bits": breaks("seeding", "*seed-collisions*"),
    # Seeds s and s + 1 read one stream shifted by one: the lag scan of seed-independence (and
    # seed-collisions, which sees the windows shared by consecutive seeds) catches it.
    "seed_as_offset": breaks("seeding", "*seed-independence*"),
    "squeeze_unit_batch": breaks("shape", "*unit-axes*"),
    # Kept values within a bfloat16 rounding of x / (1 - p): biased by -0.23% at p = 0.01 in every dtype.
    "scale_in_bfloat16": breaks("unbiasedness", "*unbiasedness*float32*p0.01]", ("scaling", "input-values")),
    # p = 0 runs the same flushing path: the p-edges identity on subnormals fails too.
    "flush_subnormals": breaks("input-values", "*input-values*float32*valuessubnormal]", ("p-edges",)),
    # Inf * 0 where x / (1 - p) overflows: near the maximum at p > 1/2, and for NaN or Inf inputs.
    "scale_then_mask": breaks("input-values", "*input-values*float32-p0.9-*valuesnear_max]",
                              ("non-finite", "p-edges")),
}


def run_adapter(cli, module: str) -> CliRun:
    return cli("--adapter", f"tests/broken/{module}.py:adapter", "--salt", SALT)


def summary_row(stdout: str, behavior: str) -> str:
    """The line of the CLI's per-behaviour table for `behavior` ('' if absent)."""
    match = re.search(rf"^{re.escape(behavior)}\s+.*$", stdout, flags=re.MULTILINE)
    return match.group(0) if match else ""


def assert_caught(run: CliRun, expected: Breaks) -> None:
    assert run.returncode == 1, f"exit {run.returncode}, expected 1\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    bad = [r for r in run.results if not r.status.ok]
    failed = [r for r in bad if r.behavior == expected.behavior and r.status is Status.FAIL]
    assert failed, f"no 'fail' for {expected.behavior}; unexpected outcomes: {[r.id for r in bad]}"
    assert any(fnmatch.fnmatchcase(r.id, expected.must_fail) for r in failed), \
        f"no failing {expected.behavior} result matches {expected.must_fail}: {[r.id for r in failed]}"
    assert re.search(r"\b\d+F\b", summary_row(run.stdout, expected.behavior)), \
        f"the CLI summary does not report failures for {expected.behavior}:\n{run.stdout}"
    assert failed[0].id in run.stdout, "the CLI does not list the failing test"
    allowed = {expected.behavior} | expected.also
    stray = sorted({f"{r.behavior}:{r.status}" for r in bad
                    if r.behavior not in allowed or r.status is Status.ERROR})
    assert not stray, f"outcomes outside the bug's reach: {stray}"


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(BROKEN))
def test_broken_implementation_is_caught(cli, module: str) -> None:
    assert_caught(run_adapter(cli, module), BROKEN[module])


def assert_clean(run: CliRun) -> None:
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    unexpected = {r.status.value for r in run.results if not r.status.ok}
    assert not unexpected, f"unexpected statuses {unexpected}"
    assert "gate: PASS" in run.stdout


@pytest.mark.slow
def test_reference_passes(cli) -> None:
    run = cli("--framework", "reference", "--salt", SALT)
    assert_clean(run)
    assert sum(r.status is Status.PASS for r in run.results) > 50


@pytest.mark.slow
def test_correct_third_party_copy_is_held_to_reference_expectations(cli) -> None:
    """A function adapter with no expectations of its own inherits the reference's divergences."""
    run = cli("--adapter", "tests/broken/control_reference_copy.py:adapter", "--salt", SALT)
    assert_clean(run)
    diverged = {r.spec for r in run.results if r.status is Status.EXPECTED_DIVERGENCE}
    assert {"dropout2d-3d-unbatched", "dropout2d-rank1", "dropout2d-rank2", "dropout2d-rank5",
            "dropout2d-layout-nhwc"} <= diverged
    assert all(r.framework == "thirdparty-copy" for r in run.results)


def test_every_broken_module_is_listed() -> None:
    """A new module in tests/broken/ must get an entry here (or it would silently go untested)."""
    from conftest import REPO
    modules = {p.stem for p in (REPO / "tests" / "broken").glob("*.py")
               if not p.stem.startswith("_")} - {"control_reference_copy"}
    assert modules == set(BROKEN)
    assert len(BROKEN) >= 10
