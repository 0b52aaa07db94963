"""Every case of a report in one compact JSON block, for report.js to count, filter and show.

A coverage sweep puts 25,000-40,000 cases in one report. Written out as HTML, one drill-down per cell,
that is 1.5 KB a case and a 60 MB page; here a case costs about 130 bytes (`python -m reports.bench`
measures it: 5.5 MB for 40,000 cases, the rest of the page included). The page keeps what does
not grow with the cases server-rendered (the matrix with its unfiltered counts, the first rows that
need attention, claims, portability, runs); report.js reads this block to recount cells under the
filters, to build a cell's drill-down when it opens, to list every case that needs attention and to
search the messages.

Layout (format 1), column-oriented: `cases` holds one array per field, the i-th entry of each is case i.
Cases are stored cell by cell (cells in matrix order, rows by group, then columns) and worst first
inside a cell, so that a cell is the range cells[c][3] .. cells[c][3] + cells[c][4] and case k of that
range has the drill-down anchor `<cell id>-<k>`, as the page always named it.

  statuses   status values worst first; symbols, labels alike. cases.st: index into statuses
  columns    {id, title, subtitle, device}: the matrix columns, in order
  rows       {spec, title, behavior, claim, sources: [{name, url, quote}]}: the matrix rows, in order
  cells      [cell id, row index, column index, first case, number of cases]
  axes       [{name, values: [key, ...]}]: the offered case filters, in the chips' order
  variants   [params text, op, axis value index per axis]: what a case ran; cases.va indexes it
  strings    interned strings; cases.ih + cases.it: the id as two of them (head: spec[target, tail)
  templates  text split around its numbers: [piece, piece, ...]. A templated field is an index (no
             numbers) or "index,number,number,...": pieces and numbers interleaved give the text back
  expected   [outcome, observed text, reason, issue, issue link]; cases.ex indexes it
  reproduce  [before, after]: before + id + after, or [text]; cases.rp indexes it (null: none)
  stats      [n, minimum detectable, false-alarm share], formatted; cases.sx (null: no statistics)
  cases      st, ih, it, va, ms (message, templated), ob (observed, templated), ex, pv (p-value,
             formatted), sx, sd (seed; a string beyond JavaScript's exact integers), rp
  extra      {case index: {w: warnings, i: incident}}: the rare fields, only where a case has them
  attention  case indices, as the attention list orders them

Every link is http(s) or '#' already (html.safe_url). The JSON is escaped for a <script> element:
'<', '>' and '&' are written as \\u escapes, so no text can close the element.
"""
from __future__ import annotations

import json
import re
from typing import Any, Hashable

from conformance.record import WORST_FIRST

from . import model

FORMAT = 1
NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")  # captured: split() keeps the numbers


class Interned:
    """Distinct values, each stored once; `add` gives a value's index."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Hashable, int] = {}

    def add(self, value: Any, key: Hashable | None = None) -> int:
        key = value if key is None else key
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.values)
            self.values.append(value)
        return index


class Templates(Interned):
    """Texts as a template (the text around its numbers) and the numbers: messages and observed
    values written by the same check differ only in their numbers, so the templates are few."""

    def encode(self, text: str) -> int | str:
        parts = NUMBER.split(text)  # piece, number, piece, ..., piece
        pieces = parts[0::2]
        index = self.add(pieces, tuple(pieces))
        return index if len(parts) == 1 else f"{index},{','.join(parts[1::2])}"


def expand(templates: list[list[str]], value: int | str) -> str:
    """A templated field's text (report.js's `text` does the same)."""
    if isinstance(value, int):
        return "".join(templates[value])
    index, *numbers = value.split(",")
    pieces = templates[int(index)]
    return pieces[0] + "".join(n + p for n, p in zip(numbers, pieces[1:]))


def _id_parts(case: model.Case) -> tuple[str, str]:
    """The id as head and tail around its target: heads repeat per spec and target, tails per params."""
    r = case.record
    target = f"[{r.framework}-{r.device}-{r.mode}"
    cut = r.id.find(target)
    if cut < 0:
        return r.id, ""
    cut += len(target)
    return r.id[:cut], r.id[cut:]


def encode(report: model.Report) -> dict[str, Any]:
    """The report's cases as the page embeds them (see the module docstring)."""
    from .html import compact, fmt_num, safe_url

    strings, templates = Interned(), Templates()
    variants, expected, reproduce, stats = Interned(), Interned(), Interned(), Interned()
    axis_names = [a.name for a in report.axes]
    axis_codes = [{v.key: i for i, v in enumerate(a.values)} for a in report.axes]
    col_index = {c.id: i for i, c in enumerate(report.columns)}
    cases: dict[str, list[Any]] = {k: [] for k in ("st", "ih", "it", "va", "ms", "ob", "ex", "pv", "sx", "sd", "rp")}
    status_code = {s: i for i, s in enumerate(WORST_FIRST)}
    cells, extra, number = [], {}, {}
    for r_i, row in enumerate(report.rows):
        for cell in row.cells.values():
            cells.append([cell.id, r_i, col_index[cell.column.id], len(cases["st"]), len(cell.cases)])
            for case in cell.cases:
                r, i = case.record, len(cases["st"])
                number[id(case)] = i
                head, tail = _id_parts(case)
                params = compact(r.params)
                codes = [axis_codes[a].get(case.axes.get(name, model.NA), -1) for a, name in enumerate(axis_names)]
                exp = r.expected or {}
                issue = exp.get("issue")
                has_stats = r.p_value is not None or r.n is not None or r.min_detectable is not None
                cases["st"].append(status_code[r.status])
                cases["ih"].append(strings.add(head))
                cases["it"].append(strings.add(tail))
                cases["va"].append(variants.add([params, r.op or "", *codes], (params, r.op, *codes)))
                cases["ms"].append(templates.encode(r.message or ""))
                cases["ob"].append(templates.encode(compact(r.observed)))
                entry = [str(exp.get("outcome") or "—"), compact(exp["observed"]) if exp.get("observed") else "",
                         str(exp.get("reason") or ""), str(issue or ""), safe_url(issue) if issue else ""]
                cases["ex"].append(expected.add(entry, tuple(entry)))
                cases["pv"].append(fmt_num(r.p_value) if has_stats else None)
                numbers = [fmt_num(r.n), fmt_num(r.min_detectable), fmt_num(r.false_alarm)]
                cases["sx"].append(stats.add(numbers, tuple(numbers)) if has_stats else None)
                cases["sd"].append(r.seed if r.seed is None or abs(r.seed) <= 2**53 else str(r.seed))
                cases["rp"].append(_reproduce(reproduce, r.id, r.reproduce))
                more = {}
                if r.warnings:
                    more["w"] = [str(w) for w in r.warnings]
                if r.incident:
                    more["i"] = {"kind": str(r.incident.get("kind") or ""), "signal": r.incident.get("signal"),
                                 "exit_code": r.incident.get("exit_code"),
                                 "lines": [str(line) for line in r.incident.get("lines") or []]}
                if more:
                    extra[str(i)] = more
    return {
        "format": FORMAT,
        "statuses": [s.value for s in WORST_FIRST], "symbols": [s.symbol for s in WORST_FIRST],
        "labels": [s.label for s in WORST_FIRST],
        "columns": [{"id": c.id, "title": c.title, "subtitle": c.subtitle,
                     "device": str(c.target.get("device_name") or "")} for c in report.columns],
        "rows": [{"spec": row.spec, "title": row.title, "behavior": row.behavior, "claim": row.claim,
                  "sources": [{"name": str(s.get("name") or s.get("url") or ""), "url": safe_url(s.get("url")),
                               "quote": str(s.get("quote") or "")} for s in row.sources]} for row in report.rows],
        "cells": cells,
        "axes": [{"name": a.name, "values": [v.key for v in a.values]} for a in report.axes],
        "variants": variants.values, "strings": strings.values, "templates": templates.values,
        "expected": expected.values, "reproduce": reproduce.values, "stats": stats.values,
        "cases": cases, "extra": extra,
        "attention": [number[id(c)] for c in report.attention],
    }


def _reproduce(table: Interned, case_id: str, command: str | None) -> int | None:
    if not command:
        return None
    before, found, after = command.partition(case_id)
    parts = [before, after] if found else [command]
    return table.add(parts, tuple(parts))


def script_json(data: dict[str, Any]) -> str:
    """JSON that a <script type="application/json"> element holds safely: ASCII, no '<', '>' or '&'."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ------------------------------------------------------------ reading it back (tests, tools)

def read_page(html: str) -> dict[str, Any]:
    """The case data a report page embeds."""
    start = html.index('<script type="application/json" id="report-data">')
    start = html.index(">", start) + 1
    return json.loads(html[start:html.index("</script>", start)])


def case(data: dict[str, Any], i: int) -> dict[str, Any]:
    """Case i, its fields as the drill-down shows them (the decoding report.js does)."""
    c, strings = data["cases"], data["strings"]
    case_id = strings[c["ih"][i]] + strings[c["it"][i]]
    variant = data["variants"][c["va"][i]]
    rp = c["rp"][i]
    parts = data["reproduce"][rp] if rp is not None else None
    reproduce = None if parts is None else parts[0] if len(parts) == 1 else parts[0] + case_id + parts[1]
    outcome, exp_observed, reason, issue, issue_url = data["expected"][c["ex"][i]]
    return {"id": case_id, "status": data["statuses"][c["st"][i]], "params": variant[0], "op": variant[1],
            "axes": {a["name"]: (a["values"][k] if k >= 0 else None)
                     for a, k in zip(data["axes"], variant[2:])},
            "message": expand(data["templates"], c["ms"][i]), "observed": expand(data["templates"], c["ob"][i]),
            "expected": {"outcome": outcome, "observed": exp_observed, "reason": reason, "issue": issue,
                         "issue_url": issue_url},
            "p_value": c["pv"][i], "stats": None if c["sx"][i] is None else data["stats"][c["sx"][i]],
            "seed": c["sd"][i], "reproduce": reproduce, **data["extra"].get(str(i), {})}


def cell_cases(data: dict[str, Any], cell_id: str) -> list[dict[str, Any]]:
    (_, _, _, start, count), = [c for c in data["cells"] if c[0] == cell_id]
    return [case(data, i) for i in range(start, start + count)]
