"""tinygrad adapter: `Tensor.dropout(p)`, active inside `Context(TRAINING=1)`.

tinygrad offers one dropout, element-wise, as a Tensor method (tinygrad.nn has no Dropout
module): both the module and the functional form map to it, and the channel, alpha and
feature-alpha variants are not offered. Seeding is global (`Tensor.manual_seed`).

tinygrad's CPU device compiles its kernels with `$CC`, default `clang`
(tinygrad/runtime/support/compiler_cpu.py). Without clang tinygrad finds no usable device
("RuntimeError: no usable devices" on the first tensor), so the adapter then reports tinygrad
unavailable, with the install command, instead of listing a CPU that fails every case. The same
holds for a `$CC` that cannot build tinygrad's kernels (gcc rejects its `--target=`): importing the
adapter compiles one tiny kernel, bypassing tinygrad's kernel cache, which would hide the compiler. (The PYTHON
device is an interpreter for debugging tinygrad, not what its users run.) With `CC` unset the
adapter points it at the newest clang on PATH; bfloat16 kernels need clang >= 17 on x86 (older
ones stop at "__bf16 is not supported on this target"), and where the compiler cannot build them,
bfloat16 cases are skipped as not offered here, saying so.
"""
from __future__ import annotations

FRAMEWORK = "tinygrad"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install tinygrad; apt-get install clang (its CPU device compiles kernels with clang)"

import functools
import os
import platform
import shutil
import subprocess
from importlib.metadata import version as dist_version
from typing import ContextManager

import numpy as np
from tinygrad import Tensor, dtypes
from tinygrad.helpers import Context

from conformance.adapter_kit import AdapterSession, Forward
from conformance.api import Adapter, Call, Device, NotOffered, Session

CLANGS = ("clang", *(f"clang-{v}" for v in range(30, 13, -1)))


def _clang_version(name: str) -> tuple[int, ...]:
    out = subprocess.run([name, "-dumpversion"], capture_output=True, text=True).stdout
    return tuple(int(part) for part in out.strip().split(".")[:2] if part.isdigit())


def _newest_clang() -> str | None:
    found = [name for name in CLANGS if shutil.which(name)]
    return max(found, key=_clang_version) if found else None


if not os.environ.get("CC"):
    _found = _newest_clang()
    if _found is None:
        raise ImportError("tinygrad's CPU device compiles with clang, and there is no `clang` on PATH")
    os.environ["CC"] = _found  # read by tinygrad when it compiles its first kernel
CC = os.environ["CC"]


def _check_cpu_compiler() -> None:
    """ImportError (tinygrad unavailable here) unless CC compiles a kernel the way tinygrad's CPU device does."""
    from tinygrad import Device
    try:
        Device["CPU"].compiler.compile("int probe(void) { return 0; }")  # compile, not compile_cached
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        raise ImportError(f"tinygrad's CPU device cannot compile its kernels with CC={CC}: {exc}") from exc


_check_cpu_compiler()

DTYPES = {dtypes.float16: "float16", dtypes.bfloat16: "bfloat16", dtypes.float32: "float32",
          dtypes.float64: "float64", dtypes.int32: "int32", dtypes.int64: "int64"}


@functools.cache
def _bfloat16_compiles() -> bool:
    try:
        (Tensor([1.0]).cast(dtypes.bfloat16) * 2).realize()
    except subprocess.CalledProcessError:
        return False
    return True


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
        if dtype == "bfloat16" and not _bfloat16_compiles():
            raise NotOffered(f"bfloat16: tinygrad's CPU kernels for it do not compile with CC={CC} here "
                             "(clang >= 17 is needed on x86)")
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
            # tinygrad is lazy: realize inside the warning capture. Realizing y before backward()
            # would cut the graph (x.grad stays None), so y and its gradient realize together.
            y = x.dropout(call.p)
            if not call.grad:
                return y.realize(), None
            y.sum().backward()
            # x.grad stays None when y does not depend on x (p = 1 returns a constant): no gradient
            Tensor.realize(y, *([x.grad] if x.grad is not None else []))
            return y, x.grad
        return forward


class TinygradAdapter(Adapter):
    name = "tinygrad"
    layout = "channels_first"
    seeding_paths = ("global",)  # no seed or generator argument on its dropout

    def version(self) -> str:
        return dist_version("tinygrad")

    def devices(self) -> list[Device]:
        return [Device(kind="cpu", name=platform.machine() or "cpu", backend="clang")]

    def ops(self) -> tuple[str, ...]:
        return ("dropout",)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return TinygradSession("CPU", seed)


def make_adapter() -> Adapter:
    return TinygradAdapter()
