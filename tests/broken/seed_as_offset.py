"""Broken: the seed is used as the offset into one shared random stream, not as its key.

Like a counter-based generator (Philox, as in CUDA dropout kernels) whose key is a fixed
constant and whose counter `manual_seed(s)` sets to s. Within a session the counter advances by
the number of decisions each call consumes, so successive calls read fresh, independent
positions and one seed reproduces its stream bit for bit; but seeds s and s + 1 give the same
stream shifted by one position, and nearby seeds overlap. A custom adapter rather than
`function_adapter`, which hashes seeds: the engine's raw session seed must reach the generator.
Breaks: seeding (neighbouring seeds give shifted copies of one stream).
"""
from __future__ import annotations

import platform

import numpy as np

from conformance.api import Adapter, Device, Session
from conformance.function_adapter import function_adapter
from tests.broken._common import check_inputs, scale_kept

NAME = "broken-seed-as-offset"
_KEY = 0x5EED_0FF5E7  # fixed for every seed
_PER_COUNTER = 4  # Philox yields four 64-bit words (four uniforms) per counter value


class CounterGenerator:
    """The framework's generator state: a fixed key and a counter, in units of uniforms."""

    def __init__(self, seed: int):
        self.position = seed  # BUG: the seed sets where to start reading, not which stream to read

    def uniforms(self, n: int) -> np.ndarray:
        block, skip = divmod(self.position, _PER_COUNTER)
        bits = np.random.Philox(key=_KEY, counter=block)
        u = np.random.Generator(bits).random(skip + n)[skip:]
        self.position += n  # the next call starts where this one stopped
        return u

    def dropout2d(self, x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
        """The framework call: its randomness comes from the generator state, not from `seed`."""
        check_inputs(x, p)
        if not training:
            return x
        if p == 1.0:
            return np.zeros_like(x)
        u = self.uniforms(x.shape[0] * x.shape[1]).reshape(x.shape[:2])
        keep = u >= p
        return scale_kept(x, keep, p)


class SeedAsOffsetAdapter(Adapter):
    """Opens each session on a generator seeded with the engine's raw session seed.

    The calls themselves go through a per-session `function_adapter` session, so forms,
    in-place and gradient requests (not offered), warnings, output dtype names, same_object
    and input_modified are handled exactly as for every function adapter; the per-call seeds
    that session derives are ignored, as the generator carries the state.
    """

    name = NAME
    layout = "channels_first"
    expectations_from = "reference"  # no expectations of its own: held to the reference's

    def version(self) -> str:
        return "0"

    def devices(self) -> list[Device]:
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend="numpy")]

    def ops(self) -> tuple[str, ...]:
        return ("dropout2d",)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        generator = CounterGenerator(seed)
        calls = function_adapter(generator.dropout2d, name=self.name, ops=self.ops(),
                                 expectations_from=self.expectations_from)
        return calls.open(device, mode, seed)


adapter = SeedAsOffsetAdapter()
