"""What framework adapters share, so each adapter says only what is specific to its framework.

`AdapterSession` is the base of every built-in session: its `call()` captures warnings, bridges
bfloat16 and fills in the `Output`; a subclass builds the op and converts arrays. A plain
`conformance.api.Session` subclass still works: the engine needs nothing more.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from abc import abstractmethod
from pathlib import Path
from typing import Any, Callable, ContextManager, final

import numpy as np

from .api import Call, Output, Session
from .arrays import cast, dtype_name, same_values, via_float32
from .locations import default_cache_dir

__all__ = ["AdapterSession", "Forward", "cache_dir", "call_seed", "with_warnings", "SeedStream"]

CACHE_ENV = "CONFORMANCE_CACHE_DIR"


def cache_dir(name: str) -> Path:
    """Where a framework keeps its persistent compile cache: $CONFORMANCE_CACHE_DIR/<name>, else
    <default cache>/<name> (locations.default_cache_dir). Created on demand."""
    path = Path(os.environ.get(CACHE_ENV) or default_cache_dir()) / name
    path.mkdir(parents=True, exist_ok=True)
    return path

# Native input -> (native output, native d(sum(output))/d(input), or None when no gradient was asked).
Forward = Callable[[Any], "tuple[Any, Any | None]"]


def call_seed(session_seed: int, index: int) -> int:
    """Seed of the index-th call in a session: distinct per call, within 31 bits."""
    digest = hashlib.blake2b(f"{session_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**31


def with_warnings(fn: Callable[[], Any]) -> tuple[Any, list[str]]:
    """fn()'s result and the text of every warning it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught]


class SeedStream:
    """Distinct, reproducible per-call seeds for frameworks seeded per op or per layer.

    Frameworks without a global generator (Keras layers, ONNX Dropout's `seed` attribute)
    need a fresh seed for every call so successive calls draw fresh randomness.
    """

    def __init__(self, seed: int):
        self.seed, self.calls = seed, 0

    def next(self) -> int:
        value = call_seed(self.seed, self.calls)
        self.calls += 1
        return value


class AdapterSession(Session):
    """A session that only says what is specific to its framework; `call()` does the rest.

    A subclass writes `build` (the op under test) and the framework's NumPy bridge for every
    dtype but bfloat16: `tensor`, `array`, `cast` and `dtype_of`; bfloat16 then crosses through
    float32, exactly. A framework that takes NumPy arrays as they are (bfloat16 included)
    overrides `to_native` and `to_numpy` instead. `watch` and `scope` are optional.
    """

    @abstractmethod
    def build(self, call: Call) -> Forward:
        """The callable under test for `call`, returning (y, gradient or None).

        Runs before the input is converted and outside the warning capture, so raise
        NotOffered here for what the framework lacks (a form, in-place, gradients). The engine
        never asks for an op missing from `Adapter.ops()`.
        """

    def tensor(self, x: np.ndarray) -> Any:
        """A native tensor holding `x` (C-contiguous, any dtype but bfloat16)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither tensor() nor to_native()")

    def array(self, t: Any) -> np.ndarray:
        """A NumPy copy of native tensor `t` (any dtype but bfloat16)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither array() nor to_numpy()")

    def cast(self, t: Any, dtype: str) -> Any:
        """`t` converted natively to `dtype` ("bfloat16" or "float32")."""
        raise NotImplementedError(f"{type(self).__name__} defines no cast(): needed for bfloat16")

    def dtype_of(self, t: Any) -> str:
        """The framework's name for `t`'s dtype, normalised (float16, bfloat16, float32, ...)."""
        return dtype_name(np.asarray(t))

    def watch(self, t: Any) -> Any:
        """`t` marked as the input to differentiate, for frameworks that record that on the tensor."""
        return t

    def scope(self, call: Call) -> ContextManager[Any]:
        """A context the whole call runs in (a device, a training flag)."""
        return contextlib.nullcontext()

    def to_native(self, x: np.ndarray, grad: bool) -> Any:
        """The input as the framework's tensor, `watch`ed when a gradient is asked for."""
        t = self.tensor(np.ascontiguousarray(via_float32(x)))
        if dtype_name(x) == "bfloat16":
            t = self.cast(t, "bfloat16")
        return self.watch(t) if grad else t

    def to_numpy(self, t: Any) -> np.ndarray:
        """A NumPy copy of a native tensor in its own dtype (bfloat16 as ml_dtypes.bfloat16)."""
        if self.dtype_of(t) == "bfloat16":
            return cast(self.array(self.cast(t, "float32")), "bfloat16")
        return self.array(t)

    @final
    def call(self, call: Call) -> Output:
        with self.scope(call):
            forward = self.build(call)
            x = self.to_native(call.x, call.grad)
            before = self.to_numpy(x)
            (y, grad), caught = with_warnings(lambda: forward(x))
            return Output(y=self.to_numpy(y), dtype=self.dtype_of(y), same_object=y is x,
                          input_modified=not same_values(before, self.to_numpy(x)),
                          grad=None if grad is None else self.to_numpy(grad), warnings=caught)
