"""scripts/false_alarm.py as a user runs it: a subprocess, fresh salts, its exit code and its report."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "false_alarm.py"


def false_alarm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--jobs", "1", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_reference_campaign_passes_and_names_its_target_and_salts(tmp_path: Path) -> None:
    summary_path = tmp_path / "fa.json"
    proc = false_alarm("--framework", "reference", "--salts", "2", "--spec", "channel-dropout-scaling*dropout2d*",
                       "--json", str(summary_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    base = re.search(r"salts fa-([0-9a-f]+)-0 \.\. fa-\1-1 \(replay: --base \1\)", proc.stdout)
    assert base, proc.stdout
    assert "reference-cpu-eager" in proc.stdout
    assert "2 salts x " in proc.stdout and "failed runs: 0 of 2" in proc.stdout
    assert "per-run failure rate <=" in proc.stdout
    row = re.search(r"^reference\s+eager\s+2\s+0\s+", proc.stdout, re.MULTILINE)
    assert row, proc.stdout  # the final table: framework, mode, salts, failed runs, ...
    summary = json.loads(summary_path.read_text())
    assert summary["exit"] == 0 and summary["salt_base"] == base.group(1)
    (campaign,) = summary["campaigns"]
    assert (campaign["target"], campaign["mode"], campaign["salts"], campaign["failed_runs"]) == \
        ("reference-cpu-eager", "eager", 2, 0)
    assert campaign["cases_per_run"] > 0 and set(campaign["cases_by_spec"]) == {"channel-dropout-scaling"}


def test_broken_rate_fails_with_salt_and_reproduce_command(tmp_path: Path) -> None:
    adapter = "tests/broken/rate_plus_001.py:adapter"
    summary_path = tmp_path / "fa.json"
    proc = false_alarm("--framework", adapter, "--spec", "channel-dropout-drop-rate*dropout2d*", "--salts", "2",
                       "--json", str(summary_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failures = [line for line in proc.stdout.splitlines() if line.lstrip().startswith("FAIL ")]
    assert failures, proc.stdout
    for line in failures:
        salt = re.search(r"salt (fa-[0-9a-f]+-\d+)", line)
        assert salt, line
        command = line.split("reproduce: ", 1)[1]
        assert command.startswith(f"python -m conformance run --adapter {adapter} ")
        assert "--spec 'channel-dropout-drop-rate[" in command and command.endswith(f"--salt {salt.group(1)}")
    assert "failed runs: 2 of 2" in proc.stdout
    (campaign,) = json.loads(summary_path.read_text())["campaigns"]
    assert campaign["failures"] and {f["status"] for f in campaign["failures"]} == {"fail"}
