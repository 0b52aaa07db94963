"""Keras 3 on the torch backend: the keras-torch framework (the adapter is adapters.keras_adapter)."""
from __future__ import annotations

FRAMEWORK = "keras-torch"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install keras torch==2.13.0"

import os

os.environ["KERAS_BACKEND"] = "torch"  # read once, when keras is first imported

from adapters.keras_adapter import make_adapter as _make_keras  # noqa: E402
from conformance.api import Adapter  # noqa: E402


def make_adapter() -> Adapter:
    return _make_keras("torch")
