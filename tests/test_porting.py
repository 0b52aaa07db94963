"""The porting checklist (`python -m conformance porting A B`), on small hand-built results documents."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.record import Result, Status
from reports import model
from reports.porting import NO_ADVICE, Checklist, as_markdown, as_text, change, checklist, describe, headline, \
    names_problem, porting_command, scope
from tests.report_data import document

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = {"torch": "2.13.0", "mlx": "0.32.4", "flax-nnx": "0.12.8"}
SPECS = {
    "p-one": {"title": "p = 1 zeroes everything", "behavior": "p-edges", "ops": ["dropout", "dropout2d"]},
    "non-finite": {"title": "A dropped NaN becomes zero", "behavior": "non-finite", "ops": ["dropout2d"]},
    "layout": {"title": "The channel axis is dim 1", "behavior": "layout", "ops": ["dropout2d"]},
    "alpha-values": {"title": "Alpha dropout keeps the SELU constants", "behavior": "scaling", "ops": ["alpha_dropout"]},
    "sweep-values": {"title": "Dropped units are zero whatever the input holds", "behavior": "input-values",
                     "ops": ["dropout"]},
    "sweep-p-edges": {"title": "At p = 1 everything is zero", "behavior": "p-edges", "ops": ["dropout"]},
}
NAN_REASON = "PyTorch multiplies by the mask, so a dropped NaN stays NaN"
NAN_ADVICE = {"to": "Replace NaN before the dropout (torch.nan_to_num).", "from": "Nothing to change for finite input."}
P_ONE_REASON = "MLX raises ValueError for p = 1"
P_ONE_ADVICE = {"to": "Guard p = 1 yourself.", "from": "Nothing to change; MLX code never builds p = 1."}


def rec(spec: str, fw: str, status: str, *, op: str = "dropout2d", mode: str = "eager", source: str = "default",
        reason: str | None = None, porting: dict | None = None, outcome: str | None = None, message: str = "ok",
        **params: Any) -> dict[str, Any]:
    """One result record; `source` FILE#entry[.match] names the expectation entry that applied."""
    expected: dict[str, Any] = {"outcome": outcome or ("diverges" if reason else "conforms"), "source": source}
    expected.update({k: v for k, v in (("reason", reason), ("porting", porting)) if v})
    words = "-".join(f"{k}{v}" for k, v in params.items())
    return Result(id=f"{spec}[{fw}-cpu-{mode}-{op}-{words}]", spec=spec, behavior=SPECS[spec]["behavior"], op=op,
                  framework=fw, device="cpu", mode=mode, params=params, status=Status(status), expected=expected,
                  message=message).to_json()


def doc(fw: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A results document of one framework, eager and compiled targets, with this file's spec catalog."""
    d = document(fw, VERSIONS[fw], records)
    d["run"]["targets"].append(dict(d["run"]["targets"][0], mode="compiled"))
    d["specs"] = {k: {**v, "claim": v["title"], "sources": []} for k, v in SPECS.items()}
    return d


def both_modes(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return [rec(*args, mode=mode, **kwargs) for mode in ("eager", "compiled")]


def sweep(fw: str) -> list[dict[str, Any]]:
    """sweep-values over p x dtype x values: a dropped NaN stays NaN on torch (entry 17, two of its matches
    in two specs) and mlx (entry 1), not on flax-nnx; compiled bfloat16 at p = 0.9 drops everything on
    torch (entry 3, compiled only)."""
    out = []
    for p in (0.1, 0.5, 0.9):
        for dtype in ("float32", "bfloat16"):
            for values in ("finite", "nan"):
                for mode in ("eager", "compiled"):
                    kw: dict[str, Any] = {}
                    if values == "nan" and fw == "torch":
                        kw = dict(source="expectations/torch.yaml#17.0", reason="ATen multiplies", porting=NAN_ADVICE)
                    elif values == "nan" and fw == "mlx":
                        kw = dict(source="expectations/mlx.yaml#1", reason="MLX multiplies too")
                    elif (fw, mode, dtype, p) == ("torch", "compiled", "bfloat16", 0.9):
                        kw = dict(source="expectations/torch.yaml#3", reason="Inductor draws in bfloat16")
                    status = "expected-divergence" if kw else "pass"
                    out.append(rec("sweep-values", fw, status, op="dropout", mode=mode, p=p, dtype=dtype,
                                   values=values, **kw))
    nan = dict(source="expectations/torch.yaml#17.1", reason="ATen multiplies", porting=NAN_ADVICE)
    if fw != "mlx":  # a spec one side did not run: not compared
        out += both_modes("sweep-p-edges", fw, "expected-divergence" if fw == "torch" else "pass", op="dropout",
                          p=1.0, values="nan", **(nan if fw == "torch" else {}))
    return out


def torch_records() -> list[dict[str, Any]]:
    return [
        *both_modes("p-one", "torch", "pass", op="dropout", p=1.0),
        *both_modes("p-one", "torch", "pass", p=1.0),
        *both_modes("non-finite", "torch", "expected-divergence", p=0.5, form="module", reason=NAN_REASON,
                    source="expectations/torch.yaml#2", porting=NAN_ADVICE),
        *both_modes("non-finite", "torch", "expected-divergence", p=0.5, form="functional", reason=NAN_REASON,
                    source="expectations/torch.yaml#2", porting=NAN_ADVICE),
        *both_modes("layout", "torch", "pass", p=0.5),
        *both_modes("alpha-values", "torch", "pass", op="alpha_dropout", p=0.5),
        *sweep("torch"),
    ]


def mlx_records() -> list[dict[str, Any]]:
    lacks_functional = "not offered: MLX offers dropout only as modules"
    return [
        *both_modes("p-one", "mlx", "expected-divergence", op="dropout", p=1.0, reason=P_ONE_REASON,
                    source="expectations/mlx.yaml#2.0", porting=P_ONE_ADVICE),
        *both_modes("p-one", "mlx", "expected-divergence", p=1.0, reason=P_ONE_REASON,
                    source="expectations/mlx.yaml#2.1", porting=P_ONE_ADVICE),
        *both_modes("non-finite", "mlx", "pass", p=0.5, form="module"),
        # a skip carrying a divergence entry (with advice about the divergence, not the skip)
        *both_modes("non-finite", "mlx", "skipped", p=0.5, form="functional", message=lacks_functional,
                    reason="MLX multiplies too", source="expectations/mlx.yaml#1", porting={"to": "WRONG ADVICE"}),
        *both_modes("layout", "mlx", "expected-divergence", p=0.5, reason="MLX is channels-last",
                    source="expectations/mlx.yaml#6"),
        *both_modes("alpha-values", "mlx", "skipped", op="alpha_dropout", p=0.5, outcome="not-offered",
                    message="not offered: mlx offers no alpha_dropout", reason="MLX has no alpha dropout.",
                    source="expectations/mlx.yaml#0", porting={"to": "Write it from mx.random.bernoulli."}),
        *sweep("mlx"),
    ]


def flax_records() -> list[dict[str, Any]]:
    return sweep("flax-nnx")


@pytest.fixture(scope="module")
def report() -> model.Report:
    return model.build([("torch.json", doc("torch", torch_records())), ("mlx.json", doc("mlx", mlx_records())),
                        ("flax.json", doc("flax-nnx", flax_records()))])


def items_by_headline(report: model.Report, source: str, target: str) -> dict[str, Any]:
    items = checklist(report, source, target)
    found = {headline(i): i for i in items}
    assert len(found) == len(items), [headline(i) for i in items]
    return found


# ---------------------------------------------------------------- what the checklist says

def test_torch_to_mlx_sections_and_advice(report) -> None:
    items = items_by_headline(report, "torch", "mlx")
    assert {h: (i.kind, change(i)) for h, i in items.items()} == {
        "MLX has no alpha dropout": ("missing", "Write it from mx.random.bernoulli."),
        "MLX offers dropout only as modules": ("missing", NO_ADVICE),  # the skip's entry is about a divergence
        "p = 1 zeroes everything": ("target", "Guard p = 1 yourself."),
        "The channel axis is dim 1": ("target", NO_ADVICE),
        "A dropped NaN becomes zero": ("source", "Nothing to change for finite input."),
        "Dropped units are zero whatever the input holds": ("source", NO_ADVICE),  # Inductor's bfloat16
    }
    alpha, functional = items["MLX has no alpha dropout"], items["MLX offers dropout only as modules"]
    assert (describe(alpha, "source"), describe(alpha, "target")) == ("offered", "not offered")
    assert (scope(alpha), scope(functional)) == ([], ["form functional"])
    p_one = items["p = 1 zeroes everything"]
    assert (describe(p_one, "source"), describe(p_one, "target")) == ("as documented", P_ONE_REASON)
    assert [r.spec for r in p_one.rows] == ["p-one"] and len(p_one.pairs) == 2  # two ops, each on both modes
    nan = items["A dropped NaN becomes zero"]
    assert describe(nan, "source") == NAN_REASON and describe(nan, "target") == "as documented"
    assert "WRONG ADVICE" not in as_text(Checklist("torch", "mlx", report, list(items.values())))


def test_the_direction_picks_the_advice(report) -> None:
    """mlx -> torch: MLX's p = 1 is now the source's quirk (advice `from`), PyTorch's NaN the target's
    (advice `to`), and alpha dropout is offered by the target only (no advice asked)."""
    items = items_by_headline(report, "mlx", "torch")
    p_one, nan = items["p = 1 zeroes everything"], items["A dropped NaN becomes zero"]
    assert (p_one.kind, change(p_one)) == ("source", P_ONE_ADVICE["from"])
    assert (nan.kind, change(nan)) == ("target", NAN_ADVICE["to"])
    extra = items["mlx: MLX has no alpha dropout"]
    assert extra.kind == "extra" and ("change", change(extra)) not in Checklist("mlx", "torch", report, []).lines(extra)


def test_a_case_both_diverge_on_is_not_listed(report) -> None:
    """A dropped NaN stays NaN on torch and on mlx: no item holds those cases; against flax-nnx, which
    zeroes it, they are one item for the entry, over both its matches and both specs."""
    for item in checklist(report, "torch", "mlx"):
        assert all(c.record.params.get("values") != "nan" for c in item.hits if c.record.spec.startswith("sweep"))
    items = items_by_headline(report, "torch", "flax-nnx")
    nan = items["At p = 1 everything is zero"]
    assert [r.spec for r in nan.rows] == ["sweep-values", "sweep-p-edges"]  # the report's row order
    assert len(nan.pairs) == 6 + 1 and change(nan) == NAN_ADVICE["from"]
    assert scope(nan) == ["input values nan"]  # every p, dtype and target of the two specs


def test_scope_names_the_axes_and_targets_that_single_an_item_out(report) -> None:
    bf16 = items_by_headline(report, "torch", "flax-nnx")["Dropped units are zero whatever the input holds"]
    assert scope(bf16) == ["dtype bfloat16", "p 0.9", "input values finite", "on 2.13.0 cpu compiled"]
    p_one = items_by_headline(report, "torch", "mlx")["p = 1 zeroes everything"]
    assert scope(p_one) == []  # every op and target of the spec


def test_rendering_as_markdown_and_text(report) -> None:
    cl = Checklist("torch", "mlx", report, checklist(report, "torch", "mlx"))
    md = as_markdown(cl)
    assert md.startswith("# Porting checklist: torch → mlx\n")
    assert "From torch 2.13.0 (cpu compiled, cpu eager) to mlx 0.32.4 (cpu compiled, cpu eager): 2 feature(s) mlx " \
           "lacks, 2 behaviour(s) mlx does differently, 2 torch behaviour(s) ported code may rely on." in md
    assert [line for line in md.splitlines() if line.startswith("## ")] == [
        "## Not offered by mlx", "## What mlx does differently", "## What torch does that ported code may rely on"]
    assert md.count("- [ ] **") == 6 and md.count("  - **change**: ") == 6
    assert "- [ ] **p = 1 zeroes everything**\n  - specs: p-edges: p-one\n  - torch: as documented\n" \
           f"  - mlx: {P_ONE_REASON}\n  - **change**: Guard p = 1 yourself.\n" in md
    text = as_text(cl)
    assert "  [ ] 4. p = 1 zeroes everything\n      specs: p-edges: p-one\n" in text
    assert f"      change: {NO_ADVICE}" in text and max(map(len, text.splitlines())) <= 110


def test_same_behaviour_everywhere_gives_an_empty_checklist(report) -> None:
    assert checklist(report, "mlx", "mlx") == []
    text = as_text(Checklist("mlx", "flax-nnx", report, []))
    assert "0 feature(s) flax-nnx lacks, 0 behaviour(s) flax-nnx does differently" in text


# ---------------------------------------------------------------- names and files

FAMILIES = {"jax-common": ["equinox", "flax-linen", "flax-nnx", "haiku"], "flax": ["flax-linen", "flax-nnx"]}


def test_a_family_name_lists_its_implementations() -> None:
    known = ["equinox", "flax-linen", "flax-nnx", "haiku", "mlx", "torch"]
    assert names_problem(["torch", "mlx"], known, FAMILIES) is None
    assert names_problem(["torch", "jax"], known, FAMILIES) == (
        "'jax' is not one implementation: the implementations sharing expectations/jax-common.yaml are equinox, "
        "flax-linen, flax-nnx, haiku; name one of them")
    assert names_problem(["flax"], ["flax-nnx", "torch"], FAMILIES) == (
        "'flax' is not one implementation: the implementations sharing expectations/flax.yaml are flax-linen, "
        "flax-nnx (these results hold flax-nnx); name one of them")
    assert names_problem(["tourch"], ["mlx", "torch"], FAMILIES) == "no implementation 'tourch'; available: mlx, torch"


def test_results_lacking_a_side_or_unreadable_are_usage_errors(tmp_path, capsys) -> None:
    only_torch = tmp_path / "torch.json"
    only_torch.write_text(json.dumps(doc("torch", torch_records())))
    assert porting_command([str(only_torch)], "torch", "mlx", "text", FAMILIES) == 2
    assert "no implementation 'mlx'; available: torch (in " in capsys.readouterr().err
    unavailable = doc("mlx", [])
    unavailable["run"]["targets"] = [{"framework": "mlx", "unavailable": "mlx is not installed"}]
    (tmp_path / "mlx.json").write_text(json.dumps(unavailable))
    assert porting_command([str(only_torch), str(tmp_path / "mlx.json")], "torch", "mlx", "text", FAMILIES) == 2
    assert "mlx did not run: mlx is not installed" in capsys.readouterr().err
    assert porting_command([str(tmp_path / "missing.json")], "torch", "mlx", "text", FAMILIES) == 2
    assert porting_command([str(only_torch)], "torch", "torch", "text", FAMILIES) == 2


def test_cli_from_results_files_and_name_errors(tmp_path) -> None:
    paths = []
    for fw, records in (("torch", torch_records()), ("mlx", mlx_records())):
        paths.append(tmp_path / f"{fw}.json")
        paths[-1].write_text(json.dumps(doc(fw, records)))

    def porting(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "conformance", "porting", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
    proc = porting("torch", "mlx", "--results", *map(str, paths), "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert "- [ ] **p = 1 zeroes everything**" in proc.stdout and "**change**: Guard p = 1 yourself." in proc.stdout
    proc = porting("torch", "jax")  # no results: the names are checked before anything runs
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'jax' is not one implementation: the implementations sharing expectations/jax-common.yaml are " \
           "equinox, flax-linen, flax-nnx, haiku; name one of them" in proc.stderr
    proc = porting("torch", "mlx", "--results", str(paths[0]))
    assert proc.returncode == 2 and "no implementation 'mlx'" in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("mlx") is None, reason="needs MLX installed")
def test_cli_runs_both_when_no_results_are_given(tmp_path) -> None:
    """Without --results the verb runs both implementations (here one spec), keeps the results under
    --out, and the advice comes from the records of that run."""
    proc = subprocess.run([sys.executable, "-m", "conformance", "porting", "reference", "mlx", "--spec",
                           "dropout2d-layout-nchw", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "  [ ] 1. The channel axis is dim 1 (channels-first NCHW)\n" in proc.stdout
    assert "change: Permute NCHW to NHWC before nn.Dropout2d" in proc.stdout
    assert "gate: PASS" in proc.stderr  # the run's own report goes to stderr, the checklist alone to stdout
    records = json.loads((tmp_path / "results.json").read_text())["results"]
    assert {r["framework"] for r in records} == {"reference", "mlx"}
