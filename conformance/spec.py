"""Spec files: schema, loading and validation.

A spec file holds one spec (a mapping) or a small family (`specs: [...]`). Validation is
pydantic's; every problem becomes a `SpecError` naming the file, the spec id and the field,
and never stops the other files from loading.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BEHAVIORS = (
    "channel-granularity", "scaling", "eval-identity", "input-rank", "layout", "drop-rate",
    "independence", "p-validation", "p-edges", "non-finite", "dtype", "gradient", "seeding",
    "inplace", "shape", "rate-homogeneity",
)
Behavior = Literal[BEHAVIORS]  # type: ignore[valid-type]
INFORMATIONAL_REASON = ("the frameworks' docs leave this behaviour open; recorded for information, "
                        "not judged (declare strict=True on the adapter to be held to the reference)")
SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    quote: str | None = None


class When(_Strict):
    """Conditions for an expectation; every given field must match."""

    device: list[str] | None = None  # device kinds, e.g. [cuda]
    mode: list[Literal["eager", "compiled"]] | None = None
    version: str | None = None  # PEP 440 specifier, e.g. ">=2.13"
    params: dict[str, Any] | None = None  # subset of the case parameters

    @field_validator("version")
    @classmethod
    def _specifier(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                SpecifierSet(v)
            except InvalidSpecifier as exc:
                raise ValueError(f"not a version specifier: {v!r}") from exc
        return v


class Expectation(_Strict):
    outcome: Literal["conforms", "diverges", "not-offered", "informational"]
    reason: str | None = None
    issue: str | None = Field(default=None, pattern=r"^https?://\S+$")
    observed: dict[str, Any] | None = None  # what a divergence looks like (subset of observed)
    when: When | None = None

    @model_validator(mode="after")
    def _divergence_needs_reason(self) -> "Expectation":
        if self.outcome != "conforms" and not self.reason:
            raise ValueError(f"an expected '{self.outcome}' needs a 'reason'")
        return self


def _expectation_list(v: Any) -> Any:
    if isinstance(v, str):
        return [{"outcome": v}]
    if isinstance(v, dict):
        return [v]
    return v


class Spec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    title: str = Field(min_length=1)
    behavior: Behavior
    ops: list[str] = Field(min_length=1)
    claim: str = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)
    check: str
    params: dict[str, Any] = Field(default_factory=dict)  # fixed parameters for every case
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # cartesian product
    cases: list[dict[str, Any]] = Field(default_factory=lambda: [{}])  # explicit cases, x grid
    expect: dict[str, list[Expectation]] = Field(default_factory=dict)
    # "informational": the frameworks' docs leave this open, so an adapter held to another's
    # expectations (a third-party function_adapter) is recorded, not judged, here.
    contract: Literal["required", "informational"] = "required"

    @field_validator("expect", mode="before")
    @classmethod
    def _normalise(cls, v: Any) -> Any:
        return {k: _expectation_list(e) for k, e in v.items()} if isinstance(v, dict) else v

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, v: list[str]) -> list[str]:
        from .api import OPS
        unknown = [op for op in v if op not in OPS]
        if unknown:
            raise ValueError(f"unknown op(s) {unknown}; known: {', '.join(OPS)}")
        return v

    @field_validator("check")
    @classmethod
    def _known_check(cls, v: str) -> str:
        from .checks import CHECKS
        if v not in CHECKS:
            raise ValueError(f"unknown check {v!r}; known: {', '.join(sorted(CHECKS))}")
        return v

    @field_validator("grid")
    @classmethod
    def _nonempty_axes(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"grid axis {key!r} is empty")
        return v

    def expanded_cases(self) -> list[dict[str, Any]]:
        keys = list(self.grid)
        points = [dict(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]
        return [{**self.params, **case, **point} for case in self.cases for point in points]

    def expectation(self, framework: str, fallback: str | None, device: str, mode: str,
                    version: str, params: dict[str, Any], strict: bool = False) -> Expectation:
        """First matching expectation for this target; none listed means 'conforms'.

        `fallback` names the framework whose expectations apply when none are listed for this
        one (function adapters use the reference's); `strict` declines the informational pass.
        """
        entries = self.expect.get(framework)
        if entries is None and fallback is not None:
            if self.contract == "informational" and not strict:
                return Expectation(outcome="informational", reason=INFORMATIONAL_REASON)
            entries = self.expect.get(fallback)
        for entry in entries or []:
            if _matches(entry.when, device, mode, version, params):
                return entry
        return Expectation(outcome="conforms")


def _matches(when: When | None, device: str, mode: str, version: str, params: dict[str, Any]) -> bool:
    if when is None:
        return True
    if when.device is not None and device not in when.device:
        return False
    if when.mode is not None and mode not in when.mode:
        return False
    if when.version is not None:
        try:
            if Version(version.split("+")[0]) not in SpecifierSet(when.version):
                return False
        except InvalidVersion:
            return False
    return all(params.get(k) == v for k, v in (when.params or {}).items())


@dataclass(frozen=True)
class SpecError:
    file: str
    spec_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: spec {self.spec_id!r}: field {self.field!r}: {self.message}"


def _field_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def parse_specs(text: str, file: str) -> tuple[list[Spec], list[SpecError]]:
    """Parse one spec file's text. Never raises for bad content: errors are returned."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return [], [SpecError(file, "?", "<yaml>", f"invalid YAML at {where}: {problem}")]
    except Exception as exc:  # noqa: BLE001 - e.g. undecodable bytes or YAML recursion bombs
        return [], [SpecError(file, "?", "<yaml>", f"unreadable YAML: {type(exc).__name__}: {exc}")]
    if isinstance(data, dict) and set(data) == {"specs"}:
        data = data["specs"]
        if not isinstance(data, list):
            return [], [SpecError(file, "?", "specs", "must be a list of specs")]
    raw = data if isinstance(data, list) else [data]
    specs, errors = [], []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            kind = type(item).__name__
            errors.append(SpecError(file, f"#{index}", "<root>", f"a spec must be a mapping, got {kind}"))
            continue
        raw_id = item.get("id")
        spec_id = raw_id if isinstance(raw_id, str) and raw_id.strip() else f"#{index}"  # '' names nothing
        try:
            specs.append(Spec.model_validate(item))
        except ValidationError as exc:
            errors += [SpecError(file, spec_id, _field_path(e["loc"]), e["msg"]) for e in exc.errors()]
        except Exception as exc:  # noqa: BLE001 - a validator hit something unexpected
            errors.append(SpecError(file, spec_id, "<root>", f"{type(exc).__name__}: {exc}"))
    return specs, errors


def load_file(path: Path) -> tuple[list[Spec], list[SpecError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [SpecError(str(path), "?", "<file>", f"cannot read: {exc}")]
    return parse_specs(text, str(path))


def spec_files(root: Path = SPECS_DIR) -> list[Path]:
    return sorted(p for p in root.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_all(root: Path = SPECS_DIR) -> tuple[list[Spec], list[SpecError]]:
    specs, errors, seen = [], [], {}
    for path in spec_files(root):
        found, bad = load_file(path)
        errors += bad
        for spec in found:
            if spec.id in seen:
                errors.append(SpecError(str(path), spec.id, "id", f"duplicate id (also in {seen[spec.id]})"))
            else:
                seen[spec.id] = str(path)
                specs.append(spec)
    return specs, errors


def matches_pattern(spec_id: str, test_id: str, patterns: list[str]) -> bool:
    """--spec PATTERN: an exact spec id or test id, or a glob over them ('[' is literal in test ids)."""
    import fnmatch
    return not patterns or any(
        pat in (spec_id, test_id) or fnmatch.fnmatchcase(spec_id, pat) or fnmatch.fnmatchcase(test_id, pat)
        for pat in patterns)


_SAFE = re.compile(r"[^A-Za-z0-9_.=-]")


def param_label(value: Any) -> str:
    """Readable, stable id fragment for a parameter value."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "x".join(param_label(v) for v in value)
    if isinstance(value, dict):
        return "-".join(f"{k}{param_label(v)}" for k, v in value.items())
    return _SAFE.sub("_", str(value))
