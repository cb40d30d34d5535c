"""Rules, one module per primitive family. Importing registers them all."""
from jax_onnx.rules import (bits, calls, control_flow, conversion, convolution,  # noqa: F401
                            elementwise, indexing, linalg, random, reductions, scatter,
                            sorting, special, structural, unsupported, windows)
