"""results.json: building, atomic writing, reading and the gate.

The file is the contract for reports and dashboards; its schema is results.schema.json beside
this module. Fields are only ever added, never renamed or removed.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from . import __version__, stats
from .record import Result, Status
from .spec import Spec

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
FORMAT_VERSION = 1


def run_header(salt: str, spec_set: str, targets: list[dict[str, Any]], false_alarm: float,
               argv: list[str]) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "suite_version": __version__,
        "spec_set": spec_set,
        "salt": salt,
        "alpha": stats.ALPHA,
        "power": stats.POWER,
        "delta": stats.DELTA,
        "false_alarm_bound": false_alarm,
        "false_alarm_target": stats.RUN_BOUND_TARGET,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": " ".join(["python -m conformance", *argv]),
        "targets": targets,
    }


def spec_catalog(specs: Iterable[Spec]) -> dict[str, Any]:
    """What reports need of each spec (claim, sources) so that they never read YAML."""
    return {s.id: {"title": s.title, "behavior": s.behavior, "ops": s.ops, "claim": s.claim,
                   "sources": [src.model_dump(exclude_none=True) for src in s.sources]} for s in specs}


def _read_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # once, at import: umask is process-wide, and targets may save from threads


def write_atomic(path: Path, document: dict[str, Any]) -> None:
    """results.json, written whole (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(document, indent=1, sort_keys=False, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename it into place: a reader, or another
    run writing the same file, never sees a half-written file (the last writer wins whole). The mode is
    an ordinary file's (0644 under the usual umask), not mkstemp's private 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def validate(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if the document breaks the published schema."""
    import jsonschema
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))


def document(header: dict[str, Any], specs: Iterable[Spec], results: list[Result]) -> dict[str, Any]:
    """The results.json document."""
    return {"run": header, "specs": spec_catalog(specs), "results": [r.to_json() for r in results]}


def gate(results: list[Result]) -> int:
    """0 when every outcome is as expected, 1 otherwise."""
    return 0 if all(r.status.ok for r in results) else 1


def counts(results: list[Result]) -> dict[Status, int]:
    tally = {s: 0 for s in Status}
    for r in results:
        tally[r.status] += 1
    return tally


def stderr(msg: str) -> None:
    print(msg, file=sys.stderr)
