"""Wrap a plain NumPy dropout function as an adapter: the few-lines path for third parties.

    def fn(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray: ...
    adapter = function_adapter(fn, name="mydrop")

The engine gives every call a fresh seed derived from the session seed, so `fn` only has to
be a pure function of its arguments. Optional keyword `inplace` in `fn`'s signature declares
in-place support; `grad_fn(x, p, *, training, seed, grad_output)` declares a backward pass.
"""
from __future__ import annotations

import hashlib
import inspect
import platform
import warnings
from typing import Callable

import numpy as np

from .api import Adapter, Call, Device, NotOffered, Output, Session
from .arrays import dtype_name, same_values

DropoutFn = Callable[..., np.ndarray]


def call_seed(session_seed: int, index: int) -> int:
    """Seed of the index-th call in a session: distinct per call, within 31 bits."""
    digest = hashlib.blake2b(f"{session_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**31


class _FunctionSession(Session):
    def __init__(self, adapter: "FunctionAdapter", seed: int):
        self.adapter, self.seed, self.calls = adapter, seed, 0

    def call(self, call: Call) -> Output:
        ad = self.adapter
        if call.op not in ad.supported_ops:
            raise NotOffered(f"{ad.name} implements only {', '.join(ad.supported_ops)}")
        if call.form != "module" and call.form != "functional":
            raise NotOffered(f"unknown form {call.form}")
        seed = call_seed(self.seed, self.calls)
        self.calls += 1
        kwargs = {"training": call.training, "seed": seed}
        if call.inplace:
            if not ad.accepts_inplace:
                raise NotOffered(f"{ad.name} declares no in-place mode")
            kwargs["inplace"] = True
        x = call.x
        before = x.copy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = ad.fn(x, call.p, **kwargs)
            grad = None
            if call.grad:
                if ad.grad_fn is None:
                    raise NotOffered(f"{ad.name} declares no gradient (pass grad_fn=)")
                grad = ad.grad_fn(before, call.p, training=call.training, seed=seed,
                                  grad_output=np.ones_like(before))
        y_arr = np.asarray(y)
        return Output(
            y=y_arr,
            dtype=dtype_name(y_arr),
            same_object=y is x,
            input_modified=not same_values(before, x),
            grad=None if grad is None else np.asarray(grad),
            warnings=[str(w.message) for w in caught],
        )


class FunctionAdapter(Adapter):
    def __init__(self, fn: DropoutFn, name: str, layout: str, ops: tuple[str, ...],
                 grad_fn: DropoutFn | None, version: str, expectations_from: str | None,
                 strict: bool):
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"function_adapter layout must be 'NCHW' or 'NHWC', got {layout!r}")
        self.fn, self.grad_fn, self.name = fn, grad_fn, name
        self.layout = "channels_first" if layout == "NCHW" else "channels_last"
        self.supported_ops = ops
        self.accepts_inplace = "inplace" in inspect.signature(fn).parameters
        self._version = version
        self.expectations_from = expectations_from
        self.strict = strict

    def version(self) -> str:
        return self._version

    def devices(self) -> list[Device]:
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend="numpy")]

    def ops(self) -> tuple[str, ...]:
        return self.supported_ops

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return _FunctionSession(self, seed)


def function_adapter(fn: DropoutFn, name: str | None = None, *, layout: str = "NCHW",
                     ops: tuple[str, ...] = ("dropout2d",), grad_fn: DropoutFn | None = None,
                     version: str = "0", expectations_from: str | None = "reference",
                     strict: bool = False) -> Adapter:
    """Adapter for `fn(x, p, *, training, seed) -> y` implementing channel dropout.

    It is held to the reference contract (`expectations_from="reference"`), except for the
    behaviours the frameworks' docs leave open (NaN in dropped channels, integer input, ranks
    other than 4, native layout), which are recorded as informational unless `strict=True`.
    """
    return FunctionAdapter(fn, name or fn.__name__, layout, tuple(ops), grad_fn, version,
                           expectations_from, strict)
