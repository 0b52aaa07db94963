"""The HTML report in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

.ci/install-browser.sh installs both; without them these tests are skipped with that reason.
Screenshots are saved to build/artifacts/ (report.png, report-drilldown.png, report-filters.png).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from reports import model
from reports.html import write_report
from tests.report_data import large_docs, mlx_doc, sweep_doc, torch_doc

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing: run .ci/install-browser.sh")
if CHROMIUM is None:
    pytest.skip("chromium missing: run .ci/install-browser.sh", allow_module_level=True)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    """A real reference run merged with two small hand-made runs (one with a failure)."""
    tmp = tmp_path_factory.mktemp("report")
    subprocess.run([sys.executable, "-m", "conformance", "run", "--framework", "reference", "--spec", "dropout2d-*",
                    "--salt", "browser", "--out", str(tmp / "ref")], cwd=ROOT, check=True, capture_output=True)
    extra = []
    for name, doc in (("torch", torch_doc()), ("mlx", mlx_doc())):
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(doc))
        extra.append(str(path))
    out = tmp / "index.html"
    subprocess.run([sys.executable, "-m", "conformance", "report", str(tmp / "ref" / "results.json"), *extra,
                    "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    """A fresh page that records console errors, page errors and any request off the file."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.console_messages = []
    pg.on("console", lambda m: pg.console_messages.append(m) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.console_messages.append(e))
    pg.on("request", lambda r: pg.console_messages.append(f"network request {r.url}")
          if not r.url.startswith("file:") else None)
    pg.goto(url)
    return pg


@pytest.fixture(scope="module")
def page(browser, report_file):
    pg = open_page(browser, report_file.as_uri())
    yield pg
    pg.close()


def test_page_loads_offline_without_console_errors(page):
    assert page.title().startswith("Dropout conformance")
    assert page.console_messages == []


def test_matrix_shows_every_result(page, report_file):
    # Every case of every results file is counted in some cell button's aria-label.
    labels = page.eval_on_selector_all("button.cell", "els => els.map(e => e.getAttribute('aria-label'))")
    import re
    shown = sum(int(n) for label in labels for n in re.findall(r"(\d+) [a-z ]+?(?:,|$)", label.split(": ", 1)[1]))
    ref = json.loads((report_file.parent / "ref" / "results.json").read_text())
    assert shown == len(ref["results"]) + 3 + 3
    assert page.locator("#matrix-table thead th[data-col]").count() == 3


def test_failures_are_shown_first(page):
    first_section = page.eval_on_selector("main section, body section", "s => s.id")
    assert first_section == "attention"
    assert page.locator("#attention tr.s-fail").count() == 1
    assert "1 outcome needs attention" in page.locator("#verdict").inner_text()


def test_framework_filter_hides_and_shows_cells(page):
    visible = lambda: page.locator("#matrix-table thead th[data-col]:visible").count()  # noqa: E731
    assert visible() == 3
    page.select_option("#f-framework", "torch")
    assert visible() == 1
    assert page.locator("#matrix-table tbody td[data-col]:visible").count() == page.locator(
        "#matrix-table tbody tr.row:visible").count()
    page.select_option("#f-framework", "")
    assert visible() == 3


def test_status_filter_and_search(page):
    hidden_statuses = ("pass", "skipped", "not-run")
    for status in hidden_statuses:
        page.uncheck(f"#f-status input[value='{status}']")
    rows = page.locator("#matrix-table tbody tr.row:visible")
    assert 0 < rows.count() < page.locator("#matrix-table tbody tr.row").count()
    assert page.locator("tr.row[data-spec='dropout2d-scaling']").is_visible()  # has a failure
    assert not page.locator("tr.row[data-spec='dropout2d-drop-rate']").is_visible()  # passes everywhere
    for status in hidden_statuses:
        page.check(f"#f-status input[value='{status}']")
    try:
        page.fill("#f-text", "dropout2d-non-finite")
        assert page.locator("#matrix-table tbody tr.row:visible").count() == 1
        page.fill("#f-text", "nan")  # claim and message text are searched too
        assert page.locator("tr.row[data-spec='dropout2d-non-finite']").is_visible()
        assert not page.locator("tr.row[data-spec='dropout2d-drop-rate']").is_visible()
    finally:
        page.fill("#f-text", "")


def test_drill_down_opens_with_the_right_content(page):
    page.locator("tr.row[data-spec='dropout2d-scaling'] td[data-col] button.cell.s-fail").click()
    panel = page.locator("#panel")
    assert panel.is_visible()
    text = panel.inner_text()
    assert "The remaining channels are scaled by 1/(1-p)" in text  # the claim
    assert "MLX nn.Dropout2d" in text  # its source
    assert "python -m conformance run --framework torch" in text  # reproduce command
    assert "<script>alert(1)</script>" in text  # escaped, shown as text, never run
    page.screenshot(path=str(ARTIFACTS / "report-drilldown.png"))
    page.keyboard.press("Escape")
    assert not panel.is_visible()


def test_screenshot_artifact(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "report.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000


# ------------------------------------------------------------ case filters over a coverage sweep
# sweep_doc (tests/report_data.py) spells out its 78 cases; the numbers below follow from it.

@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "sweep.json").write_text(json.dumps(sweep_doc()))
    write_report([tmp / "sweep.json"], tmp / "index.html")
    return tmp / "index.html"


@pytest.fixture
def sweep(browser, sweep_file):
    """A fresh page per test: filter state lives in the page (and its URL), never across tests."""
    pg = open_page(browser, sweep_file.as_uri())
    yield pg
    assert pg.console_messages == []
    pg.close()


def wait_until(page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll a JavaScript expression until it is true. (page.wait_for_function polls it with eval(), which
    the report's Content-Security-Policy refuses: it fails whenever the first look is not yet true.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(20)


def tick(page, axis: str, key: str) -> None:
    page.locator(f"#f-axis-{axis} input[value='{key}']").click()


def count(page) -> str:
    return page.locator("#f-count").inner_text()


def cell(page, spec: str, mode: str):
    col = page.locator(f"#matrix-table thead th[data-mode='{mode}']").get_attribute("data-col")
    return page.locator(f"tr.row[data-spec='{spec}'] td[data-col='{col}']")


def shown_counts(page, spec: str, mode: str) -> dict[str, str]:
    """The status counts a cell shows now: {status: count}, hidden spans left out."""
    spans = cell(page, spec, mode).locator("button.cell .c:visible")
    return {s.get_attribute("data-status"): s.locator(".n").inner_text() for s in spans.all()}


def test_filters_offer_exactly_the_values_in_the_results(sweep):
    chips = lambda axis: sweep.eval_on_selector_all(  # noqa: E731
        f"#f-axis-{axis} input", "els => els.map(e => e.value)")
    assert chips("dtype") == ["float16", "bfloat16", "float32", "float64"]
    assert chips("rank") == ["1", "3", "4"]
    assert chips("p") == ["0.0009765625", "0.5", "0.9"]
    assert chips("values") == ["nan", "inf", "neg_zero", "n/a"]
    assert "0.000976562" in sweep.locator("#f-axis-p").inner_text()  # labelled short, keyed exactly
    assert count(sweep) == "78 of 78 cases shown · 3 of 3 specs"


def test_a_dtype_filter_recounts_cells_totals_and_the_summary(sweep):
    eager = cell(sweep, "dropout-sweep-scaling", "eager")
    assert shown_counts(sweep, "dropout-sweep-scaling", "eager") == {"fail": "3", "pass": "33"}
    assert not eager.locator(".of").is_visible()
    tick(sweep, "dtype", "float16")
    # float16: 3 ranks x 3 p x 2 modes of scaling, plus 3 non-finite cases; eager fails at p=0.9.
    assert count(sweep) == "21 of 78 cases shown · 2 of 3 specs"
    assert shown_counts(sweep, "dropout-sweep-scaling", "eager") == {"fail": "3", "pass": "6"}
    assert eager.locator(".of").inner_text() == "of 36"
    assert "3 fail, 6 pass (of 36)" in eager.locator("button.cell").get_attribute("aria-label")
    # compiled: no float16 error or skip, so the cell's worst status is now pass
    assert shown_counts(sweep, "dropout-sweep-scaling", "compiled") == {"pass": "9"}
    assert "s-pass" in cell(sweep, "dropout-sweep-scaling", "compiled").locator("button.cell").get_attribute("class")
    eager_col = sweep.locator("#matrix-table thead th[data-mode='eager']").get_attribute("data-col")
    assert sweep.locator(f"tfoot td[data-col='{eager_col}'] .c:visible").all_inner_texts() == [
        "✗3", "≠1", "✓8"]  # 3 fail + 6 pass scaling; non-finite float16: nan diverges, inf and -0 pass
    assert not sweep.locator("tr.row[data-spec='dropout2d-scaling']").is_visible()  # no case at all


def test_values_of_one_axis_are_or_ed_and_axes_are_and_ed(sweep):
    tick(sweep, "dtype", "float16")
    tick(sweep, "dtype", "bfloat16")
    assert count(sweep).startswith("39 of 78")  # 18 + 18 scaling, 3 non-finite
    tick(sweep, "rank", "4")
    assert count(sweep).startswith("15 of 78")  # 2 dtypes x 3 p x 2 modes at rank 4, + 3 non-finite
    tick(sweep, "p", "0.9")
    assert count(sweep).startswith("4 of 78")  # the non-finite cases run at p=0.5 only
    assert not sweep.locator("tr.row[data-spec='dropout2d-non-finite']").is_visible()
    assert shown_counts(sweep, "dropout-sweep-scaling", "eager") == {"fail": "1", "pass": "1"}


def test_case_filters_combine_with_the_status_and_column_filters(sweep):
    tick(sweep, "values", "nan")
    tick(sweep, "values", "inf")
    assert count(sweep) == "4 of 78 cases shown · 1 of 3 specs"
    assert not sweep.locator("tr.row[data-spec='dropout-sweep-scaling']").is_visible()  # values n/a
    assert shown_counts(sweep, "dropout2d-non-finite", "eager") == {"expected-divergence": "2", "pass": "2"}
    sweep.uncheck("#f-status input[value='expected-divergence']")
    assert count(sweep) == "2 of 78 cases shown · 1 of 3 specs"
    assert shown_counts(sweep, "dropout2d-non-finite", "eager") == {"pass": "2"}
    assert cell(sweep, "dropout2d-non-finite", "eager").locator(".of").inner_text() == "of 6"
    sweep.select_option("#f-mode", "compiled")  # the non-finite spec ran eager only
    assert count(sweep) == "0 of 78 cases shown · 0 of 3 specs"


def test_the_panel_lists_only_the_cases_the_cell_counts(sweep):
    tick(sweep, "dtype", "float16")
    tick(sweep, "p", "0.9")
    cell(sweep, "dropout-sweep-scaling", "eager").locator("button.cell").click()
    detail = sweep.locator(".detail:visible")
    assert detail.locator("h3").inner_text() == "3 of 36 cases"
    ids = detail.locator("details.case:visible code").all_inner_texts()
    cases = [i for i in ids if i.startswith("dropout-sweep-scaling[")]
    assert len(cases) == 3 and all("p0.9" in i and "dtypefloat16" in i for i in cases)


def test_the_url_hash_follows_the_filters_and_a_linked_view_restores_them(sweep, browser, sweep_file):
    tick(sweep, "dtype", "float16")
    tick(sweep, "p", "0.9")
    sweep.select_option("#f-mode", "eager")
    assert sweep.evaluate("location.hash") == "#mode=eager&dtype=float16&p=0.9"
    linked = open_page(browser, sweep_file.as_uri() + "#dtype=float16&p=0.9&mode=eager")
    try:
        assert linked.locator("#f-axis-dtype input[value='float16']").is_checked()
        assert linked.locator("#f-mode").input_value() == "eager"
        assert count(linked) == count(sweep) == "3 of 78 cases shown · 1 of 3 specs"
        assert not linked.locator("#matrix-table thead th[data-mode='compiled']").is_visible()
        assert linked.console_messages == []
    finally:
        linked.close()
    sweep.click("#f-reset")
    wait_until(sweep, "location.hash === ''")
    assert count(sweep) == "78 of 78 cases shown · 3 of 3 specs"


def test_a_linked_view_can_open_a_cell_under_its_filters(browser, sweep_file):
    page = open_page(browser, sweep_file.as_uri())
    try:
        button = cell(page, "dropout-sweep-scaling", "compiled").locator("button.cell")
        anchor = "d-" + button.get_attribute("data-open")
        page.goto(sweep_file.as_uri() + f"#rank=1&open={anchor}")
        page.reload()  # a fresh load of the link, as a reader opening it would
        assert page.locator("#panel").is_visible()
        assert page.locator(f"#{anchor} h3").inner_text() == "12 of 36 cases"
        assert page.locator(f"#{anchor} details.case:visible").count() == 12
        page.keyboard.press("Escape")  # closing the panel keeps the filters in the address
        assert page.evaluate("location.hash") == "#rank=1"
        page.evaluate("location.hash = '#dtype=bfloat16'")  # editing the address re-filters in place
        wait_until(page, "document.getElementById('f-count').textContent.startsWith('18 of')")
        assert not page.locator("#f-axis-rank input[value='1']").is_checked()
    finally:
        page.close()


def test_sweep_screenshot(sweep):
    tick(sweep, "dtype", "float16")
    sweep.evaluate("document.getElementById('matrix').scrollIntoView()")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sweep.screenshot(path=str(ARTIFACTS / "report-filters.png"))


# ------------------------------------------------------------ a large sweep: the data block at scale
# 5,000 cases (large_docs: 4 targets, 20 specs); what the page should show is computed here from the
# same documents through reports.model, which renders the unfiltered matrix on the server.

@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[Path, model.Report]:
    tmp = tmp_path_factory.mktemp("large")
    docs = large_docs(cases=5000, targets=4, specs=20)
    crashed = next(r for r in docs[0]["results"] if r["status"] == "error")
    crashed["incident"] = {"kind": "crash", "signal": "SIGSEGV", "exit_code": -11,
                           "lines": ["Fatal Python error: Segmentation fault", "  in <script>alert(1)</script>"]}
    crashed["warnings"] = ["UserWarning: <b>not bold</b>"]
    paths = []
    for n, doc in enumerate(docs):
        paths.append(tmp / f"run{n}.json")
        paths[-1].write_text(json.dumps(doc))
    report = write_report(paths, tmp / "index.html")
    return tmp / "index.html", report


def matching(report: model.Report, **axes: str) -> list[model.Case]:
    return [c for c in report.cases if all(c.axes[name] == key for name, key in axes.items())]


def test_a_large_report_counts_filters_and_opens_the_right_cases(browser, large):
    path, report = large
    assert len(report.cases) == 5000
    page = open_page(browser, path.as_uri())
    try:
        specs = len(report.rows)
        assert count(page) == f"5000 of 5000 cases shown · {specs} of {specs} specs"
        for axis in report.axes:  # every chip counts the cases with its value
            chips = page.locator(f"#f-axis-{axis.name} label.chip")
            assert [(chips.nth(n).locator("input").get_attribute("value"), chips.nth(n).locator(".k").inner_text())
                    for n in range(chips.count())] == [(v.key, str(v.count)) for v in axis.values]

        tick(page, "dtype", "float16")
        tick(page, "p", "0.9")
        kept = matching(report, dtype="float16", p="0.9")
        rows = {c.record.spec for c in kept}
        assert 0 < len(kept) < 5000
        assert count(page) == f"{len(kept)} of 5000 cases shown · {len(rows)} of {specs} specs"
        for row in report.rows:
            assert page.locator(f"tr.row[data-spec='{row.spec}']").is_visible() is (row.spec in rows)

        # the cell with the most matching cases: its counts, then its drill-down
        chosen = {id(c) for c in kept}
        cells = [(cell, [c for c in cell.cases if id(c) in chosen]) for row in report.rows for cell in row.cells.values()]
        cell, cases = max(cells, key=lambda pair: (len({c.status for c in pair[1]}), len(pair[1])))
        button = page.locator(f"button.cell[data-open='{cell.id}']")
        spans = button.locator(".c:visible")
        tally = Counter(c.status.value for c in cases)
        assert {s.get_attribute("data-status"): int(s.locator(".n").inner_text()) for s in spans.all()} == tally
        button.click()
        detail = page.locator(f"#d-{cell.id}")
        assert detail.is_visible() and detail.locator("h3").inner_text() == f"{len(cases)} of {len(cell.cases)} cases"
        listed = detail.locator("details.case")
        assert listed.evaluate_all("els => els.map(e => e.id)") == [c.anchor for c in cases]
        assert listed.evaluate_all("""async els => {  // a case's body is built when it opens
            els.forEach(e => { e.open = true; });
            for (let n = 0; n < 100 && !els.every(e => e.querySelector('dl')); n += 1) {
              await new Promise(r => setTimeout(r, 20));
            }
            return els.every(e => e.querySelector('dl'));
        }""")
        first_codes = listed.locator("dl > dd:first-of-type > code:first-child")
        assert first_codes.all_inner_texts() == [c.record.id for c in cases]
        assert detail.locator("dd.message").all_inner_texts() == [c.record.message for c in cases]
        assert detail.locator("code.repro").all_inner_texts() == [c.record.reproduce for c in cases]
        page.keyboard.press("Escape")

        # a big cell lists its cases a page at a time
        page.click("#f-reset")
        wait_until(page, "location.hash === ''")
        big = max((cell for row in report.rows for cell in row.cells.values()), key=lambda cell: len(cell.cases))
        assert len(big.cases) > 400
        page.click(f"button.cell[data-open='{big.id}']")
        listed = page.locator(f"#d-{big.id} details.case")
        assert listed.count() == 200 and page.locator(f"#d-{big.id} h3").inner_text() == f"{len(big.cases)} cases"
        more = page.locator(f"#d-{big.id} button.more-cases")
        assert more.inner_text() == f"Show 200 more of {len(big.cases) - 200}"
        more.click()
        assert listed.count() == 400
        assert listed.evaluate_all("els => els.map(e => e.id)") == [c.anchor for c in big.cases[:400]]
        page.keyboard.press("Escape")

        # search reaches the messages of cases that did not pass (built from the data on first use)
        page.fill("#f-text", "exceeds the")
        failing = {c.record.spec for c in report.cases if c.status.value != "pass" and "exceeds the" in c.record.message}
        assert 0 < len(failing) and count(page).endswith(f" · {len(failing)} of {specs} specs")
        page.fill("#f-text", "")

        # every case that needs attention, listed on request; a row opens its case
        page.click("#show-more")
        attention = page.locator("#attention-list tbody tr")
        assert attention.count() == len(report.attention) > 25
        assert attention.locator("td:nth-child(3) code").all_inner_texts() == [c.record.id for c in report.attention]
        last = report.attention[-1]
        attention.last.click()
        opened = page.locator(f"details.case[id='{last.anchor}']")
        assert opened.get_attribute("open") is not None and last.record.message in opened.inner_text()
        assert page.evaluate("location.hash") == f"#{last.anchor}"
        page.keyboard.press("Escape")
        assert page.console_messages == []
    finally:
        page.close()


def test_a_linked_case_of_a_large_report_shows_its_incident_and_warnings(browser, large):
    path, report = large
    (case,) = [c for c in report.cases if c.record.warnings == ["UserWarning: <b>not bold</b>"]]
    page = open_page(browser, path.as_uri() + f"#status=pass&open={case.anchor}")  # filtered out, listed anyway
    try:
        opened = page.locator(f"details.case[id='{case.anchor}']")
        assert page.locator("#panel").is_visible() and opened.get_attribute("open") is not None
        text = opened.inner_text()
        assert "crash · SIGSEGV" in text and "in <script>alert(1)</script>" in text
        assert opened.locator("ul.warnings li").all_inner_texts() == ["UserWarning: <b>not bold</b>"]
        assert opened.locator("ul.warnings b, pre script").count() == 0  # text, never markup
        assert case.record.message in text and case.record.reproduce in text
        assert page.console_messages == []
    finally:
        page.close()
