"""The CI plumbing: tox.ini's matrix, the example GitHub workflow and the tfjs example's lockfile.

These read the files as data; they fail when an edit breaks an invariant the docs promise
(separate results folders, report after the frameworks, the gate reaching the exit code).
"""
from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest
import yaml

from adapters import FRAMEWORKS

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK_ENVS = ("torch", "mlx", "jax", "tfjs")
MORE_ENVS = ("tensorflow", "keras-jax", "keras-torch", "keras-openvino", "paddle", "tinygrad", "onnxruntime",
             "mindspore")
OUTSIDE_FULL = ("jittor",)  # an env of its own, not in `full`: its first import compiles for minutes
# Envs that run several implementations from one install; every other env runs the one named like it.
SHARED_ENVS = {"jax": ("flax-linen", "flax-nnx", "equinox", "haiku"), "tfjs": ("tfjs", "tfjs-layers"),
               "paddle": ("paddle", "paddle-nhwc", "paddle-downscale")}


@pytest.fixture(scope="module")
def tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return parser


def _section(tox: configparser.ConfigParser, env: str) -> configparser.SectionProxy:
    """The section configuring `env`, including the factor-expanded [testenv:{torch,mlx,jax}]."""
    for name in tox.sections():
        match = re.fullmatch(r"testenv:\{?([\w,-]+)\}?", name)
        if match and env in match.group(1).split(","):
            return tox[name]
    raise AssertionError(f"tox.ini has no section for env {env}")


def _commands(tox: configparser.ConfigParser, env: str) -> str:
    text = _section(tox, env)["commands"].replace("\\\n", " ")
    return re.sub(r"\{envname\}", env, text)


def test_matrix_label_runs_every_framework_then_the_report(tox) -> None:
    matrix = [e.strip() for e in re.search(r"matrix\s*=\s*(.+)", tox["tox"]["labels"]).group(1).split(",")]
    assert matrix[-1] == "report" and set(matrix[:-1]) == set(FRAMEWORK_ENVS)
    depends = {e.strip() for e in _section(tox, "report")["depends"].split(",")}
    assert depends == set(FRAMEWORK_ENVS + MORE_ENVS + OUTSIDE_FULL)


def test_full_label_adds_every_other_framework_then_the_report(tox) -> None:
    full = [e.strip() for e in re.search(r"full\s*=\s*(.+)", tox["tox"]["labels"]).group(1).split(",")]
    assert full[-1] == "report" and set(full[:-1]) == set(FRAMEWORK_ENVS + MORE_ENVS)
    for env in MORE_ENVS:
        assert f"--out {{toxinidir}}/build/results/{env}" in _commands(tox, env)


def test_every_implementation_runs_in_exactly_one_env(tox) -> None:
    """Every adapter module is some env's framework (a new adapter cannot be left out of `tox -m full`)."""
    envs = FRAMEWORK_ENVS + MORE_ENVS + OUTSIDE_FULL
    ran = [name for env in envs for name in re.findall(r"--framework (\S+)", _commands(tox, env))]
    assert sorted(ran) == sorted(set(ran))
    assert set(ran) == set(FRAMEWORKS) - {"reference"}  # the reference runs in the tests env
    for env in envs:
        assert re.findall(r"--framework (\S+)", _commands(tox, env)) == list(SHARED_ENVS.get(env, (env,)))


def test_framework_envs_write_separate_results_and_junit(tox) -> None:
    outs = {}
    for env in FRAMEWORK_ENVS:
        commands = _commands(tox, env)
        outs[env] = re.search(r"--out (\S+)", commands).group(1)
        assert f"--junit-xml {outs[env]}/junit.xml" in commands
    assert len(set(outs.values())) == len(FRAMEWORK_ENVS)
    assert all(out == f"{{toxinidir}}/build/results/{env}" for env, out in outs.items())


def test_each_framework_env_installs_only_its_framework(tox) -> None:
    extras = _section(tox, "torch")["extras"]
    for env in ("torch", "mlx") + MORE_ENVS:
        if env not in SHARED_ENVS:
            assert f"{env}: {env}" in extras  # factor-conditional: torch env gets only [torch]
    assert _section(tox, "jax")["extras"].strip() == "jax"
    assert "extras" not in _section(tox, "tfjs") and "extras" not in _section(tox, "report")
    tests_extras = set(_section(tox, "tests")["extras"].split())
    assert tests_extras == {"torch", "mlx", "jax", "test"}


def test_the_gate_reaches_the_exit_code(tox) -> None:
    """ignore_outcome anywhere would turn a failed gate into a green matrix."""
    assert not any("ignore_outcome" in tox[s] for s in tox.sections())
    assert "constraints.txt" in tox["testenv"]["setenv"]
    assert "report" in _commands(tox, "report") and "build/results/*/results.json" in _commands(tox, "report")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load((ROOT / ".github/workflows/conformance-example.yml").read_text())


def test_workflow_fans_out_and_uploads_even_on_failure(workflow) -> None:
    run = workflow["jobs"]["run"]
    assert run["strategy"]["fail-fast"] is False
    include = run["strategy"]["matrix"]["include"]
    assert {e["framework"] for e in include} <= set(FRAMEWORKS)
    assert {"torch", "flax-linen", "flax-nnx", "mlx", "tfjs"} <= {e["framework"] for e in include}
    assert len({(e["framework"], e["device"]) for e in include}) == len(include)
    assert all({"framework", "device", "runner", "extras"} <= set(e) for e in include)
    upload = next(s for s in run["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "matrix.device" in upload["with"]["name"]


def test_workflow_report_job_merges_everything_and_diffs(workflow) -> None:
    report = workflow["jobs"]["report"]
    assert report["needs"] == "run" and report["if"] == "always()"
    script = "\n".join(str(s.get("run", "")) for s in report["steps"])
    assert "python -m conformance report build/results/*/results.json" in script
    assert "python -m conformance diff" in script
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and "workflow_dispatch" in triggers


def test_tfjs_lockfile_matches_package_json() -> None:
    folder = ROOT / "examples" / "tfjs"
    package = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert "@tensorflow/tfjs-node" not in json.dumps(lock)  # the pure-JS package only, no native build
