"""Expectation files (expectations/<framework>.yaml and adopters' --expectations) and the lint."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conformance.expectations import EXPECTATIONS_DIR, ExpectationBook, ExpectationFileError, load_directory, \
    read_file
from conformance.lint import KINDS, lint
from conformance.spec import SPECS_DIR, load_all

SPECS = {s.id: s for s in load_all()[0]}
NON_FINITE = SPECS["channel-dropout-non-finite"]
F16 = {"shape": [16, 64, 3, 3], "p": 0.5, "dtype": "float16", "form": "module"}


def write(directory: Path, name: str, doc: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def entry(spec: str, outcome: str = "diverges", reason: str | None = "why", **more) -> dict:
    return {"spec": spec, "outcome": outcome, **({"reason": reason} if reason else {}), **more}


def lookup(book: ExpectationBook, framework: str, op: str = "dropout2d", params: dict = F16, mode: str = "eager",
           fallback: str | None = None, strict: bool = False, spec=NON_FINITE):
    return book.lookup(spec, op, params, framework, fallback, strict, "cpu", mode, "1.0")


# ---------------------------------------------------------------- format and matching

@pytest.mark.parametrize("bad, field", [
    ({"expectations": [{"spec": "x", "outcome": "diverges"}]}, "needs a 'reason'"),
    ({"expectations": [{"spec": "x", "outcome": "sometimes"}]}, "expectations[0].outcome"),
    ({"expectations": [{"spec": "x", "outcome": "conforms", "issue": "#12"}]}, "expectations[0].issue"),
    ({"expectations": [{"spec": "x", "outcome": "conforms", "when": {"version": "2.13 or later"}}]},
     "expectations[0].when.version"),
    ({"expectations": [{"spec": "x", "outcome": "conforms", "when": {"op": ["dropout9d"]}}]}, "dropout9d"),
    ({"expectations": [{"outcome": "conforms"}]}, "either 'spec'"),
    ({"expectations": [{"spec": "x", "matches": [{"spec": "y"}], "outcome": "conforms"}]}, "not both"),
    ({"expectations": [{"spec": "x", "outcome": "conforms", "colour": "red"}]}, "expectations[0].colour"),
    ({"expect": []}, "expect"),
    (["not", "a", "mapping"], "mapping"),
    ({"expectations": [{"spec": "x", "outcome": "conforms", "porting": {"to": "a"}}]}, "not to 'conforms'"),
    ({"expectations": [entry("x", porting={"to": "a", "via": "b"})]}, "expectations[0].porting.via"),
    ({"expectations": [entry("x", porting={})]}, "give the advice"),
    ({"expectations": [entry("x", porting={"to": ""})]}, "expectations[0].porting.to"),
    ({"expectations": [entry("x", outcome="not-offered", porting={"from": "a"})]}, "'porting.from' on a 'not-offered'"),
])
def test_malformed_file_names_the_file_and_field(tmp_path, bad, field) -> None:
    path = write(tmp_path, "bad", bad)
    with pytest.raises(ExpectationFileError) as err:
        read_file(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_yaml_alias_bomb_is_an_error_not_a_hang(tmp_path) -> None:
    path = tmp_path / "bomb.yaml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + \
            [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
             for i in range(1, 9)] + ["expectations: *a8"]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ExpectationFileError, match="bomb.yaml"):
        read_file(path)


def test_when_names_op_mode_and_params(tmp_path) -> None:
    write(tmp_path, "fw", {"expectations": [
        entry("channel-dropout-non-finite", reason="compiled f16 on 3d", when={
            "op": ["dropout3d"], "mode": ["compiled"], "params": {"dtype": "float16"}}),
        entry("channel-*", reason="any channel op")]})
    book = ExpectationBook.load(directory=tmp_path)
    assert lookup(book, "fw", op="dropout3d", mode="compiled")[0].reason == "compiled f16 on 3d"
    assert lookup(book, "fw", op="dropout2d", mode="compiled")[0].reason == "any channel op"  # op differs
    assert lookup(book, "fw", op="dropout3d", mode="eager")[0].reason == "any channel op"  # mode differs
    assert lookup(book, "other")[0].outcome == "conforms"


def test_one_reason_several_matches_each_with_its_observed(tmp_path) -> None:
    write(tmp_path, "fw", {"expectations": [{
        "outcome": "diverges", "reason": "one cause", "observed": {"dtype": "float32"},
        "matches": [{"spec": "channel-dropout-non-finite"},
                    {"spec": "channel-dropout-dtype", "observed": {"dtype": "float16"}}]}]})
    book = ExpectationBook.load(directory=tmp_path)
    first, key = lookup(book, "fw")
    second, key2 = lookup(book, "fw", spec=SPECS["channel-dropout-dtype"])
    assert (first.reason, first.observed, key.endswith("fw.yaml#0.0")) == ("one cause", {"dtype": "float32"}, True)
    assert (second.observed, key2.endswith("fw.yaml#0.1")) == ({"dtype": "float16"}, True)


def test_porting_advice_is_carried_by_each_match_of_its_entry(tmp_path) -> None:
    write(tmp_path, "fw", {"expectations": [{
        "outcome": "diverges", "reason": "one cause", "porting": {"to": "do this", "from": "undo that"},
        "matches": [{"spec": "channel-dropout-non-finite"}, {"spec": "channel-dropout-dtype"}]},
        entry("channel-dropout-scaling", outcome="not-offered", porting={"to": "write it yourself"})]})
    book = ExpectationBook.load(directory=tmp_path)
    for spec in (NON_FINITE, SPECS["channel-dropout-dtype"]):
        record = lookup(book, "fw", spec=spec)[0].as_record()  # what a result's `expected` holds
        assert record["porting"] == {"to": "do this", "from": "undo that"} and record["reason"] == "one cause"
    assert lookup(book, "fw", spec=SPECS["channel-dropout-scaling"])[0].as_record()["porting"] == \
        {"to": "write it yourself"}
    assert "porting" not in lookup(book, "other")[0].as_record()


def test_a_result_record_carries_the_advice(tmp_path) -> None:
    from adapters.reference import make_adapter
    from conformance.runner import case_record, expand
    from conformance.targets import targets_for
    mine = write(tmp_path, "mine", {"framework": "reference", "expectations": [
        entry("channel-dropout-non-finite", reason="ours", porting={"from": "nothing to change"})]})
    case = expand(NON_FINITE, targets_for(make_adapter(), "reference")[0])[0]
    record = case_record(case, "s", ExpectationBook.load([str(mine)]))
    assert record.expected["porting"] == {"from": "nothing to change"}
    assert record.expected["source"] == f"{mine}#0"


def test_families_are_the_files_sharing_an_inherited_file(tmp_path) -> None:
    from conformance.expectations import families
    write(tmp_path, "common", {"expectations": []})
    write(tmp_path, "jax-common", {"inherits": ["common"], "expectations": []})
    write(tmp_path, "flax", {"inherits": ["jax-common"], "expectations": []})
    for name in ("flax-linen", "flax-nnx"):
        write(tmp_path, name, {"inherits": ["flax"], "expectations": []})
    write(tmp_path, "torch", {"inherits": ["common"], "expectations": []})
    found = families(tmp_path)
    assert found["jax-common"] == ["flax", "flax-linen", "flax-nnx"]
    assert found["flax"] == ["flax-linen", "flax-nnx"] and "torch" not in found
    assert found["common"] == ["flax", "flax-linen", "flax-nnx", "jax-common", "torch"]
    assert families()["jax-common"] == ["equinox", "flax", "flax-linen", "flax-nnx", "haiku"]  # the shipped files


def test_inheritance_own_entries_first_then_parents_depth_first(tmp_path) -> None:
    write(tmp_path, "base", {"inherits": ["root"], "expectations": [entry("channel-dropout-*", reason="base")]})
    write(tmp_path, "root", {"expectations": [entry("dropout2d-*", reason="root")]})
    write(tmp_path, "child", {"inherits": ["base"], "expectations": [
        entry("channel-dropout-non-finite", reason="child", when={"params": {"dtype": "float16"}})]})
    book = ExpectationBook.load(directory=tmp_path)
    assert lookup(book, "child")[0].reason == "child"
    assert lookup(book, "child", params={**F16, "dtype": "float32"})[0].reason == "base"
    assert lookup(book, "child", spec=SPECS["dropout2d-seeding"])[0].reason == "root"
    assert lookup(book, "base")[0].reason == "base"


def test_inheritance_cycle_and_missing_parent_are_errors(tmp_path) -> None:
    write(tmp_path, "a", {"inherits": ["b"], "expectations": []})
    write(tmp_path, "b", {"inherits": ["a"], "expectations": []})
    with pytest.raises(ExpectationFileError, match="cycle: a -> b -> a"):
        load_directory(tmp_path)
    write(tmp_path, "b", {"inherits": ["nobody"], "expectations": []})
    with pytest.raises(ExpectationFileError, match="b.yaml: field 'inherits': no expectations file 'nobody'"):
        load_directory(tmp_path)


def test_adopter_file_comes_first_and_may_inherit_a_builtin_file(tmp_path) -> None:
    builtin = tmp_path / "builtin"
    write(builtin, "reference", {"expectations": [entry("channel-dropout-*", reason="reference's")]})
    mine = write(tmp_path, "mine", {"framework": "mydrop", "inherits": ["reference"], "expectations": [
        entry("channel-dropout-non-finite", reason="ours", when={"params": {"dtype": "float16"}})]})
    book = ExpectationBook.load([str(mine)], builtin)
    assert lookup(book, "mydrop")[0].reason == "ours"
    assert lookup(book, "mydrop", params={**F16, "dtype": "float32"})[0].reason == "reference's"
    assert book.unmatched(set()) == [f"{mine}#0"]  # inherited entries are not the adopter's to report


def test_a_framework_without_a_file_falls_back_with_the_informational_pass(tmp_path) -> None:
    write(tmp_path, "reference", {"expectations": [entry("channel-dropout-*", reason="reference's")]})
    book = ExpectationBook.load(directory=tmp_path)
    assert NON_FINITE.contract == "informational"
    assert lookup(book, "somebody", fallback="reference")[0].outcome == "informational"
    assert lookup(book, "somebody", fallback="reference", strict=True)[0].reason == "reference's"
    assert lookup(book, "somebody")[0].outcome == "conforms"  # no fallback: judged against the specs


def test_every_shipped_framework_has_a_file_and_every_file_loads() -> None:
    from adapters import FRAMEWORKS
    files = load_directory()
    assert set(FRAMEWORKS) <= set(files)
    assert {"common", "keras"} <= set(files)  # shared findings, inherited


# ---------------------------------------------------------------- lint

def lint_tree(tmp_path: Path, expectations: dict[str, dict], spec_edit=None) -> list:
    specs_dir, exp_dir = tmp_path / "specs", tmp_path / "expectations"
    shutil.copytree(SPECS_DIR / "channel_dropout", specs_dir)
    if spec_edit:
        path = specs_dir / "rate.yaml"
        path.write_text(spec_edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    for name, doc in expectations.items():
        write(exp_dir, name, doc)
    exp_dir.mkdir(exist_ok=True)
    return lint(specs_dir, exp_dir)


def kinds(problems) -> list[str]:
    return sorted(p.kind for p in problems)


def test_the_shipped_specs_and_expectations_lint_clean() -> None:
    problems = lint()
    assert problems == [], "\n".join(map(str, problems))


def test_lint_clean_tree(tmp_path) -> None:
    assert lint_tree(tmp_path, {"fw": {"expectations": [entry("channel-dropout-scaling")]}}) == []


def test_lint_reports_an_entry_naming_no_spec(tmp_path) -> None:
    problems = lint_tree(tmp_path, {"fw": {"expectations": [entry("chanel-dropout-scaling")]}})
    assert kinds(problems) == ["unmatched"] and "names no spec" in problems[0].message
    assert "fw.yaml" in problems[0].where and "chanel-dropout-scaling" in problems[0].where


def test_lint_reports_a_when_fitting_no_case(tmp_path) -> None:
    problems = lint_tree(tmp_path, {"fw": {"expectations": [
        entry("channel-dropout-scaling", when={"op": ["dropout"]}),
        {"outcome": "diverges", "reason": "r2", "matches": [
            {"spec": "channel-dropout-scaling", "when": {"params": {"dtype": "float64"}}},
            {"spec": "channel-dropout-scaling", "when": {"params": {"dtype": "float128"}}}]}]}})
    assert kinds(problems) == ["unmatched", "unmatched"]
    assert [p.where.rsplit(": ", 1)[1] for p in problems] == ["0 (channel-dropout-scaling)",
                                                               "1.1 (channel-dropout-scaling)"]


def test_lint_reports_a_duplicated_reason_across_files(tmp_path) -> None:
    text = "Same cause,   written twice."
    problems = lint_tree(tmp_path, {"a": {"expectations": [entry("channel-dropout-scaling", reason=text)]},
                                    "b": {"expectations": [entry("channel-dropout-gradient",
                                                                 reason=text.lower().replace("   ", " "))]}})
    assert kinds(problems) == ["duplicate-reason"] and "a.yaml: expectations[0]" in problems[0].message


@pytest.mark.parametrize("reason", ["see https://github.com/pytorch/pytorch/issues/59421",
                                    "tracked upstream as pytorch/pytorch#59421", "reported in issue 1333",
                                    "fixed by #4321 upstream"])
def test_lint_reports_an_issue_cited_without_a_link(tmp_path, reason) -> None:
    problems = lint_tree(tmp_path, {"fw": {"expectations": [entry("channel-dropout-scaling", reason=reason)]}})
    assert kinds(problems) == ["issue-without-link"]
    linked = entry("channel-dropout-scaling", reason=reason, issue="https://github.com/o/r/issues/1")
    assert lint_tree(tmp_path / "2", {"fw": {"expectations": [linked]}}) == []


def test_lint_reports_an_issue_cited_in_advice_without_a_link(tmp_path) -> None:
    advised = entry("channel-dropout-scaling", porting={"to": "work around it as in pytorch/pytorch#59421"})
    problems = lint_tree(tmp_path, {"fw": {"expectations": [advised]}})
    assert kinds(problems) == ["issue-without-link"] and "porting advice" in problems[0].message


def test_lint_reports_advice_on_a_conforming_entry_as_malformed(tmp_path) -> None:
    advised = entry("channel-dropout-scaling", outcome="conforms", reason=None, porting={"to": "anything"})
    problems = lint_tree(tmp_path, {"fw": {"expectations": [advised]}})
    assert kinds(problems) == ["malformed"] and "'porting'" in problems[0].message


def test_lint_reports_a_source_without_a_quote(tmp_path) -> None:
    def drop_first_quote(text: str) -> str:
        start = text.index("        quote:")
        return text[:start] + text[text.index("\n", start) + 1:]
    problems = lint_tree(tmp_path, {}, spec_edit=drop_first_quote)
    assert kinds(problems) == ["source-without-quote"] and "channel-dropout-drop-rate" in problems[0].where


def test_lint_reports_malformed_files(tmp_path) -> None:
    problems = lint_tree(tmp_path, {"fw": {"inherits": ["ghost"], "expectations": []}})
    assert kinds(problems) == ["malformed"] and "ghost" in problems[0].message
    assert set(KINDS) == {"unmatched", "duplicate-reason", "issue-without-link", "source-without-quote",
                          "malformed"}


def test_lint_command_exit_codes(tmp_path, capsys) -> None:
    from conformance.cli import main
    assert main(["lint"]) == 0
    bad = write(tmp_path, "mine", {"framework": "x", "expectations": [entry("no-such-spec")]})
    assert main(["lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "mine.yaml" in out and "unmatched" in out and "lint: 1 problem(s): 1 unmatched" in out
    assert EXPECTATIONS_DIR.is_dir()


def test_a_framework_is_found_from_its_module_constants(tmp_path) -> None:
    """Adding a framework is a module with FRAMEWORK and INSTALL (read, not imported) plus its file."""
    from adapters import FRAMEWORKS, _declared
    module = tmp_path / "mydrop_adapter.py"
    module.write_text('"""x"""\nfrom __future__ import annotations\n\nFRAMEWORK = "mydrop"\n'
                      'INSTALL = "pip install mydrop"\nimport mydrop_not_installed\n', encoding="utf-8")
    assert _declared(module) == ("mydrop", "pip install mydrop")
    (tmp_path / "helper.py").write_text("VALUE = 1\n", encoding="utf-8")
    assert _declared(tmp_path / "helper.py") is None
    assert FRAMEWORKS["torch"] == ("adapters.torch_adapter", "pip install torch==2.13.0")
    assert "keras" not in FRAMEWORKS  # the shared Keras module is not a framework of its own
