"""Rules, one module per primitive family. Importing registers them all."""
from jax_onnx.rules import (calls, control_flow, conversion, elementwise,  # noqa: F401
                            indexing, linalg, reductions, structural, unsupported)
