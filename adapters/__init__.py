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
}
