"""Keras 3 adapter, one execution target per backend: keras-jax, keras-torch (and the
`tensorflow` adapter, which builds on this one for tf.keras).

Keras reads its backend once, from KERAS_BACKEND, when it is first imported; the thin modules
keras_jax_adapter / keras_torch_adapter set it before importing this one. The engine runs each
framework name in its own process, so the backends never meet.

Module form: keras.layers.Dropout, SpatialDropout1D/2D/3D (channels_last, Keras's default
image_data_format) and AlphaDropout. Functional form: keras.random.dropout, with the
channel-dropout `noise_shape` recipe for the spatial variants; it has no training flag (eval
is "do not call it"), so functional eval is not offered. Keras has no feature alpha dropout.
Keras seeds per layer / per call: every call gets a fresh seed from the session's SeedStream.
"""
from __future__ import annotations

import os
import platform
from typing import Any, Callable

import numpy as np

BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402  (KERAS_BACKEND must be set first)

from conformance.adapter_kit import AdapterSession, Forward, SeedStream  # noqa: E402
from conformance.api import Adapter, Call, Device, NotOffered, Session  # noqa: E402
from conformance.arrays import channel_noise_shape  # noqa: E402

LAYERS = {
    "dropout": keras.layers.Dropout, "dropout1d": keras.layers.SpatialDropout1D,
    "dropout2d": keras.layers.SpatialDropout2D, "dropout3d": keras.layers.SpatialDropout3D,
    "alpha_dropout": keras.layers.AlphaDropout,
}
CHANNEL_OPS = ("dropout1d", "dropout2d", "dropout3d")


def _grad_jax(fn: Callable, x: Any) -> tuple[Any, Any]:
    import jax
    y, pullback = jax.vjp(fn, x)
    return y, pullback(keras.ops.ones_like(y))[0]


def _grad_torch(fn: Callable, x: Any) -> tuple[Any, Any]:
    x = x.detach().requires_grad_(True)
    y = fn(x)
    y.sum().backward()
    return y, x.grad


def _grad_tensorflow(fn: Callable, x: Any) -> tuple[Any, Any]:
    import tensorflow as tf
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return y, tape.gradient(y, x)  # the gradient of sum(y): unit upstream gradient


# Output and d(sum y)/dx from one forward pass (one mask), per backend.
GRADIENTS = {"jax": _grad_jax, "torch": _grad_torch, "tensorflow": _grad_tensorflow}


class KerasSession(AdapterSession):
    def __init__(self, seed: int):
        self.seeds = SeedStream(seed)

    def tensor(self, x: np.ndarray) -> Any:
        return keras.ops.convert_to_tensor(x)

    def array(self, t: Any) -> np.ndarray:
        return np.array(keras.ops.convert_to_numpy(t))

    def cast(self, t: Any, dtype: str) -> Any:
        return keras.ops.cast(t, dtype)

    def dtype_of(self, t: Any) -> str:
        return keras.backend.standardize_dtype(t.dtype)

    def module(self, call: Call) -> Callable[[Any], Any]:
        layer = LAYERS[call.op](call.p, seed=self.seeds.next())
        return lambda x: layer(x, training=call.training)

    def functional(self, call: Call) -> Callable[[Any], Any]:
        if call.op not in ("dropout", *CHANNEL_OPS):
            raise NotOffered(f"keras.random has no function for {call.op}")
        if not call.training:
            raise NotOffered("keras.random.dropout has no training flag (eval means not calling it)")
        seed = self.seeds.next()
        noise = (lambda x: channel_noise_shape(tuple(x.shape), "channels_last")) \
            if call.op in CHANNEL_OPS else (lambda x: None)
        return lambda x: keras.random.dropout(x, call.p, noise_shape=noise(x), seed=seed)

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("Keras has no in-place dropout")
        fn = self.module(call) if call.form == "module" else self.functional(call)
        if call.grad:
            return lambda x: GRADIENTS[keras.backend.backend()](fn, x)
        return lambda x: (fn(x), None)


class KerasAdapter(Adapter):
    layout = "channels_last"
    session_class: type[KerasSession] = KerasSession

    def __init__(self, name: str | None = None):
        self.name = name or f"keras-{keras.backend.backend()}"

    def version(self) -> str:
        return keras.__version__

    def devices(self) -> list[Device]:
        # CPU only: the suite pins CPU wheels; a GPU build would list its devices here.
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend=keras.backend.backend())]

    def ops(self) -> tuple[str, ...]:
        return tuple(LAYERS)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return self.session_class(seed)


def make_adapter(expected_backend: str | None = None) -> Adapter:
    """The adapter for the backend Keras loaded; refuses a backend other than the one asked for."""
    if expected_backend and keras.backend.backend() != expected_backend:
        raise ImportError(f"keras was already imported with backend {keras.backend.backend()!r}, "
                          f"not {expected_backend!r}; run each keras backend in its own process")
    return KerasAdapter()
