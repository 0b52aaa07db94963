"""The status enum and the result record are the one definition: the schema, the gate, JUnit, the diff
and the report agree with them on every status, and records survive results.json both ways."""
from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance import results as res
from conformance.record import ATTENTION, OK_STATUSES, WORST_FIRST, Result, Status, results_of
from reports import diff, junit, model
from reports.html import TEMPLATES, render
from tests.report_data import document, record

RESULT_SCHEMA = json.loads(res.SCHEMA_PATH.read_text())["properties"]["results"]["items"]


def one_per_status() -> dict:
    return document("torch", "2.13.0", [record("dropout2d-scaling", "torch", s.value, p=n / 10)
                                        for n, s in enumerate(Status)])


def test_schema_statuses_are_the_enum():
    assert RESULT_SCHEMA["properties"]["status"]["enum"] == [s.value for s in Status]


def test_record_fields_are_the_schema_fields_in_order():
    names = [f.name for f in dataclasses.fields(Result)]
    assert names == list(RESULT_SCHEMA["properties"])
    assert set(RESULT_SCHEMA["required"]) <= set(names)


def test_status_sets_partition_the_enum():
    assert sorted(WORST_FIRST) == sorted(Status)
    assert set(ATTENTION) | OK_STATUSES == set(Status) and not set(ATTENTION) & OK_STATUSES
    assert all(s.ok is (s in OK_STATUSES) for s in Status)
    assert len({s.letter for s in Status}) == len({s.symbol for s in Status}) == len(Status)
    assert f"{Status.EXPECTED_DIVERGENCE}" == "expected-divergence" == Status.EXPECTED_DIVERGENCE.value


def test_a_bare_record_is_a_valid_results_entry():
    bare = Result(id="torch-probe", status=Status.ERROR, message="import failed", framework="torch")
    doc = {"run": {"format": 1, "suite_version": "0", "salt": "s", "alpha": 1e-9, "false_alarm_bound": 0.0,
                   "python": "3", "platform": "x", "targets": []}, "specs": {}, "results": [bare.to_json()]}
    res.validate(doc)
    assert json.loads(json.dumps(doc))["results"][0]["status"] == "error"


def test_records_round_trip_and_read_older_and_newer_writers():
    entry = record("dropout2d-scaling", "torch", "expected-divergence", reason="why")
    assert Result.from_json(entry).to_json() == entry
    older = {k: v for k, v in entry.items() if k not in ("warnings", "false_alarm")}  # not required by format 1
    assert Result.from_json(older).warnings == [] and Result.from_json(older).false_alarm == 0.0
    newer = {**entry, "duration": 1.5}  # format 1 only ever adds fields: a reader ignores those it lacks
    assert Result.from_json(newer) == Result.from_json(entry)


@pytest.mark.parametrize("entry, message", [({"id": "x", "status": "flaky"}, "unknown status 'flaky'"),
                                            ({"status": "pass"}, "without 'id'")])
def test_a_record_that_is_not_format_1_is_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        Result.from_json(entry)


def test_gate_and_counts_cover_every_status():
    results = results_of(one_per_status())
    assert res.counts(results) == {s: 1 for s in Status}
    for r in results:
        assert res.gate([r]) == (0 if r.status.ok else 1)


def test_junit_gives_every_status_its_element(tmp_path: Path):
    path = tmp_path / "j.xml"
    junit.write_junit(one_per_status(), path)
    (suite,) = ET.parse(path).getroot()
    by_status = {case.find("properties/property[@name='status']").get("value"): case for case in suite.iter("testcase")}
    assert set(by_status) == {s.value for s in Status}
    tags = {status: {child.tag for child in case} - {"properties"} for status, case in by_status.items()}
    assert tags == {"pass": set(), "expected-divergence": {"system-out"}, "skipped": {"skipped"},
                    "fail": {"failure"}, "stale-expectation": {"failure"}, "error": {"error"}}
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("2", "1", "1")


def test_diff_files_every_change_of_status():
    keys = {key for key, _, _ in diff.CATEGORIES}
    entry = record("dropout2d-scaling", "torch", "pass")
    for old in Status:
        for new in Status:
            category = diff.categorize(Result.from_json({**entry, "status": old.value}),
                                       Result.from_json({**entry, "status": new.value}))
            assert (category is None) if old is new else (category in keys)


def test_report_shows_and_styles_every_status():
    report = model.build([("run", one_per_status())])
    assert report.totals == {s: 1 for s in WORST_FIRST} and list(report.totals) == list(WORST_FIRST)
    html = render(report)
    css = (TEMPLATES / "report.css").read_text()
    for s in Status:
        assert f".s-{s.value}" in css and f'value="{s.value}"' in html and s.label in html
    assert [c.status for c in report.attention] == list(ATTENTION)
