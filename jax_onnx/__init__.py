"""jax_onnx: export JAX functions and Flax NNX modules to ONNX, as a JAX transformation.

    onnx_fn = jax_onnx.transform(fn)
    y = onnx_fn(x)                        # exports, runs in ONNX Runtime
    exported = onnx_fn.lower(jax.ShapeDtypeStruct(("B", 30), jnp.float32))
    exported.save("model.onnx")
"""
__version__ = "0.1.0"

from jax_onnx.api import (DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, ExportOptions,
                          Exported, OnnxFunction, save_onnx, transform)
from jax_onnx.errors import (ConcreteValueError, InputMismatchError, JaxOnnxError,
                             RuntimeVersionError, SpecError,
                             SymbolicDimError, TracerLeakError,
                             UnsupportedDtypeError, UnsupportedPrimitiveError)
from jax_onnx.registry import Case, Spec, register_rule


def coverage() -> list[dict]:
  """One row per JAX primitive: supported or not (with the reason), ONNX ops,
  number of test cases. `python -m jax_onnx.support` prints it as a table."""
  from jax_onnx.support import coverage as _coverage
  return _coverage()


__all__ = [
    "transform", "save_onnx", "Exported", "OnnxFunction", "ExportOptions",
    "register_rule", "coverage", "Case", "Spec",
    "JaxOnnxError", "UnsupportedPrimitiveError", "UnsupportedDtypeError",
    "SpecError", "InputMismatchError", "SymbolicDimError", "TracerLeakError",
    "RuntimeVersionError", "ConcreteValueError",
    "DEFAULT_OPSET", "MIN_OPSET", "MAX_OPSET",
]
