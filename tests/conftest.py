"""Shared fixtures: run the real CLI in a subprocess, as a user would, and read what it wrote."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # tests import the engine and adapters from any working directory
    sys.path.insert(0, str(REPO))

from conformance.record import Result, results_of  # noqa: E402 - needs the path above

try:  # property tests: no per-example deadline (CI machines stall), reproducible database off
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, derandomize=False, database=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a test extra; the modules that need it import-skip
    pass


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def document(self) -> dict[str, Any]:
        return json.loads((self.out / "results.json").read_text(encoding="utf-8"))

    @property
    def results(self) -> list[Result]:
        return results_of(self.document)


def run_cli(args: list[str], out: Path, timeout: float = 600) -> CliRun:
    """`python -m conformance run ARGS --out OUT` from the repository root, captured."""
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_SALT"}
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", *args, "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., CliRun]:
    """cli(*args) runs the conformance CLI with its output under this test's tmp_path."""
    counter = iter(range(1000))
    return lambda *args: run_cli(list(args), tmp_path / f"run{next(counter)}")
