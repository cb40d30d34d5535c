"""Reductions and arg-reductions over given axes."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.extend.core import primitives as P

from jax_onnx import dtypes as dt
from jax_onnx import kernels
from jax_onnx.registry import Spec, case, register_rule


def _reduce(onnx_op: str):
  def rule(ctx, x, *, axes, **params):
    del params   # out_sharding
    if not axes:
      return x
    dtype = ctx.avals_in[0].dtype
    wide = kernels.wider(onnx_op, dtype)
    if wide is not None and onnx_op in ("ReduceMax", "ReduceMin") and dt.is_int(dtype):
      # In the wider type an empty reduction gives *its* extreme: clamp to the
      # narrow type's, which is JAX's identity (and a no-op otherwise).
      info = np.iinfo(dtype)
      r = ctx.op(onnx_op, ctx.cast(x, wide), ctx.ints(axes), keepdims=0)
      r = ctx.op("Max", ctx.op("Min", r, ctx.scalar(info.max, wide)), ctx.scalar(info.min, wide))
      return ctx.cast(r, dtype)
    if onnx_op == "ReduceProd" and dt.is_int(dtype):
      shape = ctx.avals_in[0].shape
      if all(isinstance(shape[a], (int, np.integer)) for a in axes):
        return _int_product(ctx, x, axes, shape)
    r = ctx.op_as(dtype, onnx_op, x, ctx.ints(axes), data=(0,), keepdims=0)
    if onnx_op in ("ReduceMax", "ReduceMin") and dt.is_float(dtype):
      # JAX propagates NaN; ONNX Runtime's ReduceMax/Min skip it.
      r = ctx.op("Where", _any(ctx, ctx.op("IsNaN", x), axes),
                 ctx.scalar(np.nan, ctx.aval_out.dtype), r)
    return r
  return rule


def _int_product(ctx, x, axes, shape):
  """Integer product that wraps around like XLA's: a tree of Muls over the
  reduced axes (ONNX Runtime's integer ReduceProd saturates instead)."""
  others = [d for d in range(len(shape)) if d not in axes]
  n = int(np.prod([shape[a] for a in axes]))
  dtype = ctx.avals_in[0].dtype
  if n == 0:
    return ctx.op("Expand", ctx.scalar(1, dtype), ctx.shape([shape[d] for d in others]))
  perm = others + list(axes)
  if perm != list(range(len(perm))):
    x = ctx.op("Transpose", x, perm=perm)
  x = ctx.reshape(x, [shape[d] for d in others] + [n])
  while n > 1:
    if n % 2:   # pad the reduced axis with one 1
      pads = [0] * (len(others) + 1) + [0] * len(others) + [1]
      x = ctx.op("Pad", x, ctx.ints(pads), ctx.scalar(1, dtype))
      n += 1
    half = n // 2
    a = ctx.op("Slice", x, ctx.ints([0]), ctx.ints([half]), ctx.ints([-1]))
    b = ctx.op("Slice", x, ctx.ints([half]), ctx.ints([n]), ctx.ints([-1]))
    x, n = ctx.op("Mul", a, b), half
  return ctx.op("Squeeze", x, ctx.ints([-1]))


def _any(ctx, mask, axes):
  """OR of a boolean mask over axes; False over an empty axis (where ReduceMax
  of an int gives its minimum, not 0)."""
  m = ctx.op("ReduceMax", ctx.cast(mask, np.int32), ctx.ints(axes), keepdims=0)
  return ctx.op("Greater", m, ctx.scalar(0, np.int32))


def _all(ctx, mask, axes):
  m = ctx.op("ReduceMin", ctx.cast(mask, np.int32), ctx.ints(axes), keepdims=0)
  return ctx.op("Greater", m, ctx.scalar(0, np.int32))


def _bitwise_reduce(is_or: bool):
  """reduce_or / reduce_and. Bool: any/all. Integers: bit by bit, as in JAX
  (ONNX has no bitwise reductions): bit b of the result is any/all over the
  axes of bit b of x; the bits are then summed, which for distinct powers of
  two is their OR (the int64 sum wraps into the sign bit exactly)."""
  def rule(ctx, x, *, axes, **params):
    del params
    dtype = ctx.avals_in[0].dtype
    if not axes:
      return x
    if dt.is_bool(dtype):
      return (_any if is_or else _all)(ctx, x, axes)
    bits = np.dtype(dtype).itemsize * 8
    masks = (np.int64(1) << np.arange(bits, dtype=np.int64))
    if dt.is_signed_int(dtype) and bits == 64:
      masks[-1] = np.iinfo(np.int64).min
    wide = ctx.cast(x, np.int64) if np.dtype(dtype) != np.int64 else x
    if not is_or:   # and = not(or(not x)) over the dtype's bits
      wide = ctx.op("BitwiseNot", wide)
    set_bits = ctx.op("Not", ctx.op("Equal", ctx.op(
        "BitwiseAnd", ctx.op("Unsqueeze", wide, ctx.ints([-1])), ctx.const(masks)),
        ctx.scalar(0, np.int64)))
    anywhere = _any(ctx, set_bits, axes)
    r = ctx.op("ReduceSum", ctx.op("Where", anywhere, ctx.const(masks), ctx.scalar(0, np.int64)),
               ctx.ints([-1]), keepdims=0)
    if not is_or:
      r = ctx.op("BitwiseNot", r)
    return ctx.cast(r, dtype)
  return rule


for _prim, _op in {P.reduce_sum_p: "ReduceSum", P.reduce_max_p: "ReduceMax",
                   P.reduce_min_p: "ReduceMin", P.reduce_prod_p: "ReduceProd"}.items():
  register_rule(_prim, family="reductions", onnx_ops=[_op])(_reduce(_op))
register_rule(P.reduce_or_p, family="reductions",
              onnx_ops=["ReduceMax", "BitwiseAnd"])(_bitwise_reduce(True))
register_rule(P.reduce_and_p, family="reductions",
              onnx_ops=["ReduceMin", "BitwiseAnd"])(_bitwise_reduce(False))


def _arg_reduce(onnx_op: str):
  def rule(ctx, x, *, axes, index_dtype):
    (axis,) = axes
    idx = ctx.op_as(ctx.avals_in[0].dtype, onnx_op, x, axis=int(axis), keepdims=0,
                    select_last_index=0, result_is_data=False)
    if dt.is_float(ctx.avals_in[0].dtype):
      # JAX returns the first NaN's index, for argmax and argmin alike.
      nan = ctx.op("IsNaN", x)
      first_nan = ctx.op("ArgMax", ctx.cast(nan, np.int32), axis=int(axis), keepdims=0,
                         select_last_index=0)
      idx = ctx.op("Where", _any(ctx, nan, [axis]), first_nan, idx)
    return ctx.cast(idx, index_dtype)
  return rule


register_rule(P.argmax_p, family="reductions", onnx_ops=["ArgMax"])(_arg_reduce("ArgMax"))
register_rule(P.argmin_p, family="reductions", onnx_ops=["ArgMin"])(_arg_reduce("ArgMin"))


def _with_nans(rng, shape):
  x = rng.standard_normal(shape).astype(np.float32)
  x.reshape(-1)[3::7] = np.nan
  return x


def _ties(rng, shape):
  return rng.integers(-2, 3, shape).astype(np.float32)


_X = ("B", 5, 4)
for _name, _fn in {"reduce_sum": jnp.sum, "reduce_max": jnp.max, "reduce_min": jnp.min,
                   "reduce_prod": jnp.prod}.items():
  case(f"{_name}_axis1", lambda x, _f=_fn: _f(x, axis=1), _X, covers=_name)
  case(f"{_name}_all_but_batch", lambda x, _f=_fn: _f(x, axis=(1, 2)), _X, covers=_name)
  case(f"{_name}_batch", lambda x, _f=_fn: _f(x, axis=0), _X, covers=_name)
case("reduce_sum_int32", lambda x: jnp.sum(x, axis=2), Spec(_X, "int32", "int"),
     covers="reduce_sum")
case("reduce_max_nan", lambda x: jnp.max(x, axis=2), Spec(_X, "float32", _with_nans),
     covers="reduce_max")
case("reduce_or_any", lambda x: jnp.any(x > 1.0, axis=1), _X, covers="reduce_or")
case("reduce_and_all", lambda x: jnp.all(x > -1.0, axis=1), _X, covers="reduce_and")
case("mean_var", lambda x: (jnp.mean(x, axis=-1), jnp.var(x, axis=-1)), _X,
     covers="reduce_sum")
for _name, _fn in {"argmax": jnp.argmax, "argmin": jnp.argmin}.items():
  case(f"{_name}_axis1", lambda x, _f=_fn: _f(x, axis=1), _X, covers=_name)
  case(f"{_name}_ties_first", lambda x, _f=_fn: _f(x, axis=2), Spec(_X, "float32", _ties),
       covers=_name)
  case(f"{_name}_nan_first", lambda x, _f=_fn: _f(x, axis=2), Spec(_X, "float32", _with_nans),
       covers=_name)
  case(f"{_name}_int32", lambda x, _f=_fn: _f(x, axis=-1), Spec(_X, "int32", "int"),
       covers=_name)
