"""`python -m conformance diff OLD NEW`: every outcome that changed between two results files.

Cases are matched by test id (spec[framework-device-mode-params]), so the diff compares two
framework versions, two devices or two suite versions alike; ids an older suite used for the same
case (renamed-cases.json, e.g. when specs were merged) are read as today's. Every changed outcome is listed;
cases only one run has are listed up to LISTED and counted per spec and target beyond (a sweep added to a
run is tens of thousands of them). Exit code 0 whatever changed: the diff informs, the gate is `run`'s exit
code (a diff is also read between runs that both failed).
"""
from __future__ import annotations

import functools
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.record import Result, Status, results_of
from conformance.results import write_text_atomic

from .model import load

RENAMED_CASES = Path(__file__).with_name("renamed-cases.json")

CATEGORIES = (
    ("new-failure", "New failures", "was as expected, now fails, errors or has a stale expectation"),
    ("still-failing", "Still failing", "not as expected in either run, but the outcome changed"),
    ("fixed", "Fixed", "was failing, now as expected"),
    ("divergence-gone", "Divergences gone", "was an expected divergence, now passes"),
    ("new-divergence", "New divergences", "passed before, now an expected divergence"),
    ("other", "Other changes", "e.g. now skipped or no longer skipped"),
    ("added", "New cases", "in the new run only"),
    ("removed", "Removed cases", "in the old run only"),
)


@dataclass(frozen=True)
class Change:
    category: str
    id: str
    old: Result | None
    new: Result | None

    @property
    def summary(self) -> str:
        before = self.old.status if self.old else "-"
        after = self.new.status if self.new else "-"
        message = (self.new or self.old).message
        return f"{before} -> {after}: {message[:200]}"


def categorize(old: Result | None, new: Result | None) -> str | None:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    a, b = old.status, new.status
    if a is b:
        return None
    if a.ok and not b.ok:
        return "new-failure"
    if not a.ok and not b.ok:
        return "still-failing"
    if not a.ok:
        return "fixed"
    if a is Status.EXPECTED_DIVERGENCE and b is Status.PASS:
        return "divergence-gone"
    if a is Status.PASS and b is Status.EXPECTED_DIVERGENCE:
        return "new-divergence"
    return "other"


@functools.lru_cache(maxsize=1)
def _renamed() -> dict[str, str]:
    return json.loads(RENAMED_CASES.read_text(encoding="utf-8"))["renamed"]


def current_id(record: Result) -> str:
    """The id today's suite gives the case an older suite recorded as `record.id`."""
    target = f"{record.framework}-{record.device}-{record.mode}"
    key = record.id.replace(f"[{target}", "[{target}", 1)
    new = _renamed().get(key)
    return record.id if new is None else new.replace("[{target}", f"[{target}", 1)


def compare(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> list[Change]:
    old = {current_id(r): r for r in results_of(old_doc)}
    new = {r.id: r for r in results_of(new_doc)}
    changes = []
    for test_id in sorted(set(old) | set(new)):
        category = categorize(old.get(test_id), new.get(test_id))
        if category:
            changes.append(Change(category, test_id, old.get(test_id), new.get(test_id)))
    return changes


# Cases that only one run has are listed one by one up to this many; beyond it (a sweep added or a
# spec renamed: thousands of ids) they are counted per spec and target. Changed outcomes are always
# listed: they are what a diff is read for.
LISTED = 50


@dataclass(frozen=True)
class Bunch:
    """Added or removed cases of one spec on one target."""
    spec: str
    target: str
    count: int
    example: str  # the first id, sorted


def bunched(members: list[Change]) -> list[Bunch] | None:
    """Added or removed cases per spec and target when there are more than LISTED, else None (list them)."""
    if len(members) <= LISTED or any(c.category not in ("added", "removed") for c in members):
        return None
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in members:
        r = c.new or c.old
        target = "-".join(x for x in (r.framework, r.device, r.mode) if x) or "run level"
        groups[(r.spec or "(no spec)", target)].append(c.id)
    return [Bunch(spec, target, len(ids), min(ids)) for (spec, target), ids in sorted(groups.items())]


def _groups(changes: list[Change]) -> list[tuple[str, str, list[Change], list[Bunch] | None]]:
    by_key: dict[str, list[Change]] = defaultdict(list)
    for c in changes:
        by_key[c.category].append(c)
    return [(title, what, by_key[key], bunched(by_key[key])) for key, title, what in CATEGORIES]


def spec_set_warning(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> str | None:
    """Why the changes may not be the implementations': the runs used different spec sets (or one cannot tell)."""
    def described(doc: dict[str, Any]) -> str:
        run = doc.get("run", {})
        return f"spec set {run.get('spec_set', 'not recorded')}, suite {run.get('suite_version', '?')}"

    old_set, new_set = (doc.get("run", {}).get("spec_set") for doc in (old_doc, new_doc))
    if old_set is not None and old_set == new_set:
        return None
    cause = "used different spec sets" if old_set and new_set else "cannot be told to share a spec set"
    return (f"warning: the two runs {cause} (old: {described(old_doc)}; new: {described(new_doc)}): a change "
            f"may come from the specs, not from the implementation")


def as_text(changes: list[Change], old_path: Path, new_path: Path, warning: str | None = None) -> str:
    lines = [f"diff {old_path} -> {new_path}: {len(changes)} outcome(s) changed"]
    if warning:
        lines.append(warning)
    for title, what, members, bunches in _groups(changes):
        if bunches:
            lines.append(f"\n{title} ({len(members)}; {what}; per spec and target):")
            lines += [f"  {b.spec} [{b.target}]: {b.count}, e.g. {b.example}" for b in bunches]
        elif members:
            lines.append(f"\n{title} ({len(members)}; {what}):")
            lines += [f"  {c.id}\n      {c.summary}" for c in members]
    return "\n".join(lines)


def write_html(changes: list[Change], old_path: Path, new_path: Path, output: Path,
               warning: str | None = None) -> None:
    from .html import environment
    template = environment().get_template("diff.html.j2")
    write_text_atomic(output, template.render(old=str(old_path), new=str(new_path), groups=_groups(changes),
                                              total=len(changes), warning=warning))


def diff_command(old_path: Path, new_path: Path, html_out: Path | None) -> int:
    try:
        (_, old_doc), (_, new_doc) = load([old_path, new_path])
        changes = compare(old_doc, new_doc)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warning = spec_set_warning(old_doc, new_doc)
    if warning:
        print(warning, file=sys.stderr)
    print(as_text(changes, old_path, new_path, warning))
    if html_out is not None:
        write_html(changes, old_path, new_path, html_out, warning)
        print(f"html: {html_out}")
    return 0
