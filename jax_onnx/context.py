"""RuleContext: what a rule sees of the trace while it runs."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from jax_onnx import dtypes as _dt
from jax_onnx import kernels
from jax_onnx.shapes import is_static, is_static_dim, onnx_dims



def _explicit(dims) -> bool:
  return all(not is_static_dim(d) or d >= 0 for d in dims)


def _plain(dtype) -> bool:
  """A dtype the graph holds as itself (not complex pairs, not key data)."""
  try:
    return dtype is not None and np.dtype(dtype).kind != "c"
  except TypeError:
    return False


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

  def reshape(self, x: str, dims, in_shape=None, dtype=None) -> str:
    """Reshape to `dims` (symbolic dims allowed). `in_shape`: x's shape, if x is
    not an operand of this primitive. `dtype`: x's dtype, if x is not an
    operand: with it, x and the result get their types recorded (so that the
    clean-up passes see a Reshape back to the same shape, and drop it).

    With a symbolic dim, the target is still a constant when each symbolic dim
    either stays at its index (ONNX's 0, "copy that dim") or is the only one
    left, with static dims around it (-1, "infer"): no shape arithmetic. A 0
    means "copy" unless allowzero is set, which empty shapes need."""
    zero = any(is_static_dim(d) and d == 0 for d in dims)
    operand = next((t for t in self.tracers_in if t.value == x), None)
    if in_shape is None and operand is not None:
      in_shape = operand.aval.shape
    if dtype is None and operand is not None:
      dtype = operand.aval.dtype
    out = None
    if not zero and in_shape is not None and not is_static(dims):
      target = [int(d) if is_static_dim(d) else
                0 if i < len(in_shape) and not is_static_dim(in_shape[i]) and in_shape[i] == d else
                -1 for i, d in enumerate(dims)]
      infer = target.count(-1)
      if infer == 0 or (infer == 1 and all(t > 0 for t in target if t != -1)):
        out = self.op("Reshape", x, self.ints(target))
    if out is None:
      out = self.op("Reshape", x, self.shape(dims), allowzero=1 if zero else None)
    if _plain(dtype) and _explicit(dims):   # (a rule may pass numpy's -1)
      types = self.builder.graph.value_types
      if in_shape is not None and _explicit(in_shape):
        types.setdefault(x, (np.dtype(dtype), onnx_dims(in_shape)))
      types[out] = (np.dtype(dtype), onnx_dims(dims))
    return out

  def cast(self, x: str, dtype) -> str:
    return self.op("Cast", x, to=_dt.onnx_dtype(dtype))

  def op_as(self, dtype, op_type: str, *inputs, data: tuple[int, ...] | None = None,
            result_is_data: bool = True, **attrs) -> str:
    """`op_type` on values of `dtype`; where ONNX Runtime has no kernel for that
    dtype (kernels.WIDER), the `data` inputs (default: all) are cast to a wider
    dtype that holds them exactly and, if `result_is_data`, the result back."""
    wide = kernels.wider(op_type, dtype)
    if wide is None:
      return self.op(op_type, *inputs, **attrs)
    data = range(len(inputs)) if data is None else data
    ins = [self.cast(x, wide) if i in data else x for i, x in enumerate(inputs)]
    out = self.op(op_type, *ins, **attrs)
    return self.cast(out, dtype) if result_is_data else out

  def where(self, cond: str, a: str, b: str, dtype) -> str:
    """Where(cond, a, b) for values of `dtype` (any dtype JAX has)."""
    return self.op_as(dtype, "Where", cond, a, b, data=(1, 2))

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
