"""What the JAX implementations (Flax linen, Flax nnx, Equinox, Haiku) share: JAX itself.

Device listing, the persistent compilation cache, the compile counter, and a session base that
hands JAX NumPy arrays as they are. Each implementation's adapter module says only how its
dropout is built and called. This module declares no FRAMEWORK: it is not an implementation.

JAX's default configuration is kept (64-bit types off), as a user would have it.
"""
from __future__ import annotations

import platform
from typing import Any, Callable, ContextManager

import jax
import numpy as np

from conformance.adapter_kit import AdapterSession, Forward, cache_dir
from conformance.api import Adapter, Call, Device, NotOffered

PLATFORMS = ("cpu", "gpu", "tpu")

_BACKEND_COMPILES = [0]  # XLA executables this process built or read back from the persistent cache


def _count_compile(event: str, duration: float, **_: Any) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _BACKEND_COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_count_compile)


def use_persistent_cache() -> None:
    """XLA executables persist under build/cache/jax (unless the user set a cache directory), every
    one of them: the suite's graphs are small and quick to compile, yet there are hundreds. Eager
    mode compiles too: each primitive once per shape and dtype."""
    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir("jax")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def channel_broadcast_dims(op: str, ndim: int) -> tuple[int, ...]:
    """Axes sharing one drop decision: the spatial axes of (N, *spatial, C) for channel dropout, every
    axis but the first and the last (rank 3 is (N, L, C), rank 5 (N, D, H, W, C)); ranks 1 and 2 have
    none, so they get element-wise dropout. This is Flax's recipe for channel dropout."""
    return () if op == "dropout" else tuple(range(1, ndim - 1))


def with_grad(fn: Callable, value_and_grad: Callable) -> Callable:
    """(state, x) -> (y, d sum(y)/dx), from one forward pass with one key; `value_and_grad` is
    jax's, nnx's or equinox's."""
    def loss(state, x):
        y = fn(state, x)
        return y.sum(), y

    differentiated = value_and_grad(loss, argnums=1, has_aux=True)

    def run(state, x):
        (_, y), dx = differentiated(state, x)
        return y, dx
    return run


def without_grad(fn: Callable) -> Callable:
    return lambda state, x: (fn(state, x), None)


_JITTED: dict[tuple, Callable] = {}  # compiled functions, kept across sessions (jit caches traces)


def jitted(key: tuple, make: Callable[[], Callable], jit: Callable) -> Callable:
    """jit(make()), built once per key (which names the implementation and what the trace depends
    on), so a session reuses the traces of earlier ones."""
    if key not in _JITTED:
        _JITTED[key] = jit(make())
    return _JITTED[key]


def _platform_devices(kind: str) -> list:
    try:
        return jax.devices(kind)
    except RuntimeError:  # no backend for this platform here
        return []


def _device_name(device) -> str:
    # XLA's CPU device_kind is just "cpu": name the machine instead, as the torch adapter does.
    if device.platform == "cpu":
        return platform.processor() or platform.machine()
    return device.device_kind


class JaxSession(AdapterSession):
    """A session on one JAX device. A subclass gives `state(call)`, what the call's function takes
    besides x (a fresh key, or a module holding its random stream), and `function(call)`, the
    (state, x) -> (y, gradient or None) under test, jitted in compiled mode."""

    def __init__(self, device: Device, mode: str, seed: int):
        self.device = jax.devices(device.kind)[device.index]
        self.compiled = mode == "compiled"
        use_persistent_cache()
        with jax.default_device(self.device):
            self.key = jax.random.key(seed)

    def next_key(self) -> jax.Array:
        """A fresh key for every call, split from the session's."""
        self.key, sub = jax.random.split(self.key)
        return sub

    def scope(self, call: Call) -> ContextManager:
        return jax.default_device(self.device)

    def to_native(self, x: np.ndarray, grad: bool) -> jax.Array:
        return jax.device_put(x, self.device)  # JAX takes NumPy arrays as they are, bfloat16 included

    def to_numpy(self, t: jax.Array) -> np.ndarray:
        return np.asarray(t)  # no copy needed: JAX arrays are immutable

    def state(self, call: Call) -> Any:
        return self.next_key()

    def function(self, call: Call) -> Callable:
        raise NotImplementedError

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("JAX arrays are immutable: there is no in-place dropout")
        fn = self.function(call)
        state = self.state(call)

        def forward(x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
            y, dx = fn(state, x)
            return jax.block_until_ready(y), dx  # JAX dispatches asynchronously
        return forward


class JaxAdapter(Adapter):
    """An implementation on JAX: channels-last, every JAX device, eager and jitted. Its version is the
    library's (its dropout is under test; `when: version` matches it) with JAX's as the PEP 440 local
    label, e.g. "0.12.8+jax0.10.2"."""

    layout = "channels_last"

    def __init__(self, name: str, library_version: str, ops: tuple[str, ...], session: type[JaxSession],
                 default_form: str = "module"):
        self.name, self.default_form = name, default_form
        self._version, self._ops, self._session = f"{library_version}+jax{jax.__version__}", ops, session

    def version(self) -> str:
        return self._version

    def ops(self) -> tuple[str, ...]:
        return self._ops

    def devices(self) -> list[Device]:
        return [Device(kind=kind, name=_device_name(d), backend="xla", index=i)
                for kind in PLATFORMS for i, d in enumerate(_platform_devices(kind))]

    def modes(self) -> tuple[str, ...]:
        return ("eager", "compiled")

    def open(self, device: Device, mode: str, seed: int) -> JaxSession:
        return self._session(device, mode, seed)

    def compiled_graphs(self) -> int | None:
        return _BACKEND_COMPILES[0]
