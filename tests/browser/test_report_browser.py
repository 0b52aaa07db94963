"""The HTML report in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

.ci/install-browser.sh installs both; without them these tests are skipped with that reason.
Screenshots are saved to build/artifacts/ (report.png, report-drilldown.png, report-filters.png).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reports.html import write_report
from tests.report_data import mlx_doc, sweep_doc, torch_doc

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
    sweep.wait_for_function("location.hash === ''")
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
        page.wait_for_function("document.getElementById('f-count').textContent.startsWith('18 of')")
        assert not page.locator("#f-axis-rank input[value='1']").is_checked()
    finally:
        page.close()


def test_sweep_screenshot(sweep):
    tick(sweep, "dtype", "float16")
    sweep.evaluate("document.getElementById('matrix').scrollIntoView()")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sweep.screenshot(path=str(ARTIFACTS / "report-filters.png"))
