"""tinygrad adapter: `Tensor.dropout(p)`, active inside `Context(TRAINING=1)`.

tinygrad offers one dropout, element-wise, as a Tensor method (tinygrad.nn has no Dropout
module): both the module and the functional form map to it, and the channel, alpha and
feature-alpha variants are not offered. Seeding is global (`Tensor.manual_seed`). The CPU
device compiles kernels with clang; without clang the pure-Python interpreter device is used.
"""
from __future__ import annotations

import platform
import shutil
from importlib.metadata import version as dist_version

import numpy as np
from tinygrad import Tensor, dtypes
from tinygrad.helpers import Context

from conformance.api import Adapter, Call, Device, NotOffered, Output, Session
from conformance.adapter_kit import with_warnings
from conformance.arrays import cast, dtype_name, same_values, via_float32

DTYPES = {dtypes.float16: "float16", dtypes.bfloat16: "bfloat16", dtypes.float32: "float32",
          dtypes.float64: "float64", dtypes.int32: "int32", dtypes.int64: "int64"}


def _to_tiny(x: np.ndarray, device: str, grad: bool) -> Tensor:
    t = Tensor(np.ascontiguousarray(via_float32(x)), device=device)
    if dtype_name(x) == "bfloat16":
        t = t.cast(dtypes.bfloat16)
    if grad:
        t.requires_grad = True
    return t


def _to_numpy(t: Tensor) -> np.ndarray:
    if t.dtype == dtypes.bfloat16:
        return cast(t.cast(dtypes.float32).numpy(), "bfloat16")
    return t.numpy().copy()


class TinygradSession(Session):
    def __init__(self, device: str, seed: int):
        self.device = device
        Tensor.manual_seed(seed)  # global generator

    def call(self, call: Call) -> Output:
        if call.op != "dropout":
            raise NotOffered(f"tinygrad has no {call.op} (only element-wise Tensor.dropout)")
        if call.inplace:
            raise NotOffered("tinygrad has no in-place dropout")
        x = _to_tiny(call.x, self.device, call.grad)
        before = _to_numpy(x)

        def forward() -> tuple[Tensor, np.ndarray, np.ndarray | None]:
            with Context(TRAINING=int(call.training)):
                y = x.dropout(call.p)
                y_np = _to_numpy(y)  # realise inside the context
                if not call.grad:
                    return y, y_np, None
                y.sum().backward()
                return y, y_np, _to_numpy(x.grad)

        (y, y_np, grad), caught = with_warnings(forward)
        return Output(y=y_np, dtype=DTYPES.get(y.dtype, str(y.dtype)), same_object=y is x,
                      input_modified=not same_values(before, _to_numpy(x)), grad=grad, warnings=caught)


class TinygradAdapter(Adapter):
    name = "tinygrad"
    layout = "channels_first"

    def version(self) -> str:
        return dist_version("tinygrad")

    def devices(self) -> list[Device]:
        if shutil.which("clang"):
            return [Device(kind="cpu", name=platform.machine() or "cpu", backend="clang")]
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend="python")]

    def ops(self) -> tuple[str, ...]:
        return ("dropout",)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return TinygradSession("CPU" if device.backend == "clang" else "PYTHON", seed)


def make_adapter() -> Adapter:
    return TinygradAdapter()
