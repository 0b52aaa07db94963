"""The coverage sweep: named axes written once (specs/sweep-axes.yaml), and the op-agnostic checks' reading
of outputs (conformance/checks/sweep.py), checked on hand-made outputs where the right answer is known."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from conformance.arrays import cast, finfo
from conformance.checks import sweep
from conformance.expectations import When
from conformance.spec import AXES_FILE, SPECS_DIR, load_all, load_axes, parse_specs

SPEC = {"id": "s", "title": "t", "behavior": "drop-rate", "claim": "c", "check": "input-values",
        "sources": [{"name": "n", "url": "https://example.org"}], "params": {"op": "dropout"}}
AXES = {"dtype": ["float16", "float32"], "p": [0.1, 0.5], "p_edge": [0.0, 1.0]}


def parse(spec: dict, axes: dict = AXES):
    return parse_specs(yaml.safe_dump(spec), "specs/x.yaml", axes)


def test_a_swept_axis_is_a_grid_axis_with_the_axes_files_values() -> None:
    (spec,), errors = parse({**SPEC, "sweep": ["dtype", {"p": "p_edge"}]})
    assert not errors
    assert spec.grid == {"dtype": ["float16", "float32"], "p": [0.0, 1.0]}
    assert len(spec.expanded_cases()) == 4


def test_a_grid_axis_narrows_a_swept_one() -> None:
    (spec,), _ = parse({**SPEC, "sweep": ["dtype", "p"], "grid": {"p": [0.5]}})
    assert spec.grid == {"dtype": ["float16", "float32"], "p": [0.5]}


def test_an_unknown_axis_names_the_spec_field_and_the_known_axes() -> None:
    specs, errors = parse({**SPEC, "sweep": ["dtype", "colour"]})
    assert not specs and len(errors) == 1
    assert errors[0].field == "sweep" and "colour" in errors[0].message and "p_edge" in errors[0].message


def test_a_swept_value_is_typed_against_the_check_like_a_grid_value() -> None:
    specs, errors = parse({**SPEC, "sweep": ["p"]}, {"p": [0.5, "half"]})
    assert not specs and errors[0].field == "grid.p.1"


def test_a_malformed_axes_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / AXES_FILE).write_text("axes: {dtype: []}\n")
    axes, errors = load_axes(tmp_path)
    assert axes == {} and errors and errors[0].file.endswith(AXES_FILE) and "dtype" in errors[0].message


def test_the_shipped_axes_load_and_every_sweep_spec_uses_them() -> None:
    axes, errors = load_axes(SPECS_DIR)
    assert not errors and {"op", "dtype", "p", "form", "values", "rank", "seeding"} <= set(axes)
    specs, errors = load_all()
    assert not errors
    assert sum(1 for s in specs if s.sweep) >= 8


def test_an_expectation_list_matches_any_value_of_a_scalar_parameter_but_a_shape_exactly() -> None:
    when = When(params={"values": ["nan", "inf"], "shape": [4, 4]})
    assert when.could_match("dropout", {"values": "inf", "shape": [4, 4]})
    assert not when.could_match("dropout", {"values": "subnormal", "shape": [4, 4]})
    assert not when.could_match("dropout", {"values": "inf", "shape": [4]})


# ---- the kept-value reading: the formula, IEEE overflow, subnormals, signed zero

@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("p", [0.0009765625, 0.1, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("kind", ["finite", "nan", "inf", "neg_inf", "neg_zero", "subnormal", "near_max"])
def test_x_over_one_minus_p_rounded_once_is_a_kept_value_and_zero_is_not(dtype, p, kind) -> None:
    x = sweep.special_value(kind, dtype)
    a, b, _, budget = sweep.affine("dropout", p)
    with np.errstate(over="ignore"):
        rounded_once = float(cast(np.array(x / (1 - p)), dtype))
    ys = np.array([[rounded_once], [0.0]])
    kept = sweep.kept_like(ys, x, a, b, dtype, budget).ravel()
    assert kept[0], (x, rounded_once)
    assert kept[1] == (kind == "neg_zero" and False)  # +0 is not -0.0's kept value; zero is nothing else's


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_half_the_maximum_overflows_when_p_exceeds_one_half(dtype) -> None:
    """At p = 1/2, x / (1 - p) is the maximum itself: finite, though Inf is within the budget's roundings
    of the overflow threshold too; at p = 0.9 only Inf is right."""
    x, finite = sweep.special_value("near_max", dtype), float(finfo(dtype).max)
    a, b, _, budget = sweep.affine("dropout", 0.5)
    assert sweep.kept_like(np.array([[finite]]), x, a, b, dtype, budget)[0, 0]
    a, b, _, budget = sweep.affine("dropout", 0.9)
    assert sweep.kept_like(np.array([[math.inf]]), x, a, b, dtype, budget)[0, 0]
    assert not sweep.kept_like(np.array([[finite]]), x, a, b, dtype, budget)[0, 0]


def test_a_flushed_subnormal_is_not_the_kept_value_but_a_neg_zero_kept_as_neg_zero_is() -> None:
    for dtype in ("bfloat16", "float32"):
        a, b, _, budget = sweep.affine("dropout", 0.5)
        assert not sweep.kept_like(np.array([[0.0]]), sweep.special_value("subnormal", dtype), a, b, dtype, budget)[0, 0]
        assert sweep.kept_like(np.array([[-0.0]]), -0.0, a, b, dtype, budget)[0, 0]


def test_rank_claims_follow_the_documented_shapes() -> None:
    assert sweep.rank_claim("dropout2d", 4)[1:] == (1, [0, 1])
    assert sweep.rank_claim("dropout2d", 3)[1:] == (0, [0])
    assert sweep.rank_claim("dropout2d", 5)[2] is None
    assert sweep.rank_claim("dropout", 6)[2] == list(range(6))
    assert sweep.rank_claim("feature_alpha_dropout", 5)[2] == [0, 1]


def test_the_sweep_alpha_keeps_thousands_of_cases_per_target_far_below_the_run_bound() -> None:
    specs, _ = load_all()
    from conformance.checks import CHECKS
    total = sum(CHECKS[s.check].false_alarm(params) for s in specs if s.sweep for _, params in s.op_cases)
    assert total < 1e-8, total  # per target: a dozen targets stay below 1.2e-7
