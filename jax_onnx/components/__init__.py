"""High-level components (jax.nn, flax.nnx) as idiomatic ONNX ops. Importing
registers them all (see core.py for how they are routed)."""
from jax_onnx.components import (  # noqa: F401
    activations, attention, core, layers, normalization)
