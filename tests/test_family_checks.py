"""The checks added for the dropout family: rank-generic non-finite channels, non-finite elements,
alpha-dropout gradients and non-finite units. Each must pass a correct implementation and fail the
plausible wrong one (multiplying by the mask lets NaN through), so none of them cannot fail."""
from __future__ import annotations

import numpy as np
import pytest

from conformance.checks.alpha import ALPHA_PRIME, alpha_constants
from conformance.function_adapter import function_adapter
from conformance.record import Status
from conformance.runner import expand, run_case
from conformance.spec import load_all
from conformance.targets import targets_for

OPS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
CHANNEL_OPS = ("dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout")


def _keep(x: np.ndarray, p: float, seed: int, channels: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if channels:
        return (rng.random(x.shape[:2]) >= p).reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    return rng.random(x.shape) >= p


def make(kind: str):
    """A NumPy dropout family; kind 'select' is correct, 'multiply' applies the mask by multiplication,
    'zero_all_nan' also zeroes every NaN (kept ones included), 'grad_inverse' has a wrong alpha gradient."""
    state = {}

    def fn(x, p, *, training, seed):
        if not training:
            return x
        op = state["op"]
        keep = _keep(x, p, seed, op in CHANNEL_OPS)
        if "alpha" in op:
            a, b, dropped = alpha_constants(p)
            if kind == "multiply":
                y = a * (x * keep + ALPHA_PRIME * ~keep) + b
            else:
                y = np.where(keep, a * x + b, dropped)
        else:
            scale = 1.0 / (1.0 - p)
            y = x * keep * scale if kind == "multiply" else np.where(keep, x * scale, 0.0)
            if kind == "zero_all_nan":
                y = np.where(np.isnan(y), 0.0, y)
        return np.asarray(y).astype(x.dtype)

    def grad_fn(x, p, *, training, seed, grad_output):
        op = state["op"]
        keep = _keep(x, p, seed, op in CHANNEL_OPS)
        g = alpha_constants(p)[0] if "alpha" in op and kind != "grad_inverse" else 1.0 / (1.0 - p)
        return np.where(keep, grad_output * g, 0.0).astype(x.dtype)

    return fn, grad_fn, state


def results(spec_id: str, kind: str) -> list[dict]:
    spec = next(s for s in load_all()[0] if s.id == spec_id)
    fn, grad_fn, state = make(kind)
    adapter = function_adapter(fn, name=f"family-{kind}", ops=OPS, grad_fn=grad_fn,
                               expectations_from=None, strict=True)
    target = targets_for(adapter, f"family-{kind}.py:adapter")[0]
    out = []
    for case in expand(spec, target):
        state["op"] = case.op
        out.append(run_case(case, "family"))
    return out


NON_FINITE = ["channel-dropout-non-finite", "dropout-non-finite", "alpha-dropout-non-finite"]


@pytest.mark.parametrize("spec_id", NON_FINITE)
def test_non_finite_checks_pass_a_select_and_fail_a_multiplication(spec_id: str) -> None:
    for record in results(spec_id, "select"):
        assert record.status is Status.PASS, (record.id, record.message)
    for record in results(spec_id, "multiply"):
        assert record.status is Status.FAIL, (record.id, record.message)
        assert {record.observed[f"{k}_in_dropped"] for k in ("nan", "inf", "neg_inf")} == {"nan"}


def test_non_finite_channel_check_reads_every_rank() -> None:
    """Kept channels keep their NaN/Inf, read at the first spatial position of 3D, 4D and 5D inputs."""
    records = results("channel-dropout-non-finite", "select")
    assert {r.op for r in records} == {"dropout1d", "dropout2d", "dropout3d"}
    for record in records:
        assert record.observed == {"nan_in_dropped": "zero", "nan_in_kept": "nan", "inf_in_dropped": "zero",
                            "inf_in_kept": "inf", "neg_inf_in_dropped": "zero", "neg_inf_in_kept": "inf"}


def test_non_finite_elements_rejects_zeroing_every_nan() -> None:
    """Zeroing kept NaN too makes far more than a share p of NaN elements change: the count test fails."""
    for record in results("dropout-non-finite", "zero_all_nan"):
        assert record.status is Status.FAIL and record.observed["nan_in_dropped"] == "mixed"
        assert record.observed["nan_dropped_share"] == 1.0


def test_alpha_gradient_passes_a_and_fails_the_plain_dropout_scale() -> None:
    assert all(r.status is Status.PASS for r in results("alpha-dropout-gradient", "select"))
    for record in results("alpha-dropout-gradient", "grad_inverse"):
        assert record.status is Status.FAIL and record.observed["max_error_eps"] > 8


def test_an_informational_spec_on_an_op_not_offered_is_skipped() -> None:
    """A third-party adapter implementing only dropout2d skips the informational non-finite specs of the
    other ops (it used to be reported as a stale expectation)."""
    from adapters.reference import reference_dropout2d
    adapter = function_adapter(reference_dropout2d, name="third-party")
    target = targets_for(adapter, "third-party.py:adapter")[0]
    spec = next(s for s in load_all()[0] if s.id == "channel-dropout-non-finite")
    assert spec.contract == "informational"
    others = [case for case in expand(spec, target) if case.op != "dropout2d"]
    assert others and {run_case(case, "family").status for case in others} == {"skipped"}
