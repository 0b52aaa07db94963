"""Keras 3 adapter, one execution target per backend: keras-jax, keras-torch (and the
`tensorflow` adapter, which builds on this one for tf.keras).

Keras reads its backend once, from KERAS_BACKEND, when it is first imported; the thin modules
keras_jax_adapter / keras_torch_adapter set it before importing this one. The engine runs each
framework name in its own process, so the backends never meet.

Module form: keras.layers.Dropout, SpatialDropout1D/2D/3D (channels_last, Keras's default
image_data_format) and AlphaDropout. Functional form: keras.random.dropout, with the
channel-dropout `noise_shape` recipe for the spatial variants; it has no training flag (eval
is "do not call it"), so functional eval is not offered. Keras has no feature alpha dropout.

Seeding paths (paths in keras/src of Keras 3.15):
- "explicit" (the usual one, and the only one before): every call builds `Dropout(rate, seed=<int>)`
  or calls `keras.random.dropout(..., seed=<int>)` with a fresh int from the session's SeedStream.
- "global": `Dropout(rate)` / `keras.random.dropout(..., seed=None)`, after
  `keras.utils.set_random_seed(session seed)` when the session opens. A layer without a seed seeds its
  own SeedGenerator from Python's `random` (random/seed_generator.py:76-77, :145-146), which
  set_random_seed seeds (utils/rng_utils.py:63); keras.random.dropout(seed=None) draws from the global
  SeedGenerator, which set_random_seed drops so that it is rebuilt from that seed
  (utils/rng_utils.py:59-62, random/seed_generator.py:121-142). Both are reproducible per session
  seed. On torch, unseeded element-wise dropout is torch's own F.dropout on torch's global generator
  (backend/torch/random.py:144-173), which set_random_seed seeds with torch.manual_seed
  (utils/rng_utils.py:67-70); with a noise_shape (the channel ops) it still draws through a
  SeedGenerator. Compiled on jax, keras.random.dropout(seed=None) is not offered: Keras documents the
  global SeedGenerator as unsupported under JAX tracing (random/seed_generator.py:32-35, the "Remark
  concerning the JAX backend" in keras.random's docstrings, e.g. random/random.py:201-204) and raises a
  ValueError there (random/seed_generator.py:121-137).

Modes: "compiled" is what `jit_compile=True` means to Keras's trainer on the backend: jax.jit of a
stateless step whose state, seed state included, goes in as an argument (backend/jax/trainer.py:56,
:275-279); torch.compile with its defaults, i.e. inductor (backend/torch/trainer.py:127-128,
trainers/trainer.py:134-136); tf.function on TensorFlow (backend/tensorflow/trainer.py:143-147), see
adapters/tensorflow_adapter.py for which flavour. A layer's randomness lives in its SeedGenerator's
state variable (random/seed_generator.py:88-96, advanced by next(): :98-111), so the compiled callable
runs the layer inside `keras.StatelessScope` with that state as an argument, as Layer.stateless_call
does (layers/layer.py:1174-1189) but through `layer(x)` itself, keeping __call__'s input checks and
dtype autocasting. One compiled callable per (op, form, p, training, grad, seeding, rank) serves every call:
each call's fresh layer (or SeedGenerator) hands over its initial state, so a call draws exactly what
the same fresh layer would draw eagerly. keras.random.dropout's explicit seed is compiled the way Keras
documents for traced code, as a SeedGenerator (random/seed_generator.py:19-35): SeedGenerator(s) first
draws [s, 0], the very seed an int s stands for (:84-86, :155-167).
"""
from __future__ import annotations

import os
import platform
import random
import shutil
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402  (KERAS_BACKEND must be set first)

from conformance.adapter_kit import AdapterSession, Forward, SeedStream, cache_dir  # noqa: E402
from conformance.api import Adapter, Call, Device, NotOffered, Session  # noqa: E402
from conformance.arrays import channel_noise_shape  # noqa: E402

LAYERS = {
    "dropout": keras.layers.Dropout, "dropout1d": keras.layers.SpatialDropout1D,
    "dropout2d": keras.layers.SpatialDropout2D, "dropout3d": keras.layers.SpatialDropout3D,
    "alpha_dropout": keras.layers.AlphaDropout,
}
CHANNEL_OPS = ("dropout1d", "dropout2d", "dropout3d")
TEMPLATE_SEED = 0  # a compiled template's own seed: every call replaces its state


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


def _persist_jax_compiles() -> None:
    """Keep every XLA executable on disk, as Keras's docs advise (trainers/trainer.py:136-145) and the jax
    adapter does, under build/cache/ unless the user chose a cache directory: each p is a compile of its
    own under jit (Keras reads rate in Python), eager mode compiles each primitive per shape and dtype,
    and XLA takes seconds over the threefry kernel on CPU."""
    import jax
    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir("jax")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _jax_jit(fn: Callable) -> Callable:
    import jax
    return jax.jit(fn)  # traces again for each new shape and dtype, as the trainer's jit does


def _torch_compile(fn: Callable) -> Callable:
    import torch

    # Inductor's cache folder, quiet logs and one compile thread: the torch adapter's settings.
    from adapters.torch_adapter import RECOMPILE_LIMIT, _load_compiler
    _load_compiler()
    # Each p, dtype and rank is a recompile of the same code; past the default limit of 8 dynamo
    # would silently run the rest eagerly (fullgraph=False, as Keras calls it).
    torch._dynamo.config.recompile_limit = RECOMPILE_LIMIT
    torch._dynamo.config.accumulated_recompile_limit = RECOMPILE_LIMIT
    return torch.compile(fn)


def _tf_function(fn: Callable) -> Callable:
    import tensorflow as tf
    # jit_compile=False: see adapters/tensorflow_adapter.py (Keras's "auto" on a CPU-only machine).
    return tf.function(fn, reduce_retracing=True, jit_compile=False)


COMPILERS: dict[str, Callable[[Callable], Callable]] = {
    "jax": _jax_jit, "torch": _torch_compile, "tensorflow": _tf_function}
# torch differentiates outside the compiled function: autograd runs the backward graph that
# AOTAutograd compiled with the forward (Keras's torch trainer calls loss.backward() the same way).
# jax and TensorFlow differentiate inside it, so y and dy come out of one compiled forward pass.
GRAD_INSIDE = {"jax": True, "torch": False, "tensorflow": True}


@dataclass
class Draw:
    """One call's op: `fn(x)`, which draws its randomness from the Keras `variables` (seed state)."""

    fn: Callable[[Any], Any]
    variables: list


def _with_grad(fn: Callable, grad: bool) -> Callable[[Any], tuple[Any, Any]]:
    """x -> (y, d(sum y)/dx or None), both from one call of fn."""
    if grad:
        return lambda x: GRADIENTS[keras.backend.backend()](fn, x)
    return lambda x: (fn(x), None)


def _stateless(draw: Draw) -> Callable[[list, Any], Any]:
    """(state, x) -> draw.fn(x) with draw.variables reading `state`: the seed state becomes an input."""
    if not draw.variables:
        # No state to hand over (an unseeded keras.random.dropout, tf.nn.dropout): no scope either, as a
        # StatelessScope would also swallow the global SeedGenerator's advance and replay its seed.
        return lambda state, x: draw.fn(x)

    def fn(state: list, x: Any) -> Any:
        with keras.StatelessScope(state_mapping=list(zip(draw.variables, state))):
            return draw.fn(x)
    return fn


def compile_draw(template: Draw, grad: bool) -> Callable[[list, Any], tuple[Any, Any]]:
    """(state, x) -> (y, grad or None), compiled as the backend's jit_compile=True compiles."""
    backend = keras.backend.backend()
    fn, compiler = _stateless(template), COMPILERS[backend]
    if GRAD_INSIDE[backend]:
        return compiler(lambda state, x: _with_grad(lambda x_: fn(state, x_), grad)(x))
    compiled = compiler(fn)
    return lambda state, x: _with_grad(lambda x_: compiled(state, x_), grad)(x)


# Compiled callables live for the whole process, not one session: sessions are opened per test, and
# a template holds no randomness of its own (each call hands over its state).
_COMPILED: dict[tuple, Callable] = {}


def _quietly(make: Callable[[], Draw]) -> Draw:
    """make(), with Python's random state put back: an unseeded template would draw a seed from it,
    and a cold cache must not leave a session a different stream than a warm one."""
    state = random.getstate()
    try:
        return make()
    finally:
        random.setstate(state)


class KerasSession(AdapterSession):
    def __init__(self, seed: int, compiled: bool = False):
        self.seeds = SeedStream(seed)  # "explicit": one seed per call
        self.compiled = compiled
        keras.utils.set_random_seed(seed)  # "global": Python, NumPy, backend and Keras's global state
        if keras.backend.backend() == "jax":
            _persist_jax_compiles()

    def tensor(self, x: np.ndarray) -> Any:
        return keras.ops.convert_to_tensor(x)

    def array(self, t: Any) -> np.ndarray:
        return np.array(keras.ops.convert_to_numpy(t))

    def cast(self, t: Any, dtype: str) -> Any:
        return keras.ops.cast(t, dtype)

    def dtype_of(self, t: Any) -> str:
        return keras.backend.standardize_dtype(t.dtype)

    def module(self, call: Call, seed: int | None) -> Draw:
        layer = LAYERS[call.op](call.p, seed=seed)  # seed None: drawn from Python's random
        return Draw(lambda x: layer(x, training=call.training), layer.non_trainable_variables)

    def functional(self, call: Call, seed: int | None) -> Draw:
        if call.op not in ("dropout", *CHANNEL_OPS):
            raise NotOffered(f"keras.random has no function for {call.op}")
        if not call.training:
            raise NotOffered("keras.random.dropout has no training flag (eval means not calling it)")
        noise = (lambda x: channel_noise_shape(tuple(x.shape), "channels_last")) \
            if call.op in CHANNEL_OPS else (lambda x: None)
        # Compiled, an int seed would be a constant of the trace; a SeedGenerator's state is an input.
        generator = keras.random.SeedGenerator(seed) if self.compiled and seed is not None else None
        chosen = generator or seed
        return Draw(lambda x: keras.random.dropout(x, call.p, noise_shape=noise(x), seed=chosen),
                    [generator.state] if generator else [])

    def draw(self, call: Call, seed: int | None) -> Draw:
        return self.module(call, seed) if call.form == "module" else self.functional(call, seed)

    def cache_for(self, call: Call) -> dict | None:
        """Where the compiled callable for `call` is kept: shared by the whole process, or None where
        each call needs one of its own."""
        return _COMPILED

    def check_compilable(self, call: Call) -> None:
        """Raise NotOffered for what the backend documents as unsupported under compilation."""
        if keras.backend.backend() == "jax" and call.form == "functional" and call.seeding == "global":
            raise NotOffered("Keras documents unseeded random ops as unsupported when tracing a JAX "
                             "function (keras.random docstrings, 'Remark concerning the JAX backend')")

    def compiled_forward(self, call: Call, seed: int | None) -> Forward:
        self.check_compilable(call)
        draw = self.draw(call, seed)
        cache = self.cache_for(call)
        # The rank too, as a model's compiled step has one input rank: tf.function(reduce_retracing=True)
        # relaxes inputs of several ranks to an unknown rank, which Keras's ops.shape refuses.
        key = (call.op, call.form, call.p, call.training, call.grad, call.seeding, call.x.ndim)
        if cache is None:
            fn = compile_draw(draw, call.grad)
        else:
            if key not in cache:
                template_seed = None if seed is None else TEMPLATE_SEED
                cache[key] = compile_draw(_quietly(lambda: self.draw(call, template_seed)), call.grad)
            fn = cache[key]
        state = [v.value for v in draw.variables]
        return lambda x: fn(state, x)

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("Keras has no in-place dropout")
        seed = self.seeds.next() if call.seeding == "explicit" else None
        if self.compiled:
            return self.compiled_forward(call, seed)
        return _with_grad(self.draw(call, seed).fn, call.grad)


class KerasAdapter(Adapter):
    layout = "channels_last"
    seeding_paths = ("explicit", "global")  # explicit first: what the layer results always used
    session_class: type[KerasSession] = KerasSession

    def __init__(self, name: str | None = None):
        self.name = name or f"keras-{keras.backend.backend()}"

    def version(self) -> str:
        return keras.__version__

    def devices(self) -> list[Device]:
        # CPU only: the suite pins CPU wheels; a GPU build would list its devices here.
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend=keras.backend.backend())]

    def modes(self) -> tuple[str, ...]:
        # torch.compile's inductor generates C++ on CPU: without a compiler there is no compiled mode.
        if keras.backend.backend() == "torch" and not (shutil.which("g++") or shutil.which("c++")):
            return ("eager",)
        return ("eager", "compiled")

    def ops(self) -> tuple[str, ...]:
        return tuple(LAYERS)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return self.session_class(seed, compiled=mode == "compiled")


def make_adapter(expected_backend: str | None = None) -> Adapter:
    """The adapter for the backend Keras loaded; refuses a backend other than the one asked for."""
    if expected_backend and keras.backend.backend() != expected_backend:
        raise ImportError(f"keras was already imported with backend {keras.backend.backend()!r}, "
                          f"not {expected_backend!r}; run each keras backend in its own process")
    return KerasAdapter()
