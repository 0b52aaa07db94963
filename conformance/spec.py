"""Spec files: schema, loading and validation.

A spec file holds one spec (a mapping) or a small family (`specs: [...]`). Validation is
pydantic's; every problem becomes a `SpecError` naming the file, the spec id and the field,
and never stops the other files from loading.
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BEHAVIORS = (
    "channel-granularity", "scaling", "eval-identity", "input-rank", "layout", "drop-rate",
    "independence", "p-validation", "p-edges", "non-finite", "dtype", "gradient", "seeding",
    "inplace", "shape", "rate-homogeneity",
)
Behavior = Literal[BEHAVIORS]  # type: ignore[valid-type]
SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    quote: str | None = None


class Spec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    title: str = Field(min_length=1)
    behavior: Behavior
    claim: str = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)
    check: str
    params: dict[str, Any] = Field(default_factory=dict)  # fixed parameters for every case
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # cartesian product
    cases: list[dict[str, Any]] = Field(default_factory=lambda: [{}])  # explicit cases, x grid
    # "informational": the frameworks' docs leave this open, so an adapter held to another's
    # expectations (a third-party function_adapter) is recorded, not judged, here.
    contract: Literal["required", "informational"] = "required"

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

    @model_validator(mode="after")
    def _every_case_names_a_known_op(self) -> "Spec":
        from .api import OPS
        for case in self.expanded_cases():
            if case.get("op") not in OPS:
                where = "no 'op' in params, grid or cases" if "op" not in case else f"unknown op {case['op']!r}"
                raise ValueError(f"{where}; every case needs one of: {', '.join(OPS)}")
        return self

    def expanded_cases(self) -> list[dict[str, Any]]:
        """Every case's parameters, the op among them: params, then each explicit case x the grid."""
        keys = list(self.grid)
        points = [dict(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]
        return [{**self.params, **case, **point} for case in self.cases for point in points]

    @functools.cached_property
    def op_cases(self) -> list[tuple[str, dict[str, Any]]]:
        """(op, the other parameters) of every case, expanded once per spec."""
        return [(case.pop("op"), case) for case in self.expanded_cases()]

    @functools.cached_property
    def ops(self) -> list[str]:
        """The ops this spec covers, in order of first appearance."""
        return list(dict.fromkeys(op for op, _ in self.op_cases))


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
