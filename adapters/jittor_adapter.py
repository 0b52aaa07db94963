"""Jittor adapter: jittor.nn.Dropout / Dropout2d (modules) and jittor.nn.dropout / dropout2d (functional).

Jittor (jittor/nn.py) has element-wise dropout and Dropout2d only: no 1d/3d channel dropout and no
alpha dropout, so the other ops are not offered. The module is put in training or evaluation mode with
`train()` / `eval()` (jittor.Module, jittor/__init__.py); the functional form takes `is_train`. Note
that both default to evaluation: `Dropout(p=0.5, is_train=False)`, `dropout(x, p=0.5, is_train=False)`.
Seeding is global: `jt.set_global_seed` (jittor/misc.py) seeds Jittor's generator (with Python's and
NumPy's), a `std::default_random_engine` behind `jt.random` on CPU (jittor/src/init.cc), curand on CUDA.

Jittor compiles its C++ core with the system's g++ on first import (cached under ~/.cache/jittor, or
$JITTOR_HOME/.cache/jittor) and a kernel per new op/dtype/rank on first use. Two environment defaults
are set here before the import, each only where the user has not set the variable:
- `nvcc_path=""` (jittor/compiler.py, `if "nvcc_path" in os.environ`) when no CUDA driver library is
  present: Jittor otherwise takes any `nvcc` on PATH as a promise of CUDA and its import fails without
  one ("OSError: .../lib64/libcudart.so: cannot open shared object file", compiler.py check_cuda()).
- `use_mkl=0` (jittor/compile_extern.py setup_mkl()): otherwise the first import downloads oneDNN from
  cg.cs.tsinghua.edu.cn (and fails offline); no dropout op uses it.
Jittor executes lazily and fuses ops into JIT-compiled kernels: that is its only execution path, so
there is one mode, "eager" (the callable syncs its result before returning).

Jittor compiles those kernels with -Ofast (jittor/compiler.py:1170). With GCC < 13 a shared object linked
with -Ofast carries crtfastmath.o, whose constructor sets flush-to-zero and denormals-are-zero in the
x86 MXCSR when the first kernel is loaded: from then on the thread flushes subnormals, NumPy included.
In a user's process that state persists, so Jittor's calls here run under the MXCSR Jittor left behind,
but the adapter restores the engine's own MXCSR after each call: otherwise the checks' NumPy arithmetic
would flush subnormals too, building the subnormal inputs as zeros and passing or failing cases for the
wrong reason. (A tiny get/set helper is compiled with the C++ compiler Jittor itself needs.)
"""
from __future__ import annotations

FRAMEWORK = "jittor"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install jittor (its first import compiles its core with g++; needs python3-dev headers)"

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import platform
import subprocess
from importlib.metadata import version as dist_version
from typing import Iterator

if "nvcc_path" not in os.environ and ctypes.util.find_library("cuda") is None:
    os.environ["nvcc_path"] = ""  # no CUDA driver: build and run the CPU backend only
os.environ.setdefault("use_mkl", "0")

import numpy as np
import jittor as jt
import jittor.nn as nn

from conformance.adapter_kit import AdapterSession, Forward, cache_dir
from conformance.api import Adapter, Call, Device, NotOffered, Session

MODULES = {"dropout": nn.Dropout, "dropout2d": nn.Dropout2d}
FUNCTIONAL = {"dropout": nn.dropout, "dropout2d": nn.dropout2d}


_MXCSR_SOURCE = """#include <xmmintrin.h>
extern "C" unsigned int get_mxcsr(void) { return _mm_getcsr(); }
extern "C" void set_mxcsr(unsigned int v) { _mm_setcsr(v); }
"""


def _mxcsr_helper():
    """ctypes access to this thread's x86 MXCSR (None on other architectures)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    folder = cache_dir("jittor")
    lib = folder / f"mxcsr-{hashlib.sha1(_MXCSR_SOURCE.encode()).hexdigest()[:12]}.so"
    if not lib.exists():
        src = folder / "mxcsr.cc"
        src.write_text(_MXCSR_SOURCE)
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([jt.compiler.cc_path, "-O2", "-shared", "-fPIC", str(src), "-o", str(tmp)], check=True)
        os.replace(tmp, lib)
    helper = ctypes.CDLL(str(lib))
    helper.get_mxcsr.restype = ctypes.c_uint
    helper.set_mxcsr.argtypes = [ctypes.c_uint]
    return helper


_MXCSR = _mxcsr_helper()
_jittor_mxcsr: int | None = None  # the MXCSR Jittor's last call left behind (its users' state)


@contextlib.contextmanager
def _jittor_fp_state() -> Iterator[None]:
    """Run Jittor under the floating-point state its kernels leave in a process, the engine under its own."""
    global _jittor_mxcsr
    if _MXCSR is None:
        yield
        return
    engine = _MXCSR.get_mxcsr()
    if _jittor_mxcsr is not None:
        _MXCSR.set_mxcsr(_jittor_mxcsr)
    try:
        yield
    finally:
        _jittor_mxcsr = _MXCSR.get_mxcsr()
        _MXCSR.set_mxcsr(engine)


def _build(call: Call):
    """The callable under test: the nn module (train()/eval()) or the functional form (is_train)."""
    if call.form == "module":
        module = MODULES[call.op](p=call.p)  # validates p (an assert)
        if call.training:
            module.train()
        else:
            module.eval()
        return module
    fn = FUNCTIONAL[call.op]
    return lambda x: fn(x, p=call.p, is_train=call.training)


class JittorSession(AdapterSession):
    def __init__(self, device: Device, seed: int):
        jt.flags.use_cuda = int(device.kind == "cuda")
        jt.set_global_seed(seed)  # jittor/misc.py: Jittor's generator (and Python's, NumPy's)

    def scope(self, call: Call) -> contextlib.AbstractContextManager:
        return _jittor_fp_state()

    def tensor(self, x: np.ndarray) -> jt.Var:
        # An explicit dtype: jt.array(x) alone turns float64 and int64 NumPy input into float32 and int32
        # (flag auto_convert_64_to_32, jittor/src/pyjt/py_array_op.cc), so float64 would never reach dropout.
        return jt.array(x, dtype=str(x.dtype))

    def array(self, t: jt.Var) -> np.ndarray:
        return np.array(t.numpy(), copy=True)

    def cast(self, t: jt.Var, dtype: str) -> jt.Var:
        return t.cast(dtype)

    def dtype_of(self, t: jt.Var) -> str:
        return str(t.dtype)

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("jittor.nn.Dropout / Dropout2d and dropout / dropout2d have no in-place form")
        fn = _build(call)

        def forward(x: jt.Var) -> tuple[jt.Var, jt.Var | None]:
            y = fn(x)
            if not call.grad:
                y.sync()  # lazy: run the kernels inside the warning capture
                return y, None
            g = jt.grad(y.sum(), x)
            jt.sync([y, g])
            return y, g
        return forward


class JittorAdapter(Adapter):
    name = "jittor"
    layout = "channels_first"
    seeding_paths = ("global",)  # no seed argument on its dropout

    def version(self) -> str:
        return dist_version("jittor")

    def devices(self) -> list[Device]:
        found = [Device(kind="cpu", name=platform.processor() or platform.machine(), backend="native")]
        if jt.has_cuda:  # one GPU per process: Jittor runs multi-GPU through MPI, one rank per device
            archs = "/".join(f"sm_{a}" for a in getattr(jt.flags, "cuda_archs", ())) or "CUDA GPU"
            found.append(Device(kind="cuda", name=archs, backend="cuda",
                                driver=".".join(map(str, jt.compiler.nvcc_version))))
        return found

    def ops(self) -> tuple[str, ...]:
        return tuple(MODULES)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return JittorSession(device, seed)


def make_adapter() -> Adapter:
    return JittorAdapter()
