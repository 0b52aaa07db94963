"""JUnit XML for CI systems: one testsuite per execution target, one testcase per result.

The statuses the gate fails on become <error> (error) or <failure> (fail, stale expectation),
skipped becomes <skipped>; an expected divergence passes and says why in <system-out>.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from conformance.record import Result, Status, results_of
from conformance.results import write_text_atomic

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    """XML 1.0 cannot carry the control characters an exception message may hold."""
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _suite_name(record: Result) -> str:
    parts = [record.framework, record.device, record.mode]
    return "-".join(p for p in parts if p) or "run"


def _testcase(record: Result) -> ET.Element:
    case = ET.Element("testcase", name=_text(record.id), classname=_text(
        f"{record.behavior or 'run'}.{record.spec or 'run'}"), time="0")
    props = ET.SubElement(case, "properties")
    for key in ("status", "seed", "p_value", "n", "min_detectable", "reproduce"):
        if getattr(record, key) is not None:
            ET.SubElement(props, "property", name=key, value=_text(getattr(record, key)))
    status, message = record.status, _text(record.message)
    if not status.ok:
        tag = "error" if status is Status.ERROR else "failure"
        node = ET.SubElement(case, tag, message=f"{status}: {message[:500]}", type=status.value)
        node.text = _text("\n".join([message, f"expected: {json.dumps(record.expected)}",
                                     f"observed: {json.dumps(record.observed, default=str)}",
                                     f"reproduce: {record.reproduce}"]))
    elif status is Status.SKIPPED:
        ET.SubElement(case, "skipped", message=message[:500])
    elif status is Status.EXPECTED_DIVERGENCE:
        ET.SubElement(case, "system-out").text = _text(
            f"expected divergence: {record.expected.get('reason', '')}\n{message}")
    return case


def build(document: dict[str, Any]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="dropout conformance")
    by_suite: dict[str, list[Result]] = defaultdict(list)
    for record in results_of(document):
        by_suite[_suite_name(record)].append(record)
    for name, records in sorted(by_suite.items()):
        errors = sum(r.status is Status.ERROR for r in records)
        failures = sum(not r.status.ok for r in records) - errors
        skipped = sum(r.status is Status.SKIPPED for r in records)
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(records)), failures=str(failures),
                              errors=str(errors), skipped=str(skipped), time="0")
        props = ET.SubElement(suite, "properties")
        for key in ("salt", "alpha", "false_alarm_bound", "suite_version", "spec_set"):
            ET.SubElement(props, "property", name=key, value=str(document["run"].get(key)))
        suite.extend(_testcase(r) for r in records)
    return ET.ElementTree(suites)


def write_junit(document: dict[str, Any], path: Path) -> None:
    tree = build(document)
    ET.indent(tree)
    write_text_atomic(path, "<?xml version='1.0' encoding='utf-8'?>\n" + ET.tostring(tree.getroot(), encoding="unicode"))
