"""PaddlePaddle dropout with mode="downscale_in_infer": the paddle-downscale framework (see paddle_adapter)."""
from __future__ import annotations

FRAMEWORK = "paddle-downscale"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install paddlepaddle"

from adapters.paddle_adapter import Variant, make_adapter as _make_paddle
from conformance.api import Adapter


def make_adapter() -> Adapter:
    return _make_paddle(Variant("paddle-downscale", mode="downscale_in_infer"))
