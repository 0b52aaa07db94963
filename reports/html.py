"""`python -m conformance report`: one self-contained HTML page from any number of results files.

Everything is inline (styles, scripts, no fonts or images from the network) so that the file can
be mailed, archived as a CI artifact or opened offline. Jinja2 autoescaping is on: every text that
came from a spec, a result or an exception message is escaped. The cases themselves travel as one JSON
block (casedata.py, escaped for a <script> element) that report.js shows with textContent only.
"""
from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from conformance.record import WORST_FIRST, Status
from conformance.results import write_text_atomic

from . import casedata, model

TEMPLATES = Path(__file__).with_name("templates")
ATTENTION_SHOWN = 25  # rows of the attention list in the page; report.js lists the rest on request


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_num, compact=compact, safe_url=safe_url, pct=fmt_pct)
    env.globals.update(WORST_FIRST=WORST_FIRST, Status=Status, inline=inline, ATTENTION_SHOWN=ATTENTION_SHOWN)
    return env


def inline(name: str) -> Markup:
    """A static asset's text, pasted into <style>/<script>: our own file, never user data."""
    return Markup((TEMPLATES / name).read_text(encoding="utf-8"))


def fmt_num(value: Any) -> str:
    """p-values, bounds and deviations: 3 significant digits, scientific when tiny."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def fmt_pct(value: Any) -> str:
    return "—" if not isinstance(value, (int, float)) else f"{100 * value:.2g} %"


def compact(value: Any) -> str:
    """Params / observed dictionaries on one readable line."""
    if value in (None, {}, []):
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), default=str, ensure_ascii=False)


def safe_url(value: Any) -> str:
    """Only http(s) links: a spec cannot smuggle a javascript: URL into an href."""
    text = str(value or "")
    return text if text.startswith(("https://", "http://")) else "#"


def render(report: model.Report) -> str:
    """The page: what does not grow with the cases as HTML, every case in one JSON block (casedata)."""
    template = environment().get_template("report.html.j2")
    data = Markup(casedata.script_json(casedata.encode(report)))  # escaped for <script> by script_json
    return template.render(report=report, data=data, claims=model.claims_audit(report),
                           pairs=model.portability(report), verdicts=model.VERDICTS,
                           generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_report(paths: list[Path | str], output: Path) -> model.Report:
    report = model.build(model.load(paths))
    write_text_atomic(output, render(report))
    return report


def report_command(paths: list[str], output: Path) -> int:
    """CLI verb: 0 when written, 2 when an input is missing or not a results document."""
    try:
        report = write_report(paths, output)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bad = len(report.attention)
    print(f"report: {output} ({len(report.cases)} results, {len(report.columns)} targets, "
          f"{len(report.runs)} run(s); {bad} need attention; false-alarm bound of all runs together "
          f"{report.false_alarm_bound:.3g})")
    return 0
