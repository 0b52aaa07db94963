"""The HTML report, the diff and JUnit output, from results documents (no framework involved)."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.record import Result, Status
from reports import casedata, diff, junit, model
from reports.html import render, write_report
from tests.report_data import document, large_docs, mlx_doc, record, sweep_doc, torch_doc

ROOT = Path(__file__).resolve().parent.parent


def all_cases(data: dict) -> list[dict]:
    """Every case a page embeds, decoded as report.js decodes it."""
    return [casedata.case(data, i) for i in range(len(data["cases"]["st"]))]


@pytest.fixture
def two_files(tmp_path) -> list[Path]:
    paths = []
    for name, doc in (("torch.json", torch_doc()), ("mlx.json", mlx_doc())):
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def test_merging_two_runs_gives_one_column_per_target_and_totals(two_files):
    report = model.build(model.load(two_files))
    assert [(c.framework, c.version) for c in report.columns] == [("mlx", "0.32.4"), ("torch", "2.13.0")]
    assert report.totals["pass"] == 4 and report.totals["fail"] == 1 and report.totals["expected-divergence"] == 1
    torch_col = next(c for c in report.columns if c.framework == "torch")
    assert torch_col.totals["fail"] == 1 and torch_col.totals["pass"] == 1
    assert [c.status for c in report.attention] == [Status.FAIL]


def test_merged_runs_state_their_summed_false_alarm_bound(two_files, tmp_path):
    """A matrix is several runs, and its gate fails when any of them does: the report sums their bounds."""
    report = model.build(model.load(two_files))
    assert report.false_alarm_bound == pytest.approx(4e-8)  # 2e-8 per run (report_data.document)
    html = render(report)
    assert 'id="matrix-bound"' in html and "All 2 runs together: false-alarm bound <b>4e-08</b>" in html
    single = render(model.build(model.load(two_files[:1])))
    assert 'id="matrix-bound"' not in single


def test_cell_shows_worst_status_first_with_counts(two_files):
    report = model.build(model.load(two_files))
    row = next(r for r in report.rows if r.spec == "dropout2d-scaling")
    cell = next(c for c in row.cells.values() if c.column.framework == "torch")
    assert cell.worst is Status.FAIL and cell.counts == [(Status.FAIL, 1), (Status.PASS, 1)]


def test_failures_come_first_and_text_is_escaped(two_files, tmp_path):
    out = tmp_path / "index.html"
    write_report(two_files, out)
    html = out.read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.index('id="attention"') < html.index('id="matrix"')
    assert "<link " not in html and 'src="http' not in html  # self-contained: nothing from the network


def test_claims_audit_and_portability_name_the_difference(two_files):
    report = model.build(model.load(two_files))
    audit = {name: claims for name, _, claims in model.claims_audit(report)}
    nonfinite = audit["PyTorch nn.Dropout2d"][0]
    assert nonfinite.verdicts["torch"][0] == "diverges" and "multiplies" in nonfinite.verdicts["torch"][1]
    assert nonfinite.verdicts["mlx"][0] == "conforms"
    (a, b, diffs, _), = model.portability(report)
    assert (a, b) == ("mlx", "torch") and {d.row.spec for d in diffs} == {"dropout2d-non-finite", "dropout2d-scaling"}


def test_portability_compares_case_by_case():
    """Both diverge somewhere in the spec, on different cases: the case where only one does is a
    difference (a spec-level verdict would hide it); a case only one side ran is not compared."""
    torch = document("torch", "2.13.0", [
        record("dropout2d-scaling", "torch", "expected-divergence", mode="compiled", p=0.5, reason="compiled quirk"),
        record("dropout2d-scaling", "torch", "pass", p=0.5), record("dropout2d-scaling", "torch", "pass", p=0.9),
        record("dropout2d-scaling", "torch", "fail", p=0.1)])
    mlx = document("mlx", "0.32.4", [record("dropout2d-scaling", "mlx", "expected-divergence", p=p, reason="mlx quirk")
                                     for p in (0.5, 0.9)], salt="s2")
    (a, b, diffs, uncompared), = model.portability(model.build([("t", torch), ("m", mlx)]))
    (diff,) = diffs
    assert (a, b, diff.row.spec, uncompared) == ("mlx", "torch", "dropout2d-scaling", 0)
    assert diff.a == ("diverges", "mlx quirk") and diff.b == ("conforms", "")
    assert [(pa[0].record.params, pb[0].record.params) for pa, pb in diff.pairs] == [({"p": 0.9}, {"p": 0.9})]


def test_source_links_are_only_http(tmp_path):
    doc = torch_doc()
    doc["specs"]["dropout2d-scaling"]["sources"][0]["url"] = "javascript:alert(1)"
    html = render(model.build([("x", doc)]))
    assert 'href="javascript:' not in html and 'href="#"' in html


def test_report_cli_merges_files_and_rejects_non_results(two_files, tmp_path):
    out = tmp_path / "r" / "index.html"
    proc = subprocess.run([sys.executable, "-m", "conformance", "report", *map(str, two_files), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and out.exists() and "2 targets" in proc.stdout
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    proc = subprocess.run([sys.executable, "-m", "conformance", "report", str(bogus), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "not a conformance results.json" in proc.stderr


def test_diff_categories():
    old = document("torch", "2.12", [record("dropout2d-scaling", "torch", "pass"),
                                     record("dropout2d-scaling", "torch", "fail", p=0.9),
                                     record("dropout2d-non-finite", "torch", "expected-divergence", reason="r"),
                                     record("dropout2d-non-finite", "torch", "pass", p=0.1)])
    new = document("torch", "2.13", [record("dropout2d-scaling", "torch", "fail"),
                                     record("dropout2d-scaling", "torch", "pass", p=0.9),
                                     record("dropout2d-non-finite", "torch", "pass"),
                                     record("dropout2d-non-finite", "torch", "pass", p=0.3)])
    got = {c.id.split("[")[1]: c.category for c in diff.compare(old, new)}
    assert got == {"torch-cpu-eager-p0.5]": "divergence-gone", "torch-cpu-eager-p0.9]": "fixed",
                   "torch-cpu-eager-p0.1]": "removed", "torch-cpu-eager-p0.3]": "added"} | \
        {k: v for k, v in got.items() if v == "new-failure"}
    assert sorted(got.values()).count("new-failure") == 1


def test_diff_cli_text_and_html(two_files, tmp_path):
    out = tmp_path / "diff.html"
    proc = subprocess.run([sys.executable, "-m", "conformance", "diff", str(two_files[0]), str(two_files[1]),
                           "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    assert "New cases (3" in proc.stdout and "Removed cases (3" in proc.stdout
    assert "&lt;script&gt;" in out.read_text() and "<script>alert" not in out.read_text()


@pytest.mark.parametrize("old_set, new_set, warned", [
    ("0123456789ab", "0123456789ab", None),
    ("0123456789ab", "fedcba987654", "used different spec sets"),
    (None, "0123456789ab", "cannot be told to share a spec set"),  # a results file from before spec_set
])
def test_diff_warns_when_the_runs_used_different_spec_sets(tmp_path, old_set, new_set, warned):
    paths = []
    for name, spec_set in (("old.json", old_set), ("new.json", new_set)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(document("torch", "2.13", [record("dropout2d-scaling", "torch", "pass")],
                                                 spec_set=spec_set)))
    proc = subprocess.run([sys.executable, "-m", "conformance", "diff", *map(str, paths), "-o",
                           str(tmp_path / "diff.html")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    html = (tmp_path / "diff.html").read_text()
    if warned is None:
        assert "warning" not in proc.stderr and "spec set" not in proc.stdout and 'class="warning"' not in html
    else:
        assert warned in proc.stderr and warned in proc.stdout and warned in html
        assert f"new: spec set {new_set}" in proc.stdout


def test_junit_counts_and_parses(tmp_path):
    path = tmp_path / "j.xml"
    junit.write_junit(torch_doc(), path)
    suites = ET.parse(path).getroot()
    (suite,) = list(suites)
    assert suite.get("name") == "torch-cpu-eager" and suite.get("tests") == "3"
    assert suite.get("failures") == "1" and suite.get("errors") == "0"
    run_props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert run_props["suite_version"] == "0.1.0" and run_props["spec_set"] == "0123456789ab"
    failure = suite.find("testcase/failure")
    assert failure is not None and "reproduce: python -m conformance run" in failure.text
    props = {p.get("name"): p.get("value") for p in suite.find("testcase/properties")}
    assert props["seed"] == "12345" and props["p_value"] == "0.42"


def test_a_framework_that_skips_every_case_is_shown_as_not_offering_it():
    doc = mlx_doc()
    for r in doc["results"]:
        if r["spec"] == "dropout2d-non-finite":
            r["status"], r["message"] = "skipped", "not offered: MLX has no such thing"
    report = model.build([("mlx", doc), ("torch", torch_doc())])
    claim = next(c for _, _, claims in model.claims_audit(report) for c in claims
                 if c.row.spec == "dropout2d-non-finite")
    assert claim.verdicts["mlx"][0] == "not offered" and "no such thing" in claim.verdicts["mlx"][1]


def test_junit_survives_control_characters_in_messages(tmp_path):
    doc = torch_doc()
    doc["results"][1]["message"] = "kernel said \x00\x1b[31mboom"
    path = tmp_path / "j.xml"
    junit.write_junit(doc, path)
    failure = ET.parse(path).getroot().find("testsuite/testcase/failure")
    assert "boom" in failure.text and "\x00" not in failure.text


def test_a_record_without_a_target_gets_a_run_level_row_and_column():
    """A malformed spec's error names no framework, device or mode; the report still shows it."""
    doc = torch_doc()
    doc["results"].append(Result(id="spec-error[specs/x.yaml::broken::check]", status=Status.ERROR,
                                 message="unknown check 'nosuch'", spec="broken").to_json())
    report = model.build([("torch", doc)])
    (case,) = [c for c in report.attention if c.status is Status.ERROR]
    assert case.column.framework == "?" and report.groups[-1][0] == model.RUN_GROUP
    assert "unknown check &#39;nosuch&#39;" in render(report)


def test_a_record_with_an_unknown_status_is_refused_naming_the_file(tmp_path):
    doc = torch_doc()
    doc["results"][0]["status"] = "flaky"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"odd\.json.*results\[0\]\.status: 'flaky' is not one of"):
        write_report([path], tmp_path / "index.html")


def test_diff_reads_ids_renamed_by_merged_specs_as_today_s() -> None:
    """Old results name a case dropout2d-scaling[...]; the merged spec names it channel-dropout-scaling[...]."""
    from conformance.record import Result, Status
    from reports.diff import compare, current_id
    old = Result(id="dropout2d-scaling[keras-jax-cpu-eager-p0.5-float32]", status=Status.PASS,
                 framework="keras-jax", device="cpu", mode="eager")
    new_id = "channel-dropout-scaling[keras-jax-cpu-eager-dropout2d-p0.5-float32]"
    assert current_id(old) == new_id
    unrenamed = Result(id="dropout2d-seeding[keras-jax-cpu-eager]", status=Status.PASS,
                       framework="keras-jax", device="cpu", mode="eager")
    assert current_id(unrenamed) == unrenamed.id
    new = Result(id=new_id, status=Status.PASS, framework="keras-jax", device="cpu", mode="eager")
    doc = lambda *records: {"results": [r.to_json() for r in records]}  # noqa: E731
    assert compare(doc(old), doc(new)) == []


def test_a_crashed_case_shows_its_incident(tmp_path):
    doc = torch_doc()
    doc["results"][0].update(status="error", message="crash: the torch-cpu-eager process died (signal SIGSEGV)",
                             incident={"kind": "crash", "signal": "SIGSEGV", "exit_code": -11,
                                       "lines": ["Fatal Python error: Segmentation fault", "  File \"x.py\", line 3 in <f>"]})
    path = tmp_path / "crash.json"
    path.write_text(json.dumps(doc))
    html = (tmp_path / "index.html")
    write_report([path], html)
    text = html.read_text()
    data = casedata.read_page(text)
    (crashed,) = [c for c in all_cases(data) if c["status"] == "error"]
    assert crashed["i"] == {"kind": "crash", "signal": "SIGSEGV", "exit_code": -11,
                            "lines": ["Fatal Python error: Segmentation fault", '  File "x.py", line 3 in <f>']}
    assert "line 3 in <f>" not in text and "line 3 in \\u003cf\\u003e" in text  # no text can close the <script>


# ------------------------------------------------------------ case axes (coverage sweep filters)

def _case(params: dict, op: str | None = "dropout") -> Result:
    return Result(id="x[torch-cpu-eager]", status=Status.PASS, op=op, params=params, mode="eager")


def test_case_axes_take_rank_from_the_shape_and_the_engine_s_defaults():
    axes = model.case_axes(_case({"shape": [64, 64, 2, 2], "p": 0.5}))
    assert axes == {"op": "dropout", "dtype": "float32", "rank": "4", "p": "0.5", "form": "module",
                    "seeding": model.NA, "values": model.NA}
    full = {"shape": [64, 64, 2, 2], "p": 0.5, "dtype": "float16", "form": "functional", "seeding": "global",
            "values": "subnormal", "rank": 3}
    assert model.case_axes(_case(full)) == {"op": "dropout", "dtype": "float16", "rank": "3", "p": "0.5",
                                            "form": "functional", "seeding": "global", "values": "subnormal"}


def test_rank_is_the_param_then_the_shape_then_unknown():
    assert model.rank_of({"rank": 2, "shape": [4, 4, 4]}) == 2
    assert model.rank_of({"shape": [4096]}) == 1 and model.rank_of({"shape": []}) == 0
    assert model.rank_of({"p": 0.5}) is None and model.rank_of({"shape": "4x4"}) is None
    assert model.case_axes(_case({"p": 0.5}))["rank"] == model.NA


def test_p_keys_merge_int_and_float_and_keep_every_digit():
    assert model.p_key(1) == model.p_key(1.0) == "1.0"
    assert model.p_key(0.0009765625) == "0.0009765625" and model.p_key(None) == model.NA
    assert model.case_axes(_case({"shape": [2]}))["p"] == model.NA


def test_a_run_level_record_has_no_axes():
    """An unavailable target's or a malformed spec's record ran no dropout: no float32 default."""
    assert set(model.case_axes(_case({}, op=None)).values()) == {model.NA}


def test_offered_axes_list_only_values_that_occur_in_reading_order_with_counts():
    report = model.build([("sweep", sweep_doc())])
    axes = {a.name: [(v.key, v.count) for v in a.values] for a in report.axes}
    assert list(axes) == ["op", "dtype", "rank", "p", "form", "seeding", "values"]
    assert axes["dtype"] == [("float16", 21), ("bfloat16", 18), ("float32", 21), ("float64", 18)]
    assert axes["rank"] == [("1", 24), ("3", 24), ("4", 30)]
    assert axes["p"] == [("0.0009765625", 24), ("0.5", 30), ("0.9", 24)]
    assert axes["values"][-1] == (model.NA, 72)  # the scaling cases give no input values: n/a, last
    p_labels = [v.label for v in report.axes[3].values]
    assert p_labels == ["0.000976562", "0.5", "0.9"]


def test_a_secondary_axis_with_one_value_is_not_offered_but_dtype_rank_and_p_are():
    report = model.build([("torch", torch_doc())])  # one op, no shapes, default dtype and form
    assert [(a.name, [v.key for v in a.values]) for a in report.axes] == [
        ("dtype", ["float32"]), ("p", ["0.5", "0.9"])]


def test_numeric_axes_sort_numerically_and_odd_values_after():
    cases = [model.Case(_case({"p": p}), None, axes=model.case_axes(_case({"p": p})))  # type: ignore[arg-type]
             for p in (0.9, -0.1, "auto", 1, 0.25)]
    (p_axis,) = [a for a in model.offered_axes(cases) if a.name == "p"]
    assert [v.key for v in p_axis.values] == ["-0.1", "0.25", "0.9", "1.0", "auto"]


def test_cases_carry_their_axes_into_the_page_escaped():
    doc = sweep_doc()
    doc["results"][0]["params"]["dtype"] = '"><b>x'
    html = render(model.build([("sweep", doc)]))
    assert '"><b>x' not in html and 'value="&#34;&gt;&lt;b&gt;x"' in html  # the chip, escaped
    cases = all_cases(casedata.read_page(html))
    assert len(cases) == 78 and html.count('<fieldset class="axis"') == 7
    assert [c["axes"]["dtype"] for c in cases].count('"><b>x') == 1
    assert sum(c["axes"]["rank"] == "4" for c in cases) == 30
    assert 'id="f-axis-dtype"' in html and '<input type="checkbox" value="0.0009765625">' in html


# ------------------------------------------------------------ the page's case data (casedata)

def test_the_page_data_gives_back_every_case_as_the_drill_down_shows_it():
    from reports.html import compact, fmt_num
    docs = large_docs(cases=3000, targets=3, specs=12)
    docs[0]["results"][0]["seed"] = 2**63 - 1  # beyond JavaScript's exact integers: kept as text
    report = model.build([(f"run{n}", doc) for n, doc in enumerate(docs)])
    html = render(report)
    data = casedata.read_page(html)
    cells = {c[0]: c for c in data["cells"]}
    checked = 0
    for row in report.rows:
        for cell in row.cells.values():
            _, r_i, c_i, start, count = cells[cell.id]
            assert (data["rows"][r_i]["spec"], data["columns"][c_i]["id"], count) == (row.spec, cell.column.id,
                                                                                     len(cell.cases))
            for k, case in enumerate(cell.cases):
                r, got = case.record, casedata.case(data, start + k)
                assert case.anchor == f"{cell.id}-{k}"
                assert (got["id"], got["status"], got["message"], got["reproduce"]) == (
                    r.id, r.status.value, r.message, r.reproduce)
                assert (got["params"], got["observed"], got["op"]) == (compact(r.params), compact(r.observed), r.op)
                assert got["axes"] == {a.name: case.axes[a.name] for a in report.axes}
                assert got["seed"] == (r.seed if r.seed < 2**53 else str(r.seed))
                assert got["expected"]["outcome"] == r.expected["outcome"]
                assert got["expected"]["reason"] == r.expected.get("reason", "")
                if r.p_value is not None:
                    assert got["p_value"] == fmt_num(r.p_value) and got["stats"][0] == fmt_num(r.n)
                assert got.get("w", []) == r.warnings and got.get("i") == r.incident
                checked += 1
    assert checked == 3000
    assert [casedata.case(data, i)["id"] for i in data["attention"]] == [c.record.id for c in report.attention]
    assert len(html.encode()) / 3000 < 250  # bytes per case, page included (it was 1,500 as HTML)


@pytest.mark.parametrize("text", ["", "0", "1,2,3", "-", "--1", "e5", "1e", "a-1.5e-3b", "p0.5-float16]", "٣ x",
                                  "1.2.3", "no numbers at all", "x\x00\U0001f600 9"])
def test_templated_texts_come_back_unchanged(text):
    templates = casedata.Templates()
    encoded = templates.encode(text)
    assert casedata.expand(templates.values, encoded) == text


def test_texts_that_differ_in_their_numbers_share_a_template():
    templates = casedata.Templates()
    one, two = (templates.encode(f"drop rate {a} over {n} decisions, p-value {p}")
                for a, n, p in (("0.4987", 4096, "1e-09"), ("0.5012", 131072, "0.42")))
    assert (one, two) == ("0,0.4987,4096,1e-09", "0,0.5012,131072,0.42") and len(templates.values) == 1


def test_no_text_can_close_the_data_script():
    doc = torch_doc()
    doc["results"][0]["message"] = "</script><script>alert(1)</script><!-- \u2028 & >"
    html = render(model.build([("x", doc)]))
    start = html.index('id="report-data">') + len('id="report-data">')
    block = html[start:html.index("</script>", start)]
    assert not {"<", ">", "&"} & set(block)
    assert doc["results"][0]["message"] in [c["message"] for c in all_cases(casedata.read_page(html))]


def test_the_fast_schema_check_agrees_with_jsonschema():
    """model.schema_problem accepts through a compiled check and asks jsonschema about the rest."""
    import copy
    import random

    import jsonschema

    from conformance.results import SCHEMA_PATH
    schema = json.loads(SCHEMA_PATH.read_text())
    fast = model._schema_check()
    doc = torch_doc()
    doc["results"][0].update(status="error", incident={"kind": "crash", "signal": None, "exit_code": -11, "lines": []})
    assert fast(doc) and jsonschema.Draft202012Validator(schema).is_valid(doc)

    def places(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                yield path + (key,)
                yield from places(value, path + (key,))
        elif isinstance(node, list):
            for n, value in enumerate(node):
                yield from places(value, path + (n,))

    spots = list(places(doc))
    odd = [None, True, False, 0, 1, 1.0, 2.5, -3, "", "x", "pass", "eager", "crash", "conforms", [], ["x"], [1], {},
           {"kind": "crash"}]
    rng = random.Random(13)
    outcomes = set()
    for _ in range(300):
        mutated = copy.deepcopy(doc)
        *parent, key = rng.choice(spots)
        holder = mutated
        for step in parent:
            holder = holder[step]
        action = rng.random()
        if action < 0.15 and isinstance(holder, dict):
            del holder[key]
        elif action < 0.25 and isinstance(holder, dict):
            holder["surplus"] = rng.choice(odd)
        else:
            holder[key] = copy.deepcopy(rng.choice(odd))
        valid = jsonschema.Draft202012Validator(schema).is_valid(mutated)
        assert fast(mutated) == valid, (parent, key)
        assert (model.schema_problem(mutated) is None) == valid
        outcomes.add(valid)
    assert outcomes == {True, False}


def test_a_diff_lists_changed_outcomes_and_counts_thousands_of_new_cases_per_spec_and_target(tmp_path):
    new = large_docs(cases=1200, targets=2, specs=6)[0]  # one framework, two modes
    old = json.loads(json.dumps(new))
    old["results"] = old["results"][:200]
    flipped = [r for r in old["results"] if r["status"] == "pass"][:3]
    for r in flipped:
        r["status"] = "fail"
    changes = diff.compare(old, new)
    assert len(changes) == 1000 + 3
    text = diff.as_text(changes, Path("old.json"), Path("new.json"))
    assert "\nFixed (3; was failing, now as expected):" in text
    assert all(f"  {r['id']}\n      fail -> pass" in text for r in flipped)
    assert "\nNew cases (1000; in the new run only; per spec and target):" in text
    bunches = diff.bunched([c for c in changes if c.category == "added"])
    targets = {(r["spec"], f"{r['framework']}-cpu-{r['mode']}") for r in new["results"][200:]}
    assert {(b.spec, b.target) for b in bunches} == targets and sum(b.count for b in bunches) == 1000
    assert len(text.splitlines()) < 2 + 2 + 3 * 2 + len(targets) + 2
    out = tmp_path / "diff.html"
    diff.write_html(changes, Path("old.json"), Path("new.json"), out)
    page = out.read_text()
    assert page.count("<tr>") == 1 + 3 + 1 + len(targets) and "counted per spec and target" in page
