"""The outcome of one case: its status and its result record (one entry of results.json's "results").

This is the one definition of both. The runner builds records, results.json stores them
(schema: results.schema.json), and the CLI, the pytest plugin, the scripts and the reports read
them back with `Result.from_json`. Standard library only, so that reports can import it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any


class Status(str, Enum):
    """A case's outcome. The value is what results.json stores; symbol and letter are its short forms
    in the HTML report and in the command line's summary table."""

    symbol: str
    letter: str

    def __new__(cls, value: str, symbol: str, letter: str) -> Status:
        member = str.__new__(cls, value)
        member._value_ = value
        member.symbol = symbol
        member.letter = letter
        return member

    PASS = "pass", "✓", "P"
    FAIL = "fail", "✗", "F"
    EXPECTED_DIVERGENCE = "expected-divergence", "≠", "D"
    STALE_EXPECTATION = "stale-expectation", "↻", "S"
    ERROR = "error", "⚠", "E"
    SKIPPED = "skipped", "–", "K"

    def __str__(self) -> str:  # f-strings and templates show the stored value on every Python version
        return self.value

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")

    @property
    def ok(self) -> bool:
        """The run's gate accepts this outcome: expected, or not offered by the implementation."""
        return self in OK_STATUSES


OK_STATUSES = frozenset({Status.PASS, Status.EXPECTED_DIVERGENCE, Status.SKIPPED})
# Reports list and sort statuses worst first.
WORST_FIRST = (Status.FAIL, Status.ERROR, Status.STALE_EXPECTATION, Status.EXPECTED_DIVERGENCE,
               Status.SKIPPED, Status.PASS)
ATTENTION = tuple(s for s in WORST_FIRST if not s.ok)  # what a person must act on, worst first


@dataclass(frozen=True, kw_only=True)
class Result:
    """One case's result. Fields are in results.json's order; only `id` and `status` have no default,
    so a bare record (malformed spec, crashed or missing target) names what it knows and no more."""
    id: str  # spec[framework-device-mode-params]
    spec: str | None = None
    behavior: str | None = None
    op: str | None = None
    framework: str | None = None
    device: str | None = None
    mode: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    status: Status
    expected: dict[str, Any] = field(default_factory=dict)  # the expectation applied, and its source
    observed: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    p_value: float | None = None
    n: int | None = None
    min_detectable: float | None = None
    false_alarm: float = 0.0
    seed: int | None = None
    reproduce: str | None = None  # the command that replays this case alone
    # A case that took its process down: {"kind": "crash" | "timeout", "signal", "exit_code", "lines"}
    incident: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        record["status"] = self.status.value
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Result:
        """A record as results.json (format 1) stores it. Fields a newer writer added are ignored and
        fields an older one lacked take their defaults; a record without id or with an unknown status
        raises ValueError."""
        if "id" not in record or "status" not in record:
            raise ValueError(f"result record without 'id' or 'status': {str(dict(record))[:200]}")
        try:
            status = Status(record["status"])
        except ValueError:
            raise ValueError(f"result {record['id']!r}: unknown status {record['status']!r}") from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known and k != "status"}, status=status)


def results_of(document: Mapping[str, Any]) -> list[Result]:
    """The typed results of a results.json document."""
    return [Result.from_json(r) for r in document["results"]]
