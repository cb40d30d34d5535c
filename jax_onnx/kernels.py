"""Where ONNX Runtime (CPU) has no kernel for an op at a dtype, the op runs in
a wider dtype that holds every value exactly, and the result is cast back.

Found by tests/test_differential.py against onnxruntime 1.32. For the integer
sums and products the int64 detour is also what makes overflow wrap as in JAX
(ORT's int32 ReduceSum does not), since (x mod 2**64) mod 2**32 = x mod 2**32,
as long as the int64 sum is exact: ORT's int64 ReduceSum accumulates in float64,
exact up to 2**53, which covers any sum of fewer than 2**21 int32 values.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

_I8, _I16, _I32, _I64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
_U8, _U16, _U32, _U64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
_BOOL, _F32 = np.dtype(np.bool_), np.dtype(np.float32)
_BF16 = np.dtype(ml_dtypes.bfloat16)

_SMALL_INTS_TO_I32 = {_I16: _I32, _U16: _I32}
_COMPARE = {_BOOL: _U8, **_SMALL_INTS_TO_I32}

WIDER: dict[str, dict[np.dtype, np.dtype]] = {
    "Where": {_BOOL: _U8, _U64: _I64, _BF16: _F32, **_SMALL_INTS_TO_I32},
    "Max": {_BOOL: _U8, **_SMALL_INTS_TO_I32},
    "Min": {_BOOL: _U8, **_SMALL_INTS_TO_I32},
    "Less": _COMPARE, "LessOrEqual": _COMPARE, "Greater": _COMPARE,
    "GreaterOrEqual": _COMPARE,
    "ArgMax": {_BOOL: _U8, _U32: _I64, **_SMALL_INTS_TO_I32},
    "ArgMin": {_BOOL: _U8, _U32: _I64, **_SMALL_INTS_TO_I32},
    "ReduceSum": {t: _I64 for t in (_I8, _I16, _I32, _U8, _U16, _U32)},
    "ReduceProd": {t: _I64 for t in (_I8, _I16, _I32, _U8, _U16, _U32)},
    "ReduceMax": {_BOOL: _U8, _U32: _I64, **_SMALL_INTS_TO_I32},
    "ReduceMin": {_BOOL: _U8, _U32: _I64, **_SMALL_INTS_TO_I32},
    "MatMul": {_I8: _I32, _I16: _I32, _U8: _I32, _U16: _I32},
}


def wider(op_type: str, dtype) -> np.dtype | None:
  return WIDER.get(op_type, {}).get(np.dtype(dtype))
