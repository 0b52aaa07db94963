"""Rerun the suite on a correct implementation under many fresh salts: does anything ever fail?

    python scripts/false_alarm.py [--framework reference] [--salts 200] [--jobs 2] [--spec GLOB]

--framework takes any adapter reference, so the same script measures power on a broken
implementation: `--framework tests/broken/rate_plus_001.py:adapter --spec dropout2d-drop-rate`
reports in what share of fresh salts each case fails (there, every one should).

Every case of every spec runs once per salt, in process (conformance.runner.run_case, no
pytest), so a few hundred salts take minutes. Printed: failures per salt (expected: none), the
number of chance-based assertions per run and the computed whole-run false-alarm bound (the
Bonferroni sum the gate relies on), what the reruns alone can bound (0 failures in N runs), and
the realised p-values of the exact tests against Uniform(0, 1) - a monitor, not a gate: exact
tests on discrete counts are conservative, so p-values may sit slightly above uniform, never below.
"""
from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing as mp
import secrets
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
from conformance.runner import OK_STATUSES, Case, expand, run_case  # noqa: E402
from conformance.spec import load_all, matches_pattern  # noqa: E402
from conformance.targets import load_adapter, targets_for  # noqa: E402

_CASES: list[Case] = []


def chance_based(case: Case) -> bool:
    """The case's check declares a false-alarm probability (it can fail a correct implementation by chance)."""
    default = inspect.signature(check).parameters["false_alarm"].default
    return CHECKS[case.spec.check].false_alarm is not default


def build_cases(framework: str, patterns: list[str]) -> list[Case]:
    specs, errors = load_all()
    if errors:
        raise SystemExit(f"malformed specs: {errors}")
    target = targets_for(load_adapter(framework), framework, "cpu", "eager")[0]
    return [c for s in specs for c in expand(s, target) if matches_pattern(s.id, c.test_id, patterns)]


def _init_worker(framework: str, patterns: list[str]) -> None:
    _CASES[:] = build_cases(framework, patterns)


def run_salt(salt: str) -> list[dict[str, Any]]:
    """The records of one full run under `salt` (only the fields the summary needs)."""
    keep = ("id", "spec", "behavior", "status", "p_value", "message")
    return [{**{k: r[k] for k in keep}, "lag_p_bound": r["observed"].get("lag_p_bound")}
            for r in (run_case(c, salt) for c in _CASES)]


def bound_from_reruns(runs: int, failed_runs: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the per-run false-alarm rate."""
    if failed_runs >= runs:
        return 1.0
    return float(sp.beta.ppf(confidence, failed_runs + 1, runs - failed_runs))


def uniformity(p_values: list[float]) -> dict[str, float]:
    """KS distance from Uniform(0, 1); 'less' tests for too many small p-values (anti-conservative)."""
    a = np.asarray(p_values)
    return {"n": int(a.size), "ks_stat": float(sp.kstest(a, "uniform").statistic),
            "ks_two_sided_p": float(sp.kstest(a, "uniform").pvalue),
            "ks_too_small_p": float(sp.kstest(a, "uniform", alternative="greater").pvalue),
            "share_below_0.01": float((a <= 0.01).mean()), "share_below_0.1": float((a <= 0.1).mean()),
            "min": float(a.min()), "mean": float(a.mean())}


def summarise(cases: list[Case], runs: dict[str, list[dict[str, Any]]], seconds: float) -> dict[str, Any]:
    chance = [c for c in cases if chance_based(c)]
    failures = [(salt, r) for salt, recs in runs.items() for r in recs if r["status"] not in OK_STATUSES]
    failed_runs = len({salt for salt, _ in failures})
    p_by_spec: dict[str, list[float]] = defaultdict(list)
    for recs in runs.values():
        for r in recs:
            if r["p_value"] is not None:
                p_by_spec[r["spec"]].append(r["p_value"])
    all_p = [p for ps in p_by_spec.values() for p in ps]
    lag_bounds = [r["lag_p_bound"] for recs in runs.values() for r in recs if r["lag_p_bound"] is not None]
    return {
        "salts": len(runs), "cases_per_run": len(cases), "seconds": round(seconds, 1),
        "chance_based_assertions_per_run": len(chance),
        "chance_based_by_check": dict(Counter(c.spec.check for c in chance)),
        "chance_based_above_1e-30": sum(c.false_alarm > 1e-30 for c in chance),
        "alpha_per_assertion": stats.ALPHA,
        "whole_run_bound": sum(c.false_alarm for c in cases),
        "whole_run_target": stats.RUN_BOUND_TARGET,
        "failed_runs": failed_runs, "failed_cases": len(failures),
        "failed_cases_by_spec": dict(Counter(r["spec"] for _, r in failures)),
        "cases_by_spec": dict(Counter(c.spec.id for c in cases)),
        "failures": [{"salt": s, "id": r["id"], "message": r["message"][:200]} for s, r in failures[:20]],
        "rerun_upper_bound_95": bound_from_reruns(len(runs), failed_runs),
        "p_values_all": uniformity(all_p) if all_p else None,
        "p_values_by_spec": {k: uniformity(v) for k, v in sorted(p_by_spec.items())},
        "lag_scan": {"n": len(lag_bounds), "min_adjusted_bound": min(lag_bounds)} if lag_bounds else None,
    }


def report(s: dict[str, Any]) -> None:
    print(f"{s['salts']} salts x {s['cases_per_run']} cases in {s['seconds']} s")
    print(f"failed runs: {s['failed_runs']} of {s['salts']} ({s['failed_cases']} failed cases)")
    for spec, k in sorted(s["failed_cases_by_spec"].items()):
        total = s["cases_by_spec"][spec] * s["salts"]
        print(f"  {spec:28} failed {k} of {total} cases ({k / total:.4f})")
    for f in s["failures"][:5]:
        print(f"  salt {f['salt']}: {f['id']}: {f['message']}")
    print(f"chance-based assertions per run: {s['chance_based_assertions_per_run']} "
          f"{s['chance_based_by_check']}; {s['chance_based_above_1e-30']} of them with a false-alarm "
          "probability above 1e-30")
    print(f"computed whole-run false-alarm bound: {s['whole_run_bound']:.3g} "
          f"(alpha {s['alpha_per_assertion']:g} per assertion; target {s['whole_run_target']:g})")
    print(f"{s['failed_runs']} failed runs in {s['salts']}: per-run failure rate <= "
          f"{s['rerun_upper_bound_95']:.3g} (95% one-sided)")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", default="reference", help="framework name or PATH.py:NAME adapter")
    ap.add_argument("--salts", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--spec", action="append", default=[], help="glob over spec ids (default: all)")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args(argv)
    base = secrets.token_hex(3)
    salts = [f"fa-{base}-{i}" for i in range(args.salts)]
    cases = build_cases(args.framework, args.spec)
    started = time.monotonic()
    with mp.get_context("spawn").Pool(args.jobs, _init_worker, (args.framework, args.spec)) as pool:
        runs = dict(zip(salts, pool.map(run_salt, salts, chunksize=4)))
    summary = summarise(cases, runs, time.monotonic() - started)
    report(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if summary["failed_runs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
