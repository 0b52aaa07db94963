"""tinygrad adapter: `Tensor.dropout(p)`, active inside `Context(TRAINING=1)`.

tinygrad offers one dropout, element-wise, as a Tensor method (tinygrad.nn has no Dropout
module): both the module and the functional form map to it, and the channel, alpha and
feature-alpha variants are not offered. Seeding is global (`Tensor.manual_seed`). The CPU
device compiles kernels with clang; without clang the pure-Python interpreter device is used.
"""
from __future__ import annotations

FRAMEWORK = "tinygrad"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install tinygrad"

import platform
import shutil
from importlib.metadata import version as dist_version
from typing import ContextManager

import numpy as np
from tinygrad import Tensor, dtypes
from tinygrad.helpers import Context

from conformance.adapter_kit import AdapterSession, Forward
from conformance.api import Adapter, Call, Device, NotOffered, Session

DTYPES = {dtypes.float16: "float16", dtypes.bfloat16: "bfloat16", dtypes.float32: "float32",
          dtypes.float64: "float64", dtypes.int32: "int32", dtypes.int64: "int64"}


class TinygradSession(AdapterSession):
    def __init__(self, device: str, seed: int):
        self.device = device
        Tensor.manual_seed(seed)  # global generator

    def scope(self, call: Call) -> ContextManager:
        return Context(TRAINING=int(call.training))  # Tensor.dropout is the identity outside training

    def tensor(self, x: np.ndarray) -> Tensor:
        return Tensor(x, device=self.device)

    def array(self, t: Tensor) -> np.ndarray:
        return t.numpy().copy()

    def cast(self, t: Tensor, dtype: str) -> Tensor:
        return t.cast(getattr(dtypes, dtype))

    def dtype_of(self, t: Tensor) -> str:
        return DTYPES.get(t.dtype, str(t.dtype))

    def watch(self, t: Tensor) -> Tensor:
        t.requires_grad = True
        return t

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("tinygrad has no in-place dropout")

        def forward(x: Tensor) -> tuple[Tensor, Tensor | None]:
            y = x.dropout(call.p).realize()  # tinygrad is lazy: run it inside the warning capture
            if not call.grad:
                return y, None
            y.sum().backward()
            return y, x.grad.realize()
        return forward


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
