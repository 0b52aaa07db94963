"""Spec loading: every malformed spec becomes a SpecError naming file, spec id and field; nothing raises."""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.record import Status
from conformance.spec import SPECS_DIR, SpecError, load_all, parse_specs

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FILE = "specs/x/bad.yaml"
REAL_SPEC_FILE = SPECS_DIR / "dropout2d" / "rate-homogeneity.yaml"
BASE: dict[str, Any] = yaml.safe_load(REAL_SPEC_FILE.read_text(encoding="utf-8"))


def parse(data: Any, file: str = FILE) -> tuple[list, list[SpecError]]:
    return parse_specs(yaml.safe_dump(data, sort_keys=False), file)


def with_change(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is _DROP:
            spec.pop(key)
        else:
            spec[key] = value
    return spec


_DROP = object()


def only_error(data: Any) -> SpecError:
    specs, errors = parse(data)
    assert not specs and len(errors) == 1, errors
    return errors[0]


def assert_names(err: SpecError, spec_id: str, field: str, *in_message: str) -> None:
    assert (err.file, err.spec_id, err.field) == (FILE, spec_id, field), err
    text = str(err)
    for part in (FILE, repr(spec_id), repr(field), *in_message):
        assert part in text, f"{part!r} not in {text!r}"


def test_the_base_spec_is_valid() -> None:
    specs, errors = parse(BASE)
    assert errors == [] and [s.id for s in specs] == [BASE["id"]]


@pytest.mark.parametrize("field", ["title", "behavior", "claim", "sources", "check"])
def test_missing_field(field: str) -> None:
    assert_names(only_error(with_change(**{field: _DROP})), BASE["id"], field, "required")


def test_missing_id_is_named_by_position() -> None:
    assert_names(only_error(with_change(id=_DROP)), "#0", "id", "required")


@pytest.mark.parametrize("bad_id", ["", "  "])
def test_blank_id_is_named_by_position(bad_id: str) -> None:
    """Found by the fuzzer below: an empty id used to give the unhelpful "spec ''"."""
    assert_names(only_error(with_change(id=bad_id)), "#0", "id", "pattern")


def test_unknown_behavior() -> None:
    assert_names(only_error(with_change(behavior="speed")), BASE["id"], "behavior", "drop-rate")


def test_unknown_check() -> None:
    assert_names(only_error(with_change(check="no-such-check")), BASE["id"], "check", "unknown check")


def test_unknown_op() -> None:
    err = only_error(with_change(params={**BASE["params"], "op": "dropout9d"}))
    assert_names(err, BASE["id"], "params.op", "unknown op 'dropout9d'")


def test_every_case_needs_an_op() -> None:
    params = {k: v for k, v in BASE["params"].items() if k != "op"}
    assert_names(only_error(with_change(params=params)), BASE["id"], "params", "no 'op' in params, grid or cases")


def test_op_in_the_grid_or_cases() -> None:
    params = {k: v for k, v in BASE["params"].items() if k != "op"}
    specs, errors = parse(with_change(params=params, cases=[{"op": "dropout2d"}, {"op": "dropout3d"}]))
    assert not errors and specs[0].ops == ["dropout2d", "dropout3d"]
    specs, errors = parse(with_change(params=params, grid={**BASE["grid"], "op": ["dropout1d", "dropout2d"]}))
    assert not errors and specs[0].ops == ["dropout1d", "dropout2d"]


def test_bad_source_url() -> None:
    bad = [BASE["sources"][0], {"name": "blog", "url": "www.example.com/dropout"}]
    assert_names(only_error(with_change(sources=bad)), BASE["id"], "sources.1.url", "pattern")


def test_expectations_are_not_spec_fields() -> None:
    """Expectations live in expectations/<framework>.yaml, never in a spec."""
    expect = {"torch": {"outcome": "diverges", "reason": "r"}}
    assert_names(only_error(with_change(expect=expect)), BASE["id"], "expect", "Extra inputs")


def test_unknown_field_is_rejected() -> None:
    assert_names(only_error(with_change(chek="scaling")), BASE["id"], "chek", "not permitted")


def test_yaml_syntax_error_names_the_position() -> None:
    specs, errors = parse_specs("id: a\ntitle: [unclosed\n", FILE)
    assert not specs and len(errors) == 1
    assert_names(errors[0], "?", "<yaml>", "line ")


@pytest.mark.parametrize("text, kind", [("42", "int"), ("just a sentence", "str"), ("", "NoneType"),
                                        ("- [1, 2]\n", "list")])
def test_non_mapping(text: str, kind: str) -> None:
    specs, errors = parse_specs(text, FILE)
    assert not specs and len(errors) == 1
    assert_names(errors[0], "#0", "<root>", kind)


def test_specs_key_must_hold_a_list() -> None:
    specs, errors = parse_specs("specs: {id: a}\n", FILE)
    assert not specs and [(e.spec_id, e.field) for e in errors] == [("?", "specs")]


def test_one_bad_spec_in_a_family_does_not_hide_the_others() -> None:
    good = with_change(id="good-one")
    bad = with_change(id="bad-one", check="nope")
    specs, errors = parse({"specs": [good, bad, "oops"]})
    assert [s.id for s in specs] == ["good-one"]
    assert [(e.spec_id, e.field) for e in errors] == [("bad-one", "check"), ("#2", "<root>")]


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(BASE), encoding="utf-8")
    specs, errors = load_all(tmp_path)
    assert len(specs) == 1 and len(errors) == 1
    err = errors[0]
    assert (Path(err.file).name, err.spec_id, err.field) == ("b.yaml", BASE["id"], "id")
    assert "duplicate" in err.message and "a.yaml" in err.message


def test_undecodable_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    specs, errors = load_all(tmp_path)
    assert not specs and errors[0].file.endswith("binary.yaml") and errors[0].field == "<file>"


def test_every_shipped_spec_loads() -> None:
    specs, errors = load_all(SPECS_DIR)
    assert errors == [] and len(specs) >= 15


# ---------------------------------------------------------------- fuzzing

def assert_well_formed(errors: list[SpecError], file: str = FILE) -> None:
    for err in errors:
        assert isinstance(err, SpecError)
        assert err.file == file
        assert isinstance(err.spec_id, str) and err.spec_id
        assert isinstance(err.field, str) and err.field
        assert isinstance(err.message, str) and err.message
        assert file in str(err)


FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
yaml_data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                         st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=4),
                         max_leaves=25)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert_well_formed(parse_specs(text, FILE)[1])


@FUZZ
@given(st.text(alphabet="-:[]{}&*!|>'\"%@`#,? \n\tabc01", max_size=200))
def test_yaml_punctuation_never_raises(text: str) -> None:
    """Text built from YAML's own syntax characters: anchors, tags, flow collections, block scalars."""
    assert_well_formed(parse_specs(text, FILE)[1])


@FUZZ
@given(yaml_data)
def test_arbitrary_yaml_data_never_raises(data: Any) -> None:
    specs, errors = parse(data)
    assert_well_formed(errors)
    assert specs or errors or data == []  # an empty list is an empty family, not an error


@FUZZ
@given(st.lists(yaml_data, max_size=3))
def test_arbitrary_spec_families_never_raise(items: list[Any]) -> None:
    specs, errors = parse({"specs": items})
    assert_well_formed(errors)
    assert len(specs) + len({e.spec_id for e in errors}) >= len(items)


PATHS = [("id",), ("title",), ("behavior",), ("claim",), ("sources",), ("sources", 0), ("sources", 0, "url"),
         ("sources", 0, "name"), ("check",), ("params",), ("params", "op"), ("params", "positions"), ("grid",),
         ("grid", "p"), ("grid", "p", 0), ("grid", "axis"), ("cases",), ("contract",)]


def _mutate(spec: dict[str, Any], path: tuple, action: str, value: Any) -> None:
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "drop" and isinstance(parent, dict):
        parent.pop(last, None)
    elif action == "drop":
        del parent[last]
    else:
        parent[last] = value


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["drop", "replace"]), yaml_data),
                min_size=1, max_size=4))
def test_mutated_real_spec_never_raises_and_names_the_spec(mutations: list[tuple]) -> None:
    spec = copy.deepcopy(BASE)
    for path, action, value in mutations:
        try:
            _mutate(spec, path, action, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the parent
    specs, errors = parse(spec)
    assert_well_formed(errors)
    assert bool(specs) != bool(errors)
    raw_id = spec.get("id")
    expected_id = raw_id if isinstance(raw_id, str) and raw_id.strip() else "#0"
    assert all(e.spec_id == expected_id for e in errors)


# ---------------------------------------------------------------- through the CLI

@pytest.mark.slow
def test_malformed_spec_file_through_the_cli(tmp_path: Path, cli) -> None:
    """A bad spec becomes an 'error' result naming file, spec and field; the other specs still run, and
    the run exits 2 (bad input) with every other result saved."""
    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    for name in ("inplace.yaml", "shape.yaml"):
        shutil.copy(SPECS_DIR / "dropout2d" / name, specs_dir / name)
    bad = with_change(id="broken-spec", check="no-such-check")
    (specs_dir / "broken.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")

    run = cli("--framework", "reference", "--salt", "fixed", "--specs-dir", str(specs_dir))
    assert run.returncode == 2 and "1 malformed spec(s)" in run.stderr
    errors = [r for r in run.results if r.status is Status.ERROR]
    assert len(errors) == 1
    message = errors[0].message
    assert "broken.yaml" in message and "'broken-spec'" in message and "'check'" in message
    passed = {r.spec for r in run.results if r.status is Status.PASS}
    assert passed == {"dropout2d-inplace", "dropout2d-empty", "dropout2d-unit-axes"}
    assert "broken.yaml" in run.stderr + run.stdout
