"""Checks: each turns observations of one adapter into a verdict on one claim.

A check is registered with `@check(name, ParamsModel, false_alarm=...)`. The model (checks/params.py)
is the schema of one case's parameters, which a spec is typed against when it loads.
`false_alarm(params)` is the probability that a *conforming* implementation fails the check; the
run header adds these up into the whole-run false-alarm bound. Deterministic checks have false_alarm 0.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..api import Adapter, AdapterError, Call, Device, NotOffered, Output
from ..arrays import cast, dtype_name, from_native, to_native
from .params import CheckParams


@dataclass
class Observation:
    """One call as the engine sees it: logical layout, exceptions captured."""

    y: np.ndarray | None = None
    dtype: str | None = None
    same_object: bool | None = None
    input_modified: bool | None = None
    grad: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # exception type name
    error_message: str | None = None

    def describe_error(self) -> dict[str, Any]:
        return {"error": self.error, "error_message": (self.error_message or "")[:500]}


@dataclass
class Verdict:
    conforms: bool
    observed: dict[str, Any]
    message: str = ""
    p_value: float | None = None
    n: int | None = None
    min_detectable: float | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def unexpected_error(cls, obs: Observation, doing: str) -> "Verdict":
        return cls(False, obs.describe_error(), f"{doing} raised {obs.error}: {obs.error_message}",
                   warnings=obs.warnings)


class OutputShapeMismatch(Exception):
    """The implementation returned another shape than the input's: the case does not conform."""


class SessionHandle:
    """A seeded session that speaks the logical (N, C, *spatial) layout."""

    def __init__(self, ctx: "CheckContext", seed: int):
        self.ctx = ctx
        self.session = ctx.adapter.open(ctx.device, ctx.mode, seed)

    def run(self, x: np.ndarray, p: float, *, training: bool = True, inplace: bool = False,
            grad: bool = False, native: bool = False, channel_axis: int = 1, any_shape: bool = False) -> Observation:
        """One call. Unless `any_shape` (the checks that judge shapes), an output or gradient whose
        shape is not the input's raises OutputShapeMismatch: no element-wise claim can be read from it."""
        layout = "channels_first" if native else self.ctx.adapter.layout
        call = Call(op=self.ctx.op, x=to_native(x, layout, channel_axis), p=p, training=training,
                    form=self.ctx.params.get("form", self.ctx.adapter.default_form), inplace=inplace, grad=grad,
                    seeding=self.ctx.seeding_path())
        try:
            out: Output = self.session.call(call)
        except (NotOffered, AdapterError):
            raise  # not the implementation's behaviour: the engine records these itself
        except Exception as exc:  # noqa: BLE001 - what the implementation raised is an observation
            return Observation(error=type(exc).__name__, error_message=_stable(str(exc).strip()))
        back = (lambda a: None if a is None else from_native(a, layout, channel_axis))
        y, dy = back(out.y), back(out.grad)
        for what, value in (("output", y), ("gradient", dy)):
            if not any_shape and value is not None and tuple(value.shape) != tuple(x.shape):
                raise OutputShapeMismatch(f"the {what}'s shape {list(value.shape)} is not the input's {list(x.shape)}")
        return Observation(y=y, dtype=out.dtype, same_object=out.same_object,
                           input_modified=out.input_modified, grad=dy,
                           warnings=list(dict.fromkeys(_stable(w) for w in out.warnings)))


_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def _stable(text: str) -> str:
    """Message text that replays under the same salt: object addresses (torch.compile errors
    print function reprs) masked. Warnings are kept once each: how often a compiler re-traces,
    and so re-warns, depends on its on-disk cache."""
    return _ADDRESS.sub("0x?", text)


@dataclass
class CheckContext:
    adapter: Adapter
    device: Device
    mode: str
    op: str
    params: dict[str, Any]
    seed: int

    def seeding_path(self) -> str:
        """The case's seeding path, or the adapter's usual one; NotOffered for a path it lacks."""
        paths = self.adapter.seeding_paths
        wanted = self.params.get("seeding") or paths[0]
        if wanted not in paths:
            raise NotOffered(f"no {wanted} seeding path (this adapter seeds: {', '.join(paths)})")
        return wanted

    def session_with_seed(self, seed: int) -> SessionHandle:
        """A session on exactly this seed (the seeding checks compare raw neighbouring seeds)."""
        return SessionHandle(self, seed)

    def session(self, stream: int = 0) -> SessionHandle:
        """Session `stream` of this test; stream 0 uses the test seed itself."""
        if stream == 0:
            return SessionHandle(self, self.seed)
        digest = hashlib.blake2b(f"{self.seed}/{stream}".encode(), digest_size=8).digest()
        return SessionHandle(self, int.from_bytes(digest, "little") % 2**31)

    @property
    def rng(self) -> np.random.Generator:
        """Input data generator, seeded from the test seed (independent of the framework)."""
        return np.random.default_rng(self.seed)

    def positive_input(self, shape: list[int], dtype: str) -> np.ndarray:
        """Values in [0.5, 2): nonzero, so a kept value can never look dropped; no overflow at 1/(1-p)."""
        return cast(self.rng.uniform(0.5, 2.0, size=tuple(shape)), dtype)


CheckFn = Callable[[CheckContext], Verdict]


@dataclass(frozen=True)
class CheckDef:
    name: str
    fn: CheckFn
    params: type[CheckParams]
    false_alarm: Callable[[dict[str, Any]], float]
    doc: str


CHECKS: dict[str, CheckDef] = {}


def check(name: str, params: type[CheckParams], false_alarm: Callable[[dict[str, Any]], float] = lambda params: 0.0):
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = CheckDef(name, fn, params, false_alarm, (fn.__doc__ or "").strip().splitlines()[0])
        return fn
    return register


def output_dtype_matches(obs: Observation, x: np.ndarray) -> bool:
    return obs.dtype == dtype_name(x)


from . import alpha, masks, sweep, values  # noqa: E402,F401  (registration)
