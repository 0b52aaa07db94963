"""TensorFlow adapter: tf.keras.layers (module form) and tf.nn.dropout (functional form).

TensorFlow's layer API is Keras 3 on the TensorFlow backend, so the module form is
adapters.keras_adapter's (tf.keras.layers.Dropout, SpatialDropout1D/2D/3D, AlphaDropout,
channels_last). The functional form is TensorFlow's own tf.nn.dropout; the channel variants
use its documented `noise_shape` recipe ("useful for dropping whole channels"), one decision
per (sample, channel). tf.nn.dropout has no training flag and draws from TensorFlow's global
seed (tf.random.set_seed, reset when a session opens).
"""
from __future__ import annotations

FRAMEWORK = "tensorflow"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install tensorflow-cpu"

import os
from typing import Any, Callable

os.environ["KERAS_BACKEND"] = "tensorflow"  # tf.keras is Keras 3 on this backend

import tensorflow as tf  # noqa: E402

from adapters.keras_adapter import CHANNEL_OPS, KerasAdapter, KerasSession  # noqa: E402
from conformance.api import Adapter, Call, NotOffered  # noqa: E402
from conformance.arrays import channel_noise_shape  # noqa: E402


class TensorFlowSession(KerasSession):
    def __init__(self, seed: int):
        super().__init__(seed)
        tf.random.set_seed(seed)  # global seed: also restarts tf.nn.dropout's op-seed counter

    def functional(self, call: Call) -> Callable[[Any], Any]:
        if call.op not in ("dropout", *CHANNEL_OPS):
            raise NotOffered(f"tf.nn has no function for {call.op}")
        if not call.training:
            raise NotOffered("tf.nn.dropout has no training flag (eval means not calling it)")
        if call.op == "dropout":
            return lambda x: tf.nn.dropout(x, rate=call.p)
        return lambda x: tf.nn.dropout(x, rate=call.p, noise_shape=channel_noise_shape(tuple(x.shape),
                                                                                        "channels_last"))


class TensorFlowAdapter(KerasAdapter):
    session_class = TensorFlowSession

    def __init__(self) -> None:
        super().__init__("tensorflow")

    def version(self) -> str:
        return tf.__version__


def make_adapter() -> Adapter:
    return TensorFlowAdapter()
