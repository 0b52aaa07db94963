"""JUnit XML for CI systems: one testsuite per execution target, one testcase per result.

fail / error / stale-expectation become <failure> (the gate fails on them), skipped becomes
<skipped>; an expected divergence passes and says why in <system-out>.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

FAILING = ("fail", "error", "stale-expectation")
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    """XML 1.0 cannot carry the control characters an exception message may hold."""
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _suite_name(record: dict[str, Any]) -> str:
    parts = [record.get("framework"), record.get("device"), record.get("mode")]
    return "-".join(p for p in parts if p) or "run"


def _testcase(record: dict[str, Any]) -> ET.Element:
    case = ET.Element("testcase", name=_text(record["id"]), classname=_text(
        f"{record.get('behavior') or 'run'}.{record.get('spec') or 'run'}"), time="0")
    props = ET.SubElement(case, "properties")
    for key in ("status", "seed", "p_value", "n", "min_detectable", "reproduce"):
        if record.get(key) is not None:
            ET.SubElement(props, "property", name=key, value=_text(record[key]))
    status, message = record["status"], _text(record.get("message"))
    if status in FAILING:
        tag = "error" if status == "error" else "failure"
        node = ET.SubElement(case, tag, message=f"{status}: {message[:500]}", type=status)
        node.text = _text("\n".join([message, f"expected: {json.dumps(record.get('expected'))}",
                                     f"observed: {json.dumps(record.get('observed'), default=str)}",
                                     f"reproduce: {record.get('reproduce')}"]))
    elif status == "skipped":
        ET.SubElement(case, "skipped", message=message[:500])
    elif status == "expected-divergence":
        ET.SubElement(case, "system-out").text = _text(
            f"expected divergence: {(record.get('expected') or {}).get('reason', '')}\n{message}")
    return case


def build(document: dict[str, Any]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="dropout conformance")
    by_suite: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in document["results"]:
        by_suite[_suite_name(record)].append(record)
    for name, records in sorted(by_suite.items()):
        counts = {s: sum(r["status"] == s for r in records) for s in ("fail", "error", "stale-expectation", "skipped")}
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(records)),
                              failures=str(counts["fail"] + counts["stale-expectation"]),
                              errors=str(counts["error"]), skipped=str(counts["skipped"]), time="0")
        props = ET.SubElement(suite, "properties")
        for key in ("salt", "alpha", "false_alarm_bound", "suite_version"):
            ET.SubElement(props, "property", name=key, value=str(document["run"].get(key)))
        suite.extend(_testcase(r) for r in records)
    return ET.ElementTree(suites)


def write_junit(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = build(document)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
