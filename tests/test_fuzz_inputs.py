"""Fuzzing the suite's inputs: malformed specs, expectation files and command lines.

Each family runs at least MIN_EXAMPLES generated inputs (counted, not assumed) and holds them to the
same bar: no traceback and no exception escapes, and every message names what is at fault (the file,
the spec or entry, the field; the flag or argument on a command line). A YAML alias bomb is refused
at its first alias, in little time and memory.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conformance.cli import main
from conformance.expectations import EXPECTATIONS_DIR, ExpectationBook, ExpectationFileError
from conformance.spec import SPECS_DIR, SpecError, parse_specs

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MIN_EXAMPLES = 1000
FUZZ = settings(max_examples=MIN_EXAMPLES + 200, suppress_health_check=list(HealthCheck), deadline=None)

odd_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30) | \
    st.sampled_from(["", " ", "\u202e", "é", "👻", "\x00", "\t", "ＤＲＯＰＯＵＴ", "p\u0301", "null", "~", "-1e999"])
scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | odd_text
yaml_data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                         st.dictionaries(odd_text | st.integers(), inner, max_size=4), max_leaves=20)


def counted(body: Callable[..., None], strategy: st.SearchStrategy) -> int:
    """Run `body` on generated examples; how many it saw (hypothesis may stop early on a small space)."""
    seen = []

    @FUZZ
    @given(strategy)
    def run(example: Any) -> None:
        seen.append(1)
        body(example)

    run()
    return len(seen)


# ---------------------------------------------------------------- specs

SPEC_FILE = "specs/fuzz/bad.yaml"
REAL_SPECS: dict[str, Any] = yaml.safe_load((SPECS_DIR / "channel_dropout" / "values.yaml").read_text())
SPEC_PATHS = [("id",), ("check",), ("behavior",), ("params",), ("params", "op"), ("params", "shape"),
              ("params", "dtype"), ("params", "p"), ("grid",), ("grid", "p"), ("grid", "p", 0), ("grid", "dtype"),
              ("grid", "dtype", 1), ("grid", "form"), ("cases",), ("cases", 0), ("cases", 0, "shape"),
              ("cases", 1, "op"), ("sources", 0, "url"), ("contract",)]
HUGE_GRID = {f"axis{i}": list(range(10)) for i in range(10)}  # 10^10 cases, if anyone expanded them


def _set(tree: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    if value is _DROP:
        del tree[path[-1]]
    else:
        tree[path[-1]] = value


_DROP = object()
spec_mutation = st.tuples(st.integers(0, len(REAL_SPECS["specs"]) - 1),
                          st.lists(st.tuples(st.sampled_from(SPEC_PATHS),
                                             yaml_data | st.just(_DROP) | st.just(HUGE_GRID)), min_size=1, max_size=3))


def _mutated_spec(example: tuple) -> str:
    index, changes = example
    spec = copy.deepcopy(REAL_SPECS["specs"][index])
    for path, value in changes:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(spec, path, value)
    return yaml.safe_dump({"specs": [spec]}, allow_unicode=True)


spec_texts = spec_mutation.map(_mutated_spec) | st.text(max_size=200) | yaml_data.map(
    lambda d: yaml.safe_dump(d, allow_unicode=True))


def _check_spec_text(text: str) -> None:
    specs, errors = parse_specs(text, SPEC_FILE)
    for err in errors:
        assert isinstance(err, SpecError) and err.file == SPEC_FILE and err.spec_id and err.field and err.message
        assert str(err).startswith(f"{SPEC_FILE}: spec {err.spec_id!r}: field {err.field!r}: ")
    for spec in specs:  # what loads is typed: its cases expand, within the cap
        assert len(spec.op_cases) <= 4096


def test_malformed_specs_name_file_spec_and_field() -> None:
    assert counted(_check_spec_text, spec_texts) >= MIN_EXAMPLES


def test_a_wrongly_typed_grid_value_is_a_load_error_at_its_place() -> None:
    spec = copy.deepcopy(REAL_SPECS["specs"][0])
    spec["grid"]["p"] = ["half", *spec["grid"]["p"][1:]]
    _, errors = parse_specs(yaml.safe_dump({"specs": [spec]}), SPEC_FILE)
    assert [(e.spec_id, e.field) for e in errors] == [(spec["id"], "grid.p.0")]
    assert "Input should be a valid number" in errors[0].message and "'half'" in errors[0].message


# ---------------------------------------------------------------- expectation files

REAL_EXPECTATIONS: dict[str, Any] = yaml.safe_load((EXPECTATIONS_DIR / "torch.yaml").read_text())
EXPECTATION_PATHS = [("inherits",), ("framework",), ("expectations",), ("expectations", 0),
                     ("expectations", 0, "spec"), ("expectations", 0, "outcome"), ("expectations", 0, "when"),
                     ("expectations", 1, "observed"), ("expectations", 2, "issue"), ("expectations", 3, "when"),
                     ("expectations", 3, "matches"), ("expectations", 0, "reason"), ("unknown-key",)]
expectation_mutation = st.lists(st.tuples(st.sampled_from(EXPECTATION_PATHS), yaml_data | st.just(_DROP) |
                                          st.fixed_dictionaries({"op": yaml_data, "version": odd_text})),
                                min_size=1, max_size=3)


def _mutated_expectations(changes: list) -> str:
    doc = copy.deepcopy(REAL_EXPECTATIONS)
    for path, value in changes:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(doc, path, value)
    return yaml.safe_dump(doc, allow_unicode=True)


expectation_texts = expectation_mutation.map(_mutated_expectations) | st.text(max_size=200) | \
    yaml_data.map(lambda d: yaml.safe_dump(d, allow_unicode=True))


def test_malformed_expectation_files_name_file_entry_and_field(tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "adopter.yaml"

    def check(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        try:
            ExpectationBook.load([str(path)])
        except ExpectationFileError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and len(message) > len(str(path)) + 2
            assert "field " in message or "YAML" in message or "must be a mapping" in message \
                or "inherits" in message, message

    assert counted(check, expectation_texts) >= MIN_EXAMPLES


# ---------------------------------------------------------------- command lines

_TMP = Path(tempfile.mkdtemp(prefix="conformance-fuzz-"))
SMALL_SPECS = _TMP / "specs"
SMALL_SPECS.mkdir()
(SMALL_SPECS / "one.yaml").write_text((SPECS_DIR / "dropout2d" / "seeding.yaml").read_text())
NOT_JSON = _TMP / "not.json"
NOT_JSON.write_text("{ half a document")
NOT_RESULTS = _TMP / "other.json"
NOT_RESULTS.write_text(json.dumps({"run": {}, "results": [{"id": 3}]}))
BAD_EXPECTATIONS = _TMP / "bad-expectations.yaml"
BAD_EXPECTATIONS.write_text("expectations:\n  - {spec: dropout2d-seeding, outcome: maybe}\n")
A_FILE = _TMP / "a-file"
A_FILE.write_text("")



def _positive(text: str, kind: type) -> bool:
    try:
        return kind(text) > 0 or (kind is int and int(text) == 0)
    except (ValueError, OverflowError):
        return False


# Values each flag refuses: no positive number of seconds; no count of restarts >= 0.
bad_seconds = (st.floats(allow_nan=True) | st.integers(-10, 0) | odd_text).map(str).filter(
    lambda s: not _positive(s, float))
bad_counts = (st.integers(-10, -1) | st.floats() | odd_text).map(str).filter(lambda s: not _positive(s, int))
# (arguments, a token the message must contain): each one alone makes the command line unusable.
bad_run_parts = st.one_of(
    odd_text.filter(lambda s: s != "reference").map(lambda s: (["--framework", s], "framework")),
    st.sampled_from(["", ":", "x:", ":x", "a b:c", "nope.py:adapter", "pkg..mod:x", "/dev/null/x.py:a",
                     "tests/fixtures/misbehaving.py:1x", "é.py:ad", "\x00:x"]).map(
        lambda r: (["--adapter", r], "--adapter")),
    st.tuples(st.sampled_from(["--timeout", "--case-timeout"]), bad_seconds).map(lambda t: ([t[0], t[1]], t[0])),
    bad_counts.map(lambda v: (["--max-restarts", v], "--max-restarts")),
    odd_text.filter(lambda s: s not in ("all", "eager", "compiled")).map(lambda m: (["--mode", m], "mode")),
    odd_text.filter(lambda s: s and "*" not in s).map(lambda s: (["--salt", s + " !"], "salt")),
    st.sampled_from([str(_TMP / "missing"), str(A_FILE)]).map(lambda d: (["--specs-dir", d], "--specs-dir")),
    st.just((["--spec", "no-such-spec-anywhere"], "no-such-spec-anywhere")),
    st.sampled_from([str(_TMP / "missing.yaml"), str(BAD_EXPECTATIONS), str(NOT_JSON)]).map(
        lambda f: (["--expectations", f], Path(f).name)),
    st.just((["--out", str(A_FILE / "sub")], "--out")),
    odd_text.map(lambda s: ([f"--no-such-flag{s}"], "unrecognized arguments")),
    st.sampled_from(["--timeout", "--spec", "--framework"]).map(lambda f: ([f], f)),  # a flag without its value
)
good_run_parts = st.sampled_from([["--framework", "reference"], ["--salt", "fuzz"], ["--mode", "eager"],
                                  ["--spec", "dropout2d-seeding"], ["--out", str(_TMP / "out")], ["-v"]])
bad_files = st.sampled_from([str(_TMP / "missing.json"), str(NOT_JSON), str(NOT_RESULTS), str(A_FILE)])


@st.composite
def bad_command_lines(draw) -> tuple[list[str], str]:
    verb = draw(st.sampled_from(["run", "run", "run", "report", "diff", "porting", "list", "lint", "verb"]))
    if verb == "run":
        bad, token = draw(bad_run_parts)
        good = draw(st.lists(good_run_parts.filter(lambda g: g[0] != bad[0]), max_size=3))  # none undoes it
        parts = [bad, *good]
        if "--specs-dir" not in bad:
            parts.append(["--specs-dir", str(SMALL_SPECS)])
        order = draw(st.permutations(range(len(parts))))
        return ["run", *[arg for i in order for arg in parts[i]]], token
    if verb in ("report", "diff"):
        files = draw(st.lists(bad_files, min_size=2 if verb == "diff" else 1, max_size=2 if verb == "diff" else 3))
        return [verb, *files], ""
    if verb == "porting":
        return ["porting", "torch", "mlx", "--results", *draw(st.lists(bad_files, min_size=1, max_size=2))], ""
    if verb == "list":
        return ["list", "--specs-dir", str(_TMP / "missing")], "--specs-dir"
    if verb == "lint":
        return ["lint", "--specs-dir", str(SMALL_SPECS), *draw(st.lists(bad_files, min_size=1, max_size=2))], ""
    verbs = ("run", "report", "diff", "porting", "list", "lint")
    return [draw(odd_text.filter(lambda s: s not in verbs and not s.startswith("-")))], "conformance: error:"


def test_bad_command_lines_exit_with_a_message_and_no_traceback() -> None:
    def check(example: tuple[list[str], str]) -> None:
        argv, token = example
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        text = out.getvalue() + err.getvalue()
        assert "Traceback" not in text
        assert code in (1, 2), (argv, code, text)
        assert token in text, (argv, token, text)
        if argv[0] in ("report", "diff", "porting"):  # the file at fault is named
            files = argv[argv.index("--results") + 1:] if argv[0] == "porting" else argv[1:]
            assert any(name in text for name in files), text

    assert counted(check, bad_command_lines()) >= MIN_EXAMPLES


# ---------------------------------------------------------------- YAML alias bombs

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9))


def _cheap(load: Callable[[], Any]) -> tuple[float, int]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        load()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return time.monotonic() - started, peak


def test_an_alias_bomb_spec_is_refused_at_its_first_alias() -> None:
    found: list = []
    seconds, peak = _cheap(lambda: found.append(parse_specs(BOMB, SPEC_FILE)))
    specs, errors = found[0]
    assert not specs and len(errors) == 1 and errors[0].field == "<yaml>"
    assert "aliases (*a) are not allowed" in errors[0].message and "line 2" in errors[0].message
    assert seconds < 5 and peak < 20 * 2**20


def test_an_alias_bomb_expectation_file_is_refused_at_its_first_alias(tmp_path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    seconds, peak = _cheap(lambda: pytest.raises(ExpectationFileError, ExpectationBook.load, [str(path)]))
    with pytest.raises(ExpectationFileError, match=r"bomb\.yaml: invalid YAML at line 2.*aliases"):
        ExpectationBook.load([str(path)])
    assert seconds < 5 and peak < 20 * 2**20
