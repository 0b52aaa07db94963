"""Expectations: what each implementation is expected to do, kept apart from the specs.

One file per implementation family, `expectations/<framework>.yaml`, in the same format an
adopter passes with ``--expectations FILE`` (one mechanism). A file lists entries; each entry
states one finding once (outcome, reason, issue link, what is observed) and where it shows
(one spec id or glob with `when:`, or several `matches:`):

    framework: mydrop                # adopter files: the framework the entries are for
    inherits: [reference]            # files whose entries apply after this file's own
    expectations:
      - spec: dropout2d-non-finite   # spec id or glob
        when: {op: [dropout2d], mode: [compiled], params: {dtype: float16, p: [0.1, 0.9]}}
        outcome: diverges
        reason: our kernel multiplies by the mask, so 0 * NaN stays NaN
        issue: https://github.com/me/mydrop/issues/1
        observed: {nan_in_dropped: nan}
        porting:                     # optional advice for `porting` checklists (not on 'conforms')
          to: keep NaN out of the input; a dropped NaN stays NaN here   # code moved to mydrop
          from: nothing to change     # code moved from mydrop to an implementation without this divergence
      - outcome: diverges
        reason: one cause, seen in several specs
        matches:
          - {spec: dropout-scaling, when: {params: {dtype: float64}}}
          - {spec: dropout-dtype, observed: {dtype: float32}}

The first matching entry wins: adopter files first, then the framework's own file, then the
files it inherits (depth first). No match means the case is expected to conform.
"""
from __future__ import annotations

import fnmatch
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .locations import EXPECTATIONS_DIR
from .record import Result, Status
from .spec import Spec
from .yamlio import describe_yaml_error, load_yaml

Outcome = Literal["conforms", "diverges", "not-offered", "informational"]
INFORMATIONAL_REASON = ("the frameworks' docs leave this behaviour open; recorded for information, "
                        "not judged (declare strict=True on the adapter to be held to the reference)")
_URL = r"^https?://\S+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    """Conditions on a case; every given field must match."""

    op: list[str] | None = None
    device: list[str] | None = None  # device labels or kinds, e.g. [cuda]
    mode: list[Literal["eager", "compiled"]] | None = None
    version: str | None = None  # PEP 440 specifier, e.g. ">=2.13"
    # subset of the case parameters; a list given for a scalar parameter matches any value it holds
    params: dict[str, Any] | None = None

    @field_validator("op")
    @classmethod
    def _known_ops(cls, v: list[str] | None) -> list[str] | None:
        from .api import OPS
        unknown = [op for op in v or [] if op not in OPS]
        if unknown:
            raise ValueError(f"unknown op(s) {unknown}; known: {', '.join(OPS)}")
        return v

    @field_validator("version")
    @classmethod
    def _specifier(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                SpecifierSet(v)
            except InvalidSpecifier as exc:
                raise ValueError(f"not a version specifier: {v!r}") from exc
        return v

    def could_match(self, op: str, params: dict[str, Any]) -> bool:
        """Whether the case's op and params fit: some device, mode and version then match (for lint)."""
        return (self.op is None or op in self.op) and \
            all(_param_matches(params.get(k), v) for k, v in (self.params or {}).items())

    def matches(self, op: str, params: dict[str, Any], device: str, mode: str, version: str) -> bool:
        return self.could_match(op, params) and (self.device is None or device in self.device) and \
            (self.mode is None or mode in self.mode) and \
            (self.version is None or _version_in(version, self.version))


def _param_matches(actual: Any, wanted: Any) -> bool:
    """Equal, or one of a list of wanted values when the parameter itself is not a list (a shape is)."""
    return actual == wanted or (isinstance(wanted, list) and not isinstance(actual, list) and actual in wanted)


def _version_in(version: str, specifier: str) -> bool:
    try:
        return Version(version.split("+")[0]) in SpecifierSet(specifier)
    except InvalidVersion:
        return False


class Porting(_Strict):
    """What to change in ported code, for the `porting` checklist. The entry's reason says what the
    implementation does; this says what to do about it, in each direction: `to` for code moved to this
    implementation (it meets the divergence), `from` for code moved from it to one that does not
    diverge (the code may rely on it). Neither stands in for the other: a direction without advice is
    printed as such."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    to: str | None = Field(default=None, min_length=1)
    from_: str | None = Field(default=None, alias="from", min_length=1)

    @model_validator(mode="after")
    def _advice(self) -> "Porting":
        if self.to is None and self.from_ is None:
            raise ValueError("give the advice for code moved 'to' this implementation, 'from' it, or both")
        return self


class Expectation(_Strict):
    """What a result record carries as `expected` (with the source of the entry)."""

    outcome: Outcome
    reason: str | None = None
    issue: str | None = Field(default=None, pattern=_URL)
    observed: dict[str, Any] | None = None  # what a divergence looks like (subset of observed)
    porting: Porting | None = None

    def as_record(self) -> dict[str, Any]:
        """The `expected` part of a result record (the advice under its YAML names: to, from)."""
        return self.model_dump(exclude_none=True, by_alias=True)


CONFORMS = Expectation(outcome="conforms")


class Match(_Strict):
    spec: str = Field(min_length=1)  # spec id or glob
    when: When | None = None
    outcome: Outcome | None = None  # default: the entry's
    observed: dict[str, Any] | None = None  # default: the entry's


class Entry(_Strict):
    spec: str | None = Field(default=None, min_length=1)
    when: When | None = None
    matches: list[Match] | None = Field(default=None, min_length=1)
    framework: str | None = None  # default: the file's
    outcome: Outcome
    reason: str | None = None
    issue: str | None = Field(default=None, pattern=_URL)
    observed: dict[str, Any] | None = None
    porting: Porting | None = None

    @model_validator(mode="after")
    def _where_and_why(self) -> "Entry":
        if (self.spec is None) == (self.matches is None):
            raise ValueError("give either 'spec' (with an optional 'when') or 'matches', not both")
        if self.matches is not None and self.when is not None:
            raise ValueError("'when' belongs inside each of 'matches'")
        outcomes = {self.outcome} | {m.outcome for m in self.matches or [] if m.outcome}
        if outcomes - {"conforms"} and not self.reason:
            raise ValueError(f"an expected '{sorted(outcomes - {'conforms'})[0]}' needs a 'reason'")
        if self.porting is not None:
            _check_porting(self.porting, outcomes)
        return self

    def expanded(self) -> list[Match]:
        return self.matches if self.matches is not None else [Match(spec=self.spec, when=self.when)]


def _check_porting(porting: Porting, outcomes: set[str]) -> None:
    """Advice is about a difference: none where the entry expects conformance, and no advice for code
    coming from an implementation that lacks the feature."""
    if outcomes == {"conforms"}:
        raise ValueError("'porting' advice belongs to a divergence or a missing feature, not to 'conforms'")
    if porting.from_ is not None and outcomes == {"not-offered"}:
        raise ValueError("'porting.from' on a 'not-offered' entry: no code comes from an implementation "
                         "that lacks the feature (give 'to')")


class ExpectationFile(_Strict):
    framework: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    inherits: list[str] = Field(default_factory=list)
    expectations: list[Entry] = Field(default_factory=list)


class ExpectationFileError(Exception):
    """A malformed expectation file; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Rule:
    """One place an entry applies, flattened: the unit of matching."""

    key: str  # FILE#entry or FILE#entry.match: where a result's expectation came from
    spec: str
    when: When | None
    framework: str | None
    expectation: Expectation

    def applies(self, spec_id: str, op: str, params: dict[str, Any], device: str, mode: str,
                version: str) -> bool:
        return fnmatch.fnmatchcase(spec_id, self.spec) and \
            (self.when is None or self.when.matches(op, params, device, mode, version))


def display_path(path: Path) -> str:
    """A path relative to the repository where it lies inside it (stable keys across checkouts)."""
    try:
        return str(path.resolve().relative_to(EXPECTATIONS_DIR.parent))
    except ValueError:
        return str(path)


def _error_location(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = list(first["loc"])
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return f"field {where or '<root>'!r}: {first['msg']}"


def read_file(path: Path) -> ExpectationFile:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpectationFileError(f"{path}: cannot read expectations: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ExpectationFileError(f"{path}: {describe_yaml_error(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. YAML recursion bombs
        raise ExpectationFileError(f"{path}: unreadable YAML: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise ExpectationFileError(f"{path}: must be a mapping with 'expectations:', got {type(data).__name__}")
    try:
        return ExpectationFile.model_validate(data)
    except ValidationError as exc:
        raise ExpectationFileError(f"{path}: {_error_location(exc)}") from exc


def rules_of(parsed: ExpectationFile, path: Path, framework: str | None) -> list[Rule]:
    """The file's own rules, in order; `framework` is who they are for when no entry says."""
    rules = []
    for i, entry in enumerate(parsed.expectations):
        base = Expectation(outcome=entry.outcome, reason=entry.reason, issue=entry.issue, observed=entry.observed,
                           porting=entry.porting)
        matches = entry.expanded()
        for j, match in enumerate(matches):
            key = f"{display_path(path)}#{i}" + (f".{j}" if entry.matches is not None else "")
            expectation = base.model_copy(update={k: v for k, v in
                                                  (("outcome", match.outcome), ("observed", match.observed))
                                                  if v is not None})
            rules.append(Rule(key, match.spec, match.when, entry.framework or framework, expectation))
    return rules


@dataclass
class ExpectationBook:
    """Every expectation of a run: adopter files first, then the built-in per-framework files."""

    overrides: list[Rule] = field(default_factory=list)
    builtin: dict[str, list[Rule]] = field(default_factory=dict)  # framework -> own + inherited rules
    adopter_keys: list[str] = field(default_factory=list)  # the adopter files' own entries

    @classmethod
    def load(cls, files: list[str] = (), directory: Path = EXPECTATIONS_DIR) -> "ExpectationBook":
        builtin = _builtin_rules(directory)
        overrides, own = [], []
        for f in files:
            rules, inherited = load_override_file(Path(f), builtin)
            overrides += rules + inherited
            own += [r.key for r in rules]
        return cls(overrides, builtin, own)

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def shipped() -> "ExpectationBook":
        """The built-in files alone (no adopter files), loaded once per process."""
        return ExpectationBook.load()

    def inherited(self, key: str, framework: str) -> bool:
        """The entry `key` came from a built-in file shared by a family (one `framework`'s file
        inherits), not from the framework's own file or an adopter's file."""
        if key in self.adopter_keys or "#" not in key:
            return False
        return Path(key.split("#", 1)[0]).stem != framework

    def unmatched(self, used_keys: set[str]) -> list[str]:
        """Adopter entries no case of the run used (a stale expectation file is a finding too)."""
        return [key for key in self.adopter_keys if key not in used_keys]

    def lookup(self, spec: Spec, op: str, params: dict[str, Any], framework: str, fallback: str | None,
               strict: bool, device: str, mode: str, version: str) -> tuple[Expectation, str]:
        """The expectation for one case on one target, and the key of the entry it came from.

        A framework without a file of its own takes `fallback`'s (function adapters take the
        reference's); on behaviours the docs leave open (contract informational) it is then
        recorded, not judged, unless `strict`.
        """
        def first(rules: list[Rule]) -> Rule | None:
            return next((r for r in rules if r.applies(spec.id, op, params, device, mode, version)), None)

        found = first([r for r in self.overrides if r.framework == framework])
        if found is not None:
            return found.expectation, found.key
        rules = self.builtin.get(framework)
        if rules is None and fallback is not None:
            if spec.contract == "informational" and not strict:
                return Expectation(outcome="informational", reason=INFORMATIONAL_REASON), "contract"
            rules = self.builtin.get(fallback, [])
        found = first(rules or [])
        return (found.expectation, found.key) if found is not None else (CONFORMS, "default")


def _resolve(name: str, files: dict[str, tuple[Path, ExpectationFile]], chain: tuple[str, ...]) -> list[Rule]:
    if name in chain:
        raise ExpectationFileError(f"{files[chain[0]][0]}: inherits form a cycle: {' -> '.join(chain + (name,))}")
    if name not in files:
        raise ExpectationFileError(f"{files[chain[-1]][0]}: field 'inherits': no expectations file {name!r} "
                                   f"(known: {', '.join(sorted(files))})")
    path, parsed = files[name]
    own = rules_of(parsed, path, framework=None)
    return own + [r for parent in parsed.inherits for r in _resolve(parent, files, chain + (name,))]


def read_directory(directory: Path = EXPECTATIONS_DIR) -> dict[str, tuple[Path, ExpectationFile]]:
    files = {}
    for path in sorted(directory.glob("*.yaml")):
        parsed = read_file(path)
        if parsed.framework not in (None, path.stem):
            raise ExpectationFileError(f"{path}: field 'framework': {parsed.framework!r} is not the file's "
                                       f"name {path.stem!r}")
        files[path.stem] = (path, parsed)
    return files


def resolve(files: dict[str, tuple[Path, ExpectationFile]]) -> dict[str, list[Rule]]:
    """Framework name -> its rules (own, then inherited). Built-in rules name no framework:
    a file is for the framework it is named after."""
    return {name: _resolve(name, files, ()) for name in files}


def families(directory: Path = EXPECTATIONS_DIR) -> dict[str, list[str]]:
    """Each file that others inherit, with every file inheriting it, directly or not: the family of
    implementations that share its findings ('jax-common': equinox, flax, flax-linen, flax-nnx, haiku)."""
    files = read_directory(directory) if directory.is_dir() else {}

    def ancestors(name: str, chain: tuple[str, ...] = ()) -> set[str]:
        parents = files[name][1].inherits if name in files and name not in chain else []
        return {p for parent in parents for p in {parent} | ancestors(parent, chain + (name,))}

    members: dict[str, list[str]] = defaultdict(list)
    for name in sorted(files):
        for ancestor in ancestors(name):
            members[ancestor].append(name)
    return dict(members)


def load_directory(directory: Path = EXPECTATIONS_DIR) -> dict[str, list[Rule]]:
    return resolve(read_directory(directory) if directory.is_dir() else {})


@functools.lru_cache(maxsize=8)
def _builtin_rules(directory: Path) -> dict[str, list[Rule]]:
    """A directory's rules, read once per process (the files ship with the suite; rules are frozen)."""
    return load_directory(directory)


def load_override_file(path: Path, builtin: dict[str, list[Rule]]) -> tuple[list[Rule], list[Rule]]:
    """An adopter's file: its own rules, and those of the built-in files (`builtin`) it inherits."""
    parsed = read_file(path)
    rules = rules_of(parsed, path, parsed.framework)
    for rule in rules:
        if rule.framework is None:
            entry = rule.key.rsplit("#", 1)[1].split(".")[0]
            raise ExpectationFileError(f"{path}: field 'expectations[{entry}].framework' (spec {rule.spec}): no "
                                       "framework given (set 'framework:' at the top of the file or on the entry)")
    inherited = []
    for parent in parsed.inherits:
        if parent not in builtin:
            raise ExpectationFileError(f"{path}: field 'inherits': no expectations file {parent!r} "
                                       f"(known: {', '.join(sorted(builtin))})")
        inherited += [Rule(r.key, r.spec, r.when, parsed.framework, r.expectation) for r in builtin[parent]]
    return rules, inherited


def proposals(results: list[Result]) -> dict[str, Any]:
    """An expectations document recording what a run observed where it was unexpected."""
    by_key: dict[tuple[str | None, str | None], list[Result]] = {}
    totals: dict[tuple[str | None, str | None], int] = {}
    for r in results:
        key = (r.spec, r.framework)
        totals[key] = totals.get(key, 0) + 1
        if r.spec and r.status in (Status.FAIL, Status.STALE_EXPECTATION):  # an error needs a fix instead
            by_key.setdefault(key, []).append(r)
    entries = []
    for (spec, framework), rows in sorted(by_key.items()):
        uniform = len(rows) == totals[(spec, framework)] and len({r.status for r in rows}) == 1
        for r in rows[:1] if uniform else rows:
            entry: dict[str, Any] = {"spec": spec, "framework": framework}
            if r.status is Status.STALE_EXPECTATION:
                entry.update(outcome="conforms")
            else:
                entry.update(outcome="diverges",
                             reason=f"REVIEW: observed in a run: {r.message[:200]}",
                             observed={k: v for k, v in r.observed.items() if not isinstance(v, (list, dict))
                                       or k in ("varies_along",)})
            if not uniform:  # only some cases: pin this one
                entry["when"] = {"op": [r.op], "device": [r.device], "mode": [r.mode], "params": r.params}
            entries.append(entry)
    return {"expectations": entries}


def write_proposals(results: list[Result], path: Path) -> int:
    doc = proposals(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Observed divergences, written by --update-expectations: review every reason before use.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=110), encoding="utf-8")
    return len(doc["expectations"])
