"""Wall time of a full run per framework, split into startup, framework calls, statistics and engine.

    python scripts/benchmark.py [--framework torch ...] [--salt bench] [--no-cli]
    python scripts/benchmark.py --tox full     # the whole matrix, one virtualenv per framework

For each framework (default: every one whose adapter imports here):
  startup     a fresh interpreter importing the engine and building the adapter (framework import)
  run         every case of every spec in process (conformance.runner.run_case), after startup:
    framework   time inside Session.call (the adapter and the framework itself)
    statistics  time inside conformance.stats (exact tests, power and sample-size computations)
    engine      the rest: inputs, layout mapping, observations, checks, result records
  cli         `python -m conformance run` end to end (probe and pytest subprocesses included)
Then what the statistics cost: seconds per framework and target in each statistical check
(drop-rate, rate-homogeneity, independence, seed-independence, seed-collisions, alpha-drop-rate:
those registered here), the whole check, its framework calls included.
Targets (issue 12, 2 cores, CLI end to end, both modes): torch <= 60 s on an empty compile cache and
<= 10 s on a warm one; jax (flax-linen and flax-nnx together) <= 30 s; the suite's own share of a run (statistics + engine) <= 25%.
Figures, not a test: each line says within or OVER.
"""
from __future__ import annotations

import argparse
import functools
import inspect
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conformance import stats  # noqa: E402
from conformance.api import Adapter, Session  # noqa: E402
from conformance.checks import CHECKS  # noqa: E402
from conformance.runner import expand, run_case  # noqa: E402
from conformance.spec import load_all  # noqa: E402
from conformance.targets import Unavailable, known_frameworks, load_adapter, targets_for  # noqa: E402


def public_functions(module: Any) -> tuple[str, ...]:
    """Every public function a module defines itself (lru_cache wrappers included), by name."""
    return tuple(sorted(name for name, obj in vars(module).items()
                        if not name.startswith("_") and inspect.isfunction(inspect.unwrap(obj))
                        and getattr(obj, "__module__", None) == module.__name__))


STATS_FUNCTIONS = public_functions(stats)  # binom_p_value, fisher_pairs, lag_scan, required_decisions, ...
STAT_CHECKS = ("drop-rate", "rate-homogeneity", "independence", "seed-independence", "seed-collisions",
               "alpha-drop-rate")
# seconds: (empty compile cache, warm cache). Issue 12's "jax <= 30 s" covered one adapter running both Flax
# APIs; linen and nnx are separate implementations now, each with half of those cases and half the target.
CLI_TARGETS = {"torch": (60.0, 10.0), "flax-linen": (15.0, 15.0), "flax-nnx": (15.0, 15.0)}
SUITE_SHARE_TARGET = 0.25


def verdict(value: float, target: float, unit: str) -> str:
    return f"{'within' if value <= target else 'OVER'} the {target:g}{unit} target"


class Clock:
    """Accumulates seconds per bucket; `wrap` times a callable into a bucket.

    Only the outermost timed call of a bucket counts: stats functions call each other
    (required_decisions -> power), and every public one is wrapped."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth: dict[str, int] = defaultdict(int)

    def wrap(self, bucket: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth[bucket] += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth[bucket] -= 1
                if self._depth[bucket] == 0:
                    self.seconds[bucket] += time.perf_counter() - started
        for attr in ("cache_clear", "cache_info"):  # lru_cache's own methods stay callable
            if hasattr(fn, attr):
                setattr(timed, attr, getattr(fn, attr))
        return timed


class TimedSession(Session):
    def __init__(self, inner: Session, clock: Clock):
        self.inner, self.clock = inner, clock

    def call(self, call):
        return self.clock.wrap("framework", self.inner.call)(call)


def instrument(adapter: Adapter, clock: Clock) -> None:
    """Time framework calls (opening a session counts: it may seed the framework) and statistics."""
    open_session = clock.wrap("framework", adapter.open)
    adapter.open = lambda *a, **k: TimedSession(open_session(*a, **k), clock)  # type: ignore[method-assign]
    for name in STATS_FUNCTIONS:
        setattr(stats, name, clock.wrap("statistics", getattr(stats, name)))


def startup_seconds(framework: str) -> float:
    code = ("import time; t = time.perf_counter(); from conformance.targets import load_adapter; "
            f"load_adapter({framework!r}).version(); print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def run_target(target: Any, specs: list, salt: str, clock: Clock) -> dict[str, Any]:
    """Every case on one target; seconds split into framework, statistics and engine."""
    before = dict(clock.seconds)
    graphs_before = target.adapter.compiled_graphs()
    by_check: dict[str, float] = defaultdict(float)
    statuses: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    for spec in specs:
        for case in expand(spec, target):
            t0 = time.perf_counter()
            statuses[run_case(case, salt).status.value] += 1
            by_check[spec.check] += time.perf_counter() - t0
    total = time.perf_counter() - started
    spent = {k: clock.seconds[k] - before.get(k, 0.0) for k in ("framework", "statistics")}
    graphs_after = target.adapter.compiled_graphs()
    graphs = None if graphs_before is None or graphs_after is None else graphs_after - graphs_before
    return {"label": target.label, "run": total, **spent, "graphs": graphs,
            "engine": total - spent["framework"] - spent["statistics"], "cases": sum(statuses.values()),
            "statuses": dict(statuses), "by_check": dict(sorted(by_check.items(), key=lambda kv: -kv[1]))}


def run_in_process(framework: str, salt: str) -> list[dict[str, Any]]:
    """Time every target; stats functions are restored afterwards so frameworks do not compound."""
    saved = {name: getattr(stats, name) for name in STATS_FUNCTIONS}
    for obj in vars(stats).values():  # each framework pays for its own sample-size computations
        if callable(getattr(obj, "cache_clear", None)):
            obj.cache_clear()
    clock = Clock()
    try:
        adapter = load_adapter(framework)
        instrument(adapter, clock)
        specs, _ = load_all()
        return [run_target(t, specs, salt, clock) for t in targets_for(adapter, framework)]
    finally:
        for name, fn in saved.items():
            setattr(stats, name, fn)


def cli_seconds(framework: str, salt: str, env: dict[str, str] | None = None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--framework", framework,
                               "--salt", salt, "--out", out], cwd=REPO, capture_output=True, text=True, check=False,
                              env={**os.environ, **(env or {})})
        return time.perf_counter() - started, proc.returncode


def cold_and_warm(framework: str, salt: str) -> None:
    """The CLI end to end twice on an empty compile cache: first cold (every graph compiled), then warm
    (the same graphs read back from build/cache's stand-in)."""
    with tempfile.TemporaryDirectory(prefix="conformance-cache-") as cache:
        env = {"CONFORMANCE_CACHE_DIR": cache}
        cold, warm = cli_seconds(framework, salt, env), cli_seconds(framework, salt, env)
    targets = CLI_TARGETS.get(framework)

    def said(seconds: float, target: int) -> str:
        return f" ({verdict(seconds, targets[target], ' s')})" if targets else ""
    print(f"  {framework}: CLI end to end, empty compile cache {cold[0]:7.2f} s{said(cold[0], 0)} (exit {cold[1]}); "
          f"warm {warm[0]:7.2f} s{said(warm[0], 1)} (exit {warm[1]})")


def available(frameworks: list[str]) -> list[str]:
    found = []
    for name in frameworks:
        try:
            load_adapter(name)
            found.append(name)
        except Unavailable as exc:
            print(f"{name}: skipped ({exc})")
        except Exception as exc:  # noqa: BLE001 - an adapter not written yet, or broken
            print(f"{name}: skipped ({type(exc).__name__}: {exc})")
    return found


def report(name: str, startup: float, runs: list[dict[str, Any]], cli: tuple[float, int] | None) -> None:
    total = sum(r["run"] for r in runs)
    suite = sum(r["statistics"] + r["engine"] for r in runs)
    print(f"\n{name}: startup (imports, adapter) {startup:.2f} s; all targets after imports {total:.2f} s; "
          f"suite share {100 * suite / total:.1f}% ({verdict(100 * suite / total, 100 * SUITE_SHARE_TARGET, '%')})")
    for r in runs:
        graphs = "" if r["graphs"] is None else f"; {r['graphs']} graphs compiled"
        print(f"  {r['label']}: {r['cases']} cases {r['statuses']}{graphs}")
        print(f"    run after imports          {r['run']:7.2f} s")
        for part in ("framework", "statistics", "engine"):
            print(f"      {part:24} {r[part]:7.2f} s   {100 * r[part] / r['run']:5.1f}%")
        if r["graphs"]:
            print(f"    framework seconds per compiled graph {r['framework'] / r['graphs']:.3f} (compiles and calls)")
        print("    slowest checks: " + ", ".join(f"{k} {v:.2f} s" for k, v in list(r["by_check"].items())[:4]))
    if cli is not None:
        print(f"  CLI end to end, all targets  {cli[0]:7.2f} s   (exit {cli[1]})")


def report_stat_checks(measured: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Seconds per framework and target in each statistical check (the whole check: its framework
    calls, drawing the decisions, and the exact tests)."""
    names = [c for c in STAT_CHECKS if c in CHECKS or any(c in r["by_check"] for _, rs in measured for r in rs)]
    if not measured or not names:
        return
    widths = [max(len(c), 7) for c in names]
    print("\nstatistical checks (seconds per framework)")
    print(f"  {'framework':12} {'target':28} " + " ".join(f"{c:>{w}}" for c, w in zip(names, widths))
          + f" {'all':>8} {'of run':>7}")
    for name, runs in measured:
        for r in runs:
            spent = [r["by_check"].get(c) for c in names]
            total = sum(v for v in spent if v is not None)
            cells = " ".join(f"{'-':>{w}}" if v is None else f"{v:{w}.2f}" for v, w in zip(spent, widths))
            print(f"  {name[:12]:12} {r['label'][:28]:28} {cells} {total:8.2f} "
                  f"{100 * total / r['run'] if r['run'] else 0.0:6.1f}%")


_TOX_ENV = re.compile(r"^\s+(\S+): (OK|FAIL)\S* \(([\d.]+)=setup\[([\d.]+)\]\+cmd\[([\d., ]+)\] seconds\)")


def tox_matrix(label: str) -> int:
    """Run `tox -m LABEL` (every framework in its own virtualenv) and print each env's time."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tox", "-m", label], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CONFORMANCE_SALT": os.environ.get("CONFORMANCE_SALT", "bench")})
    wall = time.perf_counter() - started
    print(f"tox -m {label}: exit {proc.returncode}, {wall:.1f} s wall (installs included)")
    print(f"  {'env':14} {'status':6} {'total':>8} {'setup':>8} {'run':>8}")
    for line in proc.stdout.splitlines():
        match = _TOX_ENV.match(line)
        if match:
            env, status, total, setup, cmds = match.groups()
            run = sum(float(c) for c in cmds.split(","))
            print(f"  {env:14} {status:6} {float(total):7.1f}s {float(setup):7.1f}s {run:7.1f}s")
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", action="append", default=[])
    ap.add_argument("--salt", default="bench")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI timing")
    ap.add_argument("--tox", metavar="LABEL", help="time the tox matrix instead (matrix or full)")
    ap.add_argument("--cold-warm", action="store_true",
                    help="only the CLI twice per framework on an empty compile cache: cold, then warm")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    if args.tox:
        return tox_matrix(args.tox)
    if args.cold_warm:
        for name in available(args.framework or list(known_frameworks())):
            cold_and_warm(name, args.salt)
        return 0
    measured: list[tuple[str, list[dict[str, Any]]]] = []
    for name in available(args.framework or list(known_frameworks())):
        startup = startup_seconds(name)
        result = run_in_process(name, args.salt)
        report(name, startup, result, None if args.no_cli else cli_seconds(name, args.salt))
        measured.append((name, result))
    report_stat_checks(measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
