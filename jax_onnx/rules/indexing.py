"""Indexing: gather and dynamic_slice, with JAX's clamping and fill semantics.

`x[:, 0]`, `x[:, 1:5:2]`, `table[ids]` and vmapped indexing all bind `gather`
once a dimension is symbolic, so these rules are what make indexing export with
a dynamic batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import dtypes as dt
from jax_onnx.registry import Spec, case, register_rule

I64 = np.int64


def _clamp_index(ctx, idx, dim, size):
  """Clamps int64 start indices to [0, dim - size], as XLA does."""
  hi = ctx.op("Sub", ctx.dim(dim), ctx.ints([int(size)]) if isinstance(size, int)
              else ctx.dim(size))
  hi = ctx.op("Squeeze", hi, ctx.ints([0]))
  return ctx.op("Min", ctx.op("Max", idx, ctx.scalar(0, I64)), hi)


def _fill_value(dtype, fill_value):
  if fill_value is not None:
    return fill_value
  if dt.is_float(dtype):
    return np.nan
  if dt.is_bool(dtype):
    return True
  info = np.iinfo(dtype)
  return info.min if dt.is_signed_int(dtype) else info.max


@register_rule(P.gather_p, family="indexing", onnx_ops=["GatherND", "Gather"])
def _gather(ctx, operand, indices, *, dimension_numbers, slice_sizes, mode,
            fill_value=None, **params):
  del params   # indices_are_sorted, unique_indices: hints only
  dn = dimension_numbers
  op_shape = ctx.avals_in[0].shape
  idx_shape = ctx.avals_in[1].shape
  batch_shape = idx_shape[:-1]
  smap = list(dn.start_index_map)
  collapsed = set(dn.collapsed_slice_dims)
  idx = ctx.cast(indices, I64) if ctx.avals_in[1].dtype != I64 else indices
  columns = [ctx.op("Slice", idx, ctx.ints([k]), ctx.ints([k + 1]), ctx.ints([-1]))
             for k in range(len(smap))]
  # Batching dims (vmapped indexing) become extra indices: an iota along the
  # paired indices dim, into a collapsed operand dim.
  for ob, ib in zip(dn.operand_batching_dims, dn.start_indices_batching_dims):
    iota = ctx.trace_jax(lambda: lax.broadcasted_iota(jnp.int32, tuple(batch_shape) + (1,), ib))
    columns.append(ctx.cast(iota, I64))
    smap.append(ob)
    collapsed.add(ob)
  fill = str(mode) in ("GatherScatterMode.FILL_OR_DROP", "fill", "2") or \
      getattr(mode, "name", "") == "FILL_OR_DROP"
  out_of_bounds = None
  clamped = []
  for col, axis in zip(columns, smap):
    c = _clamp_index(ctx, col, op_shape[axis], slice_sizes[axis])
    if fill:
      bad = ctx.op("Not", ctx.op("Equal", c, col))
      out_of_bounds = bad if out_of_bounds is None else ctx.op("Or", out_of_bounds, bad)
    clamped.append(c)

  windows = [a for a in smap if slice_sizes[a] != 1]
  rest = [d for d in range(len(op_shape)) if d not in smap]
  x = operand
  # Non-indexed dims take [0, slice_size).
  cut = [d for d in rest if not _full(op_shape[d], slice_sizes[d])]
  if cut:
    x = ctx.op("Slice", x, ctx.ints([0] * len(cut)), ctx.shape([slice_sizes[d] for d in cut]),
               ctx.ints(cut))
  nb = len(batch_shape)
  static = _static_indices(ctx, smap, slice_sizes, dn, op_shape, fill)
  if static is not None:
    # Constant in-bounds indices on one axis (x[:, 0], x[:, 1:5:2], x[:, 1:3]
    # once the batch dim is symbolic): one Slice or Gather node.
    (axis,), size = smap, slice_sizes[smap[0]]
    starts = static.reshape(batch_shape)
    if nb == 0:
      start = int(starts)
      out = ctx.op("Slice", x, ctx.ints([start]), ctx.ints([start + size]), ctx.ints([axis]))
      if axis in collapsed:
        out = ctx.op("Squeeze", out, ctx.ints([axis]))
    else:
      window = starts if size == 1 else starts[..., None] + np.arange(size)
      out = ctx.op("Gather", x, ctx.const(window.astype(I64)), axis=axis)
      # Gather gives op[:axis] + batch + (window) + op[axis+1:]; move batch first.
      out_rank = len(op_shape) - 1 + nb + (0 if size == 1 else 1)
      perm = list(range(axis, axis + nb)) + list(range(axis)) + list(range(axis + nb, out_rank))
      if perm != list(range(len(perm))):
        out = ctx.op("Transpose", out, perm=perm)    # batch + offset dims in operand order
      if size == 1 and axis not in collapsed:
        others = [d for d in range(len(op_shape)) if d != axis]
        out = ctx.op("Unsqueeze", out, ctx.ints([nb + sorted(others + [axis]).index(axis)]))
  elif not windows:
    perm = smap + rest
    if perm != list(range(len(perm))):
      x = ctx.op("Transpose", x, perm=perm)
    index = ctx.op("Concat", *clamped, axis=-1) if len(clamped) > 1 else clamped[0]
    out = ctx.op("GatherND", x, index, batch_dims=0)       # batch... + rest...
    kept = sorted(rest + [a for a in smap if a not in collapsed])   # offset dims, operand order
    singles = [nb + kept.index(a) for a in smap if a not in collapsed]
    if singles:
      out = ctx.op("Unsqueeze", out, ctx.ints(sorted(singles)))
  elif len(smap) == 1:
    (axis,) = smap
    size = slice_sizes[axis]
    start = ctx.op("Squeeze", clamped[0], ctx.ints([-1]))            # batch...
    window = ctx.op("Add", ctx.op("Unsqueeze", start, ctx.ints([-1])),
                    ctx.const(np.arange(size, dtype=I64)))          # batch... x size
    out = ctx.op("Gather", x, window, axis=axis)    # op[:axis] + batch + (size,) + op[axis+1:]
    perm = list(range(axis, axis + nb)) + list(range(axis)) + list(
        range(axis + nb, len(op_shape) + nb))
    if perm != list(range(len(perm))):
      out = ctx.op("Transpose", out, perm=perm)     # batch... + offset dims in operand order
  else:
    out = _gather_windows(ctx, x, clamped, smap, slice_sizes, collapsed, rest, nb)
  # Now: batch dims then offset dims (in operand order); JAX puts the offsets at
  # dimension_numbers.offset_dims and the batch dims everywhere else.
  out_rank = nb + len(dn.offset_dims)
  offset_pos = list(dn.offset_dims)
  batch_pos = [i for i in range(out_rank) if i not in offset_pos]
  perm = [0] * out_rank
  for j, p in enumerate(batch_pos):
    perm[p] = j
  for j, p in enumerate(offset_pos):
    perm[p] = nb + j
  if perm != list(range(out_rank)):
    out = ctx.op("Transpose", out, perm=perm)
  if fill and out_of_bounds is not None:
    mask = ctx.op("Squeeze", out_of_bounds, ctx.ints([-1]))
    if offset_pos:
      mask = ctx.op("Unsqueeze", mask, ctx.ints(offset_pos))
    dtype = ctx.aval_out.dtype
    out = ctx.where(mask, ctx.scalar(_fill_value(dtype, fill_value), dtype), out, dtype)
  return out


def _gather_windows(ctx, x, starts, smap, slice_sizes, collapsed, rest, nb):
  """General gather with windows on several indexed axes: GatherND over the
  full grid of start + offset indices. Returns batch dims + offset dims in
  operand order."""
  k = len(smap)
  # starts[j]: (batch..., 1). Grid j: (batch..., 1.., size_j at nb+j, ..1).
  grids = []
  for j, (start, axis) in enumerate(zip(starts, smap)):
    offsets = np.arange(slice_sizes[axis], dtype=I64).reshape(
        [1] * nb + [slice_sizes[axis] if i == j else 1 for i in range(k)])
    g = ctx.op("Unsqueeze", ctx.op("Squeeze", start, ctx.ints([-1])) if nb else
               ctx.op("Squeeze", start, ctx.ints([0])), ctx.ints(list(range(nb, nb + k))))
    grids.append(ctx.op("Add", g, ctx.const(offsets)))
  zero = None
  for g in grids:   # a zero tensor of the full grid shape, to broadcast each grid
    z = ctx.op("Mul", g, ctx.scalar(0, I64))
    zero = z if zero is None else ctx.op("Add", zero, z)
  index = ctx.op("Concat", *[ctx.op("Unsqueeze", ctx.op("Add", g, zero), ctx.ints([-1]))
                             for g in grids], axis=-1)       # batch... x sizes... x k
  perm = smap + rest
  if perm != list(range(len(perm))):
    x = ctx.op("Transpose", x, perm=perm)
  out = ctx.op("GatherND", x, index, batch_dims=0)     # batch + windows (smap order) + rest
  drop = [nb + j for j, a in enumerate(smap) if a in collapsed]
  if drop:
    out = ctx.op("Squeeze", out, ctx.ints(drop))
  # Order the offset dims as in the operand.
  offsets = [a for a in smap if a not in collapsed] + rest
  order = sorted(range(len(offsets)), key=lambda i: offsets[i])
  perm = list(range(nb)) + [nb + i for i in order]
  if perm != list(range(len(perm))):
    out = ctx.op("Transpose", out, perm=perm)
  return out


def _static_indices(ctx, smap, slice_sizes, dn, op_shape, fill):
  """The clamped start indices, when they are constants on one static axis and
  (in fill mode) all in bounds; else None."""
  idx = ctx.consts_in[1]
  if idx is None or len(smap) != 1 or dn.operand_batching_dims:
    return None
  dim = op_shape[smap[0]]
  if not isinstance(dim, (int, np.integer)):
    return None
  hi = int(dim) - int(slice_sizes[smap[0]])
  clamped = np.clip(idx.astype(np.int64), 0, hi)
  if fill and np.any(clamped != idx):
    return None
  return clamped


def _full(dim, size) -> bool:
  try:
    return bool(dim == size)
  except Exception:   # noqa: BLE001 - symbolic comparison that JAX cannot decide
    return False


@register_rule(P.dynamic_slice_p, family="indexing", onnx_ops=["Slice"])
def _dynamic_slice(ctx, x, *starts, slice_sizes):
  shape = ctx.avals_in[0].shape
  begin = []
  for axis, (s, aval) in enumerate(zip(starts, ctx.avals_in[1:])):
    s64 = ctx.cast(s, I64) if aval.dtype != I64 else s
    begin.append(ctx.op("Unsqueeze", _clamp_index(ctx, s64, shape[axis], slice_sizes[axis]),
                        ctx.ints([0])))
  begin = ctx.op("Concat", *begin, axis=0)
  end = ctx.op("Add", begin, ctx.shape(slice_sizes))
  return ctx.op("Slice", x, begin, end)


_X = ("B", 6, 4)
_TABLE = np.random.default_rng(1).standard_normal((10, 4)).astype(np.float32)
case("gather_column", lambda x: x[:, 0], _X, covers="gather")
case("gather_strided_slice", lambda x: x[:, 1:5:2], _X, covers="gather")
case("gather_window", lambda x: x[:, 1:3], _X, covers="gather")
case("gather_negative_index", lambda x: x[:, -1], _X, covers="gather")
case("gather_embedding", lambda ids: jnp.asarray(_TABLE)[ids], Spec(("B", 5), "int32", "index", 10),
     covers="gather")
case("gather_take_clip", lambda x, i: jnp.take(x, i, axis=1, mode="clip"),
     _X, Spec(("B",), "int32", "int", 9), covers="gather")
case("gather_take_fill", lambda x, i: jnp.take(x, i, axis=1, mode="fill"),
     _X, Spec((3,), "int32", "int", 9), covers="gather")
case("gather_vmapped", jax.vmap(lambda row, i: row[i]), ("B", 6), Spec(("B",), "int32", "index", 6),
     covers="gather")
case("gather_take_along_axis", lambda x, i: jnp.take_along_axis(x, i, axis=1),
     _X, Spec(("B", 3, 4), "int32", "index", 6), covers="gather")
case("gather_two_axes", lambda x, i, j: x[:, i, j], _X, Spec((3,), "int32", "index", 4),
     Spec((3,), "int32", "index", 4), covers="gather")
case("dynamic_slice_batch_row", lambda x: x[0], _X, covers="dynamic_slice")
case("dynamic_slice_clamped", lambda x, i: lax.dynamic_slice_in_dim(x, i[0], 3, axis=1),
     _X, Spec((1,), "int32", "int", 9), covers="dynamic_slice")
case("gather_static_index_ops", lambda x: (x[:, 0], x[:, 1:5:2], x[:, 2:4], x[:, -1]), _X,
     covers="gather", forbid_ops=("GatherND",))
case("gather_static_window_batch", lambda x: jnp.stack([x[:, i:i + 2] for i in range(3)]), _X,
     covers="gather")
case("gather_windows_two_axes", lambda x, i: lax.gather(
    x, i, lax.GatherDimensionNumbers(offset_dims=(1, 2), collapsed_slice_dims=(0,),
                                     start_index_map=(0, 2)),
    slice_sizes=(1, 6, 2), mode=lax.GatherScatterMode.CLIP),
     Spec((5, 6, 4)), Spec(("B", 2), "int32", "int", 6), covers="gather")
case("gather_static_window_inner_axis", lambda x: lax.gather(
    x, jnp.array([[0], [1]], jnp.int32),
    lax.GatherDimensionNumbers(offset_dims=(1, 2, 3), collapsed_slice_dims=(),
                               start_index_map=(1,)),
    slice_sizes=(x.shape[0], 3, 4), mode=lax.GatherScatterMode.CLIP), _X, covers="gather")
