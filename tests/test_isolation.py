"""Each execution target runs in its own process: a crash or hang there becomes error results for
that target only, and results gathered before an interruption are kept."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conformance import results as res

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = "tests/fixtures/misbehaving.py"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conformance", "run", *args]


def test_crashing_target_becomes_errors_and_others_complete(tmp_path):
    proc = subprocess.run(cli("--adapter", f"{FIXTURE}:crashing", "--framework", "reference",
                              "--spec", "channel-dropout-scaling*dropout2d*", "--salt", "iso", "--out", str(tmp_path)),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    doc = res.read(tmp_path / "results.json")
    by_fw = {fw: [r for r in doc["results"] if r["framework"] == fw] for fw in ("crashing", "reference")}
    assert len(by_fw["reference"]) == 32 and {r["status"] for r in by_fw["reference"]} == {"pass"}
    crashed = by_fw["crashing"]
    assert len(crashed) == 32  # every planned case is accounted for
    assert sum(r["status"] == "pass" for r in crashed) == 4  # the four before the abort
    errors = [r for r in crashed if r["status"] == "error"]
    assert len(errors) == 28 and all("exited with code" in r["message"] for r in errors)


def test_hanging_target_times_out_into_errors(tmp_path):
    proc = subprocess.run(cli("--adapter", f"{FIXTURE}:hanging", "--spec", "channel-dropout-drop-rate*dropout2d*",
                              "--timeout", "20", "--out", str(tmp_path)),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    doc = res.read(tmp_path / "results.json")
    timed_out = [r for r in doc["results"] if r["status"] == "error"]
    assert timed_out and all("timed out after 20 s" in r["message"] for r in timed_out)
    assert any(r["status"] == "pass" for r in doc["results"])  # cases before the hang were kept


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
    proc = subprocess.run(cli("--adapter", f"{FIXTURE}:aborting_at_import", "--framework", "reference",
                              "--spec", "dropout2d-seeding", "--out", str(tmp_path)),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    doc = res.read(tmp_path / "results.json")
    broken = [r for r in doc["results"] if r["status"] == "error"]
    assert len(broken) == 1 and "aborting_at_import" in broken[0]["message"]
    assert any(r["framework"] == "reference" and r["status"] == "pass" for r in doc["results"])
