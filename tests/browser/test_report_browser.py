"""The HTML report in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

.ci/install-browser.sh installs both; without them these tests are skipped with that reason.
A screenshot of the page is saved to build/artifacts/report.png.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_data import mlx_doc, torch_doc

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
def page(report_file):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.console_messages = []
        pg.on("console", lambda m: pg.console_messages.append(m) if m.type in ("error", "warning") else None)
        pg.on("pageerror", lambda e: pg.console_messages.append(e))
        pg.on("request", lambda r: pg.console_messages.append(f"network request {r.url}")
              if not r.url.startswith("file:") else None)
        pg.goto(report_file.as_uri())
        yield pg
        browser.close()


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
