"""One execution target in pytest subprocesses, so that a crash or a hang costs one case.

The plugin streams a plan (every case's record before it runs), a `start` line as each case
begins and a `result` line as it ends. When the process dies or a case outlives --case-timeout,
the case that was running gets its own error record: kind `crash` or `timeout`, the exit code or
signal, and the lines that matter (Python's fault-handler report and stacks, or the output's tail).
Then the target restarts on the cases still to run, as web-platform-tests restarts a browser,
at most `max_restarts` times.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .progress import Progress
from .record import Result, Status

POLL_SECONDS = 0.2
ABORT_GRACE_SECONDS = 10.0  # after SIGABRT (which makes Python print its stacks), then SIGKILL
FAULT_LINES = 60
TAIL_LINES = 20


@dataclass(frozen=True)
class TargetSettings:
    """How the command line asked for targets to run."""

    specs_dir: str
    patterns: list[str]
    expectation_files: list[str]
    timeout: float  # seconds for the whole target, restarts included
    case_timeout: float
    max_restarts: int
    verbose: bool = False


@dataclass
class TargetRun:
    """What one target produced: its plan's bound, every result, and what the supervisor did."""

    label: str
    false_alarm: float = 0.0
    results: list[Result] = field(default_factory=list)
    restarts: int = 0
    notes: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # the target's test ids in plan order, every shard's

    def merged(self, other: TargetRun) -> TargetRun:
        """Two shards of one target as one run, results in the target's plan order."""
        order = self.order or other.order
        position = {test_id: i for i, test_id in enumerate(order)}
        results = sorted(self.results + other.results, key=lambda r: position.get(r.id, len(position)))
        return TargetRun(self.label, self.false_alarm + other.false_alarm, results,
                         self.restarts + other.restarts, self.notes + other.notes, order)


class JsonlReader:
    """The complete lines appended to a file since the last read (a line cut short waits)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.pending = path, 0, b""

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
        return records


def fault_lines(text: str) -> list[str]:
    """Python's fault-handler report without the list of loaded extension modules."""
    kept = []
    for line in text.splitlines():
        if line.startswith("Extension modules:"):
            break
        kept.append(line.rstrip())
    while kept and not kept[-1]:
        kept.pop()
    return kept[:FAULT_LINES]


def tail_lines(text: str, count: int = TAIL_LINES) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()][-count:]


def describe_exit(returncode: int) -> tuple[str | None, str]:
    """(signal name or None, 'signal SIGABRT' / 'exit code 3')."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return name, f"signal {name}"
    return None, f"exit code {returncode}"


class Supervisor:
    def __init__(self, ref: str, target: dict[str, Any], settings: TargetSettings, salt: str,
                 workdir: Path, progress: Progress, cancel: threading.Event | None = None,
                 shard: tuple[int, int] = (0, 1)):
        self.ref, self.target, self.settings, self.salt = ref, target, settings, salt
        self.workdir, self.progress, self.shard = workdir, progress, shard
        self.cancel = cancel or threading.Event()
        self.target_label = f"{target['framework']}-{target['device']}-{target['mode']}"
        self.run = TargetRun(self.target_label if shard[1] == 1 else
                             f"{self.target_label} (shard {shard[0] + 1} of {shard[1]})")
        self.plan: dict[str, Any] | None = None
        self.finished: dict[str, Result] = {}
        self.current: str | None = None
        self.current_since = 0.0
        self.deadline = 0.0

    # ------------------------------------------------------------ the loop

    def execute(self) -> TargetRun:
        self.deadline = time.monotonic() + self.settings.timeout
        attempt = 0
        while True:
            returncode, stopped_for, files = self._attempt(attempt)
            if stopped_for == "cancel":  # interrupted: keep what finished, record nothing for the rest
                break
            if self.current is None:  # the process ended between cases
                self._account_for_the_rest(returncode, stopped_for, files)
                break
            crashed = self.current
            self._record_incident(crashed, returncode, stopped_for, files)
            if not self._restart_after(crashed, returncode, stopped_for):
                break
            attempt += 1
        self.progress.update(self.run.label, len(self.finished), self._total() or None, finished=True)
        self.run.results = list(self.finished.values())
        return self.run

    def _restart_after(self, crashed: str, returncode: int, stopped_for: str | None) -> bool:
        """Whether to restart on the cases left; if not, they are recorded as not run, saying why."""
        remaining = self._remaining()
        if not remaining:
            return False
        if stopped_for == "target":
            self._not_run(remaining, f"not run: {self.run.label} timed out after {self.settings.timeout:g} s "
                                     "(--timeout)")
            return False
        if self.run.restarts >= self.settings.max_restarts:
            note = (f"{self.run.label}: restart cap reached ({self.settings.max_restarts} restarts); "
                    f"{len(remaining)} case(s) not run")
            self.run.notes.append(note)
            print(f"  {note}", flush=True)
            self._not_run(remaining, f"not run: {note}")
            return False
        self.run.restarts += 1
        kind = (self.finished[crashed].incident or {}).get("kind")
        print(f"  {self.run.label}: {kind} ({describe_exit(returncode)[1]}) in {crashed}; "
              f"restarted ({self.run.restarts} of at most {self.settings.max_restarts})", flush=True)
        return True

    def _attempt(self, attempt: int) -> tuple[int, str | None, dict[str, Path]]:
        """One pytest process over the cases not finished yet: (exit code, what stopped it, its files)."""
        stem = f"{self.target_label}.{self.shard[0]}.{attempt}"
        files = {kind: self.workdir / f"{stem}.{kind}" for kind in ("jsonl", "log", "faults", "skip")}
        files["skip"].write_text("\n".join(self.finished) + "\n", encoding="utf-8")
        reader = JsonlReader(files["jsonl"])
        stopped_for = None
        with open(files["log"], "w", encoding="utf-8") as log:
            proc = subprocess.Popen(self._command(files), stdout=None if self.settings.verbose else log,
                                    stderr=None if self.settings.verbose else subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
            try:
                while proc.poll() is None:
                    self._absorb(reader.read())
                    now = time.monotonic()
                    if self.cancel.is_set():
                        stopped_for = "cancel"
                        _kill_group(proc)
                        break
                    if self.current is not None and now - self.current_since > self.settings.case_timeout:
                        stopped_for = "case"
                    elif now > self.deadline:
                        stopped_for = "target"
                    if stopped_for:
                        _stop(proc)
                        break
                    time.sleep(POLL_SECONDS)
                proc.wait()
            finally:  # an interrupt, too, must not leave the target (or a server it started) running
                _kill_group(proc)
        self._absorb(reader.read())
        return proc.returncode, stopped_for, files

    def _command(self, files: dict[str, Path]) -> list[str]:
        s, t = self.settings, self.target
        who = ["--adapter", self.ref] if ":" in self.ref else ["--framework", self.ref]
        cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "-p", "no:cacheprovider",
               "-p", "no:faulthandler", s.specs_dir, "--specs-dir", s.specs_dir, "--rootdir", s.specs_dir, *who,
               "--device", t["device"], "--mode", t["mode"], "--salt", self.salt,
               "--results-jsonl", str(files["jsonl"]), "--crash-log", str(files["faults"]),
               "--skip-ids", str(files["skip"]), "-q" if s.verbose else "-qq", "--no-header"]
        if self.shard[1] > 1:
            cmd += ["--shard", f"{self.shard[0]}/{self.shard[1]}"]
        for pattern in s.patterns:
            cmd += ["--spec", pattern]
        for path in s.expectation_files:
            cmd += ["--expectations", path]
        return cmd

    def _absorb(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            kind = record.pop("type", None)
            if kind == "plan" and self.plan is None:  # the first plan lists every case
                self.plan = record
                self.run.false_alarm = record.get("false_alarm", 0.0)
                self.run.order = record.get("order", [])
            elif kind == "start":
                self.current, self.current_since = record.get("id"), time.monotonic()
            elif kind == "result":
                result = Result.from_json(record)
                self.finished[result.id] = result
                if result.id == self.current:
                    self.current = None
        self.progress.update(self.run.label, len(self.finished), self._total() or None)

    # ------------------------------------------------------------ records for what did not finish

    def _total(self) -> int:
        return len((self.plan or {}).get("tests", []))

    def _remaining(self) -> list[str]:
        return [t for t in (self.plan or {}).get("tests", []) if t not in self.finished]

    def _blank(self, test_id: str) -> Result:
        """The plan's record of a case (everything but the outcome), or what its id tells."""
        stored = (self.plan or {}).get("records", {}).get(test_id)
        if stored is not None:
            return Result.from_json(stored)
        t = self.target
        return Result(id=test_id, status=Status.ERROR, spec=test_id.split("[")[0], framework=t["framework"],
                      device=t["device"], mode=t["mode"])

    def _record_incident(self, test_id: str, returncode: int, stopped_for: str | None,
                         files: dict[str, Path]) -> None:
        sig, how = describe_exit(returncode)
        faults = fault_lines(_read(files["faults"]))
        lines = faults or tail_lines(_read(files["log"]))
        if stopped_for == "case":
            kind, what = "timeout", (f"timeout: no result after {self.settings.case_timeout:g} s (--case-timeout); "
                                     f"the process was stopped ({how})")
        elif stopped_for == "target":
            kind, what = "timeout", (f"timeout: {self.run.label} ran past {self.settings.timeout:g} s (--timeout) "
                                     f"during this case; the process was stopped ({how})")
        else:
            kind, what = "crash", f"crash: the {self.run.label} process died ({how}) while this case ran"
        incident = {"kind": kind, "signal": sig, "exit_code": returncode, "lines": lines}
        shown = "\n".join(f"    {line}" for line in lines[:25])
        self.finished[test_id] = replace(self._blank(test_id), status=Status.ERROR, incident=incident,
                                         message=what + (f"\n{shown}" if shown else ""))
        self.current = None

    def _not_run(self, test_ids: list[str], why: str) -> None:
        for test_id in test_ids:
            self.finished[test_id] = replace(self._blank(test_id), status=Status.ERROR, message=why)

    def _account_for_the_rest(self, returncode: int, stopped_for: str | None, files: dict[str, Path]) -> None:
        """The process ended between cases: any planned case without a result is an error saying why."""
        if stopped_for is None and returncode in (0, 1, 5):  # pytest: passed, failed, nothing collected
            return
        if stopped_for is not None:
            why = f"{self.run.label} timed out after {self.settings.timeout:g} s (--timeout)"
        else:
            why = f"{self.run.label} exited with {describe_exit(returncode)[1]}"
        detail = "\n".join(fault_lines(_read(files["faults"])) or tail_lines(_read(files["log"])))
        why += f": {detail}" if detail else ""
        if self.plan is None:  # died before planning: one record for the whole target
            self.finished[self.run.label] = replace(self._blank(self.run.label), spec=None, message=why)
        elif self._remaining():
            self._not_run(self._remaining(), why)
        else:  # every case reported, then the process died (at teardown): say so, lose nothing
            note = f"{why.splitlines()[0]} after its last case"
            self.run.notes.append(note)
            print(f"  {note}", flush=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _stop(proc: subprocess.Popen) -> None:
    """SIGABRT first: Python's fault handler then prints where every thread is; SIGKILL if that fails."""
    try:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=ABORT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
    except ProcessLookupError:
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_target(ref: str, target: dict[str, Any], settings: TargetSettings, salt: str, workdir: Path,
               progress: Progress, cancel: threading.Event | None = None,
               shard: tuple[int, int] = (0, 1)) -> TargetRun:
    """Run one target, or one shard of it, to the end (or until `cancel` is set: then with the
    results it has)."""
    return Supervisor(ref, target, settings, salt, workdir, progress, cancel, shard).execute()
