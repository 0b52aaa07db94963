"""`python -m conformance porting A B`: what to change in code moved from implementation A to B.

The checklist is the report's portability view (model.portability) of the pair, read from A's side.
Every case on which the two verdicts differ belongs to one item, named after the finding that makes the
difference there: B's where B lacks the feature or diverges (what the ported code meets), else A's (what
the code may rely on). An item says what each side does in the words of its expectation entries (their
reasons), where it applies (its specs, the sweep coordinates that single its cases out, its targets when
not all), and what to change: the entries' `porting` advice, `to` for B's findings, `from` for A's. A
difference without advice says so; nothing is made up here.
"""
from __future__ import annotations

import functools
import re
import sys
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from conformance.record import Status

from . import model

# (kind, heading): the sections in the order a porter works through them; {a} source, {b} target.
SECTIONS = (
    ("missing", "Not offered by {b}"),
    ("target", "What {b} does differently"),
    ("source", "What {a} does that ported code may rely on"),
    ("extra", "Offered by {b} only (nothing to port)"),
)
NO_ADVICE = "no advice recorded; compare the two behaviours above"
SPECS_SHOWN = 4
LEGEND = ("Each item names a missing feature or a documented behaviour (a spec's title), says what each side "
          "does and what to change.")
FOOTNOTE = ("Cases on which both diverge, in whatever way, are not differences here (the report's claims "
            "audit shows them); cases only one of the two ran are not compared.")


@dataclass(frozen=True)
class Finding:
    """What one implementation does on a case, as the checklist words it."""

    key: str  # what groups cases into one item: the expectation entry, or the message
    verdict: str
    text: str
    advice: tuple[tuple[str, str], ...] = ()  # the entry's porting advice: ("from", ...), ("to", ...)


def finding(case: model.Case) -> Finding:
    """An expected divergence, or a skip that a 'not-offered' entry explains, is that expectation entry
    (all its matches), in the entry's reason, with its advice. Any other skip is its message (an entry it
    carries is about what the case would have shown, not about the skip); anything else is its message."""
    record, verdict = case.record, model.verdict([case])
    expected = record.expected or {}
    entry = re.sub(r"\.\d+$", "", str(expected.get("source")))  # FILE#entry.match -> FILE#entry
    advice = tuple(sorted((expected.get("porting") or {}).items()))
    if verdict == "conforms":
        return Finding("conforms", verdict, "as documented")
    if record.status is Status.EXPECTED_DIVERGENCE:
        return Finding(entry, verdict, model.reason([case]), advice)
    if record.status is Status.SKIPPED and expected.get("outcome") == "not-offered":
        return Finding(entry, verdict, expected.get("reason") or record.message, advice)
    if record.status is Status.SKIPPED:
        return Finding(record.message, verdict, record.message.removeprefix("not offered: "))
    return Finding(f"{record.status}: {record.spec}", verdict, f"{record.status}: {model.reason([case])}")


def _findings(cases: list[model.Case]) -> list[Finding]:
    """Distinct findings, the most frequent first."""
    counts = Counter(finding(c) for c in cases)
    return sorted(counts, key=lambda f: -counts[f])


@dataclass
class Pair:
    """One case (op and params) both ran and judged differently: its cases on every target of each side."""

    row: model.Row
    source: list[model.Case]
    target: list[model.Case]


@dataclass
class Item:
    kind: str  # a SECTIONS kind
    side: str  # "source" or "target": whose findings the item is about
    keys: tuple[str, ...]  # those findings (Finding.key)
    pairs: list[Pair] = field(default_factory=list)

    @property
    def other(self) -> str:
        return "source" if self.side == "target" else "target"

    def cases(self, side: str) -> list[model.Case]:
        return [c for p in self.pairs for c in getattr(p, side)]

    @functools.cached_property
    def hits(self) -> list[model.Case]:
        """The item's own cases: its side's, on the targets that show one of its findings (read once the
        item is complete)."""
        own = self.cases(self.side)
        wanted = model.verdict(own)
        return [c for c in own if model.verdict([c]) == wanted and finding(c).key in self.keys]

    @property
    def rows(self) -> list[model.Row]:
        return list({p.row.spec: p.row for p in self.pairs}.values())

    def advice(self) -> list[str]:
        """The distinct advice of the item's findings: `to` the target for its findings, `from` the source."""
        direction = "to" if self.side == "target" else "from"
        return list(dict.fromkeys(dict(f.advice)[direction] for f in _findings(self.hits)
                                  if direction in dict(f.advice)))


def _kind(pair: Pair) -> tuple[str, str]:
    """(kind, side) of the finding that makes the difference on a pair."""
    vs, vt = model.verdict(pair.source), model.verdict(pair.target)
    if vt == "not offered":
        return "missing", "target"
    if vs == "not offered":
        return "extra", "source"
    return ("target", "target") if vt != "conforms" else ("source", "source")


def checklist(report: model.Report, source: str, target: str) -> list[Item]:
    """The items for moving code from `source` to `target` (frameworks of the report), in section order,
    each section in the report's row order. A case showing several findings on one side (one per target)
    joins an item of their own, or the item of each when every one of them has one."""
    diffs: list[model.Difference] = []
    first = source
    for a, b, found, _ in model.portability(report):
        if {a, b} == {source, target}:
            diffs, first = found, a
    items: dict[tuple, Item] = {}
    for diff in diffs:
        for cases_a, cases_b in diff.pairs:
            pair = Pair(diff.row, *((cases_a, cases_b) if first == source else (cases_b, cases_a)))
            kind, side = _kind(pair)
            own = getattr(pair, side)
            keys = tuple(sorted({finding(c).key for c in own if model.verdict([c]) == model.verdict(own)}))
            items.setdefault((kind, keys), Item(kind, side, keys)).pairs.append(pair)
    for (kind, keys), item in list(items.items()):
        if len(keys) > 1 and all((kind, (k,)) in items for k in keys):
            for k in keys:
                items[(kind, (k,))].pairs += item.pairs
            del items[(kind, keys)]
    order = [kind for kind, _ in SECTIONS]
    return sorted(items.values(), key=lambda item: order.index(item.kind))


# ------------------------------------------------------------ what an item says

def _compared(item: Item) -> list[model.Case]:
    """The cases an item's scope is told apart from: in its specs, on its side, the cases both sides ran
    (for a feature one side lacks, those the side that has it ran)."""
    mine, theirs = item.hits[0].column.framework, item.cases(item.other)[0].column.framework
    cases = []
    for row in item.rows:
        own, other = model.by_case(row.cases(mine)), model.by_case(row.cases(theirs))
        for key, group in own.items():
            they_ran = model.verdict(other.get(key, [])) not in ("not offered", "not run")
            if they_ran and (item.kind in ("missing", "extra") or model.verdict(group) != "not offered"):
                cases += group
    return cases


def _singled_out(item: Item, name: str, compared: list[model.Case]) -> set[str]:
    """The values of one sweep axis that single the item's cases out, or none. The op does when the
    item's ops are some of those compared; another axis when, in every spec of the item where the
    compared cases of the item's ops hold several of its values, the item's cases hold only some."""
    hits = item.hits
    values = {c.axes[name] for c in hits} - {model.NA}
    if name == "op":
        return values if values < {c.axes["op"] for c in compared} else set()
    ops = {c.axes["op"] for c in hits}
    mine: dict[str, set[str]] = defaultdict(set)
    among: dict[str, set[str]] = defaultdict(set)
    for group, cases in ((mine, hits), (among, [c for c in compared if c.axes["op"] in ops])):
        for c in cases:
            if c.axes[name] != model.NA:
                group[c.record.spec].add(c.axes[name])
    verdicts = [mine[spec] < held for spec, held in among.items() if len(held) > 1]
    return values if verdicts and all(verdicts) else set()


def scope(item: Item) -> list[str]:
    """Where the item applies: the sweep axes that single its cases out, with their values, then its
    targets (model.where) when they are not all."""
    compared, parts = _compared(item), []
    for name, label, _ in model.AXES:
        values = _singled_out(item, name, compared)
        if values:
            labels = [v.label for v in model.axis_values(item.hits)[name] if v.key in values]
            parts.append(f"{label.lower()} {', '.join(labels)}")
    if item.kind in ("target", "source"):
        ids = {id(c) for c in item.hits}
        targets = model.where(item.cases(item.side), lambda c: id(c) in ids)
        if targets:
            parts.append(f"on {', '.join(targets)}")
    return parts


def describe(item: Item, side: str) -> str:
    """What one side does on the item's cases: on the item's own side its findings (each with its
    targets when there are several), on the other side whatever it shows on the same cases."""
    if item.kind in ("missing", "extra"):  # the headline says what is missing
        return "not offered" if side == item.side else "offered"
    if side != item.side:
        return "; ".join(dict.fromkeys(f.text for f in _findings(item.cases(side))))
    findings = _findings(item.hits)
    if len(findings) == 1:
        return findings[0].text
    targets = {f: sorted({model.target_label(c) for c in item.hits if finding(c) == f}) for f in findings}
    return " ".join(f"[{', '.join(targets[f])}] {f.text}" for f in findings)


def headline(item: Item) -> str:
    """What one side lacks (which side, for the source), or the title of the spec whose cases the item
    covers most completely."""
    framework = item.hits[0].column.framework
    if item.kind in ("missing", "extra"):
        lacks = _findings(item.hits)[0].text.rstrip(".")
        return f"{framework}: {lacks}" if item.kind == "extra" else lacks
    share = Counter(p.row.spec for p in item.pairs)
    return max(item.rows, key=lambda r: share[r.spec] / len(model.by_case(r.cases(framework)))).title


def specs_line(item: Item) -> str:
    """The item's behaviours and specs; the count and the first few of many."""
    specs = [r.spec for r in item.rows]
    if len(specs) > SPECS_SHOWN:
        return f"{len(specs)} specs, e.g. {', '.join(specs[:SPECS_SHOWN])}"
    return f"{', '.join(dict.fromkeys(r.behavior for r in item.rows))}: {', '.join(specs)}"


def change(item: Item) -> str:
    return " ".join(item.advice()) or NO_ADVICE


# ------------------------------------------------------------ rendering

@dataclass
class Checklist:
    source: str
    target: str
    report: model.Report
    items: list[Item]

    def implementation(self, framework: str) -> str:
        """The name, version(s) and targets of one side."""
        columns = [c for c in self.report.columns if c.framework == framework and not c.unavailable]
        versions = ", ".join(dict.fromkeys(c.version or "?" for c in columns))
        return f"{framework} {versions} ({', '.join(f'{c.device} {c.mode}' for c in columns)})"

    def sections(self) -> list[tuple[str, list[Item]]]:
        return [(title.format(a=self.source, b=self.target), [i for i in self.items if i.kind == kind])
                for kind, title in SECTIONS if any(i.kind == kind for i in self.items)]

    def summary(self) -> str:
        n = Counter(i.kind for i in self.items)
        return (f"{n['missing']} feature(s) {self.target} lacks, {n['target']} behaviour(s) {self.target} does "
                f"differently, {n['source']} {self.source} behaviour(s) ported code may rely on")

    def lines(self, item: Item) -> list[tuple[str, str]]:
        """(label, text) lines of one item, after its headline."""
        lines = [("specs", specs_line(item))]
        where = scope(item)
        if where:
            lines.append(("differs on", "; ".join(where)))
        lines += [(self.source, describe(item, "source")), (self.target, describe(item, "target"))]
        return lines + ([("change", change(item))] if item.kind != "extra" else [])


def as_markdown(cl: Checklist) -> str:
    out = [f"# Porting checklist: {cl.source} → {cl.target}", "",
           f"From {cl.implementation(cl.source)} to {cl.implementation(cl.target)}: {cl.summary()}. {LEGEND}", ""]
    for title, items in cl.sections():
        out += [f"## {title}", ""]
        for item in items:
            out.append(f"- [ ] **{headline(item)}**")
            out += [f"  - {'**change**' if label == 'change' else label}: {text}" for label, text in cl.lines(item)]
        out.append("")
    return "\n".join(out + [f"_{FOOTNOTE}_"]) + "\n"


def as_text(cl: Checklist) -> str:
    out = [f"Porting checklist: {cl.source} -> {cl.target}", f"from {cl.implementation(cl.source)}",
           f"to   {cl.implementation(cl.target)}", *textwrap.wrap(f"{cl.summary()}. {LEGEND}", 110)]
    number = 0
    for title, items in cl.sections():
        out += ["", title]
        for item in items:
            number += 1
            out += _wrapped(f"[ ] {number}. ", headline(item), 2)
            for label, text in cl.lines(item):
                out += _wrapped(f"{label}: ", text, 6)
    return "\n".join(out + [""] + textwrap.wrap(FOOTNOTE, 110)) + "\n"


def _wrapped(label: str, text: str, indent: int) -> list[str]:
    return textwrap.wrap(text, 110, initial_indent=" " * indent + label, subsequent_indent=" " * (indent + 4),
                         break_on_hyphens=False, break_long_words=False)


# ------------------------------------------------------------ the command

def names_problem(names: Iterable[str], available: list[str], families: dict[str, list[str]]) -> str | None:
    """Why a name is not one of the `available` implementations, naming what is there; None when all are.
    A family's name (NAME or NAME-common in `families`: the implementations sharing an expectations file)
    lists its members."""
    for name in names:
        if name in available:
            continue
        shared = name if name in families else f"{name}-common"
        members = families.get(shared, [])
        if not members:
            return f"no implementation {name!r}; available: {', '.join(available) or 'none'}"
        held = [m for m in members if m in available]
        here = "" if held == members else f" (these results hold {', '.join(held) or 'none of them'})"
        return (f"{name!r} is not one implementation: the implementations sharing expectations/{shared}.yaml are "
                f"{', '.join(members)}{here}; name one of them")
    return None


def _not_run(report: model.Report, names: Iterable[str]) -> str | None:
    """A named implementation whose results only say that it could not run."""
    for col in report.columns:
        if col.framework in names and col.unavailable and col.framework not in report.frameworks:
            return f"{col.framework} did not run: {col.unavailable}"
    return None


def porting_command(paths: list[str], source: str, target: str, fmt: str, families: dict[str, list[str]]) -> int:
    """CLI verb: the checklist on stdout; 2 when a file is unreadable or the results lack either side."""
    try:
        report = model.build(model.load(paths))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = _not_run(report, (source, target)) or names_problem((source, target), report.frameworks, families)
    if problem is None and source == target:
        problem = f"the source and the target are both {source!r}"
    if problem:
        print(f"error: {problem} (in {', '.join(map(str, paths))})", file=sys.stderr)
        return 2
    cl = Checklist(source, target, report, checklist(report, source, target))
    print(as_markdown(cl) if fmt == "markdown" else as_text(cl), end="")
    return 0
