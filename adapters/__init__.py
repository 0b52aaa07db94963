"""Framework adapters. Each module knows one framework; `make_adapter()` builds it.

FRAMEWORKS maps the name used on the command line to the module and the install command
printed when the framework is missing.
"""
from __future__ import annotations

FRAMEWORKS: dict[str, tuple[str, str]] = {
    "reference": ("adapters.reference", "pip install numpy"),
    "torch": ("adapters.torch_adapter", "pip install torch==2.13.0"),
    "mlx": ("adapters.mlx_adapter", 'pip install "mlx[cpu]"'),
    "jax": ("adapters.jax_adapter", "pip install jax flax"),
    "tfjs": ("adapters.tfjs_adapter", "npm ci --prefix examples/tfjs (needs Node.js >= 18)"),
    "tensorflow": ("adapters.tensorflow_adapter", "pip install tensorflow-cpu"),
    "keras-jax": ("adapters.keras_jax_adapter", "pip install keras jax"),
    "keras-torch": ("adapters.keras_torch_adapter", "pip install keras torch==2.13.0"),
    "paddle": ("adapters.paddle_adapter", "pip install paddlepaddle"),
    "paddle-nhwc": ("adapters.paddle_nhwc_adapter", "pip install paddlepaddle"),
    "paddle-downscale": ("adapters.paddle_downscale_adapter", "pip install paddlepaddle"),
    "tinygrad": ("adapters.tinygrad_adapter", "pip install tinygrad"),
    "onnxruntime": ("adapters.onnxruntime_adapter", "pip install onnxruntime onnx"),
}
