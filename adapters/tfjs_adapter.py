"""TensorFlow.js adapter: examples/tfjs/dropout2d_server.js run by Node.js behind the process protocol.

TensorFlow.js cannot be imported into Python, so this adapter is a `ProcessAdapter` around a
Node.js server (see docs/adapters.md). A missing `node` or `node_modules` is an ImportError,
which the engine reports as "unavailable" with the install command.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from conformance.process_adapter import ProcessAdapter

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "tfjs"
INSTALL = "npm ci --prefix examples/tfjs  (needs Node.js >= 18)"


def make_adapter() -> ProcessAdapter:
    node = shutil.which("node")
    if node is None:
        raise ImportError(f"no `node` on PATH; install Node.js >= 18, then: {INSTALL}")
    if not (EXAMPLE_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        raise ImportError(f"{EXAMPLE_DIR / 'node_modules'} lacks @tensorflow/tfjs; run: {INSTALL}")
    return ProcessAdapter([node, str(EXAMPLE_DIR / "dropout2d_server.js")], name="tfjs",
                          cwd=str(EXAMPLE_DIR), install_hint=INSTALL)
