"""Wrap a plain NumPy dropout function as an adapter: the few-lines path for third parties.

    def fn(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray: ...
    adapter = function_adapter(fn, name="mydrop")

The engine gives every call a fresh seed derived from the session seed, so `fn` only has to
be a pure function of its arguments. Optional keyword `inplace` in `fn`'s signature declares
in-place support; `grad_fn(x, p, *, training, seed, grad_output)` declares a backward pass.
"""
from __future__ import annotations

import inspect
import platform
from typing import Any, Callable

import numpy as np

from .adapter_kit import AdapterSession, Forward, SeedStream, call_seed
from .api import Adapter, Call, Device, NotOffered, Session

__all__ = ["call_seed", "function_adapter", "FunctionAdapter"]  # call_seed: its first home, still imported from here

DropoutFn = Callable[..., np.ndarray]


class _FunctionSession(AdapterSession):
    def __init__(self, adapter: "FunctionAdapter", seed: int):
        self.adapter, self.seeds = adapter, SeedStream(seed)

    def to_native(self, x: np.ndarray, grad: bool) -> np.ndarray:
        return x  # fn takes NumPy arrays as they are, bfloat16 included

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.array(t)

    def build(self, call: Call) -> Forward:
        ad = self.adapter
        if call.op not in ad.supported_ops:  # fn has no op argument: refuse rather than run the wrong op
            raise NotOffered(f"{ad.name} implements only {', '.join(ad.supported_ops)}")
        if call.form != "module" and call.form != "functional":
            raise NotOffered(f"unknown form {call.form}")
        seed = self.seeds.next()
        kwargs = {"training": call.training, "seed": seed}
        if call.inplace:
            if not ad.accepts_inplace:
                raise NotOffered(f"{ad.name} declares no in-place mode")
            kwargs["inplace"] = True

        def forward(x: np.ndarray) -> tuple[Any, Any]:
            original = x.copy() if call.grad else None  # fn may write into x
            y = ad.fn(x, call.p, **kwargs)
            if not call.grad:
                return y, None
            if ad.grad_fn is None:  # checked after fn: an error fn raises comes first
                raise NotOffered(f"{ad.name} declares no gradient (pass grad_fn=)")
            return y, ad.grad_fn(original, call.p, training=call.training, seed=seed,
                                 grad_output=np.ones_like(original))
        return forward


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
