"""Keras 3 on the jax backend: the keras-jax framework (the adapter is adapters.keras_adapter)."""
from __future__ import annotations

FRAMEWORK = "keras-jax"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "pip install keras jax"

import os

os.environ["KERAS_BACKEND"] = "jax"  # read once, when keras is first imported

from adapters.keras_adapter import make_adapter as _make_keras  # noqa: E402
from conformance.api import Adapter  # noqa: E402


def make_adapter() -> Adapter:
    return _make_keras("jax")
