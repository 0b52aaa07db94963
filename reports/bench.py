"""How the report, the JUnit output and the diff cope with a coverage sweep's size (issue 13).

    python -m reports.bench [--cases 40000] [--targets 12] [--specs 70] [--no-browser] [--keep DIR]

Generates a synthetic sweep (tests/report_data.py: large_docs, one results.json per framework, two
modes each), then prints:
  python    reading + validating the documents, building the model, rendering and writing the page;
            the page's size
  browser   Debian's headless chromium driven by Playwright (as tests/browser does): load until the
            script has run and the matrix is painted, a filter click until the next frame is painted,
            opening the biggest cell's drill-down, listing every case that needs attention
  junit     the XML of every case in one document
  diff      two sweeps where some outcomes changed and one spec was renamed, and a run from before
            the sweep against the sweep: changes, text, HTML
Targets (2 cores): page <= 15 MB, load + first paint <= 3 s, a filter click <= 500 ms. Figures, not a
test: each line says within or OVER. Nothing here imports a framework or the engine.
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reports import diff, junit, model  # noqa: E402
from reports.html import render  # noqa: E402

PAGE_MB, LOAD_S, CLICK_MS = 15.0, 3.0, 500.0
# After a click: wait for the next animation frame, then for the task after it, by which time the
# frame (style, layout, paint) that shows the change has been produced.
NEXT_PAINT = "new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


def verdict(value: float, limit: float, unit: str) -> str:
    return f"within {limit:g} {unit}" if value <= limit else f"OVER {limit:g} {unit}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def merged(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every case of `docs` in one document (the first one's header, every target)."""
    doc = copy.deepcopy(docs[0])
    doc["run"]["targets"] = [t for d in docs for t in d["run"]["targets"]]
    doc["results"] = [r for d in docs for r in d["results"]]
    return doc


def changed(doc: dict[str, Any], every: int = 50) -> dict[str, Any]:
    """A later run of the same sweep: every `every`-th outcome differs, and one spec has a new name."""
    new = copy.deepcopy(doc)
    flip = {"pass": "fail", "fail": "pass", "error": "pass", "skipped": "pass", "expected-divergence": "pass",
            "stale-expectation": "pass"}
    renamed = sorted({r["spec"] for r in new["results"]})[0]
    for i, r in enumerate(new["results"]):
        if i % every == 0:
            r["status"] = flip[r["status"]]
        if r["spec"] == renamed:
            r["id"] = r["id"].replace(renamed, renamed + "-v2", 1)
    return new


def bench_python(paths: list[Path], out: Path) -> tuple[model.Report, dict[str, float]]:
    docs, t_load = timed(lambda: model.load(paths))
    report, t_build = timed(lambda: model.build(docs))
    page, t_render = timed(lambda: render(report))
    _, t_write = timed(lambda: out.write_text(page, encoding="utf-8"))
    return report, {"load": t_load, "build": t_build, "render": t_render, "write": t_write}


def bench_browser(page_path: Path, report: model.Report) -> list[str]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return ["browser: playwright missing (.ci/install-browser.sh): skipped"]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return ["browser: chromium missing (.ci/install-browser.sh): skipped"]
    lines = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        loads, errors, pg = [], [], None
        for _ in range(3):
            if pg is not None:
                pg.close()
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.on("pageerror", lambda e: errors.append(e))
            start = time.perf_counter()
            pg.goto(page_path.as_uri(), wait_until="load", timeout=300_000)
            # ms since navigation start until the frame after the load event (script run, matrix painted)
            ready = pg.evaluate(f"async () => {{ await {NEXT_PAINT}; return performance.now(); }}") / 1000
            wall = time.perf_counter() - start
            fcp = pg.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0")
            heap = pg.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 2**20
            nodes = pg.evaluate("document.getElementsByTagName('*').length")
            loads.append((ready, wall, fcp / 1000, heap, nodes))
        ready, wall, fcp, heap, nodes = sorted(loads)[1]  # the median of three
        lines.append(f"browser load + first paint   {ready:6.2f} s   (median of 3; first contentful paint "
                     f"{fcp:.2f} s, wall {wall:.2f} s; {nodes:,} elements, JS heap {heap:.0f} MB)  "
                     f"{verdict(ready, LOAD_S, 's')}")

        def click(selector: str) -> float:
            return pg.evaluate(f"async (sel) => {{ const t = performance.now(); document.querySelector(sel).click();"
                               f" await {NEXT_PAINT}; return performance.now() - t; }}", selector)

        axes = {a.name: a for a in report.axes}
        clicks = []
        for name, index in (("dtype", 0), ("p", 1), ("dtype", 0), ("rank", 0)):
            if name in axes and len(axes[name].values) > index:
                key = axes[name].values[index].key
                ms = click(f"#f-axis-{name} input[value='{key}']")
                clicks.append(ms)
                lines.append(f"browser filter click {name}={key:<12} {ms:6.0f} ms  -> "
                             f"{pg.inner_text('#f-count')}  {verdict(ms, CLICK_MS, 'ms')}")
        ms = click("#f-status input[value='pass']")
        lines.append(f"browser status click (pass off) {ms:6.0f} ms  -> {pg.inner_text('#f-count')}  "
                     f"{verdict(ms, CLICK_MS, 'ms')}")
        clicks.append(ms)
        ms = click("#f-reset")
        ms += pg.evaluate(f"async () => {{ const t = performance.now(); await {NEXT_PAINT}; await {NEXT_PAINT};"
                          f" return performance.now() - t; }}")  # reset applies on the next task
        lines.append(f"browser reset              {ms:6.0f} ms  -> {pg.inner_text('#f-count')}")
        biggest = max((cell for row in report.rows for cell in row.cells.values()), key=lambda c: len(c.cases))
        ms = click(f"button.cell[data-open='{biggest.id}']")
        shown = pg.locator(".detail:visible details.case").count()
        lines.append(f"browser open biggest cell   {ms:6.0f} ms  ({len(biggest.cases)} cases, {shown} listed)  "
                     f"{verdict(ms, CLICK_MS, 'ms')}")
        pg.keyboard.press("Escape")
        if pg.locator("#show-more").count():
            ms = click("#show-more")
            lines.append(f"browser show all attention  {ms:6.0f} ms  ({len(report.attention)} rows)")
        if errors:
            lines.append(f"browser PAGE ERRORS: {errors[:3]}")
        lines.append(f"browser filter clicks: median {statistics.median(clicks):.0f} ms, max {max(clicks):.0f} ms  "
                     f"{verdict(max(clicks), CLICK_MS, 'ms')}")
        browser.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=40_000)
    parser.add_argument("--targets", type=int, default=12)
    parser.add_argument("--specs", type=int, default=70)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--keep", type=Path, help="write the inputs and outputs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    from tests.report_data import large_docs  # the generator the tests use too

    work = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    docs, t_gen = timed(lambda: large_docs(args.cases, args.targets, args.specs))
    paths = []
    for doc in docs:
        path = work / f"{doc['run']['targets'][0]['framework']}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(path)
    inputs = sum(p.stat().st_size for p in paths) / 2**20
    print(f"{args.cases:,} cases, {args.targets} targets, {args.specs} specs in {len(docs)} documents "
          f"({inputs:.1f} MB of results.json, generated in {t_gen:.1f} s) under {work}")

    out = work / "index.html"
    report, t = bench_python(paths, out)
    size = out.stat().st_size
    print(f"python load+validate {t['load']:.2f} s, build {t['build']:.2f} s, render {t['render']:.2f} s, "
          f"write {t['write']:.2f} s: {sum(t.values()):.2f} s")
    print(f"page {size / 2**20:.2f} MB ({size / args.cases:.0f} bytes per case)  "
          f"{verdict(size / 2**20, PAGE_MB, 'MB')}")

    one = merged(docs)
    tree, t_junit = timed(lambda: junit.build(one))
    xml_path = work / "junit.xml"
    _, t_jwrite = timed(lambda: junit.write_junit(one, xml_path))
    print(f"junit {len(one['results']):,} testcases: build {t_junit:.2f} s, build+indent+write {t_jwrite:.2f} s, "
          f"{xml_path.stat().st_size / 2**20:.1f} MB")

    before_sweep = dict(one, results=one["results"][::50])  # a run from before the sweep: 2% of the cases
    for name, old, new in (("a later run", one, changed(one)), ("the sweep added", before_sweep, one)):
        changes, t_cmp = timed(lambda: diff.compare(old, new))
        text, t_text = timed(lambda: diff.as_text(changes, Path("old.json"), Path("new.json")))
        html_path = work / "diff.html"
        _, t_html = timed(lambda: diff.write_html(changes, Path("old.json"), Path("new.json"), html_path))
        print(f"diff, {name}: {len(changes):,} changes: compare {t_cmp:.2f} s, text {t_text:.2f} s "
              f"({text.count(chr(10)) + 1:,} lines), html {t_html:.2f} s ({html_path.stat().st_size / 2**20:.2f} MB)")

    if not args.no_browser:
        for line in bench_browser(out, report):
            print(line)
    if args.keep is None:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
