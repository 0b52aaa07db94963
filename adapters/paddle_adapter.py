"""PaddlePaddle adapter: paddle.nn.Dropout*/AlphaDropout/FeatureAlphaDropout and
paddle.nn.functional.dropout*.

Three framework names share this module (thin modules pick the variant):
- paddle: the defaults, channels-first (data_format NCHW / NCDHW), mode upscale_in_train.
- paddle-nhwc: Dropout2D/Dropout3D with data_format NHWC / NDHWC (channels_last); ops without
  a data_format argument (dropout1d, feature_alpha_dropout) are not offered there.
- paddle-downscale: paddle.nn.Dropout(mode="downscale_in_infer"), Paddle's other scaling
  convention (train: x * mask, unscaled; eval: x * (1 - p)); element-wise dropout only.
Seeding is global (paddle.seed). Paddle has no Dropout1D module (only functional dropout1d).
"""
from __future__ import annotations

FRAMEWORK = "paddle"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install paddlepaddle"

import platform
from dataclasses import dataclass
from typing import Callable

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from conformance.adapter_kit import AdapterSession, Forward
from conformance.api import Adapter, Call, Device, NotOffered, Session

DTYPES = {paddle.float16: "float16", paddle.bfloat16: "bfloat16", paddle.float32: "float32",
          paddle.float64: "float64", paddle.int32: "int32", paddle.int64: "int64"}


@dataclass(frozen=True)
class Variant:
    name: str
    channels_last: bool = False
    mode: str = "upscale_in_train"

    @property
    def formats(self) -> dict[str, str]:
        return {"dropout2d": "NHWC", "dropout3d": "NDHWC"} if self.channels_last else \
            {"dropout2d": "NCHW", "dropout3d": "NCDHW"}

    def ops(self) -> tuple[str, ...]:
        if self.mode != "upscale_in_train":
            return ("dropout",)
        if self.channels_last:
            return ("dropout", "dropout2d", "dropout3d", "alpha_dropout")
        return ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")


def _module(variant: Variant, call: Call) -> Callable[[paddle.Tensor], paddle.Tensor]:
    op, p = call.op, call.p
    if op == "dropout":
        layer = nn.Dropout(p, inplace=call.inplace, mode=variant.mode)
    elif op in variant.formats:
        layer = {"dropout2d": nn.Dropout2D, "dropout3d": nn.Dropout3D}[op](p, data_format=variant.formats[op])
    elif op == "alpha_dropout":
        layer = nn.AlphaDropout(p)
    elif op == "feature_alpha_dropout":
        layer = nn.FeatureAlphaDropout(p)
    else:
        raise NotOffered(f"paddle.nn has no module for {op}")
    if call.training:
        layer.train()
    else:
        layer.eval()
    return layer


def _functional(variant: Variant, call: Call) -> Callable[[paddle.Tensor], paddle.Tensor]:
    op, p, training = call.op, call.p, call.training
    if op == "dropout":
        return lambda x: F.dropout(x, p, training=training, inplace=call.inplace, mode=variant.mode)
    if op == "dropout1d":
        return lambda x: F.dropout1d(x, p, training=training, inplace=call.inplace)
    if op in variant.formats:
        fn = {"dropout2d": F.dropout2d, "dropout3d": F.dropout3d}[op]
        return lambda x: fn(x, p, training=training, data_format=variant.formats[op])
    fn = {"alpha_dropout": F.alpha_dropout, "feature_alpha_dropout": F.feature_alpha_dropout}[op]
    return lambda x: fn(x, p, training=training)


class PaddleSession(AdapterSession):
    def __init__(self, variant: Variant, seed: int):
        self.variant = variant
        paddle.seed(seed)  # global generator

    def tensor(self, x: np.ndarray) -> paddle.Tensor:
        return paddle.to_tensor(x)  # stop_gradient=True: no gradient unless watched

    def array(self, t: paddle.Tensor) -> np.ndarray:
        return np.array(t.numpy())

    def cast(self, t: paddle.Tensor, dtype: str) -> paddle.Tensor:
        return t.astype(dtype)

    def dtype_of(self, t: paddle.Tensor) -> str:
        return DTYPES.get(t.dtype, str(t.dtype))

    def watch(self, t: paddle.Tensor) -> paddle.Tensor:
        t.stop_gradient = False
        return t

    def build(self, call: Call) -> Forward:
        if call.inplace and call.op not in ("dropout", "dropout1d"):
            raise NotOffered(f"paddle has no in-place {call.op}")
        fn = _module(self.variant, call) if call.form == "module" else _functional(self.variant, call)

        def forward(x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor | None]:
            y = fn(x)
            if not call.grad:
                return y, None
            y.sum().backward()
            return y, x.grad
        return forward


class PaddleAdapter(Adapter):
    seeding_paths = ("global",)  # no seed argument on its dropout

    def __init__(self, variant: Variant):
        self.variant = variant
        self.name = variant.name
        self.layout = "channels_last" if variant.channels_last else "channels_first"

    def version(self) -> str:
        return paddle.__version__

    def devices(self) -> list[Device]:
        found = [Device(kind="cpu", name=platform.machine() or "cpu", backend="native")]
        if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
            found.append(Device(kind="cuda", name=paddle.device.cuda.get_device_name(0), backend="cuda",
                                driver=paddle.version.cuda()))
        return found

    def ops(self) -> tuple[str, ...]:
        return self.variant.ops()

    def open(self, device: Device, mode: str, seed: int) -> Session:
        paddle.device.set_device("cpu" if device.kind == "cpu" else f"gpu:{device.index}")
        return PaddleSession(self.variant, seed)


def make_adapter(variant: Variant = Variant("paddle")) -> Adapter:
    return PaddleAdapter(variant)
