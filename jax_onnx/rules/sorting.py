"""Sorting and selection: sort, top_k, approx_top_k.

ONNX TopK is the sorting engine: with K = the axis length it returns the
sorting permutation, and ONNX (and ONNX Runtime) break ties by the lower index,
so each TopK is a *stable* sort. JAX's orders are not IEEE comparisons, so each
operand is first mapped to keys that TopK orders as JAX does:

* sort: -inf < ... < -0.0 == 0.0 < ... < inf < NaN (every NaN, equal).
* top_k: the total order -0.0 < 0.0, NaN largest.

A float32 key is exact in float64, where inf can move to DBL_MAX to make room
for NaN at +inf (and -0.0 to -DBL_MIN for top_k): one TopK. Other keys that
TopK has no order for are split into several keys, sorted lexicographically by
successive stable passes from the least significant key. The operands are then
gathered along the permutation (GatherElements).
"""
from __future__ import annotations

import jax.numpy as jnp
import ml_dtypes
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx.registry import Spec, case, register_rule

F64 = np.float64
_DBL_MAX, _DBL_MIN = np.finfo(F64).max, np.finfo(F64).tiny

# Dtypes ONNX Runtime's TopK has no kernel for, and a dtype that orders them alike.
_TOPK_AS = {np.dtype(np.bool_): np.uint8, np.dtype(np.uint16): np.int32,
            np.dtype(np.uint32): np.int64}


def _float_key(ctx, x, neg_zero_below_zero: bool):
  """float32 -> float64 key: +inf at DBL_MAX, every NaN at +inf; with
  `neg_zero_below_zero`, -0.0 at -DBL_MIN (below 0.0, above every float32 < 0)."""
  x64 = ctx.cast(x, F64)
  key = ctx.op("Where", ctx.op("IsNaN", x), ctx.scalar(np.inf, F64),
               ctx.op("Min", x64, ctx.scalar(_DBL_MAX, F64)))
  if neg_zero_below_zero:
    key = ctx.op("Where", _is_zero_with_sign(ctx, x64, "Less"), ctx.scalar(-_DBL_MIN, F64), key)
  return key


def _is_zero_with_sign(ctx, x, cmp):
  """x == 0 with the given sign: 1/-0.0 = -inf, 1/0.0 = inf."""
  zero = ctx.scalar(0, F64)
  return ctx.op("And", ctx.op("Equal", x, zero),
                ctx.op(cmp, ctx.op("Div", ctx.scalar(1, F64), x), zero))


def _keys(ctx, x, dtype, for_top_k: bool) -> list[str]:
  """Keys (most significant first) whose lexicographic TopK order is JAX's."""
  dtype = np.dtype(dtype)
  if dtype == np.float32:
    return [_float_key(ctx, x, neg_zero_below_zero=for_top_k)]
  if dtype == np.float64:   # (x64) no wider float: NaN-ness, value[, zero sign]
    nan = ctx.op("IsNaN", x)
    keys = [ctx.cast(nan, np.uint8), ctx.op("Where", nan, ctx.scalar(0, F64), x)]
    if for_top_k:
      keys.append(ctx.cast(_is_zero_with_sign(ctx, x, "Greater"), np.uint8))
    return keys
  if dtype == np.uint64:    # (x64) flipping the top bit maps uint64 order to int64's
    return [ctx.op("BitwiseXor", ctx.cast(x, np.int64),
                   ctx.scalar(np.iinfo(np.int64).min, np.int64))]
  if dtype in _TOPK_AS:
    return [ctx.cast(x, _TOPK_AS[dtype])]
  return [x]


def _order(ctx, keys, axis, n, k, largest):
  """Stable lexicographic TopK over `keys`: (values of the primary key, int64
  indices of the first k along `axis`)."""
  perm = values = None
  for i, key in enumerate(reversed(keys)):
    if perm is not None:
      key = ctx.op("GatherElements", key, perm, axis=axis)
    last = i == len(keys) - 1
    values, idx = ctx.op("TopK", key, k if last else n, axis=axis, largest=largest,
                         sorted=1, outputs=2)
    perm = idx if perm is None else ctx.op("GatherElements", perm, idx, axis=axis)
  return values, perm


@register_rule(P.sort_p, family="sorting", onnx_ops=["TopK", "GatherElements"])
def _sort(ctx, *operands, dimension, is_stable, num_keys):
  # An unstable sort may order ties in any way: the stable order is one of them
  # (XLA's CPU order for ties differs: jnp.argsort(stable=False) with ties).
  del is_stable
  keys = [k for x, aval in zip(operands[:num_keys], ctx.avals_in)
          for k in _keys(ctx, x, aval.dtype, for_top_k=False)]
  n = ctx.dim(ctx.avals_in[0].shape[dimension])
  values, perm = _order(ctx, keys, dimension, n, n, largest=0)
  return [values if keys == [x] else ctx.op("GatherElements", x, perm, axis=dimension)
          for x in operands]


@register_rule(P.top_k_p, family="sorting", onnx_ops=["TopK", "GatherElements"])
def _top_k(ctx, x, *, k, axis=-1):
  aval = ctx.avals_in[0]
  axis = axis % len(aval.shape)
  keys = _keys(ctx, x, aval.dtype, for_top_k=True)
  values, idx = _order(ctx, keys, axis, ctx.dim(aval.shape[axis]), ctx.dim(k), largest=1)
  if keys != [x]:
    values = ctx.op("GatherElements", x, idx, axis=axis)
  return [values, ctx.cast(idx, np.int32)]


@register_rule(P.approx_top_k_p, family="sorting", onnx_ops=["TopK", "GatherElements"])
def _approx_top_k(ctx, x, *, k, reduction_dimension, is_max_k, **params):
  """Exact on CPU: the top k (or, without aggregate_to_topk, the top L of the
  output's size) in IEEE order (-0.0 == 0.0). XLA leaves the order of equal
  values unspecified; this gives the lower index first."""
  del k, params   # recall_target, reduction_input_size_override, aggregate_to_topk
  aval = ctx.avals_in[0]
  axis = reduction_dimension % len(aval.shape)
  keys = _keys(ctx, x, aval.dtype, for_top_k=False)   # NaN: undefined in XLA, here last
  values, idx = _order(ctx, keys, axis, ctx.dim(aval.shape[axis]),
                       ctx.dim(ctx.aval_out.shape[axis]), largest=int(is_max_k))
  if keys != [x]:
    values = ctx.op("GatherElements", x, idx, axis=axis)
  return [values, ctx.cast(idx, np.int32)]


# -- test cases ---------------------------------------------------------------

def _pool(values, dtype=np.float32):
  """Inputs drawn from `values` (edge values, many ties)."""
  return lambda rng, shape: rng.choice(np.asarray(values, dtype), shape)


_EDGE = _pool([np.nan, -np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0, -1.0, 2.5, -2.5, 1e-30])
_EDGE_POS_NAN = _pool([np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0, -1.0, 2.5, -2.5, 1e-30])
_TIES = _pool([0.0, 1.0, 2.0, 3.0])
_SMALL = _pool([0, 1, 2], np.int32)

case("sort_float_edge", jnp.sort, Spec(("B", 16), values=_EDGE), covers="sort")
case("sort_float_axis0_batch", lambda x: lax.sort(x, dimension=0), Spec(("B", 7), values=_EDGE),
     covers="sort")
case("sort_float_middle_axis", lambda x: jnp.sort(x, axis=1), Spec(("B", 9, 3), values=_EDGE),
     covers="sort")
case("sort_int32", jnp.sort, Spec(("B", 10), "int32", "int"), covers="sort")
case("sort_int32_extremes", jnp.sort, Spec(("B", 8), "int32", _pool(
    [np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, -1, 1], np.int32)), covers="sort")
case("sort_uint8", jnp.sort, Spec(("B", 10), "uint8", _pool([0, 1, 127, 128, 255], np.uint8)),
     covers="sort")
case("sort_int8", jnp.sort, Spec(("B", 10), "int8", "int"), covers="sort")
case("sort_uint16", jnp.sort, Spec(("B", 10), "uint16", _pool([0, 1, 65535, 40000], np.uint16)),
     covers="sort")
case("sort_uint32", jnp.sort, Spec(("B", 10), "uint32", _pool([0, 1, 2**32 - 1, 2**31], np.uint32)),
     covers="sort")
case("sort_int16", jnp.sort, Spec(("B", 10), "int16", "int"), covers="sort")
case("sort_bool", jnp.sort, Spec(("B", 10), "bool", "bool"), covers="sort")
case("sort_bfloat16", jnp.sort, Spec(("B", 10), ml_dtypes.bfloat16, _EDGE), covers="sort")
case("sort_float16", jnp.sort, Spec(("B", 10), "float16", _EDGE), covers="sort")
case("sort_argsort_stable_ties", jnp.argsort, Spec(("B", 12), values=_TIES), covers="sort")
case("sort_argsort_edge", jnp.argsort, Spec(("B", 12), values=_EDGE), covers="sort")
case("sort_argsort_unstable", lambda x: jnp.argsort(x, stable=False), ("B", 12), covers="sort")
case("sort_argsort_descending", lambda x: jnp.argsort(x, descending=True),
     Spec(("B", 12), values=_TIES), covers="sort")
case("sort_descending", lambda x: jnp.sort(x, descending=True), Spec(("B", 12), values=_EDGE),
     covers="sort")
case("sort_key_val", lambda k, v: lax.sort_key_val(k, v), Spec(("B", 10), values=_TIES),
     Spec(("B", 10), "int32", "int"), covers="sort")
case("sort_lexsort", lambda a, b: jnp.lexsort((a, b)), Spec(("B", 10), "int32", _SMALL),
     Spec(("B", 10), values=_pool([0.0, -0.0, 1.0, np.nan])), covers="sort")
case("sort_three_keys", lambda a, b, c, d: lax.sort((a, b, c, d), num_keys=3),
     Spec(("B", 12), "int32", _SMALL), Spec(("B", 12), "bool", "bool"),
     Spec(("B", 12), values=_TIES), Spec(("B", 12), "uint8", "int"), covers="sort")
case("sort_lexsort_batch_axis", lambda a, b: jnp.lexsort((a, b), axis=0),
     Spec(("B", 3), "int32", _SMALL), Spec(("B", 3), "int8", _SMALL), covers="sort")
case("sort_median", lambda x: jnp.median(x, axis=-1), ("B", 7), covers="sort")
case("sort_percentile", lambda x: jnp.percentile(x, 30.0, axis=-1), ("B", 6), covers="sort")

case("topk_float_edge", lambda x: lax.top_k(x, 5), Spec(("B", 12), values=_EDGE_POS_NAN),
     covers="top_k")
case("topk_full", lambda x: lax.top_k(x, 12), Spec(("B", 12), values=_EDGE_POS_NAN),
     covers="top_k")
case("topk_axis1", lambda x: lax.top_k(x, 3, axis=1), Spec(("B", 6, 4), values=_TIES),
     covers="top_k")
case("topk_int32", lambda x: lax.top_k(x, 4), Spec(("B", 9), "int32", "int"), covers="top_k")
case("topk_uint32", lambda x: lax.top_k(x, 4),
     Spec(("B", 9), "uint32", _pool([0, 1, 2**32 - 1, 2**31], np.uint32)), covers="top_k")
case("topk_bool", lambda x: lax.top_k(x, 3), Spec(("B", 6), "bool", "bool"), covers="top_k")
case("topk_uint8", lambda x: lax.top_k(x, 3), Spec(("B", 6), "uint8", "int"), covers="top_k")
case("topk_bfloat16", lambda x: lax.top_k(x, 3), Spec(("B", 8), ml_dtypes.bfloat16, _TIES),
     covers="top_k")

_DISTINCT = lambda rng, shape: rng.permutation(np.prod(shape)).reshape(shape) - 10.5
case("topk_approx_max", lambda x: lax.approx_max_k(x, 3), Spec(("B", 9), values=_DISTINCT),
     covers="approx_top_k")
case("topk_approx_min_axis0", lambda x: lax.approx_min_k(x, 2, reduction_dimension=0),
     Spec((5, "B"), values=_DISTINCT), covers="approx_top_k")
case("topk_approx_not_aggregated", lambda x: lax.approx_max_k(x, 3, aggregate_to_topk=False),
     Spec(("B", 300), values=_DISTINCT), covers="approx_top_k")
