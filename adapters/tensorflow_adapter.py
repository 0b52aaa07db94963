"""TensorFlow adapter: tf.keras.layers (module form) and tf.nn.dropout (functional form).

TensorFlow's layer API is Keras 3 on the TensorFlow backend, so the module form is
adapters.keras_adapter's (tf.keras.layers.Dropout, SpatialDropout1D/2D/3D, AlphaDropout,
channels_last). The functional form is TensorFlow's own tf.nn.dropout; the channel variants
use its documented `noise_shape` recipe ("useful for dropping whole channels"), one decision
per (sample, channel). tf.nn.dropout has no training flag.

Seeding paths: the layers' are adapters.keras_adapter's. tf.nn.dropout's "global" path is seed=None
after tf.random.set_seed(session seed); its "explicit" path passes an op seed (a Python int, fresh per
call from the session's SeedStream) on top of that global seed: TensorFlow documents that the two
together determine the sequence (tf.random.set_seed; tf.nn.dropout's `seed`, ops/nn_ops.py:5504-5505).
The adapter's usual path is the layers' explicit one, so a spec that names none now gives
tf.nn.dropout an op seed too.

"compiled" is tf.function, graph mode the way TensorFlow users compile, for both forms, with
jit_compile=False: that is also what Keras's jit_compile="auto" picks for model.fit on a machine
without accelerators (keras/src/trainers/trainer.py:262-266, then
keras/src/backend/tensorflow/trainer.py:143-147). The gradient is taken with a GradientTape inside
the tf.function, so y and dy come from one traced forward pass. The layers' compiled callables are
shared by every call (keras_adapter.compile_draw). tf.nn.dropout's are not: its seeds are fixed when
the function is traced. An op seed is an attribute of the traced op, so each explicit call traces a
function of its own (about 10 ms). An unseeded op takes its seed from the global seed the function
was traced under (the graph seed), which a later tf.random.set_seed does not change (it only restarts
the stream, by clearing the kernel cache: tensorflow/python/eager/context.py:646-648): a global-path
function serves one session, every call of it drawing on from the same stream.
"""
from __future__ import annotations

FRAMEWORK = "tensorflow"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install tensorflow-cpu"

import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # tf.keras is Keras 3 on this backend

import tensorflow as tf  # noqa: E402

from adapters.keras_adapter import CHANNEL_OPS, Draw, KerasAdapter, KerasSession  # noqa: E402
from conformance.api import Adapter, Call, NotOffered  # noqa: E402
from conformance.arrays import channel_noise_shape  # noqa: E402


class TensorFlowSession(KerasSession):
    # KerasSession.__init__ calls keras.utils.set_random_seed, which calls tf.random.set_seed: the
    # global seed, which also restarts tf.nn.dropout's op-seed counter (keras/src/utils/rng_utils.py:65-66).

    def functional(self, call: Call, seed: int | None) -> Draw:
        if call.op not in ("dropout", *CHANNEL_OPS):
            raise NotOffered(f"tf.nn has no function for {call.op}")
        if not call.training:
            raise NotOffered("tf.nn.dropout has no training flag (eval means not calling it)")
        channels = call.op in CHANNEL_OPS
        return Draw(lambda x: tf.nn.dropout(
            x, rate=call.p, seed=seed,
            noise_shape=channel_noise_shape(tuple(x.shape), "channels_last") if channels else None), [])

    def __init__(self, seed: int, compiled: bool = False):
        super().__init__(seed, compiled)
        self.traced: dict[tuple, object] = {}  # this session's tf.nn.dropout functions

    def cache_for(self, call: Call) -> dict | None:
        if call.form == "module":
            return super().cache_for(call)
        # An op seed is an attribute of the traced op; an unseeded op takes its seed from the global
        # seed the function was traced under (the graph seed), which a later tf.random.set_seed leaves
        # alone: explicit calls trace one function each, global ones one per session.
        return None if call.seeding == "explicit" else self.traced


class TensorFlowAdapter(KerasAdapter):
    session_class = TensorFlowSession

    def __init__(self) -> None:
        super().__init__("tensorflow")

    def version(self) -> str:
        return tf.__version__


def make_adapter() -> Adapter:
    return TensorFlowAdapter()
