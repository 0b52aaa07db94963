"""Rerun the suite on correct implementations under many fresh salts: does anything ever fail?

    python scripts/false_alarm.py [--framework reference ...] [--mode all] [--salts 200] [--jobs 2]
                                  [--spec GLOB] [--base HEX] [--json PATH]

Every execution target (framework x mode, on device cpu) is its own campaign: every case of every
spec of every op runs once per salt, in process (conformance.runner.run_case, no pytest).
--framework is repeatable; `--framework all` means every known framework whose adapter imports here
(the others are skipped with a printed line), the reference included. --mode eager|compiled|all
(default all: every mode the adapter offers).

Salts are fresh each invocation, `fa-<base>-<i>`; the base is printed and `--base` replays the same
salts. Every failure line carries its salt and the one-line command that replays that case alone.

Printed per campaign: failed runs (expected: none) and failed cases by spec, the number of
chance-based assertions per run and the computed whole-run false-alarm bound (the Bonferroni sum the
gate relies on), what the reruns alone can bound (Clopper-Pearson, 95% one-sided, on the per-run
failure rate), and the realised p-values of the exact tests against Uniform(0, 1) - a monitor, not a
gate: exact tests on discrete counts are conservative, so p-values may sit slightly above uniform,
never below. Then one table row per campaign.

--framework takes any adapter reference, so the same script measures power on a broken
implementation: `--framework tests/broken/rate_plus_001.py:adapter --spec 'channel-dropout-drop-rate*'`
reports in what share of fresh salts each case fails (there, every one should).

Exit code: 0 when no campaign had a failed run; 1 when one did (or a campaign could not run: a
named framework missing here, a selected spec malformed, a run that hung past --timeout); 2 for
usage errors (unknown framework, nothing selected).
"""
from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing as mp
import os
import secrets
import shlex
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance import stats  # noqa: E402
from conformance.checks import CHECKS, check  # noqa: E402
from conformance.record import Result, Status  # noqa: E402
from conformance.runner import Case, Target, expand, run_case  # noqa: E402
from conformance.spec import Spec, load_all, matches_pattern  # noqa: E402
from conformance.targets import Unavailable, UsageError, known_frameworks, load_adapter, targets_for  # noqa: E402

SHOW_FAILURES = 20  # failure lines printed per campaign (all of them go to --json)
STARTUP_TIMEOUT = 900.0  # seconds for a worker to import its framework


def chance_based(case: Case) -> bool:
    """The case's check declares a false-alarm probability (it can fail a correct implementation by chance)."""
    default = inspect.signature(check).parameters["false_alarm"].default
    return CHECKS[case.spec.check].false_alarm is not default


def select_specs(patterns: list[str]) -> tuple[list[Spec], list[str]]:
    """The well-formed specs, and the load errors of the selected specs (a malformed one cannot be rerun)."""
    specs, errors = load_all()
    return specs, [str(e) for e in errors if matches_pattern(e.spec_id, e.spec_id, patterns)]


def build_cases(target: Target, patterns: list[str], specs: list[Spec] | None = None) -> list[Case]:
    """Every case of every selected spec and op on one target."""
    if specs is None:
        specs = load_all()[0]
    return [c for s in specs for c in expand(s, target) if matches_pattern(s.id, c.test_id, patterns)]


def target_command(target: Target, salt: str) -> str:
    """Replays a whole target under one salt (for a run that failed before any case ran)."""
    ref = target.adapter_ref
    who = f"--adapter {shlex.quote(ref)}" if ":" in ref else f"--framework {ref}"
    return (f"python -m conformance run {who} --device {target.device.label} --mode {target.mode} "
            f"--salt {salt}")


# ---------------------------------------------------------------- worker processes (spawn pool)
# A pool serves one framework: each worker imports it once, builds the cases of a target on first
# use and keeps them, so a compiled target's caches warm up once per worker, not once per salt.

_WORKER: dict[str, Any] = {}


def _init_worker(ref: str, patterns: list[str], barrier: Any) -> None:
    # Never raise here: a failing pool initializer makes multiprocessing respawn workers forever.
    _WORKER.clear()
    _WORKER.update(ref=ref, patterns=patterns, barrier=barrier, cases={})
    try:
        _WORKER["adapter"] = load_adapter(ref)
    except BaseException as exc:  # noqa: BLE001 - reported with every task of this worker
        _WORKER["error"] = f"loading {ref} failed: {type(exc).__name__}: {exc}"


def _ready(_: int) -> int:
    """One per worker: returns once every worker has imported its framework."""
    _WORKER["barrier"].wait(STARTUP_TIMEOUT)
    return os.getpid()


def _worker_cases(mode: str, device: str) -> list[Case]:
    key = (mode, device)
    if key not in _WORKER["cases"]:
        adapter, ref = _WORKER["adapter"], _WORKER["ref"]
        target = targets_for(adapter, ref, device, mode)[0]
        _WORKER["cases"][key] = build_cases(target, _WORKER["patterns"])
    return _WORKER["cases"][key]


def run_salt(task: tuple[str, str, str]) -> dict[str, Any]:
    """The records of one full run of one target under `salt`."""
    mode, device, salt = task
    try:
        if "error" in _WORKER:
            raise RuntimeError(_WORKER["error"])
        cases = _worker_cases(mode, device)
    except Exception as exc:  # noqa: BLE001 - the whole run failed: one error record
        return {"salt": salt, "error": f"{type(exc).__name__}: {exc}"}
    return {"salt": salt, "records": [_slim(run_case(case, salt)) for case in cases]}


def _slim(r: Result) -> dict[str, Any]:
    """What the summary needs of a record: a campaign holds the records of every salt."""
    return {"id": r.id, "spec": r.spec, "behavior": r.behavior, "status": r.status, "p_value": r.p_value,
            "message": r.message, "reproduce": r.reproduce, "lag_p_bound": r.observed.get("lag_p_bound")}


# ---------------------------------------------------------------- statistics of a campaign

def bound_from_reruns(runs: int, failed_runs: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the per-run false-alarm rate."""
    if runs == 0 or failed_runs >= runs:
        return 1.0
    return float(sp.beta.ppf(confidence, failed_runs + 1, runs - failed_runs))


def uniformity(p_values: list[float]) -> dict[str, float]:
    """KS distance from Uniform(0, 1); 'greater' tests for too many small p-values (anti-conservative)."""
    a = np.asarray(p_values)
    two_sided = sp.kstest(a, "uniform")
    return {"n": int(a.size), "ks_stat": float(two_sided.statistic), "ks_two_sided_p": float(two_sided.pvalue),
            "ks_too_small_p": float(sp.kstest(a, "uniform", alternative="greater").pvalue),
            "share_below_0.01": float((a <= 0.01).mean()), "share_below_0.1": float((a <= 0.1).mean()),
            "min": float(a.min()), "mean": float(a.mean())}


def summarise(target: Target, cases: list[Case], runs: dict[str, list[dict[str, Any]]], seconds: float,
              *, salts: list[str], startup: float, timed_out: bool) -> dict[str, Any]:
    chance = [c for c in cases if chance_based(c)]
    failures = [(salt, r) for salt, recs in runs.items() for r in recs if not r["status"].ok]
    failed_runs = len({salt for salt, _ in failures}) + (1 if timed_out else 0)
    completed = len(runs) + (1 if timed_out else 0)  # a hung run counts as run, and as failed
    p_by_spec: dict[str, list[float]] = defaultdict(list)
    for recs in runs.values():
        for r in recs:
            if r["p_value"] is not None:
                p_by_spec[r["spec"]].append(r["p_value"])
    all_p = [p for ps in p_by_spec.values() for p in ps]
    lag_bounds = [r["lag_p_bound"] for recs in runs.values() for r in recs if r["lag_p_bound"] is not None]
    return {
        "target": target.label, "framework": target.adapter.name, "adapter_ref": target.adapter_ref,
        "version": target.adapter.version(), "device": target.device.label, "mode": target.mode,
        "salts": completed, "salts_planned": len(salts), "salt_first": salts[0] if salts else None,
        "salt_last": salts[-1] if salts else None, "timed_out": timed_out,
        "cases_per_run": len(cases), "seconds": round(seconds, 1), "startup_seconds": round(startup, 1),
        "chance_based_assertions_per_run": len(chance),
        "chance_based_by_check": dict(Counter(c.spec.check for c in chance)),
        "chance_based_above_1e-30": sum(c.false_alarm > 1e-30 for c in chance),
        "alpha_per_assertion": stats.ALPHA,
        "whole_run_bound": sum(c.false_alarm for c in cases),
        "whole_run_target": stats.RUN_BOUND_TARGET,
        "failed_runs": failed_runs, "failed_cases": len(failures),
        "failed_cases_by_spec": dict(Counter(r["spec"] or "(whole run)" for _, r in failures)),
        "cases_by_spec": dict(Counter(c.spec.id for c in cases)),
        "failures": [{"salt": s, "id": r["id"], "status": r["status"].value, "message": r["message"][:300],
                      "reproduce": r["reproduce"]} for s, r in failures],
        "rerun_upper_bound_95": bound_from_reruns(completed, failed_runs),
        "p_values_all": uniformity(all_p) if all_p else None,
        "p_values_by_spec": {k: uniformity(v) for k, v in sorted(p_by_spec.items())},
        "lag_scan": {"n": len(lag_bounds), "min_adjusted_bound": min(lag_bounds)} if lag_bounds else None,
    }


def failure_line(salt: str, r: dict[str, Any]) -> str:
    message = " ".join(str(r["message"]).split())[:200]
    return f"  FAIL salt {salt}: {r['id']}: {r['status']}: {message} | reproduce: {r['reproduce']}"


def report(s: dict[str, Any]) -> None:
    print(f"-- {s['target']} ({s['adapter_ref']} {s['version']}, mode {s['mode']}): salts {s['salt_first']} .. "
          f"{s['salt_last']}")
    print(f"{s['salts']} salts x {s['cases_per_run']} cases in {s['seconds']} s "
          f"(worker startup {s['startup_seconds']} s)")
    print(f"failed runs: {s['failed_runs']} of {s['salts']} ({s['failed_cases']} failed cases)"
          + ("; a run hung past --timeout" if s["timed_out"] else ""))
    for spec, k in sorted(s["failed_cases_by_spec"].items()):
        total = s["cases_by_spec"].get(spec, 1) * s["salts"]
        print(f"  {spec:28} failed {k} of {total} cases ({k / total:.4f})")
    print(f"chance-based assertions per run: {s['chance_based_assertions_per_run']} "
          f"{s['chance_based_by_check']}; {s['chance_based_above_1e-30']} of them with a false-alarm "
          "probability above 1e-30")
    print(f"computed whole-run false-alarm bound: {s['whole_run_bound']:.3g} "
          f"(alpha {s['alpha_per_assertion']:g} per assertion; target {s['whole_run_target']:g})")
    print(f"{s['failed_runs']} failed runs in {s['salts']}: per-run failure rate <= "
          f"{s['rerun_upper_bound_95']:.3g} (Clopper-Pearson, 95% one-sided)")
    u = s["p_values_all"]
    if u:
        print(f"p-values of the exact tests: n={u['n']}, mean {u['mean']:.3f}, min {u['min']:.3g}, "
              f"<=0.01: {u['share_below_0.01']:.4f}, <=0.1: {u['share_below_0.1']:.4f}; KS vs uniform "
              f"D={u['ks_stat']:.4f} (two-sided p {u['ks_two_sided_p']:.3g}; "
              f"too-many-small p {u['ks_too_small_p']:.3g})")
    if s["lag_scan"]:
        print(f"lag scans (calls): {s['lag_scan']['n']}, smallest Bonferroni-adjusted bound "
              f"{s['lag_scan']['min_adjusted_bound']:.3g} (fails at <= {stats.ALPHA / 2:g}; a bound, not a "
              "uniform p-value)")
    for spec, v in s["p_values_by_spec"].items():
        print(f"  {spec:28} n={v['n']:5} mean {v['mean']:.3f} KS D={v['ks_stat']:.4f} "
              f"(p {v['ks_two_sided_p']:.3g}; too-many-small p {v['ks_too_small_p']:.3g})")


def table(summaries: list[dict[str, Any]], skipped: list[dict[str, str]]) -> None:
    print(f"\n{'framework':24} {'mode':9} {'salts':>6} {'failed runs':>11} {'rate <= (95%)':>13} "
          f"{'computed bound':>14} {'seconds':>8}")
    for s in summaries:
        print(f"{s['framework'][:24]:24} {s['mode']:9} {s['salts']:6} {s['failed_runs']:11} "
              f"{s['rerun_upper_bound_95']:13.3g} {s['whole_run_bound']:14.3g} {s['seconds']:8.1f}")
    if skipped:
        print("not run here (see above): " + ", ".join(k["framework"] + (f" {k['mode']}" if "mode" in k else "")
                                                       for k in skipped))


# ---------------------------------------------------------------- campaigns

class Pool:
    """The spawn pool of one framework, started on first use and restarted after a hang."""

    def __init__(self, ref: str, patterns: list[str], jobs: int):
        self.ref, self.patterns, self.jobs = ref, patterns, jobs
        self.pool: Any = None
        self.startup = 0.0

    def get(self) -> Any:
        if self.pool is None:
            ctx = mp.get_context("spawn")
            started = time.monotonic()
            barrier = ctx.Barrier(self.jobs)
            self.pool = ctx.Pool(self.jobs, _init_worker, (self.ref, self.patterns, barrier))
            self.pool.map(_ready, range(self.jobs), chunksize=1)
            self.startup = time.monotonic() - started
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def campaign(pool: Pool, target: Target, cases: list[Case], salts: list[str], timeout: float) -> dict[str, Any]:
    print(f"\n== {target.label}: {len(salts)} salts x {len(cases)} cases, {pool.jobs} workers "
          f"(computed whole-run bound {sum(c.false_alarm for c in cases):.3g})", flush=True)
    startup_before = pool.pool is not None
    workers = pool.get()
    startup = 0.0 if startup_before else pool.startup
    started = time.monotonic()
    tasks = [(target.mode, target.device.label, salt) for salt in salts]
    runs: dict[str, list[dict[str, Any]]] = {}
    shown, timed_out, every = 0, False, max(1, len(salts) // 10)
    results = workers.imap_unordered(run_salt, tasks, chunksize=1)
    for done in range(1, len(salts) + 1):
        try:
            out = results.next(timeout)
        except mp.TimeoutError:
            print(f"  a run of {target.label} produced nothing for {timeout:g} s: workers terminated, "
                  f"{len(salts) - len(runs)} salts not run (counted as one failed run)", flush=True)
            pool.close()
            timed_out = True
            break
        salt = out["salt"]
        if "error" in out:
            out["records"] = [_slim(Result(id=target.label, status=Status.ERROR, message=out["error"],
                                           reproduce=target_command(target, salt)))]
        runs[salt] = out["records"]
        for r in out["records"]:
            if not r["status"].ok:
                if shown < SHOW_FAILURES:
                    print(failure_line(salt, r), flush=True)
                elif shown == SHOW_FAILURES:
                    print(f"  (more failures of {target.label}: see the summary and --json)", flush=True)
                shown += 1
        if done % every == 0 and done < len(salts):
            failed = sum(any(not r["status"].ok for r in recs) for recs in runs.values())
            print(f"  {done}/{len(salts)} runs, {failed} failed, {time.monotonic() - started:.0f} s", flush=True)
    summary = summarise(target, cases, runs, time.monotonic() - started, salts=salts, startup=startup,
                        timed_out=timed_out)
    report(summary)
    return summary


def resolve_frameworks(names: list[str]) -> tuple[list[str], set[str]]:
    """Adapter references in order, without repeats; `all` expands to every known framework (and the
    reference). Returns the references and those that came from `all` (skipped quietly when missing)."""
    refs: list[str] = []
    from_all: set[str] = set()
    for name in names or ["reference"]:
        if name == "all":
            expanded = list(known_frameworks())
            if "reference" not in expanded:
                expanded.insert(0, "reference")
            from_all.update(n for n in expanded if n not in refs)
            refs += [n for n in expanded if n not in refs]
        elif name not in refs:
            refs.append(name)
    return refs, from_all - set(n for n in names if n != "all")


Planned = list[tuple[str, list[tuple[Target, list[Case]]]]]


def plan(refs: list[str], quiet: set[str], args: argparse.Namespace,
         specs: list[Spec]) -> tuple[Planned, list[dict[str, str]], bool]:
    """(framework -> its targets and cases, skipped frameworks, whether a framework named on the command
    line is missing). A framework that `all` brought in is skipped quietly when it cannot run here;
    an unknown name raises UsageError."""
    planned: Planned = []
    skipped: list[dict[str, str]] = []
    missing_named = False
    for ref in refs:
        try:
            adapter = load_adapter(ref)
            targets = targets_for(adapter, ref, args.device, args.mode)
        except UsageError as exc:
            if ref not in quiet:
                raise
            why = str(exc)
        except Exception as exc:  # noqa: BLE001 - not installed here, or crashes while loading
            why = str(exc) if isinstance(exc, Unavailable) else f"{type(exc).__name__}: {exc}"
            missing_named = missing_named or ref not in quiet
        else:
            if targets:
                planned.append((ref, [(t, build_cases(t, args.spec, specs)) for t in targets]))
                continue
            why = f"{adapter.name} offers no {args.mode} mode on {args.device}"
        print(f"{ref}: skipped ({why})")
        skipped.append({"framework": ref, "why": why})
    return planned, skipped, missing_named


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", action="append", default=[],
                    help="framework name, PATH.py:NAME adapter, or `all`; repeatable (default: reference)")
    ap.add_argument("--mode", choices=("eager", "compiled", "all"), default="all")
    ap.add_argument("--device", default="cpu", help="device label or kind (default: cpu)")
    ap.add_argument("--salts", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--spec", action="append", default=[], help="glob over spec ids (default: all)")
    ap.add_argument("--base", default=None, help="replay the salts fa-BASE-<i> of an earlier invocation")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds to wait for the next finished run before declaring a hang (default 1800)")
    ap.add_argument("--json", type=Path, default=None, help="also write every summary here")
    args = ap.parse_args(argv)
    if args.salts < 1 or args.jobs < 1:
        ap.error("--salts and --jobs must be at least 1")
    base = args.base or secrets.token_hex(3)
    salts = [f"fa-{base}-{i}" for i in range(args.salts)]
    refs, quiet = resolve_frameworks(args.framework)
    specs, spec_errors = select_specs(args.spec)
    print(f"false-alarm campaigns: salts fa-{base}-0 .. fa-{base}-{args.salts - 1} (replay: --base {base}); "
          f"{args.jobs} workers; device {args.device}, mode {args.mode}"
          + (f"; specs {' '.join(args.spec)}" if args.spec else ""), flush=True)
    for err in spec_errors:
        print(f"malformed spec (not rerun; counts as a failure): {err}")

    try:
        planned, skipped, missing_named = plan(refs, quiet, args, specs)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not planned:
        print("error: no framework to run", file=sys.stderr)
        return 2
    if not any(cases for _, chosen in planned for _, cases in chosen):
        print(f"error: no case matches --spec {' '.join(args.spec)} (see `python -m conformance list`)",
              file=sys.stderr)
        return 2

    summaries: list[dict[str, Any]] = []
    started = time.monotonic()
    for ref, chosen in planned:
        pool = Pool(ref, args.spec, args.jobs)
        try:
            for target, cases in chosen:
                summaries.append(campaign(pool, target, cases, salts, args.timeout))
        finally:
            pool.close()

    table(summaries, skipped)
    failed = [s for s in summaries if s["failed_runs"]]
    code = 1 if failed or spec_errors or missing_named else 0
    reasons = ([f"{len(failed)} campaign(s) with failed runs"] if failed else []) + \
              ([f"{len(spec_errors)} selected spec(s) malformed"] if spec_errors else []) + \
              (["a named framework is not available here"] if missing_named else [])
    print(f"{len(summaries)} campaign(s), {len(salts)} salts each, {time.monotonic() - started:.0f} s: "
          + ("no failed run" if code == 0 else "; ".join(reasons)) + f" (exit {code}; replay: --base {base})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"salt_base": base, "salts": len(salts), "argv": sys.argv[1:] if argv is None else argv,
                    "exit": code, "malformed_specs": spec_errors, "skipped": skipped, "campaigns": summaries}
        args.json.write_text(json.dumps(document, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
