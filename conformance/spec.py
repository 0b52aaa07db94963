"""Spec files: schema, loading and validation.

A spec file holds one spec (a mapping) or a small family (`specs: [...]`). Validation is
pydantic's; every problem becomes a `SpecError` naming the file, the spec id and the field,
and never stops the other files from loading.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .locations import SPECS_DIR
from .yamlio import describe_yaml_error, load_yaml

BEHAVIORS = (
    "channel-granularity", "scaling", "eval-identity", "input-rank", "layout", "drop-rate",
    "independence", "p-validation", "p-edges", "non-finite", "dtype", "gradient", "seeding",
    "inplace", "shape", "rate-homogeneity", "input-values", "unbiasedness",
)
Behavior = Literal[BEHAVIORS]  # type: ignore[valid-type]
AXES_FILE = "sweep-axes.yaml"  # in a specs directory: the sweep's named axes, not a spec
MAX_CASES_PER_SPEC = 4096  # a grid past this is a mistake (the largest, sweep-input-values, has 1,680 cases)


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
    # Named axes of the sweep (AXES_FILE), each crossed like a grid axis: `[dtype, form]` sweeps the
    # parameters of those names, `[{p: p_edge}]` the parameter p over the axis p_edge. The values are
    # written once for every spec that sweeps them; a grid axis of the same parameter narrows one.
    sweep: dict[str, str] = Field(default_factory=dict)
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

    @model_validator(mode="before")
    @classmethod
    def _sweep_into_grid(cls, data: Any, info: ValidationInfo) -> Any:
        """`sweep` read as {parameter: axis} (a list item is a name, or a one-key mapping), and each known
        axis's values joined to the grid before the grid's own axes. Anything malformed is left for the
        fields' validators to name."""
        if not isinstance(data, dict) or not isinstance(data.get("sweep"), (list, dict)):
            return data
        sweep = data["sweep"]
        if isinstance(sweep, list):
            items = [{item: item} if isinstance(item, str) else item for item in sweep]
            if not all(isinstance(item, dict) and len(item) == 1 for item in items):
                return data
            sweep = {k: v for item in items for k, v in item.items()}
        axes, grid = (info.context or {}).get("axes", {}), data.get("grid") or {}
        if not isinstance(grid, dict):
            return {**data, "sweep": sweep}
        swept = {param: list(axes[axis]) for param, axis in sweep.items()
                 if isinstance(axis, str) and axis in axes and param not in grid}
        return {**data, "sweep": sweep, "grid": {**swept, **grid}}

    @field_validator("sweep")
    @classmethod
    def _known_axes(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        axes = (info.context or {}).get("axes", {})
        unknown = sorted(axis for axis in v.values() if axis not in axes)
        if unknown:
            known = ", ".join(sorted(axes)) or f"none: no {AXES_FILE} beside the specs"
            raise ValueError(f"unknown axes {unknown}; known: {known}")
        return v

    @field_validator("grid")
    @classmethod
    def _nonempty_axes(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"grid axis {key!r} is empty")
        return v

    @model_validator(mode="after")
    def _cases_are_typed(self) -> "Spec":
        """Every case names a known op and fits its check's parameter schema, grid values included;
        an error is located where the value is written (params.K, cases.I.K or grid.K.J)."""
        count = len(self.cases) * math.prod(len(values) for values in self.grid.values())
        if count > MAX_CASES_PER_SPEC:
            raise _located([(("grid",), f"expands to {count} cases (limit {MAX_CASES_PER_SPEC} per spec)",
                             None)])
        problems: dict[tuple, tuple[str, Any]] = {}
        for index, point in self._case_points():
            params = self._case_params(index, point)
            for field, message in _case_problems(self.check, params):
                problems.setdefault(self._where(field, index, point), (message, params.get(field[0]) if field else None))
            if len(problems) >= 20:
                break
        if problems:
            raise _located([(where, message, value) for where, (message, value) in problems.items()])
        return self

    def _case_points(self) -> list[tuple[int, dict[str, int]]]:
        """(explicit case index, grid point as value indices) of every case, in expansion order."""
        keys = list(self.grid)
        points = [dict(zip(keys, combo)) for combo in itertools.product(*(range(len(self.grid[k])) for k in keys))]
        return [(index, point) for index in range(len(self.cases)) for point in points]

    def _case_params(self, index: int, point: dict[str, int]) -> dict[str, Any]:
        return {**self.params, **self.cases[index], **{k: self.grid[k][j] for k, j in point.items()}}

    def _where(self, field: tuple, index: int, point: dict[str, int]) -> tuple:
        """Where a case's key is written: its grid value, its explicit case, or the spec's params."""
        if not field:
            return ("cases", index) if len(self.cases) > 1 else ("params",)
        key, rest = field[0], field[1:]
        if key in point:
            return ("grid", key, point[key], *rest)
        if key in self.cases[index]:
            return ("cases", index, key, *rest)
        if key in self.params:
            return ("params", key, *rest)
        return (("cases", index) if len(self.cases) > 1 else ("params",)) + (key,)

    def expanded_cases(self) -> list[dict[str, Any]]:
        """Every case's parameters, the op among them: params, then each explicit case x the grid."""
        return [self._case_params(index, point) for index, point in self._case_points()]

    @functools.cached_property
    def op_cases(self) -> list[tuple[str, dict[str, Any]]]:
        """(op, the other parameters) of every case, expanded once per spec."""
        return [(case.pop("op"), case) for case in self.expanded_cases()]

    @functools.cached_property
    def ops(self) -> list[str]:
        """The ops this spec covers, in order of first appearance."""
        return list(dict.fromkeys(op for op, _ in self.op_cases))


def _case_problems(check: str, params: dict[str, Any]) -> list[tuple[tuple, str]]:
    """(field path, message) for each way one case's parameters miss the op list or the check's schema."""
    from .api import OPS
    from .checks import CHECKS
    op = params.get("op")
    if op not in OPS:
        where = "no 'op' in params, grid or cases" if op is None else f"unknown op {op!r}"
        return [(("op",) if op is not None else (), f"{where}; every case needs one of: {', '.join(OPS)}")]
    schema = CHECKS[check].params
    try:
        schema.model_validate({k: v for k, v in params.items() if k != "op"})
    except ValidationError as exc:
        return [(tuple(e["loc"]), f"{e['msg']} (check {check!r})") for e in exc.errors()]
    return []


def _located(problems: list[tuple[tuple, str, Any]]) -> ValidationError:
    """A ValidationError whose locations point into the spec, so SpecError names the field."""
    details = []
    for where, message, value in problems:
        shown = f"; got {_short_repr(value)}" if value is not None else ""
        details.append(InitErrorDetails(type=PydanticCustomError("case_params", "{message}", {"message": message + shown}),
                                        loc=where, input=value))
    return ValidationError.from_exception_data("Spec", details)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


def parse_specs(text: str, file: str, axes: dict[str, list[Any]] | None = None) -> tuple[list[Spec], list[SpecError]]:
    """Parse one spec file's text; `axes` are the named axes a spec may sweep. Never raises for bad
    content: errors are returned."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        return [], [SpecError(file, "?", "<yaml>", describe_yaml_error(exc))]
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
            specs.append(Spec.model_validate(item, context={"axes": axes or {}}))
        except ValidationError as exc:
            errors += [SpecError(file, spec_id, _field_path(e["loc"]), e["msg"]) for e in exc.errors()]
        except Exception as exc:  # noqa: BLE001 - a validator hit something unexpected
            errors.append(SpecError(file, spec_id, "<root>", f"{type(exc).__name__}: {exc}"))
    return specs, errors


def _read(path: Path) -> tuple[str | None, SpecError | None]:
    try:
        return path.read_text(encoding="utf-8"), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, SpecError(str(path), "?", "<file>", f"cannot read: {exc}")


def load_file(path: Path, axes: dict[str, list[Any]] | None = None) -> tuple[list[Spec], list[SpecError]]:
    text, error = _read(path)
    return ([], [error]) if error else parse_specs(text, str(path), axes)


class SweepAxes(_Strict):
    """AXES_FILE: `axes: {name: [values]}`, each axis non-empty and without repeats."""

    axes: dict[Annotated[str, Field(pattern=r"^[a-z_]+$")], list[Any]]

    @field_validator("axes")
    @classmethod
    def _distinct_values(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in v.items():
            if not values or len({repr(x) for x in values}) != len(values):
                raise ValueError(f"axis {name!r} must list distinct values, at least one")
        return v


@functools.lru_cache(maxsize=8)
def load_axes(root: Path = SPECS_DIR) -> tuple[dict[str, list[Any]], list[SpecError]]:
    """The named sweep axes of a specs directory ({} when it has no AXES_FILE); read once per process,
    since every spec file of the directory needs them."""
    path = root / AXES_FILE
    if not path.exists():
        return {}, []
    text, error = _read(path)
    if error:
        return {}, [error]
    try:
        return SweepAxes.model_validate(load_yaml(text)).axes, []
    except yaml.YAMLError as exc:
        return {}, [SpecError(str(path), "-", "<yaml>", describe_yaml_error(exc))]
    except ValidationError as exc:
        return {}, [SpecError(str(path), "-", _field_path(e["loc"]), e["msg"]) for e in exc.errors()]


def spec_files(root: Path = SPECS_DIR) -> list[Path]:
    return sorted(p for p in root.rglob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.name != AXES_FILE)


def spec_set_hash(root: Path = SPECS_DIR) -> str:
    """Names a spec set: SHA-256 over each YAML file's path (relative to root) and bytes, sweep axes included,
    12 hex digits. Equal hashes mean the same specs, cases and tolerances, so two runs are comparable."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def load_all(root: Path = SPECS_DIR) -> tuple[list[Spec], list[SpecError]]:
    axes, errors = load_axes(root)
    specs, seen = [], {}
    for path in spec_files(root):
        found, bad = load_file(path, axes)
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
