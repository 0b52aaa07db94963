"""JAX/Flax adapter: Flax's Dropout with broadcast_dims, channels-last.

Flax has no dropout2d; channel dropout is `Dropout(rate, broadcast_dims=...)`, which shares one
decision along the broadcast axes. The mapping used here:

- form "module":     flax.nnx.Dropout(rate, broadcast_dims=..., rngs=<the session's nnx.Rngs>)
- form "functional": flax.linen.Dropout(rate, broadcast_dims=...).apply({}, x, rngs={"dropout": key})
  with a fresh key split from the session key on every call.
- broadcast_dims: "dropout" broadcasts nothing (element-wise). The channel ops broadcast over the
  spatial axes of (N, *spatial, C), i.e. every axis but the first and the last, for any rank >= 3
  (so rank 3 is (N, L, C) and rank 5 is (N, D, H, W, C)); ranks 1 and 2 have no spatial axis and
  get element-wise dropout.
- compiled: jax.jit / nnx.jit, with the key (or the module holding the Rngs stream) passed in as
  an argument, so every call of the compiled function draws a fresh mask.

JAX's default configuration is kept (64-bit types off), as a user would have it.
"""
from __future__ import annotations

FRAMEWORK = "jax"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install jax flax"

import platform
from typing import Any, Callable, ContextManager

import flax
import jax
import numpy as np
from flax import linen, nnx

from conformance.adapter_kit import AdapterSession, Forward, cache_dir
from conformance.api import Adapter, Call, Device, NotOffered, Session

OPS = ("dropout", "dropout1d", "dropout2d", "dropout3d")
PLATFORMS = ("cpu", "gpu", "tpu")


def broadcast_dims(op: str, ndim: int) -> tuple[int, ...]:
    """Axes sharing one drop decision: the spatial axes of (N, *spatial, C) for channel dropout."""
    return () if op == "dropout" else tuple(range(1, ndim - 1))


def _linen_forward(call: Call, ndim: int) -> Callable:
    layer = linen.Dropout(call.p, broadcast_dims=broadcast_dims(call.op, ndim))
    return lambda key, x: layer.apply({}, x, deterministic=not call.training, rngs={"dropout": key})


def _nnx_forward(module: nnx.Dropout, x: jax.Array) -> jax.Array:
    return module(x)


def _with_grad(fn: Callable, transforms: Any) -> Callable:
    """(state, x) -> (y, d sum(y)/dx), from one forward pass with one key."""
    def loss(state, x):
        y = fn(state, x)
        return y.sum(), y

    value_and_grad = transforms.value_and_grad(loss, argnums=1, has_aux=True)

    def run(state, x):
        (_, y), dx = value_and_grad(state, x)
        return y, dx
    return run


def _plain(fn: Callable) -> Callable:
    return lambda state, x: (fn(state, x), None)


_COMPILED: dict[tuple, Callable] = {}  # jitted functions, kept across sessions (jit caches traces)


def _function(call: Call, ndim: int, compiled: bool) -> Callable:
    """(state, x) -> (y, grad or None); state is a key (linen) or the nnx module."""
    key = (call.form, call.grad) if call.form == "module" else \
        (call.form, call.grad, call.op, call.p, call.training, ndim)
    if compiled and key in _COMPILED:
        return _COMPILED[key]
    transforms = nnx if call.form == "module" else jax
    fn = _nnx_forward if call.form == "module" else _linen_forward(call, ndim)
    fn = _with_grad(fn, transforms) if call.grad else _plain(fn)
    if compiled:
        fn = _COMPILED[key] = transforms.jit(fn)
    return fn


_BACKEND_COMPILES = [0]  # XLA executables this process built or read back from the persistent cache


def _count_compile(event: str, duration: float, **_: Any) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _BACKEND_COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_count_compile)


def _use_persistent_cache() -> None:
    """XLA executables persist under build/cache/jax (unless the user set a cache directory), every
    one of them: the suite's graphs are small and quick to compile, yet there are hundreds. Eager
    mode compiles too: each primitive once per shape and dtype."""
    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir("jax")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class JaxSession(AdapterSession):
    def __init__(self, device: Device, mode: str, seed: int):
        self.device = jax.devices(device.kind)[device.index]
        self.compiled = mode == "compiled"
        _use_persistent_cache()
        with jax.default_device(self.device):
            self.key = jax.random.key(seed)  # linen: split on every call
            self.rngs = nnx.Rngs(dropout=seed)  # nnx: the module draws from this stream

    def scope(self, call: Call) -> ContextManager:
        return jax.default_device(self.device)

    def to_native(self, x: np.ndarray, grad: bool) -> jax.Array:
        return jax.device_put(x, self.device)  # JAX takes NumPy arrays as they are, bfloat16 included

    def to_numpy(self, t: jax.Array) -> np.ndarray:
        return np.asarray(t)  # no copy needed: JAX arrays are immutable

    def _state(self, call: Call, ndim: int) -> Any:
        if call.form == "module":
            dims = broadcast_dims(call.op, ndim)
            return nnx.Dropout(call.p, broadcast_dims=dims, deterministic=not call.training, rngs=self.rngs)
        self.key, sub = jax.random.split(self.key)
        return sub

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("JAX arrays are immutable: there is no in-place dropout")
        fn = _function(call, call.x.ndim, self.compiled)
        state = self._state(call, call.x.ndim)

        def forward(x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
            y, dx = fn(state, x)
            return jax.block_until_ready(y), dx  # JAX dispatches asynchronously
        return forward


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


class JaxAdapter(Adapter):
    name = "jax"
    layout = "channels_last"

    def version(self) -> str:
        # Flax's version (its Dropout is under test; `when: version` matches it), with JAX's as
        # the PEP 440 local label, e.g. "0.12.8+jax0.10.2".
        return f"{flax.__version__}+jax{jax.__version__}"

    def devices(self) -> list[Device]:
        return [Device(kind=kind, name=_device_name(d), backend="xla", index=i)
                for kind in PLATFORMS for i, d in enumerate(_platform_devices(kind))]

    def modes(self) -> tuple[str, ...]:
        return ("eager", "compiled")

    def ops(self) -> tuple[str, ...]:
        return OPS

    def compiled_graphs(self) -> int | None:
        return _BACKEND_COMPILES[0]

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return JaxSession(device, mode, seed)


def make_adapter() -> Adapter:
    return JaxAdapter()
