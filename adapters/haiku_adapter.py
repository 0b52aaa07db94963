"""Haiku: `haiku.dropout(rng, rate, x)`, a plain function of an explicit key.

`hk.dropout(key, rate, x, broadcast_dims=())` with a fresh key split from the session's on every call. It
needs no `hk.transform`: it reads no Haiku state, only the key it is given (haiku/_src/basic.py, dropout and
dropout_impl). Haiku has no Dropout module, so only the functional form is offered, and no training flag:
Haiku code calls hk.dropout only when training, so eval (training=False) is not offered either. Haiku
documents no channel dropout: broadcast_dims could build one (Flax's recipe), but that would test this
adapter's recipe, not a Haiku op, so the op is "dropout" alone. Compiled: jax.jit with the key as an
argument and the rate a Python constant (hk.dropout validates it at trace time).
"""
from __future__ import annotations

FRAMEWORK = "haiku"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install jax dm-haiku"

from typing import Callable

import haiku as hk
import jax

from adapters.jax_support import JaxAdapter, JaxSession, jitted, with_grad, without_grad
from conformance.api import Adapter, Call, NotOffered

OPS = ("dropout",)


def _dropout(rate: float) -> Callable:
    return lambda key, x: hk.dropout(key, rate, x)


class HaikuSession(JaxSession):
    def function(self, call: Call) -> Callable:
        if call.form != "functional":
            raise NotOffered("Haiku has no Dropout module: dropout is the function hk.dropout(rng, rate, x)")
        if not call.training:
            raise NotOffered("hk.dropout has no training flag (eval means not calling it)")

        def make() -> Callable:
            fn = _dropout(call.p)
            return with_grad(fn, jax.value_and_grad) if call.grad else without_grad(fn)
        if not self.compiled:
            return make()
        return jitted((FRAMEWORK, call.grad, call.p), make, jax.jit)


def make_adapter() -> Adapter:
    return JaxAdapter(FRAMEWORK, hk.__version__, OPS, HaikuSession,
                      default_form="functional")  # specs without a form axis call hk.dropout
