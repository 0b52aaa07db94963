"""MLX adapter: mlx.nn.Dropout, Dropout2d and Dropout3d (channels-last).

MLX offers dropout only as modules, so the "functional" form is NotOffered rather than
quietly served by the module. Randomness comes from MLX's global key (mx.random.seed at
session open). Compiled mode runs the module under mx.compile with mx.random.state as a
captured input *and* output: without it the key is baked into the graph as a constant and
every call returns the same mask (tests/test_adapters.py shows that pitfall).
"""
from __future__ import annotations

FRAMEWORK = "mlx"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = 'pip install "mlx[cpu]"'

from typing import Callable, ContextManager

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from conformance.adapter_kit import AdapterSession, Forward
from conformance.api import Adapter, Call, Device, NotOffered, Session
from conformance.arrays import dtype_name

MODULES: dict[str, type[nn.Module]] = {
    "dropout": nn.Dropout, "dropout2d": nn.Dropout2d, "dropout3d": nn.Dropout3d,
}
DTYPES = {"float16": mx.float16, "bfloat16": mx.bfloat16, "float32": mx.float32,
          "float64": mx.float64, "int32": mx.int32, "int64": mx.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def _module(call: Call) -> nn.Module:
    """The module under test; constructing it validates p (MLX raises ValueError outside [0, 1))."""
    module = MODULES[call.op](p=call.p)
    module.train(call.training)
    return module


def _forward(module: nn.Module, grad: bool) -> Callable:
    """x -> (y, dy/dx of sum(y) or None), both from one forward pass."""
    if not grad:
        return lambda x: (module(x), None)

    def loss(x: mx.array) -> tuple[mx.array, mx.array]:
        y = module(x)
        return y.sum(), y

    value_and_grad = mx.value_and_grad(loss)

    def run(x: mx.array) -> tuple[mx.array, mx.array]:
        (_, y), dx = value_and_grad(x)
        return y, dx
    return run


_COMPILED: dict[tuple, Callable] = {}  # one traced graph per device and call kind, kept across sessions


def _compiled(call: Call, device: mx.Device) -> Callable:
    key = (str(device), call.op, call.p, call.training, call.grad)
    if key not in _COMPILED:
        fn = _forward(_module(call), call.grad)
        # The random key is state: pass it in and out, or the graph reuses one mask forever.
        _COMPILED[key] = mx.compile(fn, inputs=mx.random.state, outputs=mx.random.state)
    return _COMPILED[key]


class MLXSession(AdapterSession):
    def __init__(self, device: Device, mode: str, seed: int):
        self.device = mx.Device(mx.cpu if device.kind == "cpu" else mx.gpu, device.index)
        self.mode = mode
        mx.random.seed(seed)  # MLX's one global key

    def scope(self, call: Call) -> ContextManager:
        return mx.stream(self.device)

    def tensor(self, x: np.ndarray) -> mx.array:
        # Explicit dtype: mx.array(float64 ndarray) would silently give float32.
        return mx.array(x, dtype=DTYPES[dtype_name(x)])

    def array(self, t: mx.array) -> np.ndarray:
        return np.array(t)

    def cast(self, t: mx.array, dtype: str) -> mx.array:
        return t.astype(DTYPES[dtype])

    def dtype_of(self, t: mx.array) -> str:
        return NAMES.get(t.dtype, str(t.dtype))

    def build(self, call: Call) -> Forward:
        if call.form != "module":
            raise NotOffered("MLX offers dropout only as modules (mlx.nn), no functional form")
        if call.inplace:
            raise NotOffered("MLX arrays are immutable: there is no in-place dropout")
        fn = _compiled(call, self.device) if self.mode == "compiled" else _forward(_module(call), call.grad)

        def forward(x: mx.array) -> tuple[mx.array, mx.array | None]:
            y, dx = fn(x)
            mx.eval(y, *(() if dx is None else (dx,)))  # MLX is lazy: run it inside the warning capture
            return y, dx
        return forward


def _device_name(device: mx.Device) -> str:
    info = mx.device_info(device)
    return str(info.get("device_name") or info.get("architecture") or device)


def _gpu_backend() -> str | None:
    if mx.metal.is_available():
        return "metal"
    cuda = getattr(mx, "cuda", None)  # MLX's CUDA backend (Linux builds with mlx[cuda])
    return "cuda" if cuda is not None and cuda.is_available() else None


class MLXAdapter(Adapter):
    name = "mlx"
    layout = "channels_last"
    seeding_paths = ("global",)  # no seed or generator argument on its dropout

    def version(self) -> str:
        return mx.__version__

    def devices(self) -> list[Device]:
        found = [Device(kind="cpu", name=_device_name(mx.Device(mx.cpu, 0)), backend="native")]
        backend = _gpu_backend()
        if backend is not None:
            found += [Device(kind="gpu", name=_device_name(mx.Device(mx.gpu, i)), backend=backend, index=i)
                      for i in range(mx.device_count(mx.gpu))]
        return found

    def modes(self) -> tuple[str, ...]:
        return ("eager", "compiled")

    def ops(self) -> tuple[str, ...]:
        return tuple(MODULES)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return MLXSession(device, mode, seed)


def make_adapter() -> Adapter:
    return MLXAdapter()
