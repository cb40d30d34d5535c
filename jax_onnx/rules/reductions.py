"""Reductions and arg-reductions over given axes."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import dtypes as dt
from jax_onnx.registry import Spec, case, register_rule


def _reduce(onnx_op: str, bool_op: str | None = None):
  def rule(ctx, x, *, axes, **params):
    del params   # out_sharding
    if not axes:
      return x
    dtype = ctx.avals_in[0].dtype
    if dt.is_bool(dtype):   # no boolean reduce kernels: reduce as int32
      r = ctx.op(bool_op, ctx.cast(x, np.int32), ctx.ints(axes), keepdims=0)
      return ctx.cast(r, np.bool_)
    r = ctx.op(onnx_op, x, ctx.ints(axes), keepdims=0)
    if onnx_op in ("ReduceMax", "ReduceMin") and dt.is_float(dtype):
      # JAX propagates NaN; ONNX Runtime's ReduceMax/Min skip it.
      any_nan = ctx.cast(ctx.op("ReduceMax", ctx.cast(ctx.op("IsNaN", x), np.int32),
                                ctx.ints(axes), keepdims=0), np.bool_)
      r = ctx.op("Where", any_nan, ctx.scalar(np.nan, ctx.aval_out.dtype), r)
    return r
  return rule


for _prim, (_op, _bool_op) in {P.reduce_sum_p: ("ReduceSum", None),
                               P.reduce_max_p: ("ReduceMax", "ReduceMax"),
                               P.reduce_min_p: ("ReduceMin", "ReduceMin"),
                               P.reduce_prod_p: ("ReduceProd", None),
                               P.reduce_or_p: ("ReduceMax", "ReduceMax"),
                               P.reduce_and_p: ("ReduceMin", "ReduceMin")}.items():
  register_rule(_prim, family="reductions", onnx_ops=[_op])(_reduce(_op, _bool_op))


def _arg_reduce(onnx_op: str):
  def rule(ctx, x, *, axes, index_dtype):
    (axis,) = axes
    idx = ctx.op(onnx_op, x, axis=int(axis), keepdims=0, select_last_index=0)
    if dt.is_float(ctx.avals_in[0].dtype):
      # JAX returns the first NaN's index, for argmax and argmin alike.
      nan = ctx.cast(ctx.op("IsNaN", x), np.int32)
      first_nan = ctx.op("ArgMax", nan, axis=int(axis), keepdims=0, select_last_index=0)
      any_nan = ctx.cast(ctx.op("ReduceMax", nan, ctx.ints([axis]), keepdims=0), np.bool_)
      idx = ctx.op("Where", any_nan, first_nan, idx)
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
