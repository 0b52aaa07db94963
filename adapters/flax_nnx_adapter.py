"""Flax nnx: `flax.nnx.Dropout(rate, broadcast_dims=..., rngs=...)`, a module holding its random stream.

The module draws from the session's `nnx.Rngs(dropout=seed)` stream, which advances on every call.
Flax has no dropout1d/2d/3d: channel dropout is the same module with `broadcast_dims` set to the spatial
axes of channels-last (N, *spatial, C) (jax_support.channel_broadcast_dims), the recipe Flax documents.
nnx has no functional dropout. Compiled: nnx.jit of a function taking the module, so the stream's state
goes in and out of every call and each call draws a fresh mask.
"""
from __future__ import annotations

FRAMEWORK = "flax-nnx"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install jax flax"

from typing import Any, Callable

import flax
import jax
from flax import nnx

from adapters.jax_support import (JaxAdapter, JaxSession, channel_broadcast_dims, jitted,
                                  with_grad, without_grad)
from conformance.api import Adapter, Call, Device, NotOffered

OPS = ("dropout", "dropout1d", "dropout2d", "dropout3d")


def _call_module(module: nnx.Dropout, x: jax.Array) -> jax.Array:
    return module(x)


def _make(grad: bool) -> Callable:
    return with_grad(_call_module, nnx.value_and_grad) if grad else without_grad(_call_module)


class NnxSession(JaxSession):
    def __init__(self, device: Device, mode: str, seed: int):
        super().__init__(device, mode, seed)
        with jax.default_device(self.device):
            self.rngs = nnx.Rngs(dropout=seed)  # every module of the session draws from this stream

    def state(self, call: Call) -> Any:
        dims = channel_broadcast_dims(call.op, call.x.ndim)
        return nnx.Dropout(call.p, broadcast_dims=dims, deterministic=not call.training, rngs=self.rngs)

    def function(self, call: Call) -> Callable:
        if call.form != "module":
            raise NotOffered("flax.nnx has no functional dropout: Dropout is a module holding its random stream")
        if not self.compiled:
            return _make(call.grad)
        # The module is an argument, so one trace serves every op, p and rank (nnx.jit keys on its graph).
        return jitted((FRAMEWORK, call.grad), lambda: _make(call.grad), nnx.jit)


def make_adapter() -> Adapter:
    return JaxAdapter(FRAMEWORK, flax.__version__, OPS, NnxSession)
