"""A crash or a hang costs one case: the supervisor records the case that took its target process
down (kind, signal or exit code, the fault-handler lines) and restarts the target on the cases after
it; other targets complete, and results gathered before an interruption are kept."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance import results as res

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = "tests/fixtures/misbehaving.py"
SCALING_2D = "channel-dropout-scaling*dropout2d*"  # 32 cases: 8 rates x 4 dtypes, one call each


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conformance", "run", *args]


def run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    proc = subprocess.run(cli(*args, "--out", str(tmp_path)), cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc, res.read(tmp_path / "results.json")["results"]


def test_a_crash_costs_only_the_case_that_crashed(tmp_path):
    proc, results = run(tmp_path, "--adapter", f"{FIXTURE}:aborting_at_p09", "--framework", "reference",
                        "--spec", SCALING_2D, "--salt", "iso")
    assert proc.returncode == 1, proc.stderr
    mine = [r for r in results if r["framework"] == "aborting-at-p09"]
    assert len(mine) == 32 and len([r for r in results if r["framework"] == "reference"]) == 32
    crashed = [r for r in mine if r["status"] == "error"]
    assert sorted(r["params"]["dtype"] for r in crashed) == ["bfloat16", "float16", "float32", "float64"]
    assert all(r["params"]["p"] == 0.9 for r in crashed)  # exactly the cases that abort, no others
    assert all(r["status"] == "pass" for r in results if r not in crashed)
    for r in crashed:
        incident = r["incident"]
        assert incident["kind"] == "crash" and incident["signal"] == "SIGABRT" and incident["exit_code"] == -6
        assert incident["lines"][0] == "Fatal Python error: Aborted"
        assert any("_abort_at_p09" in line for line in incident["lines"])  # the stack says where
        assert not any(line.startswith("Extension modules") for line in incident["lines"])
        # the record keeps what the case is and how to replay it
        assert r["spec"] == "channel-dropout-scaling" and r["behavior"] == "scaling" and r["op"] == "dropout2d"
        assert r["expected"]["outcome"] == "conforms" and r["seed"] is not None
        assert f"--spec '{r['id']}'" in r["reproduce"] and "--salt iso" in r["reproduce"]
        assert r["message"].startswith("crash: the aborting-at-p09-cpu-eager process died (signal SIGABRT)")
    doc = res.read(tmp_path / "results.json")
    res.validate(doc)
    assert {t["framework"]: t.get("restarts") for t in doc["run"]["targets"]} == \
        {"reference": 0, "aborting-at-p09": 4}
    assert proc.stdout.count("restarted (") == 4


def test_restarts_are_capped_and_the_output_says_so(tmp_path):
    # `crashing` aborts on every 5th call of a process: a crash in every fifth case, for ever.
    proc, results = run(tmp_path, "--adapter", f"{FIXTURE}:crashing", "--spec", SCALING_2D,
                        "--max-restarts", "2", "--salt", "iso")
    assert proc.returncode == 1
    assert "restart cap reached (2 restarts); 17 case(s) not run" in proc.stdout
    statuses = [(r["status"], (r["incident"] or {}).get("kind")) for r in results]
    assert statuses.count(("pass", None)) == 12 and statuses.count(("error", "crash")) == 3
    not_run = [r for r in results if r["status"] == "error" and r["incident"] is None]
    assert len(not_run) == 17 and all("restart cap reached" in r["message"] for r in not_run)
    assert all(r["reproduce"] and r["behavior"] == "scaling" for r in not_run)


def test_a_hanging_case_times_out_alone_with_its_stack(tmp_path):
    started = time.monotonic()
    proc, results = run(tmp_path, "--adapter", f"{FIXTURE}:hanging", "--spec", "channel-dropout-drop-rate*dropout2d*",
                        "--case-timeout", "5", "--salt", "iso")
    assert proc.returncode == 1
    assert time.monotonic() - started < 300
    hung = [r for r in results if r["status"] == "error"]
    assert [r["params"]["p"] for r in hung] == [0.5]
    assert len([r for r in results if r["status"] == "pass"]) == 7  # the cases after it ran too
    incident = hung[0]["incident"]
    assert incident["kind"] == "timeout" and incident["signal"] == "SIGABRT"
    assert any("_hang_at_half" in line for line in incident["lines"])
    assert hung[0]["message"].startswith("timeout: no result after 5 s (--case-timeout)")


def test_the_target_timeout_still_bounds_a_target(tmp_path):
    proc, results = run(tmp_path, "--adapter", f"{FIXTURE}:hanging", "--spec", "channel-dropout-drop-rate*dropout2d*",
                        "--timeout", "20", "--salt", "iso")
    assert proc.returncode == 1
    errors = [r for r in results if r["status"] == "error"]
    assert errors[0]["incident"]["kind"] == "timeout" and "(--timeout)" in errors[0]["message"]
    assert all(r["message"].startswith("not run: hanging-cpu-eager timed out after 20 s") for r in errors[1:])
    assert any(r["status"] == "pass" for r in results)  # cases before the hang were kept
    assert len(results) == 8


def test_interrupt_keeps_results_already_gathered(tmp_path):
    out = tmp_path / "out"
    # Ctrl-C as at a terminal: a shell's background job inherits SIGINT ignored (then Python never
    # raises KeyboardInterrupt), so the CLI gets the default disposition whatever ran this test.
    proc = subprocess.Popen(cli("--framework", "reference", "--adapter", f"{FIXTURE}:hanging",
                                "--spec", "channel-dropout-drop-rate*dropout2d*", "--out", str(out)),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = out / "results.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if results.exists() and any(r["framework"] == "reference" for r in res.read(results)["results"]):
            break
        time.sleep(0.5)
    time.sleep(3)  # let the hanging target start
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    doc = json.loads(results.read_text())
    assert len([r for r in doc["results"] if r["framework"] == "reference"]) == 8
    assert "interrupted" in err


def test_adapter_crashing_while_probed_fails_the_gate(tmp_path):
    proc, results = run(tmp_path, "--adapter", f"{FIXTURE}:aborting_at_import", "--framework", "reference",
                        "--spec", "dropout2d-seeding")
    assert proc.returncode == 1
    broken = [r for r in results if r["status"] == "error"]
    assert len(broken) == 1 and "aborting_at_import" in broken[0]["message"]
    assert "Fatal Python error: Aborted" in broken[0]["message"] and "Extension modules" not in broken[0]["message"]
    assert any(r["framework"] == "reference" and r["status"] == "pass" for r in results)


def test_adapter_hanging_while_probed_is_an_error_after_the_timeout(tmp_path):
    proc, results = run(tmp_path, "--adapter", f"{FIXTURE}:hanging_at_import", "--framework", "reference",
                        "--spec", "dropout2d-seeding", "--timeout", "10")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    broken = [r for r in results if r["status"] == "error"]
    assert len(broken) == 1 and "timed out after 10 s" in broken[0]["message"]
    assert any(r["framework"] == "reference" and r["status"] == "pass" for r in results)


def test_targets_in_parallel_give_the_same_document_in_plan_order(tmp_path):
    """--jobs 2 runs targets at once; results.json is the same as one at a time, in plan order."""
    docs = []
    for jobs in ("1", "2"):
        out = tmp_path / jobs
        run(out, "--framework", "reference", "--adapter", f"{FIXTURE}:aborting_at_p09", "--spec", SCALING_2D,
            "--salt", "iso", "--jobs", jobs)
        docs.append(res.read(out / "results.json"))
    # (a crash's message quotes thread addresses, which differ between runs: compare its first line)
    one, two = ([(r["id"], r["status"], r["seed"], r["message"].splitlines()[0]) for r in d["results"]] for d in docs)
    assert one == two and all("[reference-" in test_id for test_id, *_ in two[:32])
    assert [t["framework"] for t in docs[1]["run"]["targets"]] == ["reference", "aborting-at-p09"]


def test_a_compiled_target_spread_over_shards_gives_the_same_document(tmp_path):
    """--jobs 2 splits a compiled-mode target into two processes (cases sharing op, dtype and p stay
    together); each shard restarts after its own crashes, and the merged results are those of one
    process, in plan order, restarts summed."""
    runs = []
    for jobs in ("1", "2"):
        proc, _ = run(tmp_path / jobs, "--adapter", f"{FIXTURE}:compiled_aborting_at_p09", "--spec", SCALING_2D,
                      "--salt", "iso", "--jobs", jobs)
        runs.append((proc, res.read(tmp_path / jobs / "results.json")))
    (one_proc, one), (two_proc, two) = runs
    assert "1 execution target(s) in 1 process(es)" in one_proc.stdout
    assert "1 execution target(s) in 2 process(es), 2 at a time" in two_proc.stdout
    assert "(shard 1 of 2)" in two_proc.stdout and "(shard 2 of 2)" in two_proc.stdout
    # a crash's message names the process that died, here a shard: compare it without that
    rows = [[(r["id"], r["status"], r["seed"], re.sub(r" \(shard \d of 2\)", "", r["message"].splitlines()[0]))
             for r in d["results"]] for d in (one, two)]
    assert rows[0] == rows[1] and len(rows[0]) == 32
    assert [r for r in rows[1] if r[1] == "error"] and all("-p0.9" in r[0] for r in rows[1] if r[1] == "error")
    # one restart per crash that left cases to run: a shard whose last case crashed has none left
    restarts = [t.get("restarts") for t in two["run"]["targets"]]
    assert len(restarts) == 1 and 2 <= restarts[0] <= 4 and two_proc.stdout.count("restarted (") == restarts[0]
    assert two["run"]["false_alarm_bound"] == one["run"]["false_alarm_bound"]
    res.validate(two)
