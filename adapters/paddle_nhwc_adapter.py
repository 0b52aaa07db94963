"""PaddlePaddle with data_format NHWC / NDHWC: the paddle-nhwc framework (see paddle_adapter)."""
from __future__ import annotations

FRAMEWORK = "paddle-nhwc"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install paddlepaddle"

from adapters.paddle_adapter import Variant, make_adapter as _make_paddle
from conformance.api import Adapter


def make_adapter() -> Adapter:
    return _make_paddle(Variant("paddle-nhwc", channels_last=True))
