"""Small helpers that framework adapters share (so no adapter re-implements them)."""
from __future__ import annotations

import warnings
from typing import Any, Callable

from .function_adapter import call_seed

__all__ = ["call_seed", "with_warnings", "SeedStream"]


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
