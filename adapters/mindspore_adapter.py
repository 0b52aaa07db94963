"""MindSpore 2.x adapter: mindspore.nn.Dropout/Dropout1d/Dropout2d/Dropout3d (module form) and
mindspore.ops.dropout/dropout1d/dropout2d/dropout3d (functional form), channels-first (NCHW).

- Modes: "eager" is PyNative (MindSpore's default); "compiled" runs the same callable through
  `mindspore.jit` (GRAPH_MODE compilation of the function). jit re-reads a function's source from disk by the
  line numbers recorded at import whenever it compiles, so editing this file during a compiled run makes it
  parse the wrong function ("TypeError: The parameters number of the function is 3"). MindSpore bakes a random op's seeds into
  the graph when it compiles it (ops/function/nn_func.py `dropout`: `_get_seed(seed, "dropout")` runs
  while tracing), so a graph compiled before `set_seed` ignores it: compiled callables live for one
  session (compiled after the session's `set_seed`, as a user compiles after seeding), one per
  (op, form, p, training, grad, seeding); successive calls of a session reuse it and draw fresh masks.
- Seeding: "global" (`mindspore.set_seed`, called when a session opens; the usual path) and
  "explicit" (`ops.dropout(..., seed=s)`, the only dropout with a seed argument: element-wise,
  functional form). MindSpore combines an op seed with the global seed and a per-(op, seed) counter
  (common/seed.py `_get_graph_seed`), and `set_seed` is the only public reset of those counters, so
  an explicit session also sets the global seed; each call then passes its own seed from the
  session's SeedStream. Channel dropout (the Dropout2D/Dropout3D primitives behind dropout1d/2d/3d)
  takes no seed at all.
- Not offered: in-place (no `inplace` argument in 2.10.0, announced for "after 2.9.0"), alpha and
  feature-alpha dropout (MindSpore has neither), and dtypes whose CPU kernel MindSpore does not
  register (bfloat16 on CPU: probed once per kernel, so a build that adds it gets tested).
- `mindspore.mint` (mint.nn.Dropout, mint.nn.functional.dropout, ...) is Ascend-only: on CPU every
  call raises "RuntimeError: The kernel DropoutExt unregistered", so it is not a target here.
"""
from __future__ import annotations

FRAMEWORK = "mindspore"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install mindspore"

import functools
import logging
import os
import platform

from conformance.adapter_kit import cache_dir

os.environ.setdefault("GLOG_v", "3")  # MindSpore's C++ log: errors only (it logs to stderr)
# A graph that fails to compile is dumped to rank_0/om/analyze_fail.ir under $MS_OM_PATH (default: the
# working directory, i.e. the checkout): keep it with the caches.
os.environ.setdefault("MS_OM_PATH", str(cache_dir("mindspore")))

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn, ops

from conformance.adapter_kit import AdapterSession, Forward, SeedStream  # noqa: E402 - after the env
from conformance.api import Adapter, Call, Device, NotOffered, Session

MODULES = {
    "dropout": lambda p: nn.Dropout(p=p),  # p, not the deprecated keep_prob
    "dropout1d": nn.Dropout1d, "dropout2d": nn.Dropout2d, "dropout3d": nn.Dropout3d,
}
FUNCTIONAL = {"dropout": ops.dropout, "dropout1d": ops.dropout1d, "dropout2d": ops.dropout2d,
              "dropout3d": ops.dropout3d}
# The primitive (CPU kernel) behind each op: dropout1d runs Dropout2D on an (N, C, L, 1) view.
PRIMITIVE = {"dropout": "Dropout", "dropout1d": "Dropout2D", "dropout2d": "Dropout2D", "dropout3d": "Dropout3D"}
PROBE_SHAPE = {"Dropout": (2, 2), "Dropout2D": (1, 2, 1, 1), "Dropout3D": (1, 2, 1, 1, 1)}
DTYPES = {ms.float16: "float16", ms.bfloat16: "bfloat16", ms.float32: "float32", ms.float64: "float64",
          ms.int8: "int8", ms.int16: "int16", ms.int32: "int32", ms.int64: "int64", ms.bool_: "bool"}
TARGETS = {"cpu": "CPU", "cuda": "GPU", "npu": "Ascend"}


@functools.cache
def _kernel_missing(primitive: str, dtype: str) -> str | None:
    """The error MindSpore gives when the current device has no `primitive` kernel for `dtype`, else None."""
    fn = {"Dropout": lambda x: ops.dropout(x, 0.5), "Dropout2D": lambda x: ops.dropout2d(x, 0.5),
          "Dropout3D": lambda x: ops.dropout3d(x, 0.5)}[primitive]
    try:
        fn(Tensor(np.ones(PROBE_SHAPE[primitive], np.float32)).astype(getattr(ms, dtype))).asnumpy()
    except TypeError as exc:
        lines = [line for line in str(exc).splitlines() if "Unsupported data type" in line]
        return lines[0] if lines else str(exc).strip().splitlines()[0]
    return None


def _callable(call: Call, seed: int | None, mode: str):
    """The op under test: a module in the call's training state, or the functional form."""
    p = float(call.p)  # Dropout1d/2d/3d and ops.dropout1d check isinstance(p, float)
    if call.form == "module":
        layer = MODULES[call.op](p)  # may raise for a bad p: that is the observation
        layer.set_train(call.training)  # a MindSpore Cell starts in eval mode (training=False)

        def dropout_module(x):
            return layer(x)
        return dropout_module if mode == "compiled" else layer
    fn, training = FUNCTIONAL[call.op], call.training
    if seed is not None:
        def dropout_seeded(x):
            return fn(x, p, training, seed)
        return dropout_seeded

    def dropout_fn(x):
        return fn(x, p, training)
    return dropout_fn


def _with_grad(fn):
    """x -> (y, d(sum y)/dx) from one forward pass."""
    def loss(x):
        y = fn(x)
        return y.sum(), y
    value_and_grad = ms.value_and_grad(loss, grad_position=0, has_aux=True)

    def forward(x):
        (_, y), dx = value_and_grad(x)
        return y, dx
    return forward


def _plain(fn):
    def forward(x):
        return fn(x), None
    return forward


@functools.cache
def _devices() -> tuple[Device, ...]:
    """The CPU, and every GPU and Ascend device this MindSpore build sees (mindspore.hal). hal.is_available
    logs a WARNING per missing backend (and the plugin's load error): expected here, so kept quiet."""
    found = [Device(kind="cpu", name=platform.machine() or "cpu", backend="native")]
    logger = ms.log._get_logger()  # noqa: SLF001 - the only handle on MindSpore's Python logger
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for kind, target in (("cuda", "GPU"), ("npu", "Ascend")):
            try:
                count = ms.hal.device_count(target) if ms.hal.is_available(target) else 0
            except (RuntimeError, ValueError):
                continue
            for index in range(count):
                try:
                    name = ms.hal.get_device_name(index, target)
                except (RuntimeError, ValueError):
                    name = target
                found.append(Device(kind=kind, name=name, backend=target.lower(), index=index))
    finally:
        logger.setLevel(level)
    return tuple(found)


class MindSporeSession(AdapterSession):
    def __init__(self, mode: str, seed: int):
        self.mode = mode
        self.seeds = SeedStream(seed)  # "explicit": one seed per ops.dropout call
        self.compiled: dict[tuple, object] = {}
        ms.set_seed(seed)  # global seed; also resets every op-seed counter (common/seed.py _reset_op_seed)

    def tensor(self, x: np.ndarray) -> Tensor:
        return Tensor(x.copy())

    def array(self, t: Tensor) -> np.ndarray:
        return np.array(t.asnumpy(), copy=True)

    def cast(self, t: Tensor, dtype: str) -> Tensor:
        return t.astype(getattr(ms, dtype))

    def dtype_of(self, t: Tensor) -> str:
        return DTYPES.get(t.dtype, str(t.dtype).lower())

    def build(self, call: Call) -> Forward:
        if call.inplace:
            raise NotOffered("MindSpore 2.10's nn.Dropout*/ops.dropout* have no inplace argument "
                             "(their docs announce one for 'after version 2.9.0')")
        if call.seeding == "explicit" and (call.op != "dropout" or call.form != "functional"):
            raise NotOffered("only ops.dropout takes a seed; nn.Dropout* and ops.dropout1d/2d/3d draw from "
                             "the global state")
        dtype = np.dtype(call.x.dtype).name
        if dtype in ("bfloat16", "float16", "float32", "float64"):
            missing = _kernel_missing(PRIMITIVE[call.op], dtype)
            if missing is not None:
                raise NotOffered(f"{dtype}: MindSpore registers no {PRIMITIVE[call.op]} kernel for it on this "
                                 f"device ({missing})")
        if self.mode == "eager":
            seed = self.seeds.next() if call.seeding == "explicit" else None
            fn = _callable(call, seed, self.mode)
            return _with_grad(fn) if call.grad else _plain(fn)
        # Compiled: one graph per session and key; an explicit seed is compiled in (as MindSpore does with
        # any op seed under jit), and the op-seed counter then advances at every call of the graph.
        key = (call.op, call.form, call.p, call.training, call.grad, call.seeding)
        if key not in self.compiled:
            seed = self.seeds.next() if call.seeding == "explicit" else None
            fn = _callable(call, seed, self.mode)
            self.compiled[key] = _with_grad(ms.jit(fn)) if call.grad else _plain(ms.jit(fn))
        return self.compiled[key]


class MindSporeAdapter(Adapter):
    name = "mindspore"
    layout = "channels_first"
    seeding_paths = ("global", "explicit")

    def version(self) -> str:
        return ms.__version__

    def devices(self) -> list[Device]:
        return list(_devices())

    def modes(self) -> tuple[str, ...]:
        return ("eager", "compiled")

    def ops(self) -> tuple[str, ...]:
        return tuple(FUNCTIONAL)

    def open(self, device: Device, mode: str, seed: int) -> Session:
        target = TARGETS[device.kind]
        if target != "CPU" or ms.get_context("device_target") != "CPU":
            ms.set_device(target, device.index)  # once per process: the engine runs a target per process
        return MindSporeSession(mode, seed)


def make_adapter() -> Adapter:
    return MindSporeAdapter()
