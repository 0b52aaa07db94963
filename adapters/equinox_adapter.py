"""Equinox: `equinox.nn.Dropout(p, inference=...)`, called with an explicit key.

Equinox modules are pytrees: `Dropout(p, inference=not training)(x, key=key)`, with a fresh key split from
the session's on every call. The training flag is the module's `inference` field (what
`equinox.nn.inference_mode` toggles; a call's `inference=` argument overrides it). Equinox has only this
module: no functional dropout and no channel variants (equinox/nn/_dropout.py defines Dropout alone), so
the op is "dropout" and the functional form is not offered. Compiled: `equinox.filter_jit` of a function
taking the module and the key, as Equinox code is written: the module's p and inference are Python values,
so filter_jit treats them as static (one trace per p and flag), and the key is traced, so every call draws
a fresh mask. Gradients: jax.value_and_grad with respect to x (equinox.filter_value_and_grad differentiates
the first argument only, which here is the module).
"""
from __future__ import annotations

FRAMEWORK = "equinox"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install jax equinox"

from typing import Any, Callable

import equinox as eqx
import jax

from adapters.jax_support import JaxAdapter, JaxSession, jitted, with_grad, without_grad
from conformance.api import Adapter, Call, NotOffered

OPS = ("dropout",)


def _call_module(state: tuple[eqx.nn.Dropout, jax.Array], x: jax.Array) -> jax.Array:
    module, key = state
    return module(x, key=key)


def _make(grad: bool) -> Callable:
    return with_grad(_call_module, jax.value_and_grad) if grad else without_grad(_call_module)


class EquinoxSession(JaxSession):
    def state(self, call: Call) -> Any:
        return eqx.nn.Dropout(call.p, inference=not call.training), self.next_key()

    def function(self, call: Call) -> Callable:
        if call.form != "module":
            raise NotOffered("Equinox has no functional dropout: equinox.nn.Dropout is a module, called with a key")
        if not self.compiled:
            return _make(call.grad)
        # The module is an argument: filter_jit keys its traces on the module's static fields (p, inference).
        return jitted((FRAMEWORK, call.grad), lambda: _make(call.grad), eqx.filter_jit)


def make_adapter() -> Adapter:
    return JaxAdapter(FRAMEWORK, eqx.__version__, OPS, EquinoxSession)
