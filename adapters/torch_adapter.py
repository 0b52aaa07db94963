"""PyTorch adapter: torch.nn.functional.dropout* and the torch.nn.Dropout* modules."""
from __future__ import annotations

FRAMEWORK = "torch"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install torch==2.13.0"

import logging
import os
import platform
import shutil
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from conformance.adapter_kit import AdapterSession, Forward, cache_dir
from conformance.api import Adapter, Call, Device, Session

FUNCTIONAL = {
    "dropout": F.dropout, "dropout1d": F.dropout1d, "dropout2d": F.dropout2d,
    "dropout3d": F.dropout3d, "alpha_dropout": F.alpha_dropout,
    "feature_alpha_dropout": F.feature_alpha_dropout,
}
MODULES = {
    "dropout": nn.Dropout, "dropout1d": nn.Dropout1d, "dropout2d": nn.Dropout2d,
    "dropout3d": nn.Dropout3d, "alpha_dropout": nn.AlphaDropout,
    "feature_alpha_dropout": nn.FeatureAlphaDropout,
}
DTYPES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32",
          torch.float64: "float64", torch.int32: "int32", torch.int64: "int64"}


def _build(call: Call):
    """The callable under test: the nn module or the functional form."""
    if call.form == "module":
        module = MODULES[call.op](p=call.p, inplace=call.inplace)
        module.train(call.training)
        return module
    fn = FUNCTIONAL[call.op]
    return lambda x: fn(x, call.p, call.training, call.inplace)


# Compiled callables live for the whole process, not one session: sessions are opened per test,
# and dynamo's cache (keyed on the code object) already holds their graphs. F.dropout* checks p
# in Python, so every new p (and dtype, training flag) is a recompile of the same code object:
# the default limit of 8 would turn the ninth into FailOnRecompileLimitHit under fullgraph=True.
# As in any long-lived process, a Python warning fires only when its graph is traced: a later
# call that hits a cached graph reports none (tests/test_adapters.py pins this down).
_COMPILED: dict[tuple, object] = {}
RECOMPILE_LIMIT = 1024


def _load_compiler() -> None:
    """Import inductor quietly: its first import emits torch-internal DeprecationWarnings
    (torch.jit.script_method) that would otherwise be recorded against the first compiled call."""
    # Inductor's FX-graph and AOT caches persist compiled kernels across processes: under build/cache/
    # unless the user points Inductor elsewhere. A warm cache skips the C++ compile, not the trace.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir("torch-inductor")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch._inductor.compile_fx  # noqa: F401
    # What the specs provoke on purpose is not news: fake-tensor propagation logs a full traceback at
    # ERROR for every call it cannot trace (integer input, an invalid p: the check records the
    # exception itself), and recompiles (one per p, dtype and rank) log at WARNING.
    torch._logging.set_logs(recompiles=False, graph_breaks=False)
    logging.getLogger("torch._subclasses.fake_tensor").setLevel(logging.CRITICAL)
    # Each graph here is one small kernel: a pool of compile workers costs more than it saves
    # (measured on 2 cores: 138 s -> 107 s for the cold compiled target).
    torch._inductor.config.compile_threads = 1


def _compiled(call: Call):
    key = (call.op, call.form, call.p, call.training, call.inplace)
    if key not in _COMPILED:
        _load_compiler()
        torch._dynamo.config.recompile_limit = RECOMPILE_LIMIT
        torch._dynamo.config.accumulated_recompile_limit = RECOMPILE_LIMIT
        # dynamic=True: one graph serves every shape of a rank, so shapes cost no recompiles.
        _COMPILED[key] = torch.compile(_build(call), dynamic=True, fullgraph=True)
    return _COMPILED[key]


class TorchSession(AdapterSession):
    def __init__(self, device: Device, mode: str, seed: int):
        self.device = "cpu" if device.kind == "cpu" else f"{device.kind}:{device.index}"
        self.mode = mode
        torch.manual_seed(seed)  # global generator: seeds cpu and every accelerator (and inductor)

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(self.device)

    def array(self, t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().copy()

    def cast(self, t: torch.Tensor, dtype: str) -> torch.Tensor:
        return t.to(getattr(torch, dtype))

    def dtype_of(self, t: torch.Tensor) -> str:
        return DTYPES.get(t.dtype, str(t.dtype))

    def watch(self, t: torch.Tensor) -> torch.Tensor:
        return t.requires_grad_(True)

    def build(self, call: Call) -> Forward:
        fn = _compiled(call) if self.mode == "compiled" else _build(call)

        def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            y = fn(x)
            if not call.grad:
                return y, None
            y.sum().backward()
            return y, x.grad
        return forward


class TorchAdapter(Adapter):
    name = "torch"
    layout = "channels_first"
    seeding_paths = ("global",)  # no seed or generator argument on its dropout

    def version(self) -> str:
        return torch.__version__

    def devices(self) -> list[Device]:
        found = [Device(kind="cpu", name=platform.processor() or platform.machine(), backend="native")]
        if torch.cuda.is_available():
            backend = "rocm" if torch.version.hip else "cuda"
            driver = torch.version.hip or torch.version.cuda
            found += [Device(kind="cuda", name=torch.cuda.get_device_name(i), backend=backend,
                             driver=driver, index=i) for i in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            found.append(Device(kind="mps", name="Apple GPU", backend="mps"))
        return found

    def modes(self) -> tuple[str, ...]:
        # Inductor on CPU generates C++: without a compiler there is no compiled mode to test.
        return ("eager", "compiled") if shutil.which("g++") or shutil.which("c++") else ("eager",)

    def ops(self) -> tuple[str, ...]:
        return tuple(FUNCTIONAL)

    def compiled_graphs(self) -> int | None:
        if "torch._dynamo" not in sys.modules:
            return 0
        return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])

    def open(self, device: Device, mode: str, seed: int) -> Session:
        return TorchSession(device, mode, seed)


def make_adapter() -> Adapter:
    return TorchAdapter()
