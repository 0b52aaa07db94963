"""Keras 3 on the OpenVINO backend: the keras-openvino framework (built on adapters.keras_adapter).

The OpenVINO backend is inference only ("This is inference-only backend", keras-team/keras#19727;
Keras's README: "OpenVINO (for inference-only)"). Paths below are in keras/src of Keras 3.15.1.

What it runs, and what it does not:
- Eager mode: the layers and keras.random.dropout as on every backend. Each op adds an OpenVINO node to
  a graph of constants (backend/openvino/core.py, OpenVINOKerasTensor), which convert_to_numpy compiles
  and runs on "CPU" with INFERENCE_PRECISION_HINT f32 (core.py:896-957). Training-mode dropout does run:
  backend/openvino/random.py:215-290 builds it from OpenVINO's RandomUniform, seeded with the two
  halves of Keras's seed (random.py:_random_uniform, :47-69). So training mode is observed, not refused.
  The session evaluates every new result inside the call (AdapterSession: a lazy framework finishes its
  work in the forward), keeping the very input object when Keras returns it (eval mode).
- Gradients: not offered. The backend has no automatic differentiation: `custom_gradient` is a
  pass-through because "OpenVINO is an inference-only backend" (core.py:1818-1838), and `fit` and
  `train_on_batch` raise NotImplementedError (backend/openvino/trainer.py:234, :358).
- Compiled mode: what Keras compiles on this backend, the OpenVINO trainer's predict/evaluate step:
  `_get_compiled_model` traces the model on OpenVINO parameters with training=False, builds an
  ov.Model and ov.compile_model()s it for get_device() (trainer.py:141-190), run here through
  `Sequential([layer]).predict_on_batch(x)`, as a user's `model.predict` runs it. It compiles with
  OpenVINO's default INFERENCE_PRECISION_HINT (bf16 on a CPU with AVX512-BF16, this machine's),
  not the f32 the eager path asks for. Training-mode calls are not offered compiled: the trainer only
  ever traces with training=False, and fitting raises NotImplementedError (trainer.py:234, :358);
  keras.random.dropout has no training flag, so its functional form is never in a compiled model.
- Devices: OpenVINO's own (openvino.Core().available_devices) are listed in `ov_devices()`, but Keras's
  backend runs everything on get_device(), hard-coded to "CPU" (core.py:785-786; device_scope is a no-op,
  core.py:780-783), so the CPU is the only target Keras can run on.
"""
from __future__ import annotations

FRAMEWORK = "keras-openvino"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install keras openvino"

import os

os.environ["KERAS_BACKEND"] = "openvino"  # read once, when keras is first imported

from typing import Any  # noqa: E402

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import openvino  # noqa: E402

from adapters.keras_adapter import LAYERS, KerasAdapter, KerasSession, keras  # noqa: E402
from conformance.adapter_kit import Forward  # noqa: E402
from conformance.api import Adapter, Call, Device, NotOffered, Session  # noqa: E402

NO_GRADIENTS = ("Keras's OpenVINO backend is inference only: it has no gradients (custom_gradient is a "
                "pass-through, keras/src/backend/openvino/core.py:1818-1838; fit and train_on_batch raise "
                "NotImplementedError, backend/openvino/trainer.py:234, :358)")
NOT_COMPILED_TRAINING = ("Keras's OpenVINO trainer compiles a model only for predict/evaluate, traced with "
                         "training=False (keras/src/backend/openvino/trainer.py _get_compiled_model); fit "
                         "and train_on_batch raise NotImplementedError (trainer.py:234, :358)")
NOT_COMPILED_FUNCTIONAL = ("keras.random.dropout has no training flag and Keras's OpenVINO trainer compiles only "
                           "inference (training=False) graphs (keras/src/backend/openvino/trainer.py "
                           "_get_compiled_model): a compiled model never runs it")


def ov_devices() -> list[str]:
    """Every device OpenVINO sees here ("CPU", "GPU.0", "NPU", ...)."""
    return list(openvino.Core().available_devices)


def keras_device() -> str:
    """The one device Keras's OpenVINO backend runs on (core.py get_device(): always "CPU")."""
    from keras.src.backend.openvino.core import get_device
    return get_device()


def _materialize(y: Any) -> Any:
    """`y` evaluated now: an OpenVINO constant holding its values (convert_to_numpy compiles and runs the
    lazy graph, core.py:896-957); a constant already is one."""
    return keras.ops.convert_to_tensor(keras.ops.convert_to_numpy(y), dtype=y.dtype)


class OpenVINOKerasSession(KerasSession):
    def tensor(self, x: np.ndarray) -> Any:
        return keras.ops.convert_to_tensor(x)  # an OpenVINO Constant node holding a copy of x

    def build(self, call: Call) -> Forward:
        if call.grad:
            raise NotOffered(NO_GRADIENTS)
        forward = super().build(call)  # in-place refused, a seed drawn, the layer or function built

        def evaluated(x: Any) -> tuple[Any, None]:
            y, _ = forward(x)
            return (y if y is x else _materialize(y)), None
        return evaluated

    def compiled_forward(self, call: Call, seed: int | None) -> Forward:
        if call.form == "functional":
            raise NotOffered(NOT_COMPILED_FUNCTIONAL)
        if call.training:
            raise NotOffered(NOT_COMPILED_TRAINING)
        layer = LAYERS[call.op](call.p, seed=seed)
        # A model whose Input has the data's dtype and shape, batch size left open as the trainer leaves it
        # (trainer.py _parameterize_data): a bare Sequential would build a float32 Input and cast to it.
        dtype = "bfloat16" if call.x.dtype == ml_dtypes.bfloat16 else call.x.dtype.name
        inputs = keras.Input(batch_shape=(None, *call.x.shape[1:]), dtype=dtype)
        model = keras.Model(inputs, layer(inputs))

        def forward(x: Any) -> tuple[Any, None]:
            # predict_on_batch: OpenVINOTrainer.predict_step -> _get_compiled_model (trainer.py:66-78,
            # :141-190, :370-376), its output NumPy as Keras returns it.
            y = model.predict_on_batch(keras.ops.convert_to_numpy(x))
            return keras.ops.convert_to_tensor(y), None
        return forward


class OpenVINOKerasAdapter(KerasAdapter):
    session_class = OpenVINOKerasSession

    def devices(self) -> list[Device]:
        device = keras_device()
        if device not in ov_devices():
            return []
        name = openvino.Core().get_property(device, "FULL_DEVICE_NAME")
        return [Device(kind="cpu", name=str(name), backend="openvino")]

    def modes(self) -> tuple[str, ...]:
        return ("eager", "compiled")

    def version(self) -> str:
        return keras.__version__  # the Keras release: expectations' `version:` conditions are on Keras

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return self.session_class(seed, compiled=mode == "compiled")


def make_adapter() -> Adapter:
    if keras.backend.backend() != "openvino":
        raise ImportError(f"keras was already imported with backend {keras.backend.backend()!r}, "
                          f"not 'openvino'; run each keras backend in its own process")
    return OpenVINOKerasAdapter()
