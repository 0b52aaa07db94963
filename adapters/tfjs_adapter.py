"""TensorFlow.js adapter: examples/tfjs/dropout2d_server.js run by Node.js behind the process protocol.

TensorFlow.js cannot be imported into Python, so this adapter is a `ProcessAdapter` around a
Node.js server (see docs/adapters.md). Like `import torch` for the torch adapter, importing
this module fails with ImportError when `node` or the npm packages are missing; the engine
reports that as "unavailable" with the install command. CONFORMANCE_TFJS_DIR points at
another copy of the example.

`--framework tfjs` tests the example's dropout2d; TensorFlow.js's own `tf.dropout` with a
channel noise shape is a second target:
`python -m conformance run --adapter adapters.tfjs_adapter:tf_dropout_adapter`.
"""
from __future__ import annotations

FRAMEWORK = "tfjs"  # with INSTALL: read by adapters/__init__.py without importing

import os
import shutil
from pathlib import Path

from conformance.process_adapter import ProcessAdapter

EXAMPLE_DIR = Path(os.environ.get("CONFORMANCE_TFJS_DIR")
                   or Path(__file__).resolve().parent.parent / "examples" / "tfjs")
INSTALL = "npm ci --prefix examples/tfjs  (needs Node.js >= 18)"

NODE = shutil.which("node")
if NODE is None:
    raise ImportError(f"no `node` on PATH; install Node.js >= 18, then: {INSTALL}")
if not (EXAMPLE_DIR / "dropout2d_server.js").is_file():  # an installed wheel ships no examples/
    raise ImportError(f"{EXAMPLE_DIR} lacks the TensorFlow.js server: point CONFORMANCE_TFJS_DIR at a clone's "
                      f"examples/tfjs, then run there: {INSTALL}")
if not (EXAMPLE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
    raise ImportError(f"{EXAMPLE_DIR / 'node_modules'} lacks @tensorflow/tfjs; run: {INSTALL}")


def _server(name: str, *args: str) -> ProcessAdapter:
    return ProcessAdapter([NODE, str(EXAMPLE_DIR / "dropout2d_server.js"), *args], name=name,
                          cwd=str(EXAMPLE_DIR))


def make_adapter() -> ProcessAdapter:
    return _server("tfjs")


def tf_dropout_adapter() -> ProcessAdapter:
    return _server("tfjs-dropout", "--impl", "tf.dropout")
