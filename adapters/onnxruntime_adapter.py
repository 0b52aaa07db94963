"""ONNX Runtime adapter: the ONNX `Dropout` operator (opset 22) with its `training_mode` input.

ONNX has one dropout operator, element-wise; there is no channel, alpha or feature-alpha
variant in the ONNX operator set, so those ops are not offered. A one-node model is built per
input dtype; its `seed` attribute is the session seed, and the runtime's generator advances
from run to run, so successive calls draw fresh masks. Module and functional forms are the
same node (ONNX has no such distinction); ONNX Runtime is an inference runtime here, so no
gradient and no in-place variant.
"""
from __future__ import annotations

FRAMEWORK = "onnxruntime"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install onnxruntime onnx"

import platform

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from conformance.adapter_kit import AdapterSession, Forward
from conformance.api import Adapter, Call, Device, NotOffered, Session
from conformance.arrays import dtype_name

OPSET = 22
ELEM_TYPES = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16,
              "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
              "int32": TensorProto.INT32, "int64": TensorProto.INT64}


def dropout_model(elem_type: int, seed: int) -> bytes:
    """A one-node model: (x, ratio, training_mode) -> Dropout -> (y, mask)."""
    node = helper.make_node("Dropout", ["x", "ratio", "training_mode"], ["y", "mask"], seed=seed)
    graph = helper.make_graph(
        [node], "dropout",
        [helper.make_tensor_value_info("x", elem_type, None),
         helper.make_tensor_value_info("ratio", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("training_mode", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", elem_type, None),
         helper.make_tensor_value_info("mask", TensorProto.BOOL, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10  # IR version every current runtime reads
    return model.SerializeToString()


class OrtSession(AdapterSession):
    def __init__(self, seed: int):
        self.seed = seed
        self.sessions: dict[str, ort.InferenceSession] = {}  # one model per dtype

    def _session(self, dtype: str) -> ort.InferenceSession:
        if dtype not in self.sessions:
            options = ort.SessionOptions()
            options.log_severity_level = 4  # errors come back as exceptions, not as log spam
            self.sessions[dtype] = ort.InferenceSession(
                dropout_model(ELEM_TYPES[dtype], self.seed), options, providers=["CPUExecutionProvider"])
        return self.sessions[dtype]

    def to_native(self, x: np.ndarray, grad: bool) -> np.ndarray:
        return np.ascontiguousarray(x)  # the runtime takes NumPy arrays, bfloat16 included

    def to_numpy(self, t: np.ndarray) -> np.ndarray:
        return np.array(t)

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("ONNX Runtime has no in-place dropout")
        if call.grad:
            raise NotOffered("the onnxruntime package runs inference graphs: no gradient")
        inputs = {"ratio": np.array(call.p, np.float32), "training_mode": np.array(call.training)}

        def forward(x: np.ndarray) -> tuple[np.ndarray, None]:
            y, _mask = self._session(dtype_name(x)).run(None, {"x": x, **inputs})
            return y, None
        return forward


class OnnxRuntimeAdapter(Adapter):
    name = "onnxruntime"
    layout = "channels_first"

    def version(self) -> str:
        return ort.__version__

    def devices(self) -> list[Device]:
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend="native")]

    def ops(self) -> tuple[str, ...]:
        return ("dropout",)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return OrtSession(seed)


def make_adapter() -> Adapter:
    return OnnxRuntimeAdapter()
