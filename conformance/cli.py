"""Command line: `python -m conformance run|list|lint|report|diff|porting`.

`run` drives pytest underneath, in subprocesses per execution target (framework x device x mode)
under a supervisor (supervisor.py): a case that crashes or hangs becomes one error record and the
target restarts on the cases after it, while the other targets complete. Exit codes: 0 every
outcome as expected, 1 otherwise, 2 bad input (usage error or malformed spec).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from . import results as res
from .api import MODES
from .expectations import EXPECTATIONS_DIR, ExpectationBook, ExpectationFileError, families, write_proposals
from .progress import Progress
from .record import Result, Status
from .seeding import SALT_ENV, run_salt
from .spec import SPECS_DIR, Spec, SpecError, load_all, matches_pattern, spec_set_hash
from .supervisor import TargetRun, TargetSettings, describe_exit, fault_lines, run_target, tail_lines
from .targets import UsageError, check_adapter_ref, known_frameworks

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run the specs on one or more frameworks and write results.json")
    p.add_argument("--framework", action="append", default=[], help="framework name (repeatable)")
    p.add_argument("--adapter", action="append", default=[], help="third-party adapter PATH.py:NAME or module:NAME")
    p.add_argument("--device", default="all", help="device label or kind (default: all available)")
    p.add_argument("--mode", default="all", help="eager, compiled or all (default)")
    p.add_argument("--spec", action="append", default=[], help="glob over spec ids or test ids (repeatable)")
    p.add_argument("--salt", default=None, help="run salt (default: $CONFORMANCE_SALT or fresh)")
    p.add_argument("--out", default="build/results", help="output directory (default: build/results)")
    p.add_argument("--specs-dir", default=str(SPECS_DIR), help="directory of YAML specs")
    # A bound for a stuck target, not a budget: hangs are caught per case (--case-timeout). With the coverage
    # sweep a compiled target on an empty compile cache (torch: ~370 new graphs at ~1 s of g++ each) took
    # 15-20 min on 2 busy cores, so the bound is 45 min.
    p.add_argument("--timeout", type=float, default=2700.0,
                   help="seconds per execution target, restarts included (default 2700)")
    p.add_argument("--case-timeout", type=float, default=300.0,
                   help="seconds one case may run before it is stopped and recorded as a timeout (default 300)")
    p.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                   help="execution targets run at once (default: the CPUs this process may use; -v runs one)")
    p.add_argument("--max-restarts", type=int, default=5,
                   help="times a target is restarted after a case crashed or timed out (default 5)")
    p.add_argument("--junit-xml", default=None, help="also write JUnit XML here")
    p.add_argument("--expectations", action="append", default=[],
                   help="expectations file (YAML) overriding or adding per-implementation expectations")
    p.add_argument("--update-expectations", default=None, metavar="FILE",
                   help="write the run's unexpected outcomes as expectation entries to FILE, for review")
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_prog(), description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_PrintVersion,
                        help="print the suite's version and the hash of its spec set, then exit")
    sub = parser.add_subparsers(dest="verb", required=True)
    _add_run(sub)
    lp = sub.add_parser("list", help="list the specs with their behaviour and sources")
    lp.add_argument("--specs-dir", default=str(SPECS_DIR))
    lp.add_argument("--json", action="store_true", help="machine-readable output")
    tp = sub.add_parser("lint", help="check the specs and expectation files (unmatched entries, duplicated "
                                     "reasons, issues cited without a link, sources without a quote)")
    tp.add_argument("--specs-dir", default=str(SPECS_DIR))
    tp.add_argument("--expectations-dir", default=str(EXPECTATIONS_DIR))
    tp.add_argument("files", nargs="*", help="more expectation files to check (an adopter's)")
    rp = sub.add_parser("report", help="merge results files into one self-contained HTML report")
    rp.add_argument("results", nargs="+", help="results.json files")
    rp.add_argument("-o", "--output", default="build/report/index.html")
    dp = sub.add_parser("diff", help="list outcomes that changed between two results files")
    dp.add_argument("old")
    dp.add_argument("new")
    dp.add_argument("-o", "--output", default=None, help="also write an HTML diff here")
    pp = sub.add_parser("porting", help="what to change in code moved from one implementation to another")
    pp.add_argument("source", help="the implementation the code comes from, e.g. torch")
    pp.add_argument("target", help="the implementation it moves to, e.g. mlx")
    pp.add_argument("--results", nargs="+", default=[], metavar="FILE",
                    help="results.json files holding both (default: run both here first)")
    pp.add_argument("--format", choices=("text", "markdown"), default="text")
    pp.add_argument("--spec", action="append", default=[], help="without --results: run only these specs (glob)")
    pp.add_argument("--out", default=None, help="without --results: keep the run's results.json here "
                                                "(default: a temporary directory)")
    return parser


def _prog() -> str:
    """The name the user typed: the console script, or the module form."""
    return "dropout-conformance" if Path(sys.argv[0]).name == "dropout-conformance" else "python -m conformance"


def version_line() -> str:
    """Version and spec set: results record both, and `diff` warns when two runs' spec sets differ."""
    return f"dropout-conformance {__version__}, spec set {spec_set_hash()} ({SPECS_DIR})"


class _PrintVersion(argparse.Action):
    """argparse's own version action wraps the line at the terminal's width, path included."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None):
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(version_line())
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        if args.verb == "run":
            return cmd_run(args, argv)
        if args.verb == "list":
            return cmd_list(args)
        if args.verb == "lint":
            from .lint import lint_command
            _check_specs_dir(args.specs_dir)
            return lint_command(Path(args.specs_dir), Path(args.expectations_dir), [Path(f) for f in args.files])
        if args.verb == "report":
            from reports.html import report_command
            return report_command(args.results, Path(args.output))
        if args.verb == "porting":
            return cmd_porting(args)
        from reports.diff import diff_command
        return diff_command(Path(args.old), Path(args.new), Path(args.output) if args.output else None)
    except UsageError as exc:
        res.stderr(f"error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:  # `list | head`: the reader left; stop quietly (Python's documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAIL


# ---------------------------------------------------------------- list

def cmd_list(args) -> int:
    specs, errors = _load_specs(args.specs_dir)
    if args.json:
        print(json.dumps(res.spec_catalog(specs), indent=1))
    else:
        for spec in specs:
            print(f"{spec.id:34} {spec.behavior:20} {', '.join(spec.ops)}")
            for src in spec.sources:
                print(f"{'':36}- {src.name}: {src.url}")
    for err in errors:
        res.stderr(f"malformed spec: {err}")
    return EXIT_FAIL if errors else EXIT_OK


# ---------------------------------------------------------------- porting

def cmd_porting(args) -> int:
    """The checklist from results files, or from a run of both implementations made here first (its output
    goes to stderr: stdout is the checklist's)."""
    from reports.porting import names_problem, porting_command
    known = list(known_frameworks())
    shared = {name: [m for m in members if m in known] for name, members in families().items()}
    if args.results:
        return porting_command(args.results, args.source, args.target, args.format, shared)
    problem = names_problem((args.source, args.target), known, shared)
    if problem:
        raise UsageError(problem)
    with tempfile.TemporaryDirectory(prefix="conformance-porting-") as tmp:
        out = Path(args.out or tmp)
        run = [sys.executable, "-m", "conformance", "run", "--framework", args.source, "--framework", args.target,
               "--out", str(out), *(f"--spec={s}" for s in args.spec)]
        code = subprocess.run(run, stdout=sys.stderr.fileno(), check=False).returncode
        if code not in (EXIT_OK, EXIT_FAIL):  # bad input or interrupted: no complete results to read
            return code
        return porting_command([str(out / "results.json")], args.source, args.target, args.format, shared)


# ---------------------------------------------------------------- run

@dataclass
class RunInputs:
    """What `run` works from, every part checked before any framework is touched."""

    refs: list[str]
    book: ExpectationBook
    salt: str
    specs: list[Spec]
    spec_errors: list[SpecError]
    spec_set: str
    results_path: Path


_SALT = re.compile(r"[A-Za-z0-9_.+-]{1,64}")  # salts appear in file names and shell command lines


def validate_run(args) -> RunInputs:
    """Usage errors (exit 2, no traceback) for anything wrong on the command line."""
    for flag, value in (("--timeout", args.timeout), ("--case-timeout", args.case_timeout)):
        if not value > 0:  # NaN too
            raise UsageError(f"{flag} must be a number of seconds above 0, got {value:g}")
    if args.max_restarts < 0:
        raise UsageError(f"--max-restarts must be 0 or more, got {args.max_restarts}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, got {args.jobs}")
    if args.mode not in ("all", *MODES):
        raise UsageError(f"unknown --mode {args.mode!r}; known: all, {', '.join(MODES)}")
    salt = run_salt(args.salt)
    if not _SALT.fullmatch(salt):
        raise UsageError(f"salt {salt!r} (--salt or ${SALT_ENV}): use 1 to 64 letters, digits or . _ + -")
    refs = _check_refs(args)
    specs, spec_errors = _load_specs(args.specs_dir)
    if args.spec and not any(_could_select(s.id, p) for s in specs for p in args.spec):
        raise UsageError(f"no spec matches --spec {' '.join(args.spec)} (see `python -m conformance list`)")
    args.expectations = [str(Path(p).resolve()) for p in args.expectations]
    try:
        book = ExpectationBook.load(args.expectations)
    except ExpectationFileError as exc:
        raise UsageError(str(exc)) from exc
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot create the results directory: {exc.strerror or exc}") from exc
    return RunInputs(refs, book, salt, specs, spec_errors, spec_set_hash(Path(args.specs_dir)), out / "results.json")


def _load_specs(specs_dir: str) -> tuple[list[Spec], list[SpecError]]:
    _check_specs_dir(specs_dir)
    return load_all(Path(specs_dir))


def _check_specs_dir(specs_dir: str) -> None:
    if not Path(specs_dir).is_dir():
        raise UsageError(f"--specs-dir {specs_dir}: no such directory")


def _check_refs(args) -> list[str]:
    known = known_frameworks()
    for name in args.framework:
        if name not in known:
            raise UsageError(f"unknown framework {name!r}; known: {', '.join(known)}")
    for ref in args.adapter:
        check_adapter_ref(ref)
    refs = list(dict.fromkeys(args.framework + args.adapter))
    return refs or ["reference"]


def _probe(ref: str, args) -> dict[str, Any]:
    """The targets an adapter offers, asked in a subprocess (-X faulthandler: a crash there says where)."""
    cmd = [sys.executable, "-X", "faulthandler", "-m", "conformance.probe", ref, "--device", args.device,
           "--mode", args.mode]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"broken": {"framework": ref, "message": f"probing {ref} timed out after {args.timeout:g} s "
                                                        "(--timeout) while it listed its devices and modes"}}
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        lines = fault_lines(proc.stderr) if "Fatal Python error" in proc.stderr else \
            tail_lines(proc.stderr or proc.stdout)
        how = describe_exit(proc.returncode)[1]
        return {"broken": {"framework": ref, "message": f"probing {ref} failed ({how}): " + "\n".join(lines)}}
    if "usage_error" in answer:
        raise UsageError(answer["usage_error"])
    return answer


class Gathered:
    """Results so far and the run header's targets, in plan order whatever order targets finish in;
    saved whole after every target (targets may run in parallel threads, so under a lock)."""

    def __init__(self, args, inputs: RunInputs, argv: list[str]):
        self.args, self.inputs, self.argv = args, inputs, argv
        self.unrunnable: list[tuple[dict[str, Any], Result]] = []
        self.plans: list[tuple[str, dict[str, Any]]] = []
        self.started: set[int] = set()
        self.done: dict[int, TargetRun] = {}
        self.lock = threading.Lock()

    @property
    def targets(self) -> list[dict[str, Any]]:
        return [t for t, _ in self.unrunnable] + [t for i, (_, t) in enumerate(self.plans) if i in self.started]

    @property
    def results(self) -> list[Result]:
        return [r for _, r in self.unrunnable] + [r for i in sorted(self.done) for r in self.done[i].results]

    @property
    def false_alarm(self) -> float:
        return sum(run.false_alarm for run in self.done.values())

    def add_unrunnable(self, answer: dict[str, Any]) -> None:
        """A framework that is not installed (skipped) or whose adapter crashed while probed (error)."""
        if "broken" in answer:
            b = answer["broken"]
            print(f"  {b['framework']}: error - {b['message'][:300]}")
            self.unrunnable.append(({"framework": b["framework"], "unavailable": b["message"]},
                                    Result(id=f"{b['framework']}-probe", status=Status.ERROR,
                                           message=b["message"], framework=b["framework"])))
        else:
            u = answer["unavailable"]
            print(f"  {u['framework']}: unavailable - {u['message']}")
            self.unrunnable.append(({"framework": u["framework"], "unavailable": u["message"]},
                                    _unavailable_result(u)))

    def start(self, index: int) -> None:
        with self.lock:
            self.started.add(index)

    def finish(self, index: int, run: TargetRun) -> None:
        """A target's run, or one shard of it (merged with the shards already done)."""
        with self.lock:
            if index in self.done:
                run = self.done[index].merged(run)
            self.plans[index][1]["restarts"] = run.restarts
            self.done[index] = run
            self._save()

    def unique(self) -> list[Result]:
        return _dedupe(self.results)

    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        header = res.run_header(self.inputs.salt, self.inputs.spec_set, self.targets, self.false_alarm, self.argv)
        header["expectation_files"] = self.args.expectations
        header["unmatched_expectations"] = _unmatched(self.inputs.book, self.results)
        res.write_atomic(self.inputs.results_path, res.document(header, self.inputs.specs, self.unique()))


def cmd_run(args, argv: list[str]) -> int:
    inputs = validate_run(args)
    print(f"dropout conformance: salt {inputs.salt} (replay: --salt {inputs.salt}); alpha {res.stats.ALPHA:g} "
          f"per statistical assertion; results -> {inputs.results_path}")
    for err in inputs.spec_errors:
        res.stderr(f"malformed spec: {err}")
    gathered = Gathered(args, inputs, argv)
    for ref in inputs.refs:
        answer = _probe(ref, args)
        if "targets" in answer:
            gathered.plans += [(ref, t) for t in answer["targets"]]
        else:
            gathered.add_unrunnable(answer)
    plans = gathered.plans
    work = plan_work(plans, 1 if args.verbose else args.jobs)
    jobs = 1 if args.verbose else max(1, min(args.jobs, len(work)))
    print(f"{len(plans)} execution target(s) in {len(work)} process(es), {jobs} at a time; "
          "planned whole-run false-alarm bound "
          f"{len(plans) * planned_false_alarm(inputs.specs, args.spec):.3g} "
          f"(target <= {res.stats.RUN_BOUND_TARGET:g})")
    interrupted = _run_targets(args, inputs.salt, gathered, work, jobs)
    return _conclude(args, inputs, gathered, interrupted, bool(plans))


Work = list[tuple[int, tuple[int, int]]]  # (index into the plans, (shard, shards)): one process each


def plan_work(plans: list[tuple[str, dict[str, Any]]], jobs: int) -> Work:
    """The processes to run. A compiled mode spends its time compiling one graph per distinct case,
    on one core each, so its cases are spread over `jobs` shards; any other mode runs in one process
    (a second would cost more in imports than it saves)."""
    return [(index, (shard, count)) for index, (_, target) in enumerate(plans)
            for count in [jobs if target["mode"] == "compiled" else 1] for shard in range(count)]


def _run_targets(args, salt: str, gathered: Gathered, work: Work, jobs: int) -> bool:
    """Run every (target, shard) under its supervisor, `jobs` at a time; True when interrupted."""
    progress = Progress(enabled=sys.stderr.isatty() and jobs == 1)  # one bar at a time, or finished lines
    settings = TargetSettings(args.specs_dir, args.spec, args.expectations, args.timeout, args.case_timeout,
                              args.max_restarts, args.verbose)
    cancel = threading.Event()

    def one(index: int, shard: tuple[int, int]) -> None:
        if cancel.is_set():
            return
        gathered.start(index)
        ref, target = gathered.plans[index]
        gathered.finish(index, run_target(ref, target, settings, salt, Path(tmp), progress, cancel, shard))

    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="target")
        futures = [pool.submit(one, index, shard) for index, shard in work]
        try:
            for future in as_completed(futures):
                future.result()
        except KeyboardInterrupt:
            cancel.set()  # each supervisor kills its process and returns; nothing new starts
            return True
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            gathered.save()
    return False


def _conclude(args, inputs: RunInputs, gathered: Gathered, interrupted: bool, planned: bool) -> int:
    """JUnit XML, the summary and the exit code: 130 interrupted, 2 bad input, else the gate's."""
    results_path, results = inputs.results_path, gathered.unique()
    problems = []
    if args.junit_xml:
        from reports.junit import write_junit
        problems += _attempt(lambda: write_junit(res.read(results_path), Path(args.junit_xml)), "--junit-xml")
    if args.spec and planned and not any(r.spec for r in results):
        raise UsageError(f"no case matches --spec {' '.join(args.spec)} (see `python -m conformance list`)")
    print_summary(results, gathered.false_alarm)
    for key in _unmatched(inputs.book, gathered.results):
        print(f"expectation entry matched no case of this run: {key}")
    if args.update_expectations:
        problems += _attempt(lambda: _write_proposals(results, Path(args.update_expectations)),
                             "--update-expectations")
    if interrupted:
        res.stderr(f"interrupted: results gathered so far are in {results_path}")
        return 130
    if inputs.spec_errors or problems:
        res.stderr(f"error: {len(inputs.spec_errors)} malformed spec(s) (listed above)" * bool(inputs.spec_errors)
                   + "; ".join(problems) + f"; every other result is in {results_path}")
        return EXIT_USAGE
    code = res.gate(results)
    print(f"gate: {'PASS' if code == 0 else 'FAIL'} (exit {code}); results in {results_path}")
    return code


def _attempt(write, flag: str) -> list[str]:
    """Run a writer; an unwritable path is a problem to report, not a traceback."""
    try:
        write()
    except OSError as exc:
        return [f"{flag}: cannot write: {exc}"]
    return []


def _write_proposals(results: list[Result], path: Path) -> None:
    written = write_proposals(results, path)
    print(f"wrote {written} expectation entr{'y' if written == 1 else 'ies'} for review to {path}")


def planned_false_alarm(specs: list, patterns: list[str]) -> float:
    """Sum of the false-alarm probabilities of one target's cases (an upper bound under --spec: a
    spec counts when a pattern could match one of its test ids)."""
    from .checks import CHECKS
    chosen = [s for s in specs if not patterns or any(_could_select(s.id, p) for p in patterns)]
    return sum(CHECKS[s.check].false_alarm(params) for s in chosen for params in s.expanded_cases())


def _could_select(spec_id: str, pattern: str) -> bool:
    """The pattern's literal start (before any '[', '*' or '?') is compatible with the spec id."""
    literal = re.split(r"[\[*?]", pattern, maxsplit=1)[0]
    return matches_pattern(spec_id, spec_id, [pattern]) or spec_id.startswith(literal)


def _unmatched(book: ExpectationBook, gathered: list[Result]) -> list[str]:
    return book.unmatched({r.expected.get("source") for r in gathered})


def _unavailable_result(u: dict[str, Any]) -> Result:
    return Result(id=f"{u['framework']}-unavailable", status=Status.SKIPPED, message=u["message"],
                  framework=u["framework"], reproduce=u.get("install") or None)


def _dedupe(results: list[Result]) -> list[Result]:
    """Malformed-spec results are reported by every target process; keep one of each id."""
    seen: dict[str, Result] = {}
    for r in results:
        seen.setdefault(r.id, r)
    return list(seen.values())


# ---------------------------------------------------------------- summary

def print_summary(results: list[Result], false_alarm: float) -> None:
    by_behavior: dict[str, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        by_behavior[r.behavior or "(run)"][r.framework or "-"].append(r)
    frameworks = sorted({r.framework or "-" for r in results})
    print(f"\n{'behaviour':22}" + "".join(f"{fw:>26}" for fw in frameworks))
    for behavior in sorted(by_behavior):
        cells = []
        for fw in frameworks:
            tally = res.counts(by_behavior[behavior].get(fw, []))
            cell = " ".join(f"{n}{s.letter}" for s, n in tally.items() if n)
            cells.append(f"{cell or '-':>26}")
        print(f"{behavior:22}" + "".join(cells))
    print(f"  ({', '.join(f'{s.letter} {s.label}' for s in Status)})")
    _print_divergences(results)
    bad = [r for r in results if not r.status.ok]
    if bad:
        print(f"\n{len(bad)} unexpected outcome(s):")
        for r in bad[:50]:
            print(f"  {r.status.value.upper():18} {r.id}\n      {r.message[:300]}")
            if r.reproduce:
                print(f"      reproduce: {r.reproduce}")
        if len(bad) > 50:
            print(f"  ... and {len(bad) - 50} more (see results.json)")
    total = res.counts(results)
    print("\n" + ", ".join(f"{n} {s}" for s, n in total.items() if n) +
          f"; whole-run false-alarm bound {false_alarm:.3g}")


def _print_divergences(results: list[Result]) -> None:
    """Cross-framework view: per spec, who diverges and why (one line each)."""
    seen: dict[tuple[str, str], str] = {}
    for r in results:
        if r.status is Status.EXPECTED_DIVERGENCE:
            seen.setdefault((r.spec, r.framework), (r.expected.get("reason") or "")[:110])
    if not seen:
        return
    print("\nexpected divergences (spec / framework / why):")
    for (spec, fw), why in sorted(seen.items()):
        print(f"  {spec:32} {fw:10} {why}")
