"""JAX/numpy dtypes <-> ONNX element types."""
from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto

from jax_onnx.errors import UnsupportedDtypeError

_NP_TO_ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(ml_dtypes.bfloat16): TensorProto.BFLOAT16,
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.int16): TensorProto.INT16,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.uint16): TensorProto.UINT16,
    np.dtype(np.uint32): TensorProto.UINT32,
    np.dtype(np.uint64): TensorProto.UINT64,
    np.dtype(np.bool_): TensorProto.BOOL,
}
_ONNX_TO_NP = {v: k for k, v in _NP_TO_ONNX.items()}


def onnx_dtype(dtype) -> int:
  """The ONNX TensorProto element type of a numpy/JAX dtype."""
  dt = np.dtype(dtype)
  try:
    return _NP_TO_ONNX[dt]
  except KeyError:
    raise UnsupportedDtypeError(
        f"dtype {dt} has no ONNX equivalent that jax_onnx supports. "
        f"Supported: {', '.join(sorted(str(d) for d in _NP_TO_ONNX))}. "
        "Cast the value (e.g. x.astype(jnp.float32)) before export.") from None


def numpy_dtype(onnx_type: int) -> np.dtype:
  return _ONNX_TO_NP[onnx_type]


def is_float(dtype) -> bool:
  dt = np.dtype(dtype)
  return dt.kind == "f" or dt == np.dtype(ml_dtypes.bfloat16)


def is_int(dtype) -> bool:
  return np.dtype(dtype).kind in "iu"


def is_signed_int(dtype) -> bool:
  return np.dtype(dtype).kind == "i"


def is_bool(dtype) -> bool:
  return np.dtype(dtype) == np.bool_
