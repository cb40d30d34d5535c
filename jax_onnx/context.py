"""RuleContext: what a rule sees of the trace while it runs."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from jax_onnx import dtypes as _dt


import ml_dtypes

# Types ONNX Runtime (CPU) has no Where kernel for -> a type that holds them exactly.
_WHERE_WIDEN = {np.dtype(np.int16): np.int32, np.dtype(np.uint16): np.int32,
                np.dtype(np.uint64): np.int64, np.dtype(ml_dtypes.bfloat16): np.float32}


class RuleContext:
  """Passed as `ctx` to every rule.

  avals_in / avals_out: JAX's abstract values (shape and dtype, symbolic dims
  included) of the operands and results; consts_in: the numpy value of each
  operand known at export time, else None.
  """
  __slots__ = ("trace", "builder", "primitive", "avals_in", "avals_out",
               "consts_in", "tracers_in")

  def __init__(self, trace, primitive, tracers_in, avals_out):
    self.trace = trace
    self.builder = trace.builder
    self.primitive = primitive
    self.tracers_in = tracers_in
    self.avals_in = [t.aval for t in tracers_in]
    self.avals_out = avals_out
    self.consts_in = [t.const for t in tracers_in]

  # -- building -------------------------------------------------------------
  def op(self, op_type: str, *inputs, outputs: int = 1, **attrs):
    return self.builder.op(op_type, *inputs, outputs=outputs, **attrs)

  def const(self, value, dtype=None) -> str:
    return self.builder.const(value, dtype)

  def ints(self, values) -> str:
    """An int64 1-D constant (axes, starts, shapes)."""
    return self.builder.const(np.asarray(list(values), np.int64).reshape(-1))

  def scalar(self, value, dtype) -> str:
    return self.builder.const(np.asarray(value, dtype=dtype))

  def shape(self, dims) -> str:
    """A 1-D int64 tensor with `dims`; symbolic dims become shape arithmetic."""
    return self.trace.export.dims.shape(dims)

  def dim(self, d) -> str:
    return self.trace.export.dims.dim(d)

  def cast(self, x: str, dtype) -> str:
    return self.op("Cast", x, to=_dt.onnx_dtype(dtype))

  def where(self, cond: str, a: str, b: str, dtype) -> str:
    """Where(cond, a, b) for values of `dtype`, around ONNX Runtime's missing
    kernels (int16, uint16, uint64, bfloat16) by an exact round trip."""
    dtype = np.dtype(dtype)
    wide = _WHERE_WIDEN.get(dtype)
    if wide is None:
      return self.op("Where", cond, a, b)
    r = self.op("Where", cond, self.cast(a, wide), self.cast(b, wide))
    return self.cast(r, dtype)

  @property
  def aval_out(self):
    return self.avals_out[0]

  @property
  def opset(self) -> int:
    return self.trace.export.opset

  @property
  def options(self):
    return self.trace.export.options

  # -- decomposition ---------------------------------------------------------
  def decompose(self, fn: Callable, *args: Any):
    """Traces the JAX function `fn` here (default args: this primitive's
    operands); returns the ONNX value name(s) of its result(s)."""
    return self.trace_jax(fn, *(args or self.tracers_in))

  def trace_jax(self, fn: Callable, *args: Any):
    """Traces `fn(*args)` here (args: tracers or constants); returns value name(s)."""
    outs = self.trace.call_jax(fn, *args)
    if isinstance(outs, (list, tuple)):
      return [self.trace.materialize(self.trace.lift(o)) for o in outs]
    return self.trace.materialize(self.trace.lift(outs))
