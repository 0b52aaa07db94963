"""Flax linen: `flax.linen.Dropout(rate, broadcast_dims=...)`, applied with an explicit key.

linen modules are stateless: `Dropout(rate).apply({}, x, deterministic=..., rngs={"dropout": key})`
with a fresh key split from the session's on every call. Flax has no dropout1d/2d/3d: channel dropout is
the same layer with `broadcast_dims` set to the spatial axes of channels-last (N, *spatial, C)
(jax_support.channel_broadcast_dims), the recipe Flax documents. linen has no functional dropout.
Compiled: jax.jit with the key as an argument, so every call draws a fresh mask.
"""
from __future__ import annotations

FRAMEWORK = "flax-linen"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install jax flax"

from typing import Callable

import flax
import jax
from flax import linen

from adapters.jax_support import (JaxAdapter, JaxSession, channel_broadcast_dims, jitted,
                                  with_grad, without_grad)
from conformance.api import Adapter, Call, NotOffered

OPS = ("dropout", "dropout1d", "dropout2d", "dropout3d")


def _apply(call: Call, ndim: int) -> Callable:
    layer = linen.Dropout(call.p, broadcast_dims=channel_broadcast_dims(call.op, ndim))
    return lambda key, x: layer.apply({}, x, deterministic=not call.training, rngs={"dropout": key})


class LinenSession(JaxSession):
    def function(self, call: Call) -> Callable:
        if call.form != "module":
            raise NotOffered("flax.linen has no functional dropout: Dropout is a module, applied with a key")
        ndim = call.x.ndim

        def make() -> Callable:
            fn = _apply(call, ndim)
            return with_grad(fn, jax.value_and_grad) if call.grad else without_grad(fn)
        if not self.compiled:
            return make()
        return jitted((FRAMEWORK, call.grad, call.op, call.p, call.training, ndim), make, jax.jit)


def make_adapter() -> Adapter:
    return JaxAdapter(FRAMEWORK, flax.__version__, OPS, LinenSession)
