"""conformance.adapter_kit.AdapterSession: the bookkeeping its call() does for every adapter.

The session here runs on a toy tensor type whose NumPy bridge lacks bfloat16, as most
frameworks' bridges do; it stands in for no framework under test (tests/test_adapters.py and
tests/test_more_adapters.py run the real adapters on the same base).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import ml_dtypes
import numpy as np
import pytest

from conformance.adapter_kit import AdapterSession, Forward
from conformance.api import Call, NotOffered
from conformance.arrays import cast, dtype_name

# ToySession.build warns on purpose, outside the call's capture
pytestmark = pytest.mark.filterwarnings("ignore:built, not run")


@dataclass
class Toy:
    """A framework tensor: its values and its own dtype name."""

    values: np.ndarray
    dtype: str


class ToySession(AdapterSession):
    def __init__(self, forward: Forward):
        self.forward, self.watched = forward, []

    def tensor(self, x: np.ndarray) -> Toy:
        if dtype_name(x) == "bfloat16":
            raise TypeError("the toy bridge has no bfloat16")
        return Toy(x.copy(), dtype_name(x))

    def array(self, t: Toy) -> np.ndarray:
        if t.dtype == "bfloat16":
            raise TypeError("the toy bridge has no bfloat16")
        return t.values.copy()

    def cast(self, t: Toy, dtype: str) -> Toy:
        return Toy(cast(t.values, dtype), dtype)

    def dtype_of(self, t: Toy) -> str:
        return t.dtype

    def watch(self, t: Toy) -> Toy:
        self.watched.append(t)
        return t

    def build(self, call: Call) -> Forward:
        if call.form == "functional":
            raise NotOffered("toys come as modules only")
        warnings.warn("built, not run: not the call's warning")
        return self.forward


def _double(t: Toy) -> tuple[Toy, None]:
    warnings.warn("doubling")
    return Toy(t.values * 2, t.dtype), None


def _double_in_place(t: Toy) -> tuple[Toy, None]:
    t.values *= 2
    return t, None


def _call(**kwargs) -> Call:
    return Call(op="dropout", x=np.arange(6, dtype=np.float32).reshape(2, 3), p=0.5, **kwargs)


def test_output_values_dtype_and_warnings_of_the_call_only() -> None:
    out = ToySession(_double).call(_call())
    np.testing.assert_array_equal(out.y, np.arange(6, dtype=np.float32).reshape(2, 3) * 2)
    assert out.dtype == "float32" and out.grad is None
    assert out.warnings == ["doubling"]
    assert out.same_object is False and out.input_modified is False


def test_bfloat16_crosses_a_bridge_without_it_exactly() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(ml_dtypes.bfloat16)
    out = ToySession(_double).call(Call(op="dropout", x=x, p=0.5))
    assert out.dtype == "bfloat16" and out.y.dtype == ml_dtypes.bfloat16
    assert np.array_equal(out.y.astype(np.float32), x.astype(np.float32) * 2)


def test_in_place_output_is_the_input_object_and_modifies_it() -> None:
    out = ToySession(_double_in_place).call(_call(inplace=True))
    assert out.same_object is True and out.input_modified is True


def test_gradient_input_is_watched_and_its_gradient_returned() -> None:
    session = ToySession(lambda t: (t, Toy(np.ones_like(t.values), t.dtype)))
    out = session.call(_call(grad=True))
    assert len(session.watched) == 1 and out.grad is not None and out.grad.dtype == np.float32
    session.call(_call())
    assert len(session.watched) == 1  # watched only when a gradient is asked for


def test_not_offered_from_build_propagates() -> None:
    with pytest.raises(NotOffered, match="modules only"):
        ToySession(_double).call(_call(form="functional"))
