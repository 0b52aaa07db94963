"""The CLI as users and CI call it: exit codes, results.json contract, expectation files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance import __version__
from conformance import results as res
from conformance import stats
from conformance.record import Status, results_of
from conformance.spec import spec_set_hash

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("ref")
    proc = run_cli("run", "--framework", "reference", "--salt", "cli-test", "--out", str(out))
    return proc, res.read(out / "results.json")


def test_reference_run_passes_the_gate(reference_run):
    proc, doc = reference_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate: PASS" in proc.stdout
    assert all(f"{s.letter} {s.label}" in proc.stdout for s in Status)  # the summary's legend
    results = results_of(doc)
    assert all(r.status.ok for r in results)
    # The reference implements dropout2d, seeded explicitly: it runs every dropout2d case but those of the
    # global seeding path; other ops are not offered.
    assert all(r.status is not Status.SKIPPED for r in results
               if r.op == "dropout2d" and r.params.get("seeding") != "global")
    assert any(r.status is Status.SKIPPED and "no global seeding path" in r.message for r in results)
    assert all("not offered" in r.message for r in results if r.status is Status.SKIPPED)


def test_results_and_version_name_the_suite_version_and_the_spec_set(reference_run, tmp_path):
    _, doc = reference_run
    assert doc["run"]["suite_version"] == __version__ and doc["run"]["spec_set"] == spec_set_hash()
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith(f"dropout-conformance {__version__}, spec set ")
    assert spec_set_hash() in proc.stdout
    edited = tmp_path / "specs"  # one changed byte is another spec set
    shutil.copytree(ROOT / "specs", edited)
    axes = edited / "sweep-axes.yaml"
    axes.write_text(axes.read_text() + "\n", encoding="utf-8")
    assert spec_set_hash(edited) != spec_set_hash()


def test_results_document_matches_the_published_schema(reference_run):
    _, doc = reference_run
    res.validate(doc)
    assert doc["run"]["salt"] == "cli-test"
    assert 0 < doc["run"]["false_alarm_bound"] <= doc["run"]["false_alarm_target"]
    stat = [r for r in doc["results"] if r["behavior"] == "drop-rate" and r["op"] == "dropout2d"]
    assert stat and all(r["reproduce"].startswith("python -m conformance run --framework reference") for r in stat)
    main = [r for r in stat if r["spec"] == "channel-dropout-drop-rate"]
    assert main and all(r["n"] >= 262144 and r["min_detectable"] <= 0.01 for r in main)
    # the sweep's rate tests state their own, coarser power: 5 x rate_delta(p) (sweep-drop-rate's delta_factor)
    swept = [r for r in stat if r["spec"] == "sweep-drop-rate"]
    assert swept and all(r["min_detectable"] <= 5 * stats.rate_delta(r["params"]["p"]) for r in swept)


def test_schema_rejects_a_record_without_status(reference_run):
    import jsonschema
    _, doc = reference_run
    broken = json.loads(json.dumps(doc))
    del broken["results"][0]["status"]
    with pytest.raises(jsonschema.ValidationError):
        res.validate(broken)


def test_same_salt_reproduces_the_results_file(reference_run, tmp_path):
    _, doc = reference_run
    proc = run_cli("run", "--framework", "reference", "--salt", "cli-test", "--out", str(tmp_path))
    assert proc.returncode == 0
    again = res.read(tmp_path / "results.json")
    assert again["results"] == doc["results"]


def test_reproduce_command_replays_one_case(reference_run, tmp_path):
    _, doc = reference_run
    record = next(r for r in doc["results"] if r["behavior"] == "independence")
    argv = record["reproduce"].split()[3:]  # drop "python -m conformance"
    argv = [a.strip("'") for a in argv]
    proc = run_cli(*argv, "--out", str(tmp_path))
    replay = res.read(tmp_path / "results.json")["results"]
    assert proc.returncode == 0 and len(replay) == 1
    assert replay[0]["id"] == record["id"] and replay[0]["observed"] == record["observed"]


def test_unknown_framework_is_a_usage_error_listing_known_ones(tmp_path):
    proc = run_cli("run", "--framework", "nosuch", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "unknown framework 'nosuch'" in proc.stderr and "torch" in proc.stderr


def test_bad_adapter_reference_is_a_usage_error(tmp_path):
    proc = run_cli("run", "--adapter", "no/such/file.py:adapter", "--out", str(tmp_path))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_list_names_every_spec_with_sources():
    proc = run_cli("list", "--json")
    assert proc.returncode == 0
    catalog = json.loads(proc.stdout)
    assert "channel-dropout-drop-rate" in catalog and catalog["channel-dropout-drop-rate"]["ops"] == [
        "dropout1d", "dropout2d", "dropout3d"]
    assert all(spec["sources"] and spec["claim"] for spec in catalog.values())


def test_expectation_file_overrides_and_reports_unmatched_entries(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"framework": "reference", "expectations": [
        {"spec": "channel-dropout-non-finite", "when": {"op": ["dropout2d"]}, "outcome": "diverges",
         "reason": "pretend NaN leaks"},
        {"spec": "no-such-spec", "outcome": "conforms"}]}))
    update = tmp_path / "update.yaml"
    proc = run_cli("run", "--framework", "reference", "--spec", "channel-dropout-non-finite*dropout2d*", "--expectations",
                   str(exp), "--update-expectations", str(update), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1  # the reference conforms: the override is stale
    doc = res.read(tmp_path / "o" / "results.json")
    assert {r["status"] for r in doc["results"]} == {"stale-expectation"}
    assert all(r["expected"]["source"].endswith("exp.yaml#0") for r in doc["results"])
    assert doc["run"]["unmatched_expectations"] == [f"{exp}#1"]
    assert "matched no case" in proc.stdout
    proposal = yaml.safe_load(update.read_text())["expectations"]
    assert proposal == [{"spec": "channel-dropout-non-finite", "framework": "reference", "outcome": "conforms"}]


def test_malformed_expectation_file_is_a_usage_error(tmp_path):
    exp = tmp_path / "bad.yaml"
    exp.write_text("expectations:\n  - spec: x\n    outcome: diverges\n    framework: reference\n")
    proc = run_cli("run", "--framework", "reference", "--expectations", str(exp), "--out", str(tmp_path))
    assert proc.returncode == 2 and "bad.yaml" in proc.stderr and "reason" in proc.stderr


def test_missing_framework_is_skipped_with_install_command(tmp_path, monkeypatch):
    """A registered framework whose module cannot be imported is reported, not crashed on."""
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys, adapters; adapters.FRAMEWORKS['ghost'] = ('adapters.ghost_missing', 'pip install ghost');"
         "from conformance.cli import main; sys.exit(main(['list']))"],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    from conformance.targets import Unavailable, load_adapter
    import adapters
    monkeypatch.setitem(adapters.FRAMEWORKS, "ghost", ("adapters.ghost_missing", "pip install ghost"))
    with pytest.raises(Unavailable, match="pip install ghost"):
        load_adapter("ghost")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_pytest_plugin_streams_a_plan_and_every_result(tmp_path, workers):
    """`pytest -p conformance.plugin specs` directly, also under pytest-xdist: one plan line
    naming every case, then one result line per case."""
    pytest.importorskip("xdist")
    jsonl = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conformance.plugin", "-p", "no:cacheprovider",
                           "specs", "--framework", "reference", "--spec", "dropout2d-*", "--results-jsonl",
                           str(jsonl), "-q", *workers], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    plans = [line for line in lines if line["type"] == "plan"]
    results = [line for line in lines if line["type"] == "result"]
    assert len(plans) == 1 and sorted(plans[0]["tests"]) == sorted(r["id"] for r in results)
    from conformance.spec import load_all
    expected = sum(len(s.expanded_cases()) for s in load_all()[0] if s.id.startswith("dropout2d-"))
    assert len(results) == expected and 0 < plans[0]["false_alarm"] < 1e-6


# ---------------------------------------------------------------- output files

WRITER = """
import sys
from pathlib import Path
from conformance.results import write_text_atomic
path, tag = Path(sys.argv[1]), sys.argv[2]
for i in range(150):
    write_text_atomic(path, '{"writer": "%s", "i": %d, "pad": "%s"}' % (tag, i, tag * 200_000))
"""


def test_concurrent_writers_never_leave_a_torn_file(tmp_path):
    """Two processes rewriting one file while it is read: every read is one writer's whole document."""
    path = tmp_path / "results.json"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag], cwd=ROOT) for tag in "ab"]
    reads = 0
    while any(w.poll() is None for w in writers):
        if path.exists():
            doc = json.loads(path.read_text())  # a torn file would not parse
            assert doc["pad"] == doc["writer"] * 200_000
            reads += 1
    assert all(w.wait() == 0 for w in writers) and reads > 10
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind


def test_two_runs_sharing_out_leave_one_whole_readable_results_file(tmp_path):
    def start(salt: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "conformance", "run", "--framework", "reference",
                                 "--spec", "channel-dropout-scaling*", "--salt", salt, "--out", str(tmp_path),
                                 "--junit-xml", str(tmp_path / "junit.xml")],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = os.umask(0o022)  # the usual umask, inherited by the runs (a 0644 file is then readable by all)
    try:
        runs = [start("left"), start("right")]
    finally:
        os.umask(before)
    assert [r.wait(timeout=600) for r in runs] == [0, 0]
    doc = res.read(tmp_path / "results.json")
    res.validate(doc)
    salt = doc["run"]["salt"]
    assert salt in ("left", "right") and all(f"--salt {salt}" in r["reproduce"] for r in doc["results"])
    import xml.etree.ElementTree as ET
    ET.parse(tmp_path / "junit.xml")
    for name in ("results.json", "junit.xml"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


# ---------------------------------------------------------------- bad input: exit 2, no traceback

def test_an_adapter_whose_name_is_not_plain_is_a_usage_error(tmp_path):
    proc = run_cli("run", "--adapter", "tests/fixtures/misbehaving.py:badly_named", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert "adapter name 'my/impl' is not a plain name" in proc.stderr


def test_a_wrongly_typed_grid_value_fails_at_load_time_naming_its_place(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = yaml.safe_load((ROOT / "specs/dropout2d/seeding.yaml").read_text())
    spec["grid"] = {"p": ["half"]}
    (specs / "seeding.yaml").write_text(yaml.safe_dump(spec))
    proc = run_cli("run", "--framework", "reference", "--specs-dir", str(specs), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert f"seeding.yaml: spec '{spec['id']}': field 'grid.p.0': Input should be a valid number" in proc.stderr
    record = res.read(tmp_path / "out" / "results.json")["results"][0]
    assert record["status"] == "error" and "grid.p.0" in record["message"]


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`python -m conformance list --json | head -c 0`: the reader is gone before the first write (the
    CLI loads its specs first, a second or so)."""
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "list", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and "Traceback" not in err and "BrokenPipe" not in err, err
