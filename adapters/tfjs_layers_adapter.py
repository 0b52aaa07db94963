"""TensorFlow.js layers API (tf.layers, the Keras port bundled in @tensorflow/tfjs): the framework `tfjs-layers`.

examples/tfjs/dropout2d_server.js serves it with `--impl tf.layers` (examples/tfjs/layers.js) over the process
protocol, like the tfjs adapter (adapters/tfjs_adapter.py: same install, same CONFORMANCE_TFJS_DIR; importing
this module fails with ImportError when `node` or the npm packages are missing).

Ops, channels-last as in Keras ((N, L, C) for SpatialDropout1D), module form only, applied as
`layer.apply(x, {training})`; paths in node_modules/@tensorflow/tfjs-layers/dist:
- dropout: tf.layers.dropout({rate, seed}) (layers/core.js Dropout), which calls tfjs-core's tf.dropout;
- dropout1d: tf.layers.spatialDropout1d({rate, seed}) (layers/core.js SpatialDropout1D, noise shape [N, 1, C]);
- alpha_dropout: tf.layers.alphaDropout({rate}) (layers/noise.js AlphaDropout), which takes no seed.
tf.layers has no spatialDropout2d/3d and no feature alpha dropout (exports_layers.js), so those ops are not
offered; it has no functional dropout either (tf.dropout is tfjs-core's, under test as `tfjs-dropout`).

Seeding paths: "global" first, the one all three layers share: unseeded layers, whose randomUniform draws seed
their alea generator from Math.random (tfjs-core ops/rand_util.js UniformRandom), which the server seeds per
session with seedrandom's {global: true} (Math.seedrandom, the TensorFlow.js authors' way to derandomize a
program, tensorflow/tfjs#2219). "explicit": Dropout / SpatialDropout1D built per call with a fresh `seed`
derived from the session seed; not offered for AlphaDropout.
"""
from __future__ import annotations

FRAMEWORK = "tfjs-layers"  # with INSTALL: read by adapters/__init__.py without importing
INSTALL = "npm ci --prefix examples/tfjs  (needs Node.js >= 18)"

from adapters.tfjs_adapter import _server  # noqa: E402  (ImportError without node or node_modules)
from conformance.process_adapter import ProcessAdapter  # noqa: E402


def make_adapter() -> ProcessAdapter:
    return _server("tfjs-layers", "--impl", "tf.layers")
