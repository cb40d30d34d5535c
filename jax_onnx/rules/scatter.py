"""Scatter family and dynamic_update_slice, with JAX's index modes.

Every scatter becomes one element-wise ScatterND on the flattened operand: each
element of `updates` gets the flat operand position XLA's dimension numbers
give it (start index + window offset, batching dims by iota). Out-of-bounds
windows (FILL_OR_DROP, and PROMISE_IN_BOUNDS, which XLA on CPU also drops) are
sent to one extra dummy element that is sliced off afterwards, so nothing
depends on an identity value of the combiner. CLIP clamps the start indices.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx import dtypes as dt
from jax_onnx.registry import Spec, case, register_rule
from jax_onnx.shapes import is_static_dim

I64 = np.int64



def _scalar_dim(ctx, d) -> str:
  return ctx.op("Squeeze", ctx.dim(d), ctx.ints([0]))


def _iota_along(ctx, n, axis: int, rank: int) -> str:
  """int64 0..n-1 along `axis` of a rank-`rank` tensor (other dims 1)."""
  r = ctx.op("Range", ctx.scalar(0, I64), _scalar_dim(ctx, n), ctx.scalar(1, I64))
  others = [a for a in range(rank) if a != axis]
  return ctx.op("Unsqueeze", r, ctx.ints(others)) if others else r


def _scatter_nd(ctx, operand, starts, updates, *, op_shape, upd_shape, window_dims,
                inserted, scatter_to_operand, operand_batching, indices_batching,
                clip, reduction, dtype, in_bounds=False):
  """The XLA scatter of `updates` into `operand` (ONNX values) as one ScatterND.

  starts[k]: int64 start indices for operand dim scatter_to_operand[k], shaped
  like the indices' batch dims (the update scatter dims, in order). Returns
  the flat result (operand size, plus the dummy element unless `in_bounds`
  or `clip`), to be finished by `_unflatten`, and whether a dummy was added.
  """
  rank = len(upd_shape)
  scatter_axes = [a for a in range(rank) if a not in window_dims]   # index batch dims
  op_window = [d for d in range(len(op_shape))
               if d not in inserted and d not in operand_batching]
  wsize = {d: upd_shape[window_dims[i]] for i, d in enumerate(op_window)}

  def to_updates(t):   # index batch shape -> broadcastable to the updates' shape
    return ctx.op("Unsqueeze", t, ctx.ints(window_dims)) if window_dims else t

  full: dict[int, str] = {}
  valid = None
  for start, d in zip(starts, scatter_to_operand):
    if clip:
      hi = ctx.op("Sub", _scalar_dim(ctx, op_shape[d]), _scalar_dim(ctx, wsize.get(d, 1)))
      start = ctx.op("Min", ctx.op("Max", start, ctx.scalar(0, I64)), hi)
    elif not in_bounds:   # XLA drops the whole window if any part is out of bounds
      hi = ctx.op("Sub", _scalar_dim(ctx, op_shape[d]), _scalar_dim(ctx, wsize.get(d, 1)))
      ok = ctx.op("And", ctx.op("GreaterOrEqual", start, ctx.scalar(0, I64)),
                  ctx.op("LessOrEqual", start, hi))
      valid = ok if valid is None else ctx.op("And", valid, ok)
    full[d] = to_updates(start)
  for d, ib in zip(operand_batching, indices_batching):
    axis = scatter_axes[ib]
    full[d] = _iota_along(ctx, upd_shape[axis], axis, rank)
  for i, d in enumerate(op_window):
    offset = _iota_along(ctx, upd_shape[window_dims[i]], window_dims[i], rank)
    full[d] = ctx.op("Add", full[d], offset) if d in full else offset

  flat = None
  for d, pos in sorted(full.items()):
    stride = math.prod(op_shape[d + 1:])
    if not (is_static_dim(stride) and stride == 1):
      pos = ctx.op("Mul", pos, _scalar_dim(ctx, stride))
    flat = pos if flat is None else ctx.op("Add", flat, pos)
  if flat is None:   # rank-0 operand
    flat = ctx.scalar(0, I64)
  size = math.prod(op_shape)
  dummy = valid is not None
  if dummy:
    flat = ctx.op("Where", to_updates(valid), flat, _scalar_dim(ctx, size))
  flat = ctx.op("Expand", flat, ctx.op("Shape", updates))
  index = ctx.op("Unsqueeze", flat, ctx.ints([-1]))
  data = ctx.reshape(operand, [-1])
  if dummy:
    data = ctx.op("Concat", data, ctx.const(np.zeros(1, dtype)), axis=0)
  return ctx.op("ScatterND", data, index, updates, reduction=reduction), dummy


def _unflatten(ctx, flat, op_shape, dummy):
  if dummy:
    flat = ctx.op("Slice", flat, ctx.ints([0]), ctx.dim(math.prod(op_shape)), ctx.ints([0]))
  return ctx.reshape(flat, op_shape)


def _is_clip(mode) -> bool:
  return lax.GatherScatterMode.from_any(mode) == lax.GatherScatterMode.CLIP


def _index_columns(ctx, indices):
  """The start-index columns (int64, the indices' batch shape) of a scatter."""
  aval = ctx.avals_in[1]
  idx = ctx.cast(indices, I64) if aval.dtype != I64 else indices
  k = aval.shape[-1]
  return [ctx.op("Squeeze", ctx.op("Slice", idx, ctx.ints([j]), ctx.ints([j + 1]),
                                   ctx.ints([-1])), ctx.ints([-1])) for j in range(k)]


def _known_in_bounds(ctx, dn) -> bool:
  """Constant start indices (x.at[:, 2].set(v)) that all fit: no dummy needed."""
  idx = ctx.consts_in[1]
  if idx is None:
    return False
  op_shape, upd_shape = ctx.avals_in[0].shape, ctx.avals_in[2].shape
  op_window = [d for d in range(len(op_shape))
               if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims]
  for k, d in enumerate(dn.scatter_dims_to_operand_dims):
    size = upd_shape[dn.update_window_dims[op_window.index(d)]] if d in op_window else 1
    if not (is_static_dim(op_shape[d]) and is_static_dim(size)):
      return False
    col = np.asarray(idx)[..., k].astype(I64)
    if np.any(col < 0) or np.any(col > op_shape[d] - size):
      return False
  return True


def _scatter(ctx, operand, indices, updates, reduction, dn, mode, dtype=None):
  """The scatter with `dimension_numbers` dn; `dtype` when operand and updates
  are not the primitive's own (then of that dtype)."""
  op_shape, upd_shape = ctx.avals_in[0].shape, ctx.avals_in[2].shape
  if any(is_static_dim(d) and d == 0 for d in op_shape):
    return operand   # nothing to update (ONNX Runtime rejects indices into it)
  flat, dummy = _scatter_nd(
      ctx, operand, _index_columns(ctx, indices), updates, op_shape=op_shape,
      upd_shape=upd_shape, window_dims=list(dn.update_window_dims),
      inserted=set(dn.inserted_window_dims),
      scatter_to_operand=list(dn.scatter_dims_to_operand_dims),
      operand_batching=list(dn.operand_batching_dims),
      indices_batching=list(dn.scatter_indices_batching_dims), clip=_is_clip(mode),
      reduction=reduction, dtype=dtype or ctx.avals_in[0].dtype,
      in_bounds=_known_in_bounds(ctx, dn))
  return _unflatten(ctx, flat, op_shape, dummy)


@register_rule(P.scatter_p, family="scatter", onnx_ops=["ScatterND", "Where"])
def _scatter_replace(ctx, operand, indices, updates, *, update_jaxpr, update_consts,
                     dimension_numbers, mode, unique_indices, **params):
  del params   # indices_are_sorted: a hint
  dn = dimension_numbers
  if update_jaxpr is None:
    return _scatter(ctx, operand, indices, updates, "none", dn, mode)
  # x.at[i].apply(f): f(old, update) where an update lands. XLA applies it once
  # per update, so duplicate indices would apply it repeatedly: exact only
  # with unique indices.
  if not unique_indices:
    raise NotImplementedError(
        "scatter with a custom update function (x.at[i].apply(f)) is exported only with "
        "unique_indices=True (f would be applied once per duplicate)")
  placed = _scatter(ctx, operand, indices, updates, "none", dn, mode)
  false = ctx.op("Expand", ctx.const(np.array(False)), ctx.op("Shape", operand))
  true = ctx.op("Expand", ctx.const(np.array(True)), ctx.op("Shape", updates))
  hit = _scatter(ctx, false, indices, true, "none", dn, mode, np.bool_)
  aval = ctx.avals_in[0]
  old, new = ctx.trace.typed_outputs([operand, placed], [aval, aval])

  def apply(a, b):   # the scalar update_jaxpr, on every element
    def f(x, y):
      return _compat.eval_jaxpr(update_jaxpr, update_consts, x, y)[0]
    return jax.vmap(f)(a.reshape(-1), b.reshape(-1)).reshape(a.shape)
  applied = ctx.trace_jax(apply, old, new)
  return ctx.where(hit, applied, operand, aval.dtype)


def _combining_rule(reduction):
  def rule(ctx, operand, indices, updates, *, dimension_numbers, mode, **params):
    del params   # update_jaxpr: the primitive fixes the combiner
    return _scatter(ctx, operand, indices, updates, reduction, dimension_numbers, mode)
  return rule


register_rule(P.scatter_add_p, family="scatter", onnx_ops=["ScatterND"])(
    _combining_rule("add"))
register_rule(P.scatter_mul_p, family="scatter", onnx_ops=["ScatterND"])(
    _combining_rule("mul"))


def _extremal_rule(reduction):
  """scatter-min/max. ORT's ScatterND min/max keeps whichever of two equal
  values or a NaN came first; JAX propagates NaN and orders -0 < +0. A second
  ScatterND (max) of a per-element code (2: NaN, 1: the zero that must win)
  says where the result is NaN or that zero. bool runs as uint8."""
  def rule(ctx, operand, indices, updates, *, dimension_numbers, mode, **params):
    del params
    dtype = ctx.avals_in[0].dtype
    dn = dimension_numbers
    if dt.is_bool(dtype):
      u8 = np.uint8
      out = _scatter(ctx, ctx.cast(operand, u8), indices, ctx.cast(updates, u8), reduction, dn,
                     mode, u8)
      return ctx.cast(out, dtype)
    r = _scatter(ctx, operand, indices, updates, reduction, dn, mode)
    if not dt.is_float(dtype):
      return r
    zero = ctx.scalar(0, dtype)
    # The zero that wins: -0 for min, +0 for max (1/x tells them apart).
    winner_sign = "Less" if reduction == "min" else "Greater"

    def code(x):
      is_zero = ctx.op("Equal", x, zero)
      special = ctx.op("And", is_zero, ctx.op(winner_sign, ctx.op(
          "Div", ctx.scalar(1, dtype), x), zero))
      return ctx.op("Add", ctx.op("Mul", ctx.cast(ctx.op("IsNaN", x), np.int32),
                                  ctx.scalar(2, np.int32)), ctx.cast(special, np.int32))

    codes = _scatter(ctx, code(operand), indices, code(updates), "max", dn, mode, np.int32)
    is_nan = ctx.op("GreaterOrEqual", codes, ctx.scalar(2, np.int32))
    at_zero = ctx.op("And", ctx.op("Equal", r, zero),
                     ctx.op("Equal", codes, ctx.scalar(1, np.int32)))
    # The sign is set by multiplying |r| by +-1, not by selecting a signed zero:
    # ONNX Runtime's Where loses the sign of the -0.0 it returns.
    negative = ctx.op("Or", ctx.op("Less", r, zero), ctx.op(
        "And", ctx.op("Equal", r, zero), ctx.op("Less", ctx.op("Div", ctx.scalar(1, dtype), r),
                                                zero)))
    negative = (ctx.op("Or", negative, at_zero) if reduction == "min"
                else ctx.op("And", negative, ctx.op("Not", at_zero)))
    sign = ctx.op("Where", negative, ctx.scalar(-1, dtype), ctx.scalar(1, dtype))
    r = ctx.op("Mul", ctx.op("Abs", r), sign)
    return ctx.op("Where", is_nan, ctx.scalar(np.nan, dtype), r)
  return rule


register_rule(P.scatter_min_p, family="scatter", onnx_ops=["ScatterND"])(_extremal_rule("min"))
register_rule(P.scatter_max_p, family="scatter", onnx_ops=["ScatterND"])(_extremal_rule("max"))


@register_rule(P.dynamic_update_slice_p, family="scatter", onnx_ops=["ScatterND"])
def _dynamic_update_slice(ctx, operand, update, *starts):
  op_shape, upd_shape = ctx.avals_in[0].shape, ctx.avals_in[1].shape
  rank = len(op_shape)
  starts = [ctx.cast(s, I64) if a.dtype != I64 else s for s, a in zip(starts, ctx.avals_in[2:])]
  flat, dummy = _scatter_nd(
      ctx, operand, starts, update, op_shape=op_shape, upd_shape=upd_shape,
      window_dims=list(range(rank)), inserted=set(), scatter_to_operand=list(range(rank)),
      operand_batching=[], indices_batching=[], clip=True, reduction="none",
      dtype=ctx.avals_in[0].dtype)
  return _unflatten(ctx, flat, op_shape, dummy)


# ---------------------------------------------------------------------------
def _unique(n):   # distinct indices 0..n-1 (scatter replace with duplicates is unspecified)
  return lambda rng, shape: rng.permutation(n)[:shape[0]]


def _extremes(rng, shape):   # NaN, signed zeros, infinities and ordinary values
  pool = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 2.5], np.float32)
  return rng.choice(pool, shape)


_DN_ROWS = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(0,),
                                       scatter_dims_to_operand_dims=(0,))
_T = Spec((6, 4))
_ROW_IDS = Spec(("B",), "int32", _unique(6))
_DUP_IDS = Spec(("B",), "int32", "index", 6)
_ROWS = Spec(("B", 4))

case("scatter_set_rows", lambda x, i, v: x.at[i].set(v), _T, _ROW_IDS, _ROWS, covers="scatter")
case("scatter_set_column", lambda x, v: x.at[:, 2].set(v), ("B", 5), ("B",), covers="scatter",
     forbid_ops=("Where",))
case("scatter_set_scalar", lambda x, i: x.at[i].set(-1.0), _T, _DUP_IDS, covers="scatter")
case("scatter_set_bool", lambda x, i, v: x.at[i].set(v), Spec((6, 4), "bool"), _ROW_IDS,
     Spec(("B", 4), "bool"), covers="scatter")
case("scatter_set_float16", lambda x, i, v: x.at[i].set(v), Spec((6, 4), "float16"), _ROW_IDS,
     Spec(("B", 4), "float16"), covers="scatter")
case("scatter_set_two_indices", lambda x, i, j, v: x.at[i, j].set(v), Spec((5, 6)),
     Spec(("B",), "int32", _unique(5)), Spec(("B",), "int32", "index", 6), ("B",),
     covers="scatter")
case("scatter_set_drop_out_of_bounds", lambda x, i, v: x.at[i].set(v, mode="drop"), _T,
     Spec(("B",), "int32", lambda rng, s: rng.permutation(np.arange(-9, 12))[:s[0]]), _ROWS,
     covers="scatter")
case("scatter_set_clip", lambda x, i, v: x.at[i].set(v, mode="clip"), _T,
     Spec(("B",), "int32", lambda rng, s: np.array([-5, 20, 2, 3, 4][:s[0]])), _ROWS,
     covers="scatter")
# Windows on an axis, partly out of bounds: XLA drops the whole window (also
# for PROMISE_IN_BOUNDS on CPU), and clamps it whole in CLIP mode.
_DN_WIN = lax.ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(),
                                      scatter_dims_to_operand_dims=(0,))
_WIN_IDS = Spec(("B", 1), "int32", lambda rng, s: rng.integers(-3, 9, s))
for _mode in ("fill", "clip", "promise_in_bounds"):
  case(f"scatter_add_window_{_mode}",
       lambda x, i, v, m=_mode: lax.scatter_add(x, i, v, _DN_WIN, mode=m),
       Spec((8,)), _WIN_IDS, Spec(("B", 3)), covers="scatter-add")
case("scatter_window_2d_lax", lambda x, i, v: lax.scatter(
    x, i, v, lax.ScatterDimensionNumbers(update_window_dims=(1, 2), inserted_window_dims=(1,),
                                         scatter_dims_to_operand_dims=(1, 2)),
    mode="fill", unique_indices=True),
     Spec((4, 3, 5)), Spec((1, 2), "int32", lambda rng, s: np.array([[1, 2]])),
     Spec((1, 4, 3)), covers="scatter")
case("scatter_add_permuted_index_dims", lambda x, i, v: lax.scatter_add(
    x, i, v, lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0, 1),
                                         scatter_dims_to_operand_dims=(1, 0)), mode="fill"),
     Spec((4, 5)), Spec(("B", 2), "int32", lambda rng, s: rng.integers(-1, 6, s)), ("B",),
     covers="scatter-add")
case("scatter_add_duplicates", lambda x, i, v: x.at[i].add(v), _T, _DUP_IDS, _ROWS,
     covers="scatter-add")
case("scatter_add_int8_wraps", lambda x, i, v: x.at[i].add(v), Spec((6, 4), "int8",
     lambda rng, s: rng.integers(100, 128, s)), _DUP_IDS,
     Spec(("B", 4), "int8", lambda rng, s: rng.integers(50, 128, s)), covers="scatter-add")
case("scatter_add_negative_zero", lambda x, i, v: x.at[i].add(v),
     Spec((6,), "float32", lambda rng, s: np.full(s, -0.0)), _DUP_IDS,
     Spec(("B",), "float32", lambda rng, s: rng.choice(np.float32([0.0, -0.0]), s)),
     covers="scatter-add")
case("scatter_add_vmapped", jax.vmap(lambda row, i, v: row.at[i].add(v)), ("B", 6),
     Spec(("B", 3), "int32", "index", 6), ("B", 3), covers="scatter-add")
case("scatter_add_grad_of_gather",
     jax.grad(lambda t, i, w: jnp.sum(t[i] * w)), _T, _DUP_IDS, _ROWS, covers="scatter-add")
case("scatter_add_bfloat16", lambda x, i, v: x.at[i].add(v), Spec((6, 4), "bfloat16"),
     _DUP_IDS, Spec(("B", 4), "bfloat16"), covers="scatter-add", rtol=2e-2, atol=2e-2)
case("scatter_mul_duplicates", lambda x, i, v: x.at[i].mul(v), _T, _DUP_IDS, _ROWS,
     covers="scatter-mul")
case("scatter_mul_int32", lambda x, i, v: x.at[i].mul(v), Spec((6,), "int32"), _DUP_IDS,
     Spec(("B",), "int32"), covers="scatter-mul")
for _op in ("min", "max"):
  case(f"scatter_{_op}_nan_signed_zero",
       lambda x, i, v, op=_op: getattr(x.at[i], op)(v), Spec((6,), "float32", _extremes),
       Spec(("B", 2), "int32", "index", 6), Spec(("B", 2), "float32", _extremes),
       covers=f"scatter-{_op}")
  case(f"scatter_{_op}_rows", lambda x, i, v, op=_op: getattr(x.at[i], op)(v), _T, _DUP_IDS,
       _ROWS, covers=f"scatter-{_op}")
  case(f"scatter_{_op}_uint8", lambda x, i, v, op=_op: getattr(x.at[i], op)(v),
       Spec((6, 4), "uint8"), _DUP_IDS, Spec(("B", 4), "uint8"), covers=f"scatter-{_op}")
  case(f"scatter_{_op}_bool", lambda x, i, v, op=_op: getattr(x.at[i], op)(v),
       Spec((6, 4), "bool"), _DUP_IDS, Spec(("B", 4), "bool"), covers=f"scatter-{_op}")
  case(f"scatter_{_op}_drop", lambda x, i, v, op=_op: getattr(x.at[i], op)(v, mode="drop"),
       _T, Spec(("B",), "int32", lambda rng, s: rng.integers(-9, 9, s)), _ROWS,
       covers=f"scatter-{_op}")

case("scatter_apply_unique", lambda x, i: x.at[i].apply(jnp.sin), ("B", 5),
     Spec((), "int32", lambda rng, s: np.asarray(rng.integers(-6, 6))), covers="scatter")
case("scatter_apply_rows_clip", lambda x, i: x.at[:, i].apply(lambda v: v * v + 1.0, mode="clip"),
     ("B", 5), Spec((), "int32", lambda rng, s: np.asarray(7)), covers="scatter")
case("scatter_set_symbolic_window", lambda x, i, v: x.at[i].set(v), Spec((6, "B")),
     Spec((3,), "int32", _unique(6)), Spec((3, "B")), covers="scatter")
case("scatter_add_symbolic_stride_drop", lambda x, i, v: x.at[i, 1].add(v),
     Spec((5, "B")), Spec((4,), "int32", lambda rng, s: np.array([4, -7, 9, 4])), (4,),
     covers="scatter-add")
case("scatter_add_vmapped_inner_axis",
     jax.vmap(lambda col, i, v: col.at[i].add(v), in_axes=(1, 0, 1), out_axes=1),
     Spec((6, "B", 2)), Spec(("B", 3), "int32", "index", 6), Spec((3, "B", 2)),
     covers="scatter-add")
case("scatter_mul_specials", lambda x, i, v: x.at[i].mul(v), Spec((6,), "float32", _extremes),
     Spec(("B", 2), "int32", "index", 6), Spec(("B", 2), "float32", _extremes),
     covers="scatter-mul")
_INT8_EDGES = lambda rng, s: rng.choice(np.int8([-128, 127, 0, -1, 1]), s)
for _op in ("min", "max"):
  case(f"scatter_{_op}_int8_extremes", lambda x, i, v, op=_op: getattr(x.at[i], op)(v),
       Spec((6,), "int8", _INT8_EDGES), Spec(("B", 2), "int32", "index", 6),
       Spec(("B", 2), "int8", _INT8_EDGES), covers=f"scatter-{_op}")
case("scatter_lax_negative_index_dropped", lambda x, i, v: lax.scatter(
    x, i, v, _DN_ROWS, mode="fill", unique_indices=True), _T,
     Spec((2, 1), "int32", lambda rng, s: np.array([[-1], [2]])), Spec((2, 4)), covers="scatter")

_STARTS = Spec((), "int32", lambda rng, s: np.asarray(rng.integers(-3, 9)))
case("dus_clamped", lambda x, u, i, j: lax.dynamic_update_slice(x, u, (i, j)), ("B", 6),
     Spec((1, 3)), _STARTS, _STARTS, covers="dynamic_update_slice")
case("dus_symbolic_update", lambda x, u, j: lax.dynamic_update_slice(x, u, (0, j)),
     ("B", 6), ("B", 2), _STARTS, covers="dynamic_update_slice")
case("dus_in_dim_uint8", lambda x, u, j: lax.dynamic_update_slice_in_dim(x, u, j, axis=1),
     Spec(("B", 6), "uint8"), Spec(("B", 4), "uint8"),
     Spec((), "int16", lambda rng, s: np.asarray(rng.integers(-3, 9))),
     covers="dynamic_update_slice")
case("dus_vmapped", jax.vmap(lambda row, u, i: lax.dynamic_update_slice(row, u, (i,))),
     ("B", 6), ("B", 2), Spec(("B",), "int32", lambda rng, s: rng.integers(-3, 9, s)),
     covers="dynamic_update_slice")
case("dus_scalar_index_set", lambda x, v, i: lax.dynamic_update_index_in_dim(x, v, i, 0),
     ("B", 4), (4,), _STARTS, covers="dynamic_update_slice")
case("dus_grad_of_dynamic_slice", jax.grad(lambda x, i: jnp.sum(
    lax.dynamic_slice_in_dim(x, i, 2, axis=1) ** 2)), ("B", 6), _STARTS,
     covers="dynamic_update_slice")
case("dus_bool", lambda x, u, i: lax.dynamic_update_slice(x, u, (0, i)), Spec(("B", 5), "bool"),
     Spec((1, 2), "bool"), _STARTS, covers="dynamic_update_slice")
case("scatter_add_uint16", lambda x, i, v: x.at[i].add(v), Spec((6,), "uint16"), _DUP_IDS,
     Spec(("B",), "uint16"), covers="scatter-add")
case("dus_static_2d", lambda x, u, i, j: lax.dynamic_update_slice(x, u, (i, j)), (5, 6),
     Spec((2, 3)), _STARTS, _STARTS, covers="dynamic_update_slice")


# --- jnp-level programs (dynamic batch) ------------------------------------
_XB = ("B", 6, 4)
case("jnp_index_reverse", lambda x: x[::-1], _XB, covers="rev")
case("jnp_index_reverse_stride", lambda x: (x[:, ::-2], x[::-1, 1::-1], jnp.flip(x)), _XB,
     covers="rev")
case("jnp_index_int_array", lambda x, i: (x[i], x[:, i]), _XB,
     Spec((3,), "int32", lambda rng, s: rng.integers(-2, 2, s)), covers="gather")
case("jnp_index_at_set_rows", lambda x, i, v: x.at[:, i].set(v), _XB,
     Spec((3,), "int32", _unique(6)), ("B", 3, 4), covers="scatter")
case("jnp_index_at_add_dup", lambda x, i, v: x.at[:, i].add(v), _XB,
     Spec((5,), "int32", lambda rng, s: np.array([1, 4, 1, -1, 1])), ("B", 5, 4),
     covers="scatter-add")
for _op in ("mul", "min", "max"):
  case(f"jnp_index_at_{_op}", lambda x, i, v, op=_op: getattr(x.at[:, i], op)(v), _XB,
       Spec((5,), "int32", "index", 6), ("B", 5, 4), covers=f"scatter-{_op}")
case("jnp_index_at_oob_drop_clip",
     lambda x, i, v: (x.at[:, i].set(v), x.at[:, i].add(v, mode="clip"),
                      x.at[i, 1].get(mode="fill", fill_value=-1.0)), _XB,
     Spec((4,), "int32", lambda rng, s: np.array([-9, 7, 2, 30])), ("B", 4, 4),
     covers="scatter")
case("jnp_index_take_along_axis", lambda x, i: jnp.take_along_axis(x, i, axis=1), _XB,
     Spec(("B", 2, 4), "int32", lambda rng, s: rng.integers(-6, 6, s)), covers="gather")
case("jnp_index_tile", lambda x: (jnp.tile(x, 2), jnp.tile(x, (2, 1, 1, 3))), _XB,
     covers="tile")
case("jnp_index_repeat", lambda x: (jnp.repeat(x, 2), jnp.repeat(x, 3, axis=1),
                                    jnp.repeat(x, jnp.array([1, 0, 2, 1]), axis=2,
                                               total_repeat_length=4)), _XB,
     covers="gather")
case("jnp_index_one_hot", lambda i: jax.nn.one_hot(i, 5), Spec(("B", 3), "int32", "int", 6),
     covers="eq")
case("jnp_index_dus_at_set_slice", lambda x, v: x.at[:, 1:3].set(v), _XB, ("B", 2, 4),
     covers="scatter")

_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap", "linear_ramp", "maximum",
              "mean", "minimum", "median")
# (A 0 pad width makes jnp.pad build a zero-width piece: pad_jnp_edge_zero_width.)
# (JAX cannot reflect or wrap along a symbolic dim: those leave the batch alone.)
for _m in _PAD_MODES:
  _w = ((0, 0) if _m in ("reflect", "symmetric", "wrap") else (1, 1), (2, 3), (1, 2))
  case(f"pad_jnp_{_m}", lambda x, m=_m, w=_w: jnp.pad(x, w, mode=m), _XB, covers="pad")
case("pad_jnp_edge_zero_width", lambda x: jnp.pad(x, ((0, 0), (2, 3), (1, 0)), mode="edge"),
     _XB, covers="pad")
case("pad_jnp_constant_values", lambda x: jnp.pad(x, ((1, 2), (3, 0)), constant_values=(-1, 5)),
     Spec(("B", 4), "int32"), covers="pad")
