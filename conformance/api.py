"""The contract between the engine and an adapter.

An adapter knows one framework and nothing of statistics: it lists its execution targets,
opens a seeded session on one, and turns a `Call` into an `Output`. Everything else
(layouts, seeds, checks, verdicts) is the engine's.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

OPS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
MODES = ("eager", "compiled")
# Each op's batched input rank, as PyTorch documents it: (N, C) for element-wise dropout, (N, C, *spatial)
# with one spatial axis per "Nd" for channel dropout; FeatureAlphaDropout's page gives (N, C, D, H, W).
BATCHED_RANK = {"dropout": 2, "dropout1d": 3, "dropout2d": 4, "dropout3d": 5, "alpha_dropout": 2,
                "feature_alpha_dropout": 5}
CHANNEL_OPS = ("dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout")  # one decision per (N, C)
# Where a call's randomness comes from: a seed or key handed to the op or layer ("explicit"), or the
# framework's default random state, seeded once per session (torch.manual_seed, mx.random.seed: "global").
SEEDING_PATHS = ("explicit", "global")


class NotOffered(Exception):
    """The framework does not offer this op, form or feature (reported as skipped, with the reason)."""


class AdapterError(RuntimeError):
    """The adapter itself broke (a protocol server's garbage, a lost process): the case is an error,
    never an observation of the implementation, so no check can read it as 'dropout raised'."""


@dataclass(frozen=True)
class Device:
    kind: str  # cpu | cuda | mps | gpu | tpu
    name: str  # model name where known, e.g. "NVIDIA H100", "x86_64"
    backend: str  # native | cuda | rocm | mps | metal | xla
    driver: str | None = None
    index: int = 0

    @property
    def label(self) -> str:
        return self.kind if self.index == 0 else f"{self.kind}{self.index}"


@dataclass(frozen=True)
class Call:
    """One invocation. `x` is in the adapter's native layout and true dtype."""

    op: str
    x: np.ndarray
    p: float
    training: bool = True
    form: str = "module"  # module | functional
    inplace: bool = False
    grad: bool = False  # also return d(sum(y))/dx from the same forward pass
    seeding: str = "explicit"  # one of the adapter's seeding_paths (the engine never asks for another)


@dataclass
class Output:
    y: np.ndarray  # native layout; dtype the framework returned (bfloat16 as ml_dtypes)
    dtype: str  # the framework's own name for the output dtype, normalised (float16, bfloat16, ...)
    same_object: bool | None = None  # the output is the very input object
    input_modified: bool | None = None  # the caller's input now holds different values
    grad: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


class Session(ABC):
    """A seeded stream of calls on one target; successive calls must draw fresh randomness.

    Opening a session may reset framework-global state (torch.manual_seed, mx.random.seed):
    the engine finishes with one session before it opens the next. The built-in adapters
    derive from conformance.adapter_kit.AdapterSession, which does the common bookkeeping.
    """

    @abstractmethod
    def call(self, call: Call) -> Output: ...


class Adapter(ABC):
    name: str
    layout: str = "channels_first"  # see conformance.arrays.LAYOUTS
    # Framework whose expectations apply when a spec names none for this adapter.
    expectations_from: str | None = None
    # With expectations_from: also be judged on behaviours the docs leave open (spec contract
    # "informational"), instead of having them recorded for information only.
    strict: bool = False
    # The seeding paths the framework offers (SEEDING_PATHS), its usual one first: a spec that names
    # none runs on the first; a path not listed is reported as not offered.
    seeding_paths: tuple[str, ...] = ("explicit",)
    # The form a spec without a form axis runs in: the framework's usual one (Haiku has only a function).
    default_form: str = "module"

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def devices(self) -> list[Device]: ...

    def modes(self) -> tuple[str, ...]:
        return ("eager",)

    @abstractmethod
    def ops(self) -> tuple[str, ...]: ...

    @abstractmethod
    def open(self, device: Device, mode: str, seed: int) -> Session: ...

    def compiled_graphs(self) -> int | None:
        """Graphs the framework has compiled in this process so far, where it can tell (benchmark
        figures: compiled-mode time is mostly compile time per distinct graph); None where it cannot."""
        return None
