"""Expectation files: per-implementation expectations kept apart from the specs.

An adopter's CI keeps its own file and passes it with ``--expectations FILE``; its entries take
precedence over the specs' own ``expect:`` entries. Entries that match no case of the run are
reported (a stale expectation file is a finding too). ``--update-expectations FILE`` writes the
observed divergences of a run in this format, for review.

    framework: mydrop            # default for entries that name none
    expectations:
      - spec: dropout2d-non-finite   # spec id or glob
        outcome: diverges
        reason: our kernel multiplies by the mask, so 0 * NaN stays NaN
        issue: https://github.com/me/mydrop/issues/1
        observed: {nan_in_dropped: nan}
        when: {mode: [compiled]}
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .record import Result, Status
from .spec import Expectation, When, _matches


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: str = Field(min_length=1)
    framework: str | None = None
    outcome: str
    reason: str | None = None
    issue: str | None = None
    observed: dict[str, Any] | None = None
    when: When | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    framework: str | None = None
    expectations: list[_Entry] = Field(default_factory=list)


class ExpectationFileError(Exception):
    pass


@dataclass(frozen=True)
class Override:
    key: str  # FILE#index, to report entries that matched nothing
    spec: str
    framework: str
    expectation: Expectation


def load_expectation_file(path: Path) -> list[Override]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = _File.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ExpectationFileError(f"{path}: cannot read expectations: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ExpectationFileError(f"{path}: field {where!r}: {first['msg']}") from exc
    overrides = []
    for index, entry in enumerate(parsed.expectations):
        framework = entry.framework or parsed.framework
        if framework is None:
            raise ExpectationFileError(f"{path}: expectations[{index}] ({entry.spec}): no framework given")
        try:
            expectation = Expectation(outcome=entry.outcome, reason=entry.reason, issue=entry.issue,
                                      observed=entry.observed, when=entry.when)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise ExpectationFileError(f"{path}: expectations[{index}] ({entry.spec}): {msg}") from exc
        overrides.append(Override(f"{path}#{index}", entry.spec, framework, expectation))
    return overrides


def load_expectation_files(paths: list[str]) -> list[Override]:
    return [o for p in paths for o in load_expectation_file(Path(p))]


def find_override(overrides: list[Override], spec_id: str, framework: str, device: str, mode: str,
                  version: str, params: dict[str, Any]) -> Override | None:
    for o in overrides:
        if o.framework == framework and fnmatch.fnmatchcase(spec_id, o.spec) and \
                _matches(o.expectation.when, device, mode, version, params):
            return o
    return None


def proposals(results: list[Result]) -> dict[str, Any]:
    """An expectations document recording what a run observed where it was unexpected."""
    by_key: dict[tuple[str | None, str | None], list[Result]] = {}
    totals: dict[tuple[str | None, str | None], int] = {}
    for r in results:
        key = (r.spec, r.framework)
        totals[key] = totals.get(key, 0) + 1
        if r.spec and r.status in (Status.FAIL, Status.STALE_EXPECTATION):  # an error needs a fix instead
            by_key.setdefault(key, []).append(r)
    entries = []
    for (spec, framework), rows in sorted(by_key.items()):
        uniform = len(rows) == totals[(spec, framework)] and len({r.status for r in rows}) == 1
        for r in rows[:1] if uniform else rows:
            entry: dict[str, Any] = {"spec": spec, "framework": framework}
            if r.status is Status.STALE_EXPECTATION:
                entry.update(outcome="conforms")
            else:
                entry.update(outcome="diverges",
                             reason=f"REVIEW: observed in a run: {r.message[:200]}",
                             observed={k: v for k, v in r.observed.items() if not isinstance(v, (list, dict))
                                       or k in ("varies_along",)})
            if not uniform:  # only some cases: pin this one
                entry["when"] = {"device": [r.device], "mode": [r.mode], "params": r.params}
            entries.append(entry)
    return {"expectations": entries}


def write_proposals(results: list[Result], path: Path) -> int:
    doc = proposals(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Observed divergences, written by --update-expectations: review every reason before use.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=110), encoding="utf-8")
    return len(doc["expectations"])
