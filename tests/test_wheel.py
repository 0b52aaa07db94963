"""The installed suite, as an adopter gets it (issue 15): the wheel built from this checkout, installed into a
fresh virtualenv (not editable), used from a directory that is not the checkout, with no PYTHONPATH.

The adopter's implementation is examples/mydrop.py changed to refuse p = 1 (as MLX does), and their own
expectations file declares that divergence: the gate passes only if the installed suite finds its shipped
specs and reference expectations and reads the adopter's file too.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conformance.spec import spec_set_hash

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

ADOPTER_ADAPTER = (REPO / "examples" / "mydrop.py").read_text(encoding="utf-8").replace(
    '    if not 0.0 <= p <= 1.0:\n',
    '    if p == 1.0:\n        raise ValueError("p = 1 drops everything; refused")\n    if not 0.0 <= p <= 1.0:\n')
ADOPTER_EXPECTATIONS = """\
framework: mydrop
expectations:
  - spec: channel-dropout-p-one
    outcome: diverges
    reason: mydrop refuses p = 1 with ValueError, as MLX does.
    observed: {error: ValueError}
    porting:
      to: Build mydrop's dropout only for p < 1; at p = 1 return zeros.
"""
SPECS = ["--spec", "channel-dropout-p-one", "--spec", "channel-dropout-scaling", "--spec", "dropout2d-rank*"]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a virtualenv holding the wheel and its dependencies; built once even under pytest-xdist."""
    shared = tmp_path_factory.getbasetemp().parent / "wheel-venv"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bindir = shared / "venv" / "bin"
        if not (bindir / "dropout-conformance").exists():
            _build(shared)
    return bindir


def _build(shared: Path) -> None:
    _check([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-w", str(shared / "dist"), "-q"],
           cwd=shared)
    wheel, = (shared / "dist").glob("dropout_conformance-*.whl")
    venv.create(shared / "venv", with_pip=True)
    _check([str(shared / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=shared)


def _check(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture
def adopter(tmp_path: Path) -> Path:
    """An adopter's repository: their adapter and their expectations file, nothing of this checkout."""
    (tmp_path / "mydrop.py").write_text(ADOPTER_ADAPTER, encoding="utf-8")
    (tmp_path / "mydrop.yaml").write_text(ADOPTER_EXPECTATIONS, encoding="utf-8")
    return tmp_path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "CONFORMANCE_SALT", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}


def test_wheel_ships_the_specs_and_the_command_runs_an_adopters_adapter(installed: Path, adopter: Path) -> None:
    version = _check([str(installed / "dropout-conformance"), "--version"], cwd=adopter, env=_env()).stdout
    assert f"spec set {spec_set_hash()}" in version, version  # the shipped specs are this checkout's
    assert "site-packages" in version, version
    run = _check([str(installed / "dropout-conformance"), "run", "--adapter", "mydrop.py:adapter",
                  "--expectations", "mydrop.yaml", "--salt", "wheel-test", "--out", "out", *SPECS],
                 cwd=adopter, env=_env())
    doc = json.loads((adopter / "out" / "results.json").read_text(encoding="utf-8"))
    assert doc["run"]["spec_set"] == spec_set_hash()
    p_one = [r for r in doc["results"] if r["spec"] == "channel-dropout-p-one" and r["status"] != "skipped"]
    assert p_one and all(r["status"] == "expected-divergence" for r in p_one), run.stdout
    assert all(r["expected"]["source"].split("#")[0].endswith("mydrop.yaml") for r in p_one)
    ranks = [r for r in doc["results"] if r["spec"].startswith("dropout2d-rank")]  # the shipped reference file
    assert ranks and all(r["status"] == "expected-divergence" for r in ranks)
    _check([str(installed / "dropout-conformance"), "report", "out/results.json", "-o", "report.html"],
           cwd=adopter, env=_env())
    assert "mydrop" in (adopter / "report.html").read_text(encoding="utf-8")
    _check([str(installed / "dropout-conformance"), "run", "--framework", "reference", "--salt", "wheel-test",
            "--out", "ref", *SPECS], cwd=adopter, env=_env())
    porting = _check([str(installed / "dropout-conformance"), "porting", "reference", "mydrop", "--results",
                      "ref/results.json", "out/results.json"], cwd=adopter, env=_env()).stdout
    assert "mydrop refuses p = 1 with ValueError" in porting, porting  # the adopter's reason and advice
    assert "change: Build mydrop's dropout only for p < 1; at p = 1 return zeros." in porting, porting


def test_pytest_finds_the_plugin_through_its_entry_point(installed: Path, adopter: Path) -> None:
    args = ["--adapter", "mydrop.py:adapter", "--expectations", "mydrop.yaml", "--salt", "wheel-test", *SPECS,
            "-p", "no:cacheprovider", "-q"]
    for how, env in ((["--dropout-conformance"], _env()),  # the pytest11 entry point, autoloaded
                     (["-p", "conformance.plugin"], {**_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})):
        out = _check([str(installed / "python"), "-m", "pytest", *how, *args], cwd=adopter, env=env).stdout
        assert " passed" in out and "failed" not in out, out
        assert "conformance:" in out and " cases; whole-run false-alarm bound" in out, out


def test_the_entry_point_leaves_other_projects_alone(installed: Path, tmp_path: Path) -> None:
    """A framework's own test suite in the same environment, with its own --device and --framework options."""
    (tmp_path / "conftest.py").write_text(
        'def pytest_addoption(parser):\n'
        '    parser.addoption("--device", default="cpu")\n'
        '    parser.addoption("--framework", default="mine")\n', encoding="utf-8")
    (tmp_path / "test_theirs.py").write_text(
        "def test_theirs(request):\n    assert request.config.getoption('--device') == 'gpu'\n", encoding="utf-8")
    (tmp_path / "spec.yaml").write_text("not: a spec\n", encoding="utf-8")  # their YAML is not collected
    out = _check([str(installed / "python"), "-m", "pytest", "--device", "gpu", "-p", "no:cacheprovider", "-q"],
                 cwd=tmp_path, env=_env()).stdout
    assert "1 passed" in out, out
