"""Merge any number of results.json documents into one report model.

Only results documents are read here: the spec catalog inside each document carries every claim
and source, so reports never open YAML specs nor import a framework.
"""
from __future__ import annotations

import functools
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from conformance.record import ATTENTION, WORST_FIRST, Result, Status, results_of
from conformance.results import SCHEMA_PATH, validate

RUN_GROUP = "(run level)"  # rows for results that belong to no spec (unavailable or crashed target)


@dataclass
class Run:
    index: int
    path: str
    header: dict[str, Any]


@dataclass
class Column:
    """One execution target: framework x version x device x mode (x run, when two runs collide)."""
    id: str
    key: tuple
    framework: str
    version: str | None
    device: str | None
    mode: str | None
    run: int
    target: dict[str, Any]
    clash: bool = False  # same target also in another run: label says which run
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def unavailable(self) -> str | None:
        return self.target.get("unavailable")

    @property
    def title(self) -> str:
        return f"{self.framework} {self.version or ''}".strip()

    @property
    def subtitle(self) -> str:
        if self.unavailable:
            return "unavailable"
        parts = [self.device or "?", self.mode or "?"]
        return " · ".join(parts) + (f" · run {self.run + 1}" if self.clash else "")


CaseKey = tuple[str | None, str]  # (op, params as canonical JSON): one case, whatever target ran it


@dataclass
class Case:
    record: Result
    column: Column
    anchor: str = ""
    axes: dict[str, str] = field(default_factory=dict)  # axis name -> value key (see case_axes)

    @property
    def status(self) -> Status:
        return self.record.status

    @functools.cached_property
    def key(self) -> CaseKey:
        """What ran, whatever the target: cases of two frameworks with one key are the same case."""
        return (self.record.op, json.dumps(self.record.params, sort_keys=True, default=str))


@dataclass
class Cell:
    id: str
    row: "Row"
    column: Column
    cases: list[Case] = field(default_factory=list)

    @property
    def counts(self) -> list[tuple[Status, int]]:
        """Non-zero (status, count) pairs, worst first."""
        tally = _tally(c.status for c in self.cases)
        return [(s, n) for s, n in tally.items() if n]

    @property
    def worst(self) -> Status | None:
        return self.counts[0][0] if self.cases else None

    @property
    def statuses(self) -> str:
        return " ".join(s for s, _ in self.counts) or "not-run"


@dataclass
class Row:
    spec: str
    title: str
    behavior: str
    claim: str
    sources: list[dict[str, Any]]
    cells: dict[str, Cell] = field(default_factory=dict)

    def cases(self, framework: str | None = None) -> list[Case]:
        return [c for cell in self.cells.values() for c in cell.cases
                if framework is None or cell.column.framework == framework]

    @property
    def search_text(self) -> str:
        """What the search box finds a row by; report.js adds the messages of its cases that did not pass."""
        words = [self.spec, self.title, self.behavior, self.claim]
        words += [s.get("name", "") for s in self.sources]
        return " ".join(words).lower()


@dataclass
class Report:
    runs: list[Run]
    columns: list[Column]
    groups: list[tuple[str, list[Row]]]
    totals: dict[Status, int]
    axes: list[Axis] = field(default_factory=list)  # the case filters this report offers

    @property
    def rows(self) -> list[Row]:
        return [row for _, rows in self.groups for row in rows]

    @property
    def cases(self) -> list[Case]:
        return [c for row in self.rows for c in row.cases()]

    @property
    def attention(self) -> list[Case]:
        bad = [c for c in self.cases if c.status in ATTENTION]
        return sorted(bad, key=lambda c: (ATTENTION.index(c.status), c.record.id))

    @property
    def frameworks(self) -> list[str]:
        return sorted({c.framework for c in self.columns if not c.unavailable})

    @property
    def false_alarm_bound(self) -> float:
        """The merged runs' whole-run bounds summed: the chance that any of them fails a correct
        implementation (Bonferroni again), what a matrix's gate is held to."""
        return sum(run.header.get("false_alarm_bound") or 0.0 for run in self.runs)

    def values(self, attr: str) -> list[str]:
        return sorted({getattr(c, attr) for c in self.columns if getattr(c, attr)})


def _tally(statuses: Iterable[Status]) -> dict[Status, int]:
    """Count per status, worst first."""
    tally = {s: 0 for s in WORST_FIRST}
    for s in statuses:
        tally[s] += 1
    return tally


def load(paths: Iterable[Path | str]) -> list[tuple[str, dict[str, Any]]]:
    """Read results documents; a file that is not a results document raises ValueError."""
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            try:
                doc = json.load(fh)
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                raise ValueError(f"{path}: not JSON: {exc}") from exc
        if not isinstance(doc, dict) or "results" not in doc or "run" not in doc:
            raise ValueError(f"{path}: not a conformance results.json (needs 'run' and 'results')")
        problem = schema_problem(doc)
        if problem:
            raise ValueError(f"{path}: not a valid results document: {problem}")
        docs.append((str(path), doc))
    return docs


def schema_problem(doc: dict[str, Any]) -> str | None:
    """The first way a document breaks conformance/results.schema.json, located, or None."""
    if _schema_check()(doc):
        return None
    import jsonschema
    try:
        validate(doc)
    except jsonschema.ValidationError as exc:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.absolute_path).lstrip(".")
        return f"{where or '<root>'}: {exc.message[:200]}"
    return None


# A sweep's document holds thousands of results, and jsonschema takes about 0.25 ms for each (10 s for
# 40,000). The schema uses a handful of keywords, which a compiled check decides in a few microseconds.
# It only ever accepts: anything it finds wrong or cannot judge goes to jsonschema, which has the last
# word and the error message. A schema with a keyword it does not know turns it off altogether.
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str), "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})


def _compile(schema: Any) -> Callable[[Any], bool] | None:
    """A check that is True only where jsonschema would accept a value; None for a schema it cannot judge."""
    if not isinstance(schema, dict):
        return None
    checks: list[Callable[[Any], bool]] = []
    for key, arg in schema.items():
        if key in _ANNOTATIONS:
            continue
        check = _keyword(key, arg, schema)
        if check is None:
            return None
        checks.append(check)
    if len(checks) == 1:
        return checks[0]

    def every(v: Any) -> bool:
        for c in checks:
            if not c(v):
                return False
        return True
    return every


def _keyword(key: str, arg: Any, schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    number = _TYPES["number"]
    if key == "type":
        names = arg if isinstance(arg, list) else [arg]
        if not names or not all(n in _TYPES for n in names):
            return None
        fits = [_TYPES[n] for n in names]
        return fits[0] if len(fits) == 1 else lambda v: any(f(v) for f in fits)
    if key in ("enum", "const"):
        allowed = arg if key == "enum" else [arg]
        if all(isinstance(a, str) for a in allowed):
            strings = frozenset(allowed)
            return lambda v: isinstance(v, str) and v in strings
        if all(number(a) for a in allowed):
            return lambda v: number(v) and v in allowed
        return None
    if key == "minimum" and number(arg):
        return lambda v: not number(v) or v >= arg
    if key == "required" and isinstance(arg, list):
        names = tuple(arg)
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)
    if key == "properties" and isinstance(arg, dict):
        props = [(name, _compile(sub)) for name, sub in arg.items()]
        if any(c is None for _, c in props):
            return None

        def properties(v: Any) -> bool:
            if isinstance(v, dict):
                for name, c in props:
                    if name in v and not c(v[name]):  # type: ignore[misc]
                        return False
            return True
        return properties
    if key == "additionalProperties":
        known = frozenset(schema.get("properties") or ())
        if arg is True:
            return lambda v: True
        if arg is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v)
        extra = _compile(arg)
        if extra is None:
            return None
        return lambda v: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)
    if key == "items" and isinstance(arg, dict):
        item = _compile(arg)
        if item is None:
            return None

        def items(v: Any) -> bool:
            if isinstance(v, list):
                for x in v:
                    if not item(x):
                        return False
            return True
        return items
    return None


@functools.lru_cache(maxsize=1)
def _schema_check() -> Callable[[Any], bool]:
    check = _compile(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    return check if check is not None else (lambda doc: False)


def _target_key(t: dict[str, Any]) -> tuple:
    return (t.get("framework"), t.get("device"), t.get("mode"))


def _record_key(r: Result) -> tuple:
    """A record's target, as _target_key gives it for the run header's targets."""
    return (r.framework, r.device, r.mode)


def _columns(docs: list[tuple[str, dict[str, Any]]],
             records: list[list[Result]]) -> tuple[list[Column], dict[tuple[int, tuple], Column]]:
    """Columns of every run; `lookup[(run, _record_key(record))]` finds a record's column."""
    by_key: dict[tuple, Column] = {}
    lookup: dict[tuple[int, tuple], Column] = {}
    for i, (_, doc) in enumerate(docs):
        targets = [(_target_key(t), t) for t in doc["run"].get("targets") or []]
        listed = {target_key for target_key, _ in targets}
        for r in records[i]:  # records whose target the header does not list still get a column
            if _record_key(r) not in listed:
                listed.add(_record_key(r))
                targets.append((_record_key(r), {"framework": r.framework or "?", "device": r.device,
                                                 "mode": r.mode}))
        for target_key, t in targets:
            base = (t.get("framework") or "?", t.get("version"), t.get("device"), t.get("mode"))
            col = by_key.get(base)
            clash = col is not None and col.run != i
            key = base + ((i,) if clash else ())
            if key not in by_key:
                by_key[key] = Column("", key, base[0], base[1], base[2], base[3], i, t, clash=clash)
            if clash:
                col.clash = True
            lookup[(i, target_key)] = by_key[key]
    columns = sorted(by_key.values(), key=lambda c: tuple(str(x or "") for x in c.key))
    for n, col in enumerate(columns):
        col.id = f"t{n}"
    return columns, lookup


def _row_for(spec_id: str, catalog: dict[str, Any], rows: dict[str, Row], record: Result | None) -> Row:
    if spec_id not in rows:
        entry = catalog.get(spec_id) or {}
        behavior = entry.get("behavior") or (record.behavior if record else None) or RUN_GROUP
        rows[spec_id] = Row(spec_id, entry.get("title") or spec_id, behavior, entry.get("claim") or "",
                            list(entry.get("sources") or []))
    return rows[spec_id]


def build(docs: list[tuple[str, dict[str, Any]]]) -> Report:
    """Merge documents: rows are specs (grouped by behaviour), columns are execution targets."""
    records = [_results(path, doc) for path, doc in docs]
    columns, lookup = _columns(docs, records)
    catalog: dict[str, Any] = {}
    for _, doc in docs:
        catalog.update(doc.get("specs") or {})
    rows: dict[str, Row] = {}
    for spec_id in catalog:
        _row_for(spec_id, catalog, rows, None)
    for i, run_records in enumerate(records):
        for r in run_records:
            row = _row_for(r.spec or r.id, catalog, rows, r)
            col = lookup[(i, _record_key(r))]
            cell = row.cells.setdefault(col.id, Cell("", row, col))
            cell.cases.append(Case(r, col, axes=case_axes(r)))
    _number(rows.values(), columns)
    for col in columns:
        col.totals = _tally(c.status for row in rows.values() for c in row.cells.get(col.id, Cell("", row, col)).cases)
    groups = _groups(rows.values())
    runs = [Run(i, path, doc["run"]) for i, (path, doc) in enumerate(docs)]
    cases = [c for row in rows.values() for c in row.cases()]
    return Report(runs, columns, groups, _tally(c.status for c in cases), offered_axes(cases))


def _results(path: str, doc: dict[str, Any]) -> list[Result]:
    """A document's typed results; a record that is not format 1 raises ValueError naming the file."""
    try:
        return results_of(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _number(rows: Iterable[Row], columns: list[Column]) -> None:
    """Stable HTML ids for cells and cases, and cases sorted worst first inside each cell."""
    order = {c.id: n for n, c in enumerate(columns)}
    for r_i, row in enumerate(rows):
        row.cells = dict(sorted(row.cells.items(), key=lambda kv: order[kv[0]]))
        for cell in row.cells.values():
            cell.id = f"c{r_i}-{cell.column.id}"
            cell.cases.sort(key=lambda c: (WORST_FIRST.index(c.status), c.record.id))
            for k, case in enumerate(cell.cases):
                case.anchor = f"{cell.id}-{k}"


def _groups(rows: Iterable[Row]) -> list[tuple[str, list[Row]]]:
    """Behaviours with something needing attention first, then alphabetical; run-level rows last."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row.behavior].append(row)

    def rank(item: tuple[str, list[Row]]) -> tuple:
        behavior, members = item
        bad = any(c.status in ATTENTION for row in members for c in row.cases())
        return (behavior == RUN_GROUP, not bad, behavior)

    return sorted(((b, sorted(m, key=lambda r: r.spec)) for b, m in grouped.items()), key=rank)


# ------------------------------------------------------------ case axes (the coverage sweep's grid)

NA = "n/a"  # the key of a case that lacks an axis: no shape, no p, or a run-level record


@dataclass(frozen=True)
class AxisValue:
    key: str  # what the case's data attribute and the URL hash hold
    label: str  # what the filter chip shows
    count: int  # cases with this value, over the whole report


@dataclass(frozen=True)
class Axis:
    name: str
    label: str
    values: list[AxisValue]


# (name, label, offered even with a single value). The sweep's main axes are always shown so the
# reader sees what was covered; the others only when there is something to choose between. The
# target's mode is not here: it is a column, filtered by the Mode select.
AXES = (("op", "Op", False), ("dtype", "Dtype", True), ("rank", "Rank", True), ("p", "p", True),
        ("form", "Form", False), ("seeding", "Seeding", False), ("values", "Input values", False))
# Known values in the order a reader expects; values not listed follow, alphabetically.
KNOWN_ORDER = {
    "dtype": ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "bool"),
    "form": ("module", "functional"),
    "seeding": ("explicit", "global"),
    "values": ("finite", "nan", "inf", "neg_inf", "neg_zero", "subnormal", "near_max"),
}
NUMERIC_AXES = frozenset({"rank", "p"})


def rank_of(params: dict[str, Any]) -> int | None:
    """The input's rank: params' own 'rank', else the length of its 'shape', else unknown."""
    if isinstance(params.get("rank"), int) and not isinstance(params.get("rank"), bool):
        return params["rank"]
    shape = params.get("shape")
    return len(shape) if isinstance(shape, (list, tuple)) else None


def p_key(value: Any) -> str:
    """One key per probability: 1 and 1.0 are the same p, and the key keeps every digit."""
    if value is None:
        return NA
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def case_axes(record: Result) -> dict[str, str]:
    """The sweep coordinates of one case, as strings; defaults as the engine applies them."""
    if not record.op:  # a run-level record (unavailable target, malformed spec) ran no dropout
        return {name: NA for name, _, _ in AXES}
    params = record.params or {}
    rank = rank_of(params)
    return {"op": record.op, "dtype": str(params.get("dtype") or "float32"),
            "rank": NA if rank is None else str(rank), "p": p_key(params.get("p")),
            "form": str(params.get("form") or "module"),
            "seeding": str(params.get("seeding") or NA), "values": str(params.get("values") or NA)}


def _value_order(axis: str, key: str) -> tuple:
    """Sort key: known or numeric values first in their natural order, then the rest, n/a last."""
    if key == NA:
        return (2, 0.0, key)
    if axis in NUMERIC_AXES:
        try:
            number = float(key)
        except ValueError:
            return (1, 0.0, key)
        return (1, 0.0, key) if math.isnan(number) else (0, number, key)
    known = KNOWN_ORDER.get(axis, ())
    return (0, float(known.index(key)), key) if key in known else (1, 0.0, key)


def _value_label(axis: str, key: str) -> str:
    if axis == "p" and key != NA:
        try:
            return f"{float(key):.6g}"  # 0.0009765625 -> 0.000976562; the chip's title has every digit
        except ValueError:
            return key
    return key


def axis_values(cases: Iterable[Case]) -> dict[str, list[AxisValue]]:
    """Per axis, the values the cases hold and how many hold each, in the filters' order (n/a last)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        for name, key in case.axes.items():
            counts[name][key] += 1
    return {name: [AxisValue(k, _value_label(name, k), counts[name][k])
                   for k in sorted(counts[name], key=lambda k: _value_order(name, k))]
            for name, _, _ in AXES}


def offered_axes(cases: Iterable[Case]) -> list[Axis]:
    """The case filters worth showing: only values that occur, with how many cases have each."""
    offered = []
    for (name, label, always), values in zip(AXES, axis_values(cases).values()):
        if (always and any(v.key != NA for v in values)) or len(values) > 1:
            offered.append(Axis(name, label, values))
    return offered


# ------------------------------------------------------------ per-framework verdicts

VERDICTS = ("diverges", "unclear", "conforms", "not offered", "not run")


def verdict(cases: list[Case]) -> str:
    """What a framework does about one claim, over all its devices, modes and versions.

    `diverges`: some case does not do what the documentation says (expected or not);
    `unclear`: only errors or stale expectations stand in the way of an answer;
    `not offered`: every case was skipped (the framework lacks the op, form or feature).
    """
    statuses = {c.status for c in cases}
    if statuses == {Status.SKIPPED}:
        return "not offered"
    if statuses & {Status.FAIL, Status.EXPECTED_DIVERGENCE}:
        return "diverges"
    if statuses & {Status.ERROR, Status.STALE_EXPECTATION}:
        return "unclear"
    return "conforms" if Status.PASS in statuses else "not run"


def reason(cases: list[Case]) -> str:
    """The most useful one-line 'why' for a framework's verdict on a spec."""
    for status in (Status.EXPECTED_DIVERGENCE, Status.FAIL, Status.ERROR, Status.STALE_EXPECTATION,
                   Status.SKIPPED):
        for c in cases:
            if c.status is status:
                why = c.record.expected.get("reason") if status is Status.EXPECTED_DIVERGENCE else None
                return why or c.record.message
    return ""


def target_label(case: Case) -> str:
    """A case's target as `where` names it: version, device, mode."""
    col = case.column
    return " ".join(x for x in (col.version, col.device, col.mode) if x)


def where(cases: list[Case], wanted: str | Callable[[Case], bool]) -> list[str]:
    """Targets (version/device/mode) on which the framework shows `wanted` (a verdict, or a test of one
    case) - empty when all do."""
    shows = wanted if callable(wanted) else (lambda c: verdict([c]) == wanted)
    hits = sorted({target_label(c) for c in cases if shows(c)})
    everyone = sorted({target_label(c) for c in cases if c.status is not Status.SKIPPED})
    return [] if hits == everyone else hits


@dataclass
class Claim:
    row: Row
    quote: str
    verdicts: dict[str, tuple[str, str, list[str]]]  # framework -> (verdict, reason, where)


def claims_audit(report: Report) -> list[tuple[str, str, list[Claim]]]:
    """Per documentation source (by name): its URL and every spec that cites it, with verdicts."""
    sources: dict[str, tuple[str, list[Claim]]] = {}
    for row in report.rows:
        for src in row.sources:
            name = src.get("name") or src.get("url") or "(unnamed source)"
            url, claims = sources.setdefault(name, (src.get("url") or "", []))
            claims.append(Claim(row, src.get("quote") or row.claim, _verdicts(row, report.frameworks)))
    return [(name, url, claims) for name, (url, claims) in sorted(sources.items())]


def _verdicts(row: Row, frameworks: list[str]) -> dict[str, tuple[str, str, list[str]]]:
    out = {}
    for fw in frameworks:
        cases = row.cases(fw)
        v = verdict(cases)
        out[fw] = (v, reason(cases) if v != "conforms" else "", where(cases, v))
    return out


@dataclass
class Difference:
    row: Row
    a: tuple[str, str]  # (verdict, reason) of the first framework, over the cases where the two differ
    b: tuple[str, str]
    # The cases that differ, one pair per case both ran: (the first framework's, the second's), each
    # over every target (device, mode, version) of its framework.
    pairs: list[tuple[list[Case], list[Case]]] = field(default_factory=list)


def by_case(cases: Iterable[Case]) -> dict[CaseKey, list[Case]]:
    """Cases grouped by what ran (op and params), each group holding every target that ran it."""
    grouped: dict[CaseKey, list[Case]] = defaultdict(list)
    for c in cases:
        grouped[c.key].append(c)
    return grouped


def _outcome(cases: list[Case]) -> tuple[str, str]:
    v = verdict(cases)
    return v, (reason(cases) if v != "conforms" else "")


Side = tuple[str, dict[CaseKey, tuple[str, list[Case]]]]  # a verdict, and per case its verdict and cases


def _side(cases: list[Case]) -> Side:
    return verdict(cases), {k: (verdict(group), group) for k, group in by_case(cases).items()}


def portability(report: Report) -> list[tuple[str, str, list[Difference], int]]:
    """For each pair of frameworks: specs where their outcomes differ, and how many were not comparable.

    Outcomes are compared case by case (op and params, over all targets of each side): a spec both
    diverge from can still hold cases where only one does (Flax accepts p = 1.1 where PyTorch raises,
    while PyTorch's compiled functional form diverges elsewhere in the spec). A case only one side ran
    is not compared; a spec only one side ran counts as not comparable."""
    fws = report.frameworks
    sides = {(row.spec, fw): _side(row.cases(fw)) for row in report.rows for fw in fws}  # once, not per pair
    pairs = []
    for i, a in enumerate(fws):
        for b in fws[i + 1:]:
            diffs, uncompared = [], 0
            for row in report.rows:
                (va, ka), (vb, kb) = sides[row.spec, a], sides[row.spec, b]
                if "not run" in (va, vb):
                    uncompared += va != vb
                    continue
                differ = [(ka[k][1], kb[k][1]) for k in ka if k in kb and ka[k][0] != kb[k][0]]
                if differ:
                    diffs.append(Difference(row, _outcome([c for cs, _ in differ for c in cs]),
                                            _outcome([c for _, cs in differ for c in cs]), differ))
            pairs.append((a, b, diffs, uncompared))
    return pairs
