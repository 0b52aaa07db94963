"""One test case end to end: spec case -> adapter call -> observation -> check -> result record.

A result record is one entry of results.json's "results" (schema: conformance/results.schema.json).
"""
from __future__ import annotations

import math
import shlex
import zlib
from dataclasses import dataclass, replace
from typing import Any, Sequence

from .api import Adapter, Device, NotOffered
from .checks import CHECKS, CheckContext, OutputShapeMismatch, Verdict
from .expectations import Expectation, ExpectationBook
from .record import Result, Status
from .seeding import derive_seed
from .spec import Spec, param_label

_UNPREFIXED = ("dtype", "form", "axis")


@dataclass(frozen=True)
class Target:
    adapter: Adapter
    adapter_ref: str  # how the command line named it: a framework name or PATH.py:NAME
    device: Device
    mode: str

    @property
    def label(self) -> str:
        return f"{self.adapter.name}-{self.device.label}-{self.mode}"

    def record(self) -> dict[str, Any]:
        return {"framework": self.adapter.name, "version": self.adapter.version(),
                "device": self.device.label, "device_kind": self.device.kind,
                "device_name": self.device.name, "backend": self.device.backend,
                "driver": self.device.driver, "mode": self.mode, "layout": self.adapter.layout}


@dataclass(frozen=True)
class Case:
    spec: Spec
    op: str
    params: dict[str, Any]  # the case's parameters but the op
    target: Target

    @property
    def test_id(self) -> str:
        parts = [self.target.label]
        if len(self.spec.ops) > 1:
            parts.append(self.op)
        for key in self.spec.grid:
            if key != "op":
                value = self.params[key]
                parts.append(param_label(value) if key in _UNPREFIXED else f"{key}{param_label(value)}")
        for key in _distinguishing_keys(self.spec, self.op):
            parts.append(f"{key}{param_label(self.params[key])}")
        return f"{self.spec.id}[{'-'.join(parts)}]"

    @property
    def false_alarm(self) -> float:
        return CHECKS[self.spec.check].false_alarm(self.params)

    def shard(self, count: int) -> int:
        """Which of `count` shards runs this case. Cases with one op, dtype and p, in any spec, go
        to one shard: in a compiled mode they share compiled graphs, which that shard alone compiles."""
        key = f"{self.op}|{self.params.get('dtype')}|{self.params.get('p')}"
        return zlib.crc32(key.encode()) % count


def _distinguishing_keys(spec: Spec, op: str) -> list[str]:
    """Keys of the explicit cases that tell this op's cases apart (a key that only follows the
    op, such as each op's shape, adds nothing to the id)."""
    rows = [case for case in spec.cases if case.get("op", spec.params.get("op")) in (op, None)]
    keys = dict.fromkeys(k for case in rows for k in case if k != "op" and k not in spec.grid)
    return [k for k in keys if len(rows) > 1]


def expand(spec: Spec, target: Target) -> list[Case]:
    return [Case(spec, op, params, target) for op, params in spec.op_cases]


def reproduce_command(case: Case, salt: str, expectation_files: list[str] = ()) -> str:
    t = case.target
    who = f"--adapter {shlex.quote(t.adapter_ref)}" if ":" in t.adapter_ref else f"--framework {t.adapter_ref}"
    files = [f"--expectations {shlex.quote(f)}" for f in expectation_files]
    return " ".join(["python -m conformance run", who, f"--device {t.device.label}", f"--mode {t.mode}",
                     f"--spec {shlex.quote(case.test_id)}", f"--salt {salt}", *files])


def _subset(expected: dict[str, Any], observed: dict[str, Any]) -> bool:
    return all(observed.get(k) == v for k, v in expected.items())


def decide(verdict: Verdict | None, expectation: Expectation, not_offered: str | None,
           inherited: bool = False) -> tuple[Status, str]:
    """Status and message from what was seen and what the spec expects. A divergence expected by a file
    a family shares (`inherited`) may cover a form or feature one member lacks: not offered there is no
    stale entry, while an implementation's own entry on a feature it does not offer is."""
    if not_offered is not None:
        if expectation.outcome in ("not-offered", "conforms", "informational") or inherited:
            return Status.SKIPPED, f"not offered: {not_offered}"
        return Status.STALE_EXPECTATION, f"expected a divergence but the feature is not offered: {not_offered}"
    assert verdict is not None
    if expectation.outcome == "informational":
        return (Status.PASS if verdict.conforms else Status.EXPECTED_DIVERGENCE), verdict.message
    if expectation.outcome == "not-offered":
        return Status.STALE_EXPECTATION, "expected 'not offered' but it ran; update the spec"
    if expectation.outcome == "conforms":
        return (Status.PASS if verdict.conforms else Status.FAIL), verdict.message
    if verdict.conforms:
        return Status.STALE_EXPECTATION, f"expected a divergence ({expectation.reason}) but it now conforms: " \
                                         f"{verdict.message}; update the expectation"
    if expectation.observed and not _subset(expectation.observed, verdict.observed):
        return Status.FAIL, f"diverges, but not as expected (expected {expectation.observed}): {verdict.message}"
    return Status.EXPECTED_DIVERGENCE, verdict.message


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def expectation_for(case: Case, book: ExpectationBook) -> tuple[Expectation, str]:
    """The expectation that applies to a case and the key of the entry it came from."""
    t = case.target
    return book.lookup(case.spec, case.op, case.params, t.adapter.name, t.adapter.expectations_from,
                       t.adapter.strict, t.device.label, t.mode, t.adapter.version())


def case_record(case: Case, salt: str, book: ExpectationBook | None = None,
                expectation_files: Sequence[str] = ()) -> Result:
    """The case's record before it runs: what it is, what applies, how to replay it. Its status is
    `error` until the case finishes, so a case that takes its process down keeps everything else."""
    return _blank_record(case, salt, *expectation_for(case, book or ExpectationBook.shipped()), expectation_files)


def _blank_record(case: Case, salt: str, expectation: Expectation, expectation_source: str,
                  expectation_files: Sequence[str]) -> Result:
    t = case.target
    return Result(
        id=case.test_id, spec=case.spec.id, behavior=case.spec.behavior, op=case.op,
        framework=t.adapter.name, device=t.device.label, mode=t.mode, params=case.params,
        status=Status.ERROR, message="the case did not finish",
        expected={**expectation.as_record(), "source": expectation_source},
        false_alarm=case.false_alarm, seed=derive_seed(salt, case.test_id),
        reproduce=reproduce_command(case, salt, list(expectation_files)),
    )


def run_case(case: Case, salt: str, book: ExpectationBook | None = None,
             expectation_files: Sequence[str] = ()) -> Result:
    """Run one case; never raises for a framework's misbehaviour (that becomes the result)."""
    book = book or ExpectationBook.shipped()
    expectation, expectation_source = expectation_for(case, book)
    record = _blank_record(case, salt, expectation, expectation_source, expectation_files)
    t = case.target
    verdict, not_offered, status, message = None, None, None, ""
    if case.op not in t.adapter.ops():  # the engine skips unlisted ops; no expectation outranks ops()
        status, message = Status.SKIPPED, f"not offered: {t.adapter.name} offers no {case.op}"
    else:
        try:
            ctx = CheckContext(t.adapter, t.device, t.mode, case.op, case.params, record.seed)
            verdict = CHECKS[case.spec.check].fn(ctx)
        except NotOffered as exc:
            not_offered = str(exc)
        except OutputShapeMismatch as exc:
            verdict = Verdict(False, {"shape_mismatch": str(exc)}, str(exc))
        except Exception as exc:  # noqa: BLE001 - a crash in the adapter or check is an 'error' result
            status, message = Status.ERROR, f"{type(exc).__name__}: {exc}"
    if status is None:
        status, message = decide(verdict, expectation, not_offered,
                                 book.inherited(expectation_source, t.adapter.name))
    if verdict is None:
        return replace(record, status=status, message=message)
    return replace(record, status=status, message=message, observed=verdict.observed, warnings=verdict.warnings,
                   p_value=_finite(verdict.p_value), n=verdict.n, min_detectable=_finite(verdict.min_detectable))
