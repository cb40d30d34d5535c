"""Rules, one module per primitive family. Importing registers them all."""
from jax_onnx.rules import (bits, calls, complex, control_flow, conversion,  # noqa: F401
                            convolution, elementwise, indexing, linalg, random, reductions,
                            scatter, sorting, special, structural, unsupported, windows)
