"""pytest plugin: YAML specs become test items, one per (spec, case, execution target).

Use with ``pytest -p conformance.plugin --framework torch`` (an installed suite: ``pytest --dropout-conformance``,
see pytest_entry.py). Without paths it collects the specs of ``--specs-dir`` (the shipped ones by default).
Each finished item appends its result record to ``--results-jsonl`` as one JSON line, so a crash loses nothing
already run.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from . import __version__, stats
from .expectations import ExpectationBook, ExpectationFileError
from .record import Result, Status
from .runner import Case, Target, case_record, expand, run_case
from .seeding import run_salt
from .spec import AXES_FILE, SPECS_DIR, SpecError, load_all, load_axes, load_file, matches_pattern
from .targets import Unavailable, UsageError, load_adapter, targets_for

RESULT_KEY = "conformance_result"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "dropout conformance suite")
    group.addoption("--framework", action="append", default=[], help="framework to test (repeatable)")
    group.addoption("--adapter", action="append", default=[], help="third-party adapter PATH.py:NAME or module:NAME")
    group.addoption("--device", default="all", help="device label or kind (default: all available)")
    group.addoption("--mode", default="all", help="eager, compiled or all (default)")
    group.addoption("--salt", default=None, help="run salt for seeds (default: $CONFORMANCE_SALT or fresh)")
    group.addoption("--spec", action="append", default=[], help="glob over spec ids or test ids (repeatable)")
    group.addoption("--specs-dir", default=str(SPECS_DIR), help="directory holding the YAML specs")
    group.addoption("--results-jsonl", default=None, help="append one JSON line per result here")
    group.addoption("--expectations", action="append", default=[],
                    help="expectations file overriding the specs' expect entries (repeatable)")
    group.addoption("--skip-ids", default=None,
                    help="file of test ids (one per line) not to run: a restarted target's finished cases")
    group.addoption("--shard", default=None, type=_shard, metavar="I/N",
                    help="run only shard I of N (0-based): the cases Case.shard(N) assigns to I")
    group.addoption("--crash-log", default=None,
                    help="write Python's fault-handler output (fatal signals, stacks) to this file")


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = (-1, 0)
    if not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"--shard wants I/N with 0 <= I < N, got {text!r}")
    return shard


class RunState:
    """What the plugin knows for this pytest session."""

    def __init__(self, config: pytest.Config):
        opt = config.option
        self.salt = run_salt(opt.salt)
        self.specs_dir = Path(opt.specs_dir).resolve()
        self.patterns: list[str] = opt.spec
        self.targets: list[Target] = []
        self.unavailable: list[dict[str, Any]] = []
        refs = list(opt.framework) + list(opt.adapter)
        if not refs:
            refs = ["reference"]
        for ref in refs:
            try:
                adapter = load_adapter(ref)
            except Unavailable as exc:
                self.unavailable.append({"framework": exc.name, "install": exc.install, "message": str(exc)})
                continue
            except UsageError as exc:
                raise pytest.UsageError(str(exc)) from exc
            try:
                found = targets_for(adapter, ref, opt.device, opt.mode)
            except UsageError as exc:
                raise pytest.UsageError(str(exc)) from exc
            if not found:
                self.unavailable.append({"framework": adapter.name, "install": "",
                                         "message": f"{adapter.name} offers no {opt.mode} mode here"})
            self.targets += found
        self.expectation_files: list[str] = list(opt.expectations)
        try:
            self.expectations = ExpectationBook.load(self.expectation_files)
        except ExpectationFileError as exc:
            raise pytest.UsageError(str(exc)) from exc
        self.jsonl = Path(opt.results_jsonl) if opt.results_jsonl else None
        self.order: list[str] = []  # every collected test id, before --skip-ids and --shard
        self.false_alarm = 0.0

    def write(self, record: dict[str, Any]) -> None:
        """Append one line. Flushed, not fsynced: what a dying process has written is already the
        kernel's, and only an operating-system crash could lose it."""
        if self.jsonl is None:
            return
        with self.jsonl.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")


state_key = pytest.StashKey[RunState]()
_crash_log_files: list[Any] = []  # open for the process's lifetime: the fault handler writes to its fd


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if config.option.crash_log:  # run with -p no:faulthandler, whose own handler would write to stderr
        _crash_log_files.append(open(config.option.crash_log, "w", encoding="utf-8"))  # noqa: SIM115
        faulthandler.enable(file=_crash_log_files[-1], all_threads=True)
    config.stash[state_key] = RunState(config)
    if config.args_source is not pytest.Config.ArgsSource.ARGS:  # no paths given: pytest would collect the cwd
        config.args[:] = [str(config.stash[state_key].specs_dir)]
    if not _is_worker(config):
        config.pluginmanager.register(ResultWriter(config.stash[state_key], config), "conformance-results")


def pytest_report_header(config: pytest.Config) -> list[str]:
    st = config.stash[state_key]
    lines = [f"dropout conformance {__version__}: salt {st.salt} (replay with --salt {st.salt} "
             f"or CONFORMANCE_SALT={st.salt}), alpha per statistical assertion {stats.ALPHA:g}, "
             f"power {stats.POWER} against a drop-rate error of {stats.DELTA}"]
    lines += [f"target: {t.label} ({t.adapter.version()}, {t.device.name}, {t.device.backend})" for t in st.targets]
    lines += [f"unavailable: {u['message']}" for u in st.unavailable]
    return lines


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    st = parent.config.stash[state_key]
    if file_path.suffix in (".yaml", ".yml") and st.specs_dir in file_path.resolve().parents:
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    def collect(self):
        st = self.config.stash[state_key]
        axes, axes_errors = load_axes(st.specs_dir)
        # The axes file is collected like a spec file but holds axes: its own errors are reported there
        specs, errors = ([], axes_errors) if self.path.name == AXES_FILE else load_file(self.path, axes)
        for err in errors:
            yield SpecErrorItem.from_parent(self, name=f"{err.spec_id}::{err.field}", error=err)
        for spec in specs:
            for target in st.targets:
                for case in expand(spec, target):
                    if matches_pattern(spec.id, case.test_id, st.patterns):
                        yield SpecItem.from_parent(self, name=case.test_id, case=case)


class ConformanceFailure(Exception):
    def __init__(self, record: Result):
        super().__init__(record.message)
        self.record = record


class SpecItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs):
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        st = self.config.stash[state_key]
        st.write({"type": "start", "id": self.name})  # a supervisor knows which case took the process down
        record = run_case(self.case, st.salt, st.expectations, st.expectation_files)
        _attach(self, record)
        if record.status is Status.SKIPPED:
            pytest.skip(record.message)
        if not record.status.ok:
            raise ConformanceFailure(record)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ConformanceFailure):
            r = excinfo.value.record
            return "\n".join([f"{r.status}: {r.message}",
                              f"  expected: {json.dumps(r.expected)}",
                              f"  observed: {json.dumps(r.observed, default=str)}",
                              f"  reproduce: {r.reproduce}"])
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


class SpecErrorItem(pytest.Item):
    """A malformed spec: one failing item naming the file, the spec and the field."""

    def __init__(self, *, error: SpecError, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        err = self.error
        record = Result(id=f"spec-error[{err.file}::{err.spec_id}::{err.field}]", status=Status.ERROR,
                        message=str(err), spec=err.spec_id)
        _attach(self, record)
        raise ConformanceFailure(record)

    repr_failure = SpecItem.repr_failure

    def reportinfo(self):
        return self.path, None, f"malformed spec {self.error.spec_id}"


def _attach(item: pytest.Item, record: Result) -> None:
    """Hand the record to the controller's ResultWriter; as JSON, because pytest-xdist sends
    user_properties between processes and carries plain data only."""
    item.user_properties.append((RESULT_KEY, record.to_json()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[state_key].order = [item.name for item in items]
    skip = set(Path(config.option.skip_ids).read_text(encoding="utf-8").splitlines()) \
        if config.option.skip_ids else set()
    shard = config.option.shard

    def runs_here(item: pytest.Item) -> bool:
        if item.name in skip:
            return False
        if shard is None:
            return True
        # a malformed spec's item is no case: shard 0 reports it
        return (item.case.shard(shard[1]) if isinstance(item, SpecItem) else 0) == shard[0]

    dropped = [item for item in items if not runs_here(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if runs_here(item)]


def pytest_collection_finish(session: pytest.Session) -> None:
    if _is_worker(session.config):
        return
    if session.config.pluginmanager.hasplugin("dsession"):
        return  # pytest-xdist controller: the workers collect; see ResultWriter
    st = session.config.stash[state_key]
    cases = [item.case for item in session.items if isinstance(item, SpecItem)]
    records = {c.test_id: case_record(c, st.salt, st.expectations, st.expectation_files).to_json() for c in cases}
    _write_plan(session.config, [item.name for item in session.items], sum(c.false_alarm for c in cases), records)


def _write_plan(config: pytest.Config, names: list[str], false_alarm: float,
                records: dict[str, Any] | None = None) -> None:
    """The plan line: every test id this process will report, so a crash leaves no case unaccounted,
    and each case's record before it runs (a supervisor completes it if the case never finishes)."""
    st = config.stash[state_key]
    st.false_alarm = false_alarm
    st.write({"type": "plan", "salt": st.salt, "tests": names, "order": st.order, "false_alarm": false_alarm,
              "targets": [t.record() for t in st.targets], "unavailable": st.unavailable,
              "records": records or {}})
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"conformance: {len(names)} cases; whole-run false-alarm bound "
                            f"{false_alarm:.3g} (sum over cases; target <= {stats.RUN_BOUND_TARGET:g})")


class ResultWriter:
    """Controller-side hooks: stream each result to the JSONL file and tally for the summary."""

    def __init__(self, state: RunState, config: pytest.Config):
        self.state, self.config = state, config
        self.tally: Counter = Counter()
        self.planned = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:
        """Under pytest-xdist every worker collects the same items; plan once from the first."""
        if self.planned:
            return
        self.planned = True
        names = [nodeid.split("::", 1)[-1] for nodeid in ids]
        by_id = {case.test_id: case.false_alarm for spec in load_all(self.state.specs_dir)[0]
                 for target in self.state.targets for case in expand(spec, target)}
        _write_plan(self.config, names, sum(by_id.get(name, 0.0) for name in names))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, record in report.user_properties:
            if key == RESULT_KEY and report.when == "call":
                self.state.write({"type": "result", **record})
                result = Result.from_json(record)
                self.tally[(result.behavior or "malformed spec", result.status)] += 1

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.tally:
            return
        terminalreporter.section("conformance by behaviour")
        for behavior in sorted({b for b, _ in self.tally}):
            counts = ", ".join(f"{s} {self.tally[(behavior, s)]}" for s in Status if self.tally[(behavior, s)])
            terminalreporter.write_line(f"  {behavior:22} {counts}")
