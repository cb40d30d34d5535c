"""Shape-changing primitives: reshape, broadcast, transpose, squeeze, concat, slice, iota."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx.registry import Spec, case, register_rule


def _same_shape(a, b) -> bool:
  return len(a) == len(b) and all(
      (x == y) if not (_compat.is_symbolic_dim(x) or _compat.is_symbolic_dim(y))
      else (_compat.is_symbolic_dim(x) and _compat.is_symbolic_dim(y) and x == y)
      for x, y in zip(a, b))


@register_rule(P.reshape_p, family="structural", onnx_ops=["Reshape"])
def _reshape(ctx, x, *, new_sizes, dimensions, **params):
  del params
  shape = ctx.avals_in[0].shape
  if dimensions is not None:   # reshape of a transposed operand
    x = ctx.op("Transpose", x, perm=list(dimensions))
    shape = [shape[d] for d in dimensions]
  if _same_shape(shape, new_sizes):
    return x
  return ctx.reshape(x, new_sizes)


@register_rule(P.broadcast_in_dim_p, family="structural",
               onnx_ops=["Unsqueeze", "Expand"])
def _broadcast_in_dim(ctx, x, *dyn_shape, shape, broadcast_dimensions, **params):
  del params, dyn_shape
  bdims = [int(d) for d in broadcast_dimensions]
  if bdims != sorted(bdims):
    order = np.argsort(bdims)
    x = ctx.op("Transpose", x, perm=[int(i) for i in order])
    bdims = sorted(bdims)
  new_axes = [i for i in range(len(shape)) if i not in bdims]
  in_shape = ctx.avals_in[0].shape
  if new_axes:
    x = ctx.op("Unsqueeze", x, ctx.ints(new_axes))
    # A new axis of static size 0 is sliced empty rather than Expanded from 1:
    # ONNX Runtime's optimizer fuses Unsqueeze+Expand and keeps the 1.
    empty = [a for a in new_axes if isinstance(shape[a], (int, np.integer)) and shape[a] == 0]
    if empty:
      zeros = ctx.ints([0] * len(empty))
      x = ctx.op("Slice", x, zeros, zeros, ctx.ints(empty))
  expanded = [1] * len(shape)
  for src, dst in zip(in_shape, bdims):
    expanded[dst] = src
  for a in new_axes:
    if isinstance(shape[a], (int, np.integer)) and shape[a] == 0:
      expanded[a] = 0
  if _same_shape(expanded, shape):
    return x
  return ctx.op("Expand", x, ctx.shape(shape))


@register_rule(P.transpose_p, family="structural", onnx_ops=["Transpose"])
def _transpose(ctx, x, *, permutation):
  perm = [int(p) for p in permutation]
  if perm == list(range(len(perm))):
    return x
  return ctx.op("Transpose", x, perm=perm)


@register_rule(P.squeeze_p, family="structural", onnx_ops=["Squeeze"])
def _squeeze(ctx, x, *, dimensions):
  if not dimensions:
    return x
  return ctx.op("Squeeze", x, ctx.ints(dimensions))


@register_rule(P.concatenate_p, family="structural", onnx_ops=["Concat"])
def _concatenate(ctx, *xs, dimension):
  return ctx.op("Concat", *xs, axis=int(dimension))


@register_rule(P.slice_p, family="structural", onnx_ops=["Slice"])
def _slice(ctx, x, *, start_indices, limit_indices, strides):
  shape = ctx.avals_in[0].shape
  strides = strides or (1,) * len(shape)
  axes, starts, ends, steps = [], [], [], []
  for axis, (lo, hi, st, n) in enumerate(zip(start_indices, limit_indices, strides, shape)):
    full = (not _compat.is_symbolic_dim(lo) and lo == 0 and st == 1 and
            _same_shape((hi,), (n,)))
    if not full:
      axes.append(axis); starts.append(lo); ends.append(hi); steps.append(st)
  if not axes:
    return x
  return ctx.op("Slice", x, ctx.shape(starts), ctx.shape(ends), ctx.ints(axes),
                ctx.ints(steps))


@register_rule(P.iota_p, family="structural", onnx_ops=["Range", "Expand"])
def _iota(ctx, *dyn_shape, dtype, shape, dimension, **params):
  del params, dyn_shape
  n = shape[dimension]
  count = ctx.op("Squeeze", ctx.dim(n), ctx.ints([0]))
  r = ctx.op("Range", ctx.scalar(0, np.int64), count, ctx.scalar(1, np.int64))
  if np.dtype(dtype) != np.int64:
    r = ctx.cast(r, dtype)
  others = [i for i in range(len(shape)) if i != dimension]
  if others:
    r = ctx.op("Unsqueeze", r, ctx.ints(others))
    r = ctx.op("Expand", r, ctx.shape(shape))
  return r


_EXTRA = _compat.extra_primitives()


@register_rule(_EXTRA["stack"], family="structural", onnx_ops=["Unsqueeze", "Concat"])
def _stack(ctx, *xs, axis):
  axes = ctx.ints([axis])
  return ctx.op("Concat", *[ctx.op("Unsqueeze", x, axes) for x in xs], axis=int(axis))


@register_rule(_EXTRA["unstack"], family="structural", onnx_ops=["Split", "Squeeze"])
def _unstack(ctx, x, *, axis):
  n = len(ctx.avals_out)
  if n == 0:   # unstacking an empty axis
    return []
  parts = ctx.op("Split", x, axis=int(axis), num_outputs=n, outputs=n) if n > 1 else [x]
  axes = ctx.ints([axis])
  return [ctx.op("Squeeze", p, axes) for p in parts]


@register_rule(_EXTRA["split"], family="structural", onnx_ops=["Split"])
def _split(ctx, x, *, sizes, axis):
  n = len(sizes)
  if n == 1:
    return [x]
  return ctx.op("Split", x, ctx.shape(sizes), axis=int(axis), outputs=n)


@register_rule(_EXTRA["tile"], family="structural", onnx_ops=["Tile"])
def _tile(ctx, x, *, reps):
  return ctx.op("Tile", x, ctx.shape(reps))


@register_rule(_EXTRA["optimization_barrier"], family="structural", onnx_ops=["(none)"])
def _optimization_barrier(ctx, *xs):
  return list(xs)


# ---------------------------------------------------------------------------
_X = ("B", 6, 4)
case("reshape_flatten", lambda x: x.reshape(x.shape[0], -1), _X, covers="reshape")
case("reshape_split_batch", lambda x: x.reshape(-1, 2, 4), Spec(("B", 4, 4)),
     covers="reshape")
case("reshape_merge_batch", lambda x: x.reshape(-1, 4), _X, covers="reshape")
# Two Reshapes are merged only where the outer one's 0s ("copy this dim") copy
# the same dim from the inner one's input: here they do not (3 vs B).
case("reshape_twice_batch_moves", lambda x: x.reshape(x.shape[1], 3).reshape(x.shape[1], 3, 1),
     Spec((3, "B")), covers="reshape")
case("reshape_twice_merged", lambda x: x.reshape(x.shape[0], 2, 12).reshape(x.shape[0], 24),
     _X, covers="reshape", expect_ops=("Reshape",), forbid_ops=("Shape", "Concat"))
case("reshape_to_scalar_like", lambda x: jnp.sum(x.reshape(x.shape[0], 24, 1, 1), axis=(2, 3)),
     _X, covers="reshape")
case("broadcast_in_dim_rank_up",
     lambda x: jnp.broadcast_to(x[:, None, :, :], (x.shape[0], 3, 6, 4)),
     _X, covers="broadcast_in_dim")
case("broadcast_in_dim_bias", lambda x: x + jnp.arange(4.0), _X, covers="broadcast_in_dim")
case("broadcast_in_dim_ones", lambda x: x * jnp.ones((x.shape[0], 6, 4)), _X,
     covers="broadcast_in_dim")
case("expand_dims", lambda x: jnp.expand_dims(x, (1, 3)), _X, covers="broadcast_in_dim")
case("broadcast_in_dim_to_empty", lambda x: jnp.broadcast_to(x[:, None], (x.shape[0], 0, 6, 4)),
     _X, covers="broadcast_in_dim")
case("transpose_021", lambda x: jnp.transpose(x, (0, 2, 1)), _X, covers="transpose")
case("transpose_batch_last", lambda x: jnp.transpose(x, (2, 1, 0)), _X, covers="transpose")
case("squeeze", lambda x: jnp.squeeze(lax.slice_in_dim(x, 2, 3, axis=1), axis=1), _X,
     covers="squeeze")
case("concatenate_axis1",
     lambda x: jnp.concatenate([x, 2 * x, lax.slice_in_dim(x, 0, 1, axis=1)], axis=1), _X,
     covers="concatenate")
case("concatenate_batch", lambda x: jnp.concatenate([x, x], axis=0), _X, covers="concatenate")
# (x[:, 1:5] with a symbolic batch dim binds gather: see indexing.py.)
case("slice_strided", lambda x: lax.slice(x, (0, 1, 0), (x.shape[0], 5, 4), (1, 2, 3)), _X,
     covers="slice")
case("slice_static_indexing", lambda x: x[:, 1:5:2, ::3], Spec((3, 6, 4)), covers="slice")
# Split of a (b, t, 3, h, d) reshape, each part flattened back: one Split of the
# (b, t, 3 * h * d) input (passes.simplify).
case("split_through_reshape",
     lambda x: tuple(p.reshape(x.shape[0], 5, -1) for p in jnp.split(
         x.reshape(x.shape[0], 5, 3, 2, 4), [1], axis=2)), ("B", 5, 24),
     covers="split", expect_ops=("Split",), forbid_ops=("Reshape", "Slice", "Squeeze"))
case("split_through_reshape_parts_kept",
     lambda x: jnp.split(x.reshape(x.shape[0], 5, 3, 2, 4), 3, axis=2), ("B", 5, 24),
     covers="split", expect_ops=("Split", "Reshape"))
case("slice_whole_axis_then_squeeze",   # no Slice: it keeps all of axis 2
     lambda x: x.reshape(x.shape[0], 6, 1, 4)[:, :, 0].reshape(x.shape[0], 24), _X,
     covers="slice", forbid_ops=("Slice", "Squeeze"))
case("slice_batch_tail", lambda x: lax.slice_in_dim(x, 1, x.shape[0], axis=0), _X,
     covers="slice")
case("iota_static", lambda x: x + lax.iota(jnp.float32, 4), _X, covers="iota")
case("iota_2d", lambda x: x + lax.broadcasted_iota(jnp.int32, (6, 4), 0).astype(jnp.float32),
     _X, covers="iota")
case("iota_batch", lambda x: x * lax.broadcasted_iota(jnp.float32, x.shape, 0), _X,
     covers="iota")
case("stack_axis1", lambda x: jnp.stack([x, 2 * x, -x], axis=1), _X, covers="stack")
case("stack_batch", lambda x: jnp.stack([x, x]), _X, covers="stack")
case("unstack_axis2", lambda x: jnp.unstack(x, axis=2), _X, covers="unstack")
case("split_axis1", lambda x: jnp.split(x, [1, 4], axis=1), _X, covers="split")
case("split_batch", lambda x: jnp.split(jnp.concatenate([x, x]), 2, axis=0), _X, covers="split")
case("tile", lambda x: jnp.tile(x, (1, 2, 3)), _X, covers="tile")
case("tile_batch", lambda x: jnp.tile(x, (2, 1, 1)), _X, covers="tile")
case("optimization_barrier", lambda x: lax.optimization_barrier((x, x * 2)), _X,
     covers="optimization_barrier")


# ---------------------------------------------------------------------------
# pad and rev.
_PAD_WIDER = {np.dtype(np.int16): np.int32, np.dtype(np.uint16): np.int32}   # no ORT Pad kernel


def _dilate(ctx, x, value, shape, axis, interior):
  """`interior` copies of `value` between neighbours along `axis`: each element
  gets a new axis padded to 1 + interior, merged back, the tail cut off."""
  x = ctx.op("Unsqueeze", x, ctx.ints([axis + 1]))
  pads = [0] * (2 * (len(shape) + 1))
  pads[len(shape) + 1 + axis + 1] = interior
  x = ctx.op("Pad", x, ctx.ints(pads), value)
  n = shape[axis]
  x = ctx.reshape(x, shape[:axis] + [n * (1 + interior)] + shape[axis + 1:])
  end = ctx.op("Sub", ctx.dim(n * (1 + interior)), ctx.ints([interior]))
  if not _compat.is_symbolic_dim(n):
    end = ctx.ints([max(0, int(n) * (1 + interior) - interior)])
  return ctx.op("Slice", x, ctx.ints([0]), end, ctx.ints([axis]))


@register_rule(P.pad_p, family="structural", onnx_ops=["Pad", "Reshape", "Slice"])
def _pad(ctx, x, value, *, padding_config):
  dtype = ctx.avals_in[0].dtype
  wide = _PAD_WIDER.get(np.dtype(dtype))
  if wide is not None:
    x, value = ctx.cast(x, wide), ctx.cast(value, wide)
  shape = list(ctx.avals_in[0].shape)
  for axis, (_, _, interior) in enumerate(padding_config):
    if interior:
      x = _dilate(ctx, x, value, shape, axis, int(interior))
      shape[axis] = ctx.avals_out[0].shape[axis] - padding_config[axis][0] - padding_config[axis][1]
  lo = [p[0] for p in padding_config]
  hi = [p[1] for p in padding_config]
  if any(_compat.is_symbolic_dim(p) or p != 0 for p in lo + hi):
    # (ONNX Pad crops for negative pads.)
    x = ctx.op("Pad", x, ctx.shape(lo + hi), value)
  return ctx.cast(x, dtype) if wide is not None else x


@register_rule(P.rev_p, family="structural", onnx_ops=["Slice"])
def _rev(ctx, x, *, dimensions):
  if not dimensions:
    return x
  n = len(dimensions)
  return ctx.op("Slice", x, ctx.ints([-1] * n), ctx.ints([np.iinfo(np.int64).min] * n),
                ctx.ints(dimensions), ctx.ints([-1] * n))


def _pad_value(rng, shape):
  return np.asarray(rng.standard_normal(), np.float32)


case("pad_low_high", lambda x, v: lax.pad(x, v, ((0, 0, 0), (2, 1, 0), (1, 3, 0))), _X,
     Spec((), "float32", _pad_value), covers="pad")
case("pad_negative_crop", lambda x: lax.pad(x, 0.0, ((0, 0, 0), (-2, 1, 0), (1, -3, 0))), _X,
     covers="pad")
case("pad_crop_into_padding", lambda x: lax.pad(x, 7.0, ((0, 0, 0), (-8, 4, 0), (0, 0, 0))), _X,
     covers="pad")
case("pad_interior", lambda x, v: lax.pad(x, v, ((0, 0, 0), (1, -1, 2), (0, 0, 1))), _X,
     Spec((), "float32", _pad_value), covers="pad")
case("pad_interior_batch", lambda x: lax.pad(x, -1.0, ((1, 2, 1), (0, 0, 0), (-1, 0, 2))), _X,
     covers="pad")
case("pad_batch_dim_negative", lambda x: lax.pad(x, 0.0, ((-1, 2, 0), (0, 0, 0), (0, 0, 0))), _X,
     covers="pad")
case("pad_int16", lambda x: lax.pad(x, jnp.int16(-5), ((1, 0, 1), (0, 2, 0))),
     Spec(("B", 3), "int16"), covers="pad")
case("pad_bool", lambda x: lax.pad(x, True, ((1, 0, 1), (0, 2, 0))), Spec(("B", 3), "bool"),
     covers="pad")
case("pad_bfloat16", lambda x: lax.pad(x, jnp.bfloat16(2), ((1, 0, 1), (0, 2, 0))),
     Spec(("B", 3), "bfloat16"), covers="pad")
case("rev_axes", lambda x: lax.rev(x, (0, 2)), _X, covers="rev")
case("rev_uint16", lambda x: lax.rev(x, (1,)), Spec(("B", 3), "uint16"), covers="rev")
