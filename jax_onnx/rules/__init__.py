"""Rules, one module per primitive family. Importing registers them all."""
from jax_onnx.rules import (calls, conversion, elementwise, indexing, linalg,  # noqa: F401
                            reductions, structural, unsupported)
