"""Windowed and cumulative reductions: reduce_window*, cumsum/cumprod/cummax/cummin/cumlogsumexp.

A window reduction is computed as XLA defines it: the operand is dilated and
padded with the init value, and each output element folds the init value with
the window's elements. Every window offset is one strided Slice of the padded
operand, so the fold is an elementwise chain of prod(window) slices (exact for
every dtype, NaN propagating as JAX's max/min do). Large max/min windows use
MaxPool, with the NaNs and all -inf windows it gets wrong put right.

cumsum is ONNX CumSum. The other cumulative reductions have no ONNX op: a
log-depth doubling scan (Hillis-Steele: y = f(y, y shifted by 1, 2, 4, ...)),
unrolled for a static axis, an ONNX Loop for a symbolic one.
"""
from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import ClosedJaxpr
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx import dtypes as dt
from jax_onnx.context import RuleContext
from jax_onnx.errors import UnsupportedParameters
from jax_onnx.registry import Spec, case, register_rule
from jax_onnx.shapes import is_static_dim
from jax_onnx.trace import OnnxTracer, trace_subgraph

# ORT has no Pad/Max/Min kernels for these: they are computed in a dtype that
# holds every value exactly (int sums wrap the same way modulo 2**16).
_COMPUTE_AS = {np.dtype(np.int16): np.dtype(np.int32), np.dtype(np.uint16): np.dtype(np.int32),
               np.dtype(np.bool_): np.dtype(np.uint8)}


def _identity(kind: str, dtype) -> np.ndarray:
  """The init value JAX uses: 0 for sums, the dtype's lowest/highest for max/min."""
  dtype = np.dtype(dtype)
  if kind == "sum":
    return np.zeros((), dtype)
  if kind == "prod":
    return np.ones((), dtype)
  if dt.is_bool(dtype):
    return np.asarray(kind == "min")
  if dt.is_int(dtype):
    info = np.iinfo(dtype)
    return np.asarray(info.min if kind == "max" else info.max, dtype)
  inf = np.inf if kind == "min" else -np.inf   # max and logsumexp start at -inf
  return np.asarray(inf, dtype)



# ---------------------------------------------------------------------------
# Windows: dilate, pad with the init value, one strided Slice per offset.

def _dilate(ctx, x, shape, axis, d, init):
  """Base dilation along `axis`: d-1 init values between neighbours, as
  Unsqueeze, Pad the new axis to d, merge the two axes, drop the d-1 trailing."""
  n = shape[axis]
  rank = len(shape)
  y = ctx.op("Unsqueeze", x, ctx.ints([axis + 1]))
  pads = [0] * (2 * (rank + 1))
  pads[rank + 1 + axis + 1] = d - 1
  y = ctx.op("Pad", y, ctx.ints(pads), init)
  y = ctx.reshape(y, [*shape[:axis], n * d, *shape[axis + 1:]])
  size = (n - 1) * d + 1
  y = ctx.op("Slice", y, ctx.ints([0]), ctx.shape([size]), ctx.ints([axis]))
  return y, [*shape[:axis], size, *shape[axis + 1:]]


def _sliced_axes(window_dimensions, window_strides, padding, base_dilation):
  """Axes where the window is more than the element in place: those are sliced."""
  return [a for a in range(len(window_dimensions))
          if (window_dimensions[a], window_strides[a], *padding[a], base_dilation[a])
          != (1, 1, 0, 0, 1)]


def _window_slices(ctx, x, init, shape, out_shape, *, window_dimensions, window_strides,
                   padding, base_dilation, window_dilation):
  """The padded operand's strided slices, one per window offset (in window
  order), each of `out_shape`."""
  shape = list(shape)
  for axis, d in enumerate(base_dilation):
    if d > 1:
      x, shape = _dilate(ctx, x, shape, axis, d, init)
  pads = [lo for lo, _ in padding] + [hi for _, hi in padding]
  if any(pads):
    x = ctx.op("Pad", x, ctx.ints(pads), init)
  axes = _sliced_axes(window_dimensions, window_strides, padding, base_dilation)
  for offset in itertools.product(*(range(w) for w in window_dimensions)):
    if not axes:
      yield x
      continue
    starts = [offset[a] * window_dilation[a] for a in axes]
    # [start, start + out * stride) holds exactly `out` strided elements (and
    # is empty, not negative, when out is 0).
    ends = [s + out_shape[a] * window_strides[a] for s, a in zip(starts, axes)]
    yield ctx.op("Slice", x, ctx.ints(starts), ctx.shape(ends), ctx.ints(axes),
                 ctx.ints([window_strides[a] for a in axes]))


def _is_empty(shape, window_dimensions) -> bool:
  return (any(is_static_dim(d) and d == 0 for d in shape) or 0 in window_dimensions)


# ---------------------------------------------------------------------------
# ONNX MaxPool, where it computes what JAX does (windows over at most 3 axes,
# no dilation, padding smaller than the window so every window holds an operand
# element) and where it is faster than the slices (measured, ORT 1.32, one
# thread): windows of 9 or more over the trailing axes, 16 or more elsewhere
# (the Transposes to and from [N, 1, *window axes] cost about two copies).
# AveragePool is slower than the slices, and its mean times the size not exact.

def _poolable(shape, *, window_dimensions, window_strides, padding, base_dilation,
              window_dilation) -> bool:
  axes = _sliced_axes(window_dimensions, window_strides, padding, base_dilation)
  trailing = axes == list(range(len(shape) - len(axes), len(shape)))
  size = math.prod(window_dimensions)
  return (1 <= len(axes) <= 3 and all(d == 1 for d in base_dilation + window_dilation)
          and all(0 <= p < window_dimensions[a] for a in axes for p in padding[a])
          and size >= (9 if trailing else 16))


def _pooled(ctx, x, pool, *, window_dimensions, window_strides, padding, base_dilation,
            window_dilation):
  """`pool` over the window axes, moved last: [N, 1, *window axes] (N: the others)."""
  del window_dilation
  shape, out_shape = ctx.avals_in[0].shape, ctx.aval_out.shape
  axes = _sliced_axes(window_dimensions, window_strides, padding, base_dilation)
  others = [a for a in range(len(shape)) if a not in axes]
  perm = others + axes
  if perm != sorted(perm):
    x = ctx.op("Transpose", x, perm=perm)
  x = ctx.reshape(x, [-1, 1, *(shape[a] for a in axes)])
  attrs = {"kernel_shape": [window_dimensions[a] for a in axes],
           "strides": [window_strides[a] for a in axes],
           "pads": [padding[a][0] for a in axes] + [padding[a][1] for a in axes]}
  y = pool(ctx, x, attrs)
  y = ctx.reshape(y, [*(shape[a] for a in others), *(out_shape[a] for a in axes)])
  if perm != sorted(perm):
    y = ctx.op("Transpose", y, perm=list(np.argsort(perm)))
  return y


def _max_pool(ctx, x, attrs):
  dtype = ctx.avals_in[0].dtype
  y = ctx.op("MaxPool", x, **attrs)
  if not dt.is_float(dtype):
    return y
  # ORT's MaxPool skips NaNs and starts from the lowest finite value, not -inf:
  # a pool of an indicator (2: NaN, 1: the lowest finite value) sets them right.
  lowest = ctx.scalar(np.finfo(dtype).min, dtype)
  one = ctx.scalar(1, dtype)
  indicator = ctx.op("Add", ctx.op("Add", *[ctx.cast(ctx.op("IsNaN", x), dtype)] * 2),
                     ctx.cast(ctx.op("Equal", x, lowest), dtype))
  seen = ctx.op("MaxPool", indicator, **attrs)
  all_minus_inf = ctx.op("And", ctx.op("Equal", y, lowest), ctx.op("Less", seen, one))
  y = ctx.op("Where", all_minus_inf, ctx.scalar(-np.inf, dtype), y)
  return ctx.op("Where", ctx.op("Greater", seen, one), ctx.scalar(np.nan, dtype), y)


def _min_pool(ctx, x, attrs):
  return ctx.op("Neg", _max_pool(ctx, ctx.op("Neg", x), attrs))


# ORT's MaxPool kernels: float, double, int8, uint8.
_POOLS = {("max", "float32"): _max_pool, ("max", "float64"): _max_pool,
          ("max", "int8"): _max_pool, ("max", "uint8"): _max_pool,
          ("min", "float32"): _min_pool, ("min", "float64"): _min_pool}


def _monoid_window(kind: str, onnx_op: str):
  def rule(ctx, x, **params):
    dtype = ctx.avals_in[0].dtype
    out_shape = ctx.aval_out.shape
    init = _identity(kind, dtype)
    if _is_empty(out_shape, params["window_dimensions"]) or _is_empty(
        ctx.avals_in[0].shape, [1]):
      return ctx.op("Expand", ctx.scalar(init, dtype), ctx.shape(out_shape))
    pool = _POOLS.get((kind, np.dtype(dtype).name))
    if pool is not None and _poolable(ctx.avals_in[0].shape, **params):
      return _pooled(ctx, x, pool, **params)
    wide = _COMPUTE_AS.get(np.dtype(dtype))
    if wide is not None:
      x = ctx.cast(x, wide)
    init = ctx.scalar(init, wide or dtype)
    acc = None
    for s in _window_slices(ctx, x, init, ctx.avals_in[0].shape, out_shape, **params):
      acc = s if acc is None else ctx.op(onnx_op, acc, s)
    if acc == x:   # a 1x1 window: ONNX wants a node per output
      acc = ctx.op("Identity", acc)
    return ctx.cast(acc, dtype) if wide is not None else acc
  return rule


for _prim, _kind, _op in [(P.reduce_window_sum_p, "sum", "Add"),
                          (P.reduce_window_max_p, "max", "Max"),
                          (P.reduce_window_min_p, "min", "Min")]:
  register_rule(_prim, family="windows", onnx_ops=["Pad", "Slice", _op])(
      _monoid_window(_kind, _op))


@register_rule(P.reduce_window_p, family="windows", higher_order=True,
               onnx_ops=["Pad", "Slice", "(reducer body)"])
def _reduce_window(trace, tracers, *, jaxpr, consts, **params):
  """Any reducer: its (scalar) jaxpr, vectorised over the output, folds the
  init values with each window offset's slices of the padded operands."""
  k = len(tracers) // 2
  operands, inits = tracers[:k], tracers[k:]
  out_avals, _ = P.reduce_window_p.abstract_eval(
      *[t.aval for t in tracers], jaxpr=jaxpr, consts=consts, **params)
  ctx = RuleContext(trace, P.reduce_window_p, tracers, out_avals)
  out_shape = out_avals[0].shape
  init_names = [trace.materialize(t) for t in inits]
  fold = ClosedJaxpr(jaxpr, consts)
  if _is_empty(out_shape, params["window_dimensions"]) or _is_empty(operands[0].aval.shape, [1]):
    return [OnnxTracer(trace, a, ctx.op("Expand", i, ctx.shape(out_shape)))
            for a, i in zip(out_avals, init_names)]
  slices = [_typed_slices(ctx, trace.materialize(x), i, x.aval, out_shape, params)
            for x, i in zip(operands, init_names)]
  reducer = lambda *a: _compat.eval_jaxpr(fold.jaxpr, fold.consts, *a)
  for _ in out_shape:
    reducer = jax.vmap(reducer)
  acc = [OnnxTracer(trace, a, ctx.op("Expand", i, ctx.shape(out_shape)))
         for a, i in zip(out_avals, init_names)]
  for step, valid in zip(zip(*slices), _in_bounds(ctx, operands[0].aval.shape, out_shape, params)):
    xs = [OnnxTracer(trace, a, s) for a, s in zip(out_avals, step)]
    new = [trace.lift(o) for o in trace.call_jax(reducer, *acc, *xs)]
    if valid is not None:
      new = [OnnxTracer(trace, a, ctx.where(valid, trace.materialize(n), trace.materialize(o),
                                            a.dtype)) for a, n, o in zip(out_avals, new, acc)]
    acc = new
  return acc


def _typed_slices(ctx, x, init, aval, out_shape, params):
  wide = _COMPUTE_AS.get(np.dtype(aval.dtype))
  if wide is None:
    return list(_window_slices(ctx, x, init, aval.shape, out_shape, **params))
  slices = _window_slices(ctx, ctx.cast(x, wide), ctx.cast(init, wide), aval.shape, out_shape,
                          **params)
  return [ctx.cast(s, aval.dtype) for s in slices]


def _in_bounds(ctx, shape, out_shape, params):
  """Per window offset, where it reads an operand element rather than padding
  or a dilation hole: XLA (CPU) folds only those into a reducer's result, so
  padding is no-op even when the init value is not the reducer's identity."""
  offsets = math.prod(params["window_dimensions"])
  if not any(lo or hi for lo, hi in params["padding"]) and all(
      d == 1 for d in params["base_dilation"]):
    return itertools.repeat(None, offsets)
  axes = _sliced_axes(params["window_dimensions"], params["window_strides"], params["padding"],
                      params["base_dilation"])
  mask_shape = [d if a in axes else 1 for a, d in enumerate(shape)]
  ones = ctx.op("Expand", ctx.scalar(1, np.uint8), ctx.shape(mask_shape))
  slices = _window_slices(ctx, ones, ctx.scalar(0, np.uint8), mask_shape, out_shape, **params)
  return (ctx.cast(s, np.bool_) for s in slices)


# ---------------------------------------------------------------------------
# Cumulative reductions.

@register_rule(P.cumsum_p, family="windows", onnx_ops=["CumSum"])
def _cumsum(ctx, x, *, axis, reverse):
  dtype = np.dtype(ctx.avals_in[0].dtype)
  # ORT's CumSum has int32/int64/float/double kernels; int64 sums of the other
  # ints wrap to the same bits when cast back.
  wide = None if dtype.name in ("int32", "int64", "float32", "float64") else np.int64
  if wide is not None:
    x = ctx.cast(x, wide)
  y = ctx.op("CumSum", x, ctx.scalar(axis, np.int64), exclusive=0, reverse=int(reverse))
  return ctx.cast(y, dtype) if wide is not None else y


def _shift(ctx, y, rank, axis, k, n, reverse, ident):
  """y moved k places along `axis` (towards the end, or the start if reverse),
  the vacated places filled with the identity. k, n: ints, or int64 [1]
  tensors (known at run time only)."""
  at = axis + rank if reverse else axis
  if isinstance(k, str):
    pads = ctx.op("Concat", ctx.ints([0] * at), k, ctx.ints([0] * (2 * rank - at - 1)), axis=0)
    start, end = (k, ctx.op("Add", k, n)) if reverse else (ctx.ints([0]), n)
  else:
    pads = ctx.ints([k if i == at else 0 for i in range(2 * rank)])
    start, end = ctx.ints([k if reverse else 0]), ctx.ints([k + n if reverse else n])
  padded = ctx.op("Pad", y, pads, ident)
  return ctx.op("Slice", padded, start, end, ctx.ints([axis]))


def _cumulative(kind: str, combine):
  def rule(ctx, x, *, axis, reverse):
    aval = ctx.avals_in[0]
    dtype = np.dtype(aval.dtype)
    n = aval.shape[axis]
    if is_static_dim(n) and n <= 1:
      return ctx.op("Identity", x)
    wide = _COMPUTE_AS.get(dtype)
    y = ctx.cast(x, wide) if wide is not None else x
    work = aval.update(dtype=wide or dtype)
    ident = ctx.scalar(_identity(kind, dtype), wide or dtype)

    def step(c, y, k, n):
      """One doubling step on context `c`: f(y shifted by k, y)."""
      shifted = _shift(c, y, len(aval.shape), axis, k, n, reverse, ident)
      return c.trace_jax(combine, OnnxTracer(c.trace, work, shifted),
                         OnnxTracer(c.trace, work, y))

    if is_static_dim(n):
      k = 1
      while k < n:
        y = step(ctx, y, k, n)
        k *= 2
    else:
      y = _doubling_loop(ctx, y, work, ctx.dim(n), step)
    return ctx.cast(y, dtype) if wide is not None else y
  return rule


def _doubling_loop(ctx, y, work, n, step):
  """While k < n: y = step(y, k); k *= 2, as an ONNX Loop (n only known at run time)."""
  k_aval = _compat.ShapedArray((1,), np.dtype(np.int64))
  counters = [_compat.ShapedArray((), np.dtype(np.int64)),
              _compat.ShapedArray((), np.dtype(np.bool_))]

  def body(sub, i, cond, y_in, k_in):
    del i, cond
    c = RuleContext(sub, ctx.primitive, [], [])
    y_out = step(c, sub.materialize(y_in), sub.materialize(k_in), n)
    k_out = c.op("Mul", sub.materialize(k_in), c.ints([2]))
    again = c.op("Squeeze", c.op("Less", k_out, n), c.ints([0]))
    return [OnnxTracer(sub, counters[1], again), OnnxTracer(sub, work, y_out),
            OnnxTracer(sub, k_aval, k_out)]

  graph, _ = trace_subgraph(ctx.trace, "cum_doubling", body, counters + [work, k_aval])
  start = ctx.op("Squeeze", ctx.op("Less", ctx.ints([1]), n), ctx.ints([0]))
  y, _ = ctx.op("Loop", None, start, y, ctx.ints([1]), outputs=2, body=graph)
  return y


for _prim, _kind, _fn, _ops in [
    (P.cumprod_p, "prod", lax.mul, ["Mul"]), (P.cummax_p, "max", lax.max, ["Max"]),
    (P.cummin_p, "min", lax.min, ["Min"]),
    (P.cumlogsumexp_p, "logsumexp", jnp.logaddexp, ["Exp", "Log1p"])]:
  register_rule(_prim, family="windows", onnx_ops=["Pad", "Slice", "Loop", *_ops])(
      _cumulative(_kind, _fn))



# ---------------------------------------------------------------------------
# reduce: lax.reduce with a body that is no standard monoid (lax.reduce binds
# reduce_sum/max/min/prod/and/or/xor for those). XLA requires the body to be
# associative (and commutative, for several axes) and leaves the order open.
# On CPU it folds acc = body(acc, x) from the init value over the reduced
# elements in row-major order, up to 32 of them (beyond, it splits the
# reduction): that is done here too, exactly, for up to 32 (static) elements.
# Larger or symbolic reductions fold each reduced axis, last first (so elements
# combine in row-major order), without the init value: a static axis as a
# pairwise tree (log-depth, the body vectorised over the other elements), a
# symbolic one in an ONNX Loop, element by element; the init value is then
# folded in once, first, and is the result where a reduced axis is empty.

_SEQUENTIAL_REDUCE = 32

def _with_dim(shape, axis, n):
  return (*shape[:axis], n, *shape[axis + 1:])


def _apply_body(trace, body, k, avals, names, init_names=()):
  """The scalar `body` elementwise over arrays of `avals`: on 2k arrays, or on
  the k scalar init values and k arrays (if init_names)."""
  fn = body
  in_axes = (None,) * k + (0,) * k if init_names else 0
  for _ in avals[0].shape:
    fn = jax.vmap(fn, in_axes=in_axes)
  ins = [OnnxTracer(trace, a.update(shape=()), n) for a, n in zip(avals, init_names)]
  ins += [OnnxTracer(trace, a, n) for a, n in zip(avals * (1 if init_names else 2), names)]
  return [trace.materialize(trace.lift(o)) for o in trace.call_jax(fn, *ins)]


def _take(ctx, x, start, end, axis, step=1):
  return ctx.op("Slice", x, ctx.ints([start]), ctx.ints([end]), ctx.ints([axis]),
                ctx.ints([step]))


def _tree_fold(ctx, body, xs, avals, axis):
  """Pairs (0, 1), (2, 3), ... combined until one element is left; an odd last
  element waits for the next round."""
  k, n = len(xs), avals[0].shape[axis]
  while n > 1:
    h = n // 2
    half = [a.update(shape=_with_dim(a.shape, axis, h)) for a in avals]
    ys = _apply_body(ctx.trace, body, k, half, [_take(ctx, x, 0, 2 * h, axis, 2) for x in xs]
                     + [_take(ctx, x, 1, 2 * h, axis, 2) for x in xs])
    if n % 2:
      ys = [ctx.op("Concat", y, _take(ctx, x, n - 1, n, axis), axis=axis)
            for y, x in zip(ys, xs)]
    n = h + n % 2
    xs, avals = ys, [a.update(shape=_with_dim(a.shape, axis, n)) for a in avals]
  return xs, avals


def _fill(ctx, value, dtype, shape):
  """Expand of a scalar (ORT has no bfloat16 Expand: it goes through float32)."""
  if np.dtype(dtype) == np.dtype(jnp.bfloat16):
    return ctx.cast(ctx.op("Expand", ctx.cast(value, np.float32), ctx.shape(shape)), dtype)
  return ctx.op("Expand", value, ctx.shape(shape))


def _loop_fold(ctx, body, xs, avals, inits, axis):
  """acc = x[0]; acc = body(acc, x[i]) for i in 1..n-1, in an ONNX Loop. The
  init value appended keeps x[0] defined when n is 0 (the caller masks that)."""
  k, n = len(xs), avals[0].shape[axis]
  xs = [ctx.op("Concat", x, _fill(ctx, i, a.dtype, _with_dim(a.shape, axis, 1)), axis=axis)
        for x, i, a in zip(xs, inits, avals)]
  acc_avals = [a.update(shape=(*a.shape[:axis], *a.shape[axis + 1:])) for a in avals]
  acc = [ctx.op("Gather", x, ctx.scalar(0, np.int64), axis=axis) for x in xs]
  counters = [_compat.ShapedArray((), np.dtype(np.int64)),
              _compat.ShapedArray((), np.dtype(np.bool_))]

  def step(sub, i, cond, *acc_in):
    c = RuleContext(sub, ctx.primitive, [], [])
    j = c.op("Add", sub.materialize(i), c.scalar(1, np.int64))
    elems = [c.op("Gather", x, j, axis=axis) for x in xs]
    outs = _apply_body(sub, body, k, acc_avals, [sub.materialize(a) for a in acc_in] + elems)
    return [cond, *(OnnxTracer(sub, a, o) for a, o in zip(acc_avals, outs))]

  graph, _ = trace_subgraph(ctx.trace, "reduce_fold", step, counters + acc_avals)
  trips = ctx.op("Squeeze", ctx.op("Max", ctx.op("Sub", ctx.dim(n), ctx.ints([1])),
                                   ctx.ints([0])), ctx.ints([0]))
  acc = ctx.op("Loop", trips, None, *acc, outputs=k, body=graph)
  acc = acc if k > 1 else [acc]
  return [ctx.op("Unsqueeze", a, ctx.ints([axis])) for a in acc], [
      a.update(shape=_with_dim(a.shape, axis, 1)) for a in avals]


def _sequential_fold(ctx, body, xs, avals, inits, dims):
  """acc = init; acc = body(acc, x[i]) over the reduced indices i in row-major
  order, as XLA on CPU."""
  k, shape = len(xs), avals[0].shape
  ones = [a.update(shape=tuple(1 if i in dims else d for i, d in enumerate(shape)))
          for a in avals]
  acc = None
  for idx in itertools.product(*(range(shape[a]) for a in dims)):
    elems = [ctx.op("Slice", x, ctx.ints(idx), ctx.ints([i + 1 for i in idx]), ctx.ints(dims))
             for x in xs] if dims else xs
    acc = (_apply_body(ctx.trace, body, k, ones, elems, inits) if acc is None
           else _apply_body(ctx.trace, body, k, ones, acc + elems))
  if not dims:
    return acc
  return [ctx.op("Squeeze", a, ctx.ints(dims)) for a in acc]


@register_rule(P.reduce_p, family="windows", higher_order=True,
               onnx_ops=["Slice", "Concat", "Loop", "(reducer body)"])
def _reduce(trace, tracers, *, computation, jaxpr, dimensions):
  k = len(tracers) // 2
  operands, inits = tracers[:k], tracers[k:]
  out_avals, _ = P.reduce_p.abstract_eval(*[t.aval for t in tracers], computation=computation,
                                          jaxpr=jaxpr, dimensions=dimensions)
  ctx = RuleContext(trace, P.reduce_p, tracers, out_avals)
  body = lambda *a: _compat.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *a)
  init_names = [trace.materialize(t) for t in inits]
  shape = operands[0].aval.shape
  if any(is_static_dim(shape[a]) and shape[a] == 0 for a in dimensions):
    return [OnnxTracer(trace, a, _fill(ctx, i, a.dtype, a.shape))
            for a, i in zip(out_avals, init_names)]
  xs, avals = [trace.materialize(t) for t in operands], [t.aval for t in operands]
  if all(is_static_dim(shape[a]) for a in dimensions) and math.prod(
      shape[a] for a in dimensions) <= _SEQUENTIAL_REDUCE:
    return [OnnxTracer(trace, a, y) for a, y in zip(
        out_avals, _sequential_fold(ctx, body, xs, avals, init_names, sorted(dimensions)))]
  empty = None   # a symbolic reduced axis may be empty at run time
  for axis in sorted(dimensions, reverse=True):
    if is_static_dim(shape[axis]):
      xs, avals = _tree_fold(ctx, body, xs, avals, axis)
    else:
      xs, avals = _loop_fold(ctx, body, xs, avals, init_names, axis)
      zero = ctx.op("Equal", ctx.dim(shape[axis]), ctx.ints([0]))
      empty = zero if empty is None else ctx.op("Or", empty, zero)
  if dimensions:
    xs = [ctx.op("Squeeze", x, ctx.ints(sorted(dimensions))) for x in xs]
  ys = _apply_body(trace, body, k, out_avals, xs, init_names)
  if empty is not None:
    empty = ctx.op("Squeeze", empty, ctx.ints([0]))
    ys = [ctx.where(empty, i, y, a.dtype) for a, i, y in zip(out_avals, init_names, ys)]
  return [OnnxTracer(trace, a, y) for a, y in zip(out_avals, ys)]


# ---------------------------------------------------------------------------
# The gradients of max/min pooling. select_and_scatter_add: each window
# selects one operand element, the first in window order for which every
# later one fails select_prim(selected, later) (ge: the first maximum; a NaN
# is selected, and replaced by the next element), and the window's source
# value is added there. JAX on CPU first pads the operand with the
# selection's identity (-inf for max), so a window of -infs may select
# padding, and that value is dropped. The additions are a ScatterElements in
# the order XLA makes them (source elements in row-major order).

_SELECT = {P.ge_p: ("GreaterOrEqual", "max"), P.gt_p: ("Greater", "max"),
           P.le_p: ("LessOrEqual", "min"), P.lt_p: ("Less", "min")}




def _select_in_windows(ctx, slices, compare, dtype):
  """The index (in window order) of the element each window selects."""
  best, choice = slices[0], None
  for o, s in enumerate(slices[1:], 1):
    keep = ctx.op_as(dtype, compare, best, s, result_is_data=False)
    best = ctx.where(keep, best, s, dtype)
    choice = ctx.op("Where", keep, ctx.scalar(0, np.int64) if choice is None else choice,
                    ctx.scalar(o, np.int64))
  return choice


def _positions(ctx, out_shape, window_dimensions, window_strides, sizes, axes):
  """Per window offset and per window, the row-major position of the window
  element in the padded operand's `axes` (of `sizes`): a table over offsets
  and a grid over the windows' `axes`, broadcast over the others."""
  mults = [math.prod(sizes[j] for j in axes[i + 1:]) for i in range(len(axes))]
  table = np.zeros([window_dimensions[a] for a in axes], np.int64)
  for i, a in enumerate(axes):
    table = table + (np.arange(window_dimensions[a]) * mults[i]).reshape(
        [-1 if j == i else 1 for j in range(len(axes))])
  grid, rank = None, len(out_shape)
  for i, a in enumerate(axes):
    shape = [out_shape[a] if j == a else 1 for j in range(rank)]
    if is_static_dim(out_shape[a]) and is_static_dim(mults[i]):
      g = ctx.const((np.arange(out_shape[a]) * window_strides[a] * mults[i]).reshape(shape))
    else:
      r = ctx.op("Range", ctx.scalar(0, np.int64), ctx.op("Squeeze", ctx.dim(out_shape[a])),
                 ctx.scalar(1, np.int64))
      g = ctx.reshape(ctx.op("Mul", r, ctx.op("Mul", ctx.dim(mults[i]),
                                                ctx.ints([window_strides[a]]))), shape)
    grid = g if grid is None else ctx.op("Add", grid, g)
  return ctx.const(table.reshape(-1)), grid


@register_rule(P.select_and_scatter_add_p, family="windows",
               onnx_ops=["Pad", "Slice", "GreaterOrEqual", "Where", "ScatterElements"])
def _select_and_scatter_add(ctx, source, operand, *, select_prim, window_dimensions,
                            window_strides, padding):
  shape, out_shape = ctx.avals_in[1].shape, ctx.avals_in[0].shape
  dtype = np.dtype(ctx.aval_out.dtype)
  rank = len(shape)
  compare, kind = _SELECT[select_prim]
  zero = ctx.scalar(0, dtype)
  if _is_empty(out_shape, window_dimensions) or _is_empty(shape, [1]):
    return _fill(ctx, zero, dtype, shape)
  ones = (1,) * rank
  params = {"window_dimensions": window_dimensions, "window_strides": window_strides,
            "padding": padding, "base_dilation": ones, "window_dilation": ones}
  slices = _typed_slices(ctx, operand, ctx.scalar(_identity(kind, dtype), dtype),
                         ctx.avals_in[1], out_shape, params)
  axes = _sliced_axes(window_dimensions, window_strides, padding, ones)
  if not axes:   # 1x1 windows, stride 1, no padding: each element is its own window
    return ctx.op("Identity", source)
  choice = _select_in_windows(ctx, slices, compare, dtype)
  sizes = [shape[a] + lo + hi for a, (lo, hi) in enumerate(padding)]
  table, grid = _positions(ctx, out_shape, window_dimensions, window_strides, sizes, axes)
  pos = grid if choice is None else ctx.op("Add", ctx.op("Gather", table, choice), grid)
  # [others..., axes...] -> [M, K] windows per row, scattered into [M, padded axes' size]
  others = [a for a in range(rank) if a not in axes]
  perm = others + axes
  if perm != list(range(rank)):
    pos, source = (ctx.op("Transpose", v, perm=perm) for v in (pos, source))
  if choice is None:
    pos = ctx.op("Expand", pos, ctx.shape([out_shape[a] for a in perm]))
  pos, source = (ctx.reshape(v, [-1, math.prod(out_shape[a] for a in axes)]) for v in (pos, source))
  wide = None if dtype.kind == "f" else np.dtype(np.int64)   # bool: an "or" of the adds
  if wide is not None:
    source = ctx.cast(source, wide)
  rows = ctx.op("Shape", pos, start=0, end=1)
  base = ctx.op("Expand", ctx.scalar(0, wide or dtype),
                ctx.op("Concat", rows, ctx.dim(math.prod(sizes[a] for a in axes)), axis=0))
  y = ctx.op("ScatterElements", base, pos, source, axis=1, reduction="add")
  y = ctx.reshape(y, [sizes[a] for a in perm])
  if perm != list(range(rank)):
    y = ctx.op("Transpose", y, perm=[int(i) for i in np.argsort(perm)])
  if any(lo or hi for lo, hi in padding):   # drop the padding (or put back what it cut)
    y = ctx.op("Pad", y, ctx.ints([-lo for lo, _ in padding] + [-hi for _, hi in padding]),
               ctx.scalar(0, wide or dtype))
  if wide is not None:
    y = ctx.op("Greater", y, ctx.scalar(0, wide)) if dtype.kind == "b" else ctx.cast(y, dtype)
  return y


@register_rule(P.select_and_gather_add_p, family="windows", onnx_ops=["Pad", "Slice", "Where"])
def _select_and_gather_add(ctx, tangents, operand, *, select_prim, **params):
  """The tangent of each window's selected operand element: as JAX on CPU, a
  variadic reduce_window over (operand, tangent) pairs from (identity, 0)."""
  dtype = ctx.avals_in[1].dtype
  _, kind = _SELECT[select_prim]
  padding = params.get("padding", ())
  dims = params.get("window_dimensions", ())
  if any(tuple(p) == (0, 1) and w > 1 for p, w in zip(padding, dims)):
    # XLA on CPU visits such windows out of row-major order: on ties the
    # tangent would come from another element than JAX's. Refuse, not guess.
    raise UnsupportedParameters(
        "the forward-mode derivative of a max/min pool whose window is padded by "
        "exactly (0, 1) on an axis (SAME padding, stride 2, even size): XLA's order "
        "among tied elements there cannot be reproduced; use VALID padding or "
        "reverse-mode (jax.grad), which is exact")

  def pick(a, b):
    first = select_prim.bind(a[0], b[0])
    return lax.select(first, a[0], b[0]), lax.select(first, a[1], b[1])

  def gather(t, x):
    inits = (_identity(kind, dtype), np.zeros((), dtype))
    return lax.reduce_window((x, t), inits, pick, **params)[1]
  return ctx.decompose(gather)


# ---------------------------------------------------------------------------
# Test cases.

def _with_nans(rng, shape):
  x = rng.standard_normal(shape).astype(np.float32)
  x.reshape(-1)[2::7] = np.nan
  return x


def _with_infs(rng, shape):
  x = rng.standard_normal(shape).astype(np.float32)
  flat = x.reshape(-1)
  flat[1::5] = -np.inf
  flat[3::11] = np.inf
  return x


def _pool_edges(sign):
  """NaNs, +-inf, rows of sign*inf (whole windows of them) and the extreme finite value."""
  def values(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    x[..., 0:2, :] = sign * np.inf
    flat = x.reshape(-1)
    flat[5::13] = np.nan
    flat[3::17] = sign * np.finfo(np.float32).max
    flat[7::19] = -sign * np.inf
    return x
  return values


def _big_ints(dtype):
  info = np.iinfo(dtype)
  return lambda rng, shape: rng.integers(info.min // 2, info.max // 2, shape, dtype=np.int64,
                                         endpoint=True).astype(dtype)


def _window(init, op, dims, strides, padding, base=None, wdil=None):
  return lambda x: lax.reduce_window(x, init, op, dims, strides, padding, base, wdil)


def _pool(fn, *args, **kw):
  from flax import nnx
  return lambda x: getattr(nnx, fn)(x, *args, **kw)


_IMG = ("B", 5, 6, 3)
for _pad in ("VALID", "SAME"):
  case(f"win_max_pool_{_pad.lower()}", _pool("max_pool", (2, 2), (2, 2), _pad), _IMG,
       covers="reduce_window_max")
  for _incl in (True, False):
    case(f"win_avg_pool_{_pad.lower()}_{'incl' if _incl else 'excl'}_pad",
         _pool("avg_pool", (2, 2), (2, 2), _pad, count_include_pad=_incl), _IMG,
         covers="reduce_window_sum")
case("win_max_pool_3x3_stride1_nan", _pool("max_pool", (3, 3), (1, 1), "SAME"),
     Spec(_IMG, "float32", _with_nans), covers="reduce_window_max")
case("win_maxpool_nchw_3x3_edges", _window(-np.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), "SAME"),
     Spec(("B", 2, 6, 7), "float32", _pool_edges(-1)), covers="reduce_window_max",
     expect_ops=("MaxPool",))
case("win_minpool_nchw_3x3_edges", _window(np.inf, lax.min, (1, 1, 3, 3), (1, 1, 1, 1),
                                           ((0, 0), (0, 0), (1, 2), (2, 0))),
     Spec(("B", 2, 6, 7), "float32", _pool_edges(1)), covers="reduce_window_min",
     expect_ops=("MaxPool",))
case("win_maxpool_nhwc_4x4", _pool("max_pool", (4, 4), (2, 2), "SAME"),
     Spec(("B", 7, 6, 2), "float32", _pool_edges(-1)), covers="reduce_window_max",
     expect_ops=("MaxPool",))
case("win_maxpool_int8", _window(np.int8(-128), lax.max, (1, 3, 3), (1, 2, 1), "SAME"),
     Spec(("B", 5, 6), "int8", _big_ints(np.int8)), covers="reduce_window_max",
     expect_ops=("MaxPool",))
case("win_maxpool_uint8_batch_axis", _window(np.uint8(0), lax.max, (3, 3), (1, 1), "SAME"),
     Spec(("B", 6), "uint8", "int"), covers="reduce_window_max", expect_ops=("MaxPool",))
case("win_min_nan_1d", _window(np.inf, lax.min, (1, 3), (1, 2), "SAME"),
     Spec(("B", 9), "float32", _with_nans), covers="reduce_window_min")
case("win_max_infs", _window(-np.inf, lax.max, (1, 2), (1, 1), ((0, 0), (2, 1))),
     Spec(("B", 7), "float32", _with_infs), covers="reduce_window_max")
case("win_sum_dilations", _window(0.0, lax.add, (1, 2, 2), (1, 1, 2),
                                  ((0, 0), (1, 2), (0, 1)), (1, 2, 1), (1, 1, 2)),
     ("B", 4, 6), covers="reduce_window_sum")
case("win_max_dilations_int32",
     _window(np.int32(np.iinfo(np.int32).min), lax.max, (1, 3, 2), (1, 2, 1),
             ((0, 0), (2, 0), (1, 1)), (1, 1, 3), (1, 2, 1)),
     Spec(("B", 6, 3), "int32", _big_ints(np.int32)), covers="reduce_window_max")
case("win_min_int32_padded", _window(np.int32(np.iinfo(np.int32).max), lax.min, (1, 4),
                                     (1, 3), ((0, 0), (3, 3))),
     Spec(("B", 5), "int32", _big_ints(np.int32)), covers="reduce_window_min")
case("win_sum_int8_wraps", _window(np.int8(0), lax.add, (1, 3), (1, 1), "SAME"),
     Spec(("B", 6), "int8", _big_ints(np.int8)), covers="reduce_window_sum")
case("win_sum_int16", _window(np.int16(0), lax.add, (2, 2), (1, 1), ((0, 0), (1, 1))),
     Spec(("B", 5), "int16", _big_ints(np.int16)), covers="reduce_window_sum")
case("win_max_uint16", _window(np.uint16(0), lax.max, (1, 2), (1, 2), ((0, 0), (0, 1))),
     Spec(("B", 5), "uint16", "int"), covers="reduce_window_max")
case("win_max_bool", _window(False, lax.max, (1, 2), (1, 1), "SAME"), Spec(("B", 5), "bool"),
     covers="reduce_window_max")
case("win_sum_batch_axis", _window(0.0, lax.add, (2, 1), (1, 1), "VALID"), ("B", 4),
     covers="reduce_window_sum")
case("win_max_batch_axis_strided", _window(-np.inf, lax.max, (2, 1), (3, 1), "VALID"), ("B", 3),
     covers="reduce_window_max")
case("win_max_negative_padding", _window(-np.inf, lax.max, (1, 2), (1, 1), ((0, 0), (-1, 2))),
     ("B", 6), covers="reduce_window_max")
case("win_generic_mul", _window(1.0, lax.mul, (1, 2, 2), (1, 1, 1), "SAME"), ("B", 3, 4),
     covers="reduce_window")
case("win_generic_add_init", _window(1.5, lax.add, (1, 3), (1, 2), ((0, 0), (1, 1))),
     ("B", 7), covers="reduce_window")
case("win_generic_add_init_dilated", _window(1.5, lax.add, (2, 3), (1, 2), ((1, 0), (1, 2)),
                                             (2, 2), (1, 2)),
     ("B", 5), covers="reduce_window")
case("win_generic_or_bool", _window(False, lax.bitwise_or, (1, 2), (1, 1), ((0, 0), (1, 0))),
     Spec(("B", 5), "bool"), covers="reduce_window")
case("win_generic_max_int16_init", _window(np.int16(3), lax.max, (1, 3), (1, 2), "SAME"),
     Spec(("B", 7), "int16", "int"), covers="reduce_window")
case("win_generic_logaddexp", _window(-np.inf, jnp.logaddexp, (1, 3), (1, 1), "SAME"),
     Spec(("B", 6), "float32", _with_infs), covers="reduce_window")


def _argmax_window(x):
  """Variadic reduce_window: the max of each window and its (first) index."""
  idx = lax.broadcasted_iota(jnp.int32, x.shape, 1)

  def pick(a, b):
    take_b = (b[0] > a[0]) | ((b[0] == a[0]) & (b[1] < a[1]))
    return jnp.where(take_b, b[0], a[0]), jnp.where(take_b, b[1], a[1])
  return lax.reduce_window((x, idx), (-jnp.inf, jnp.int32(2**30)), pick, (1, 3), (1, 2),
                           ((0, 0), (1, 1)))


case("win_generic_variadic_argmax", _argmax_window, Spec(("B", 7), "float32", "int"),
     covers="reduce_window")

_X = ("B", 6)
_CUMS = {"sum": jnp.cumsum, "prod": jnp.cumprod, "max": lax.cummax, "min": lax.cummin,
         "logsumexp": lax.cumlogsumexp}


def _lax_cum(prim: str, axis: int, reverse: bool = False):
  return lambda x: getattr(lax, prim)(x, axis, reverse)


for _name, _fn in _CUMS.items():
  _prim = "cum" + _name
  _vals = "unit" if _name == "prod" else "normal"
  for _axis in (0, 1):
    case(f"cum_{_name}_axis{_axis}", lambda x, _f=_fn, _a=_axis: _f(x, axis=_a),
         Spec(_X, "float32", _vals), covers=_prim)
  case(f"cum_{_name}_reverse_axis1", _lax_cum(_prim, 1, True), Spec(_X, "float32", _vals),
       covers=_prim)
  case(f"cum_{_name}_reverse_axis0", _lax_cum(_prim, 0, True), Spec(("B", 3), "float32", _vals),
       covers=_prim)
  if _name != "logsumexp":
    case(f"cum_{_name}_int32_axis1", lambda x, _f=_fn: _f(x, axis=1),
         Spec(_X, "int32", _big_ints(np.int32)), covers=_prim)
    case(f"cum_{_name}_int32_axis0", lambda x, _f=_fn: _f(x, axis=0),
         Spec(("B", 2), "int32", _big_ints(np.int32)), covers=_prim)
    case(f"cum_{_name}_int8", _lax_cum(_prim, 1), Spec(_X, "int8", _big_ints(np.int8)),
         covers=_prim)
    case(f"cum_{_name}_uint16_reverse", _lax_cum(_prim, 1, True), Spec(_X, "uint16", "int"),
         covers=_prim)
  case(f"cum_{_name}_nan", _lax_cum(_prim, 1), Spec(("B", 9), "float32", _with_nans),
       covers=_prim)
case("cum_logsumexp_infs", lambda x: lax.cumlogsumexp(x, 1, reverse=True),
     Spec(("B", 9), "float32", _with_infs), covers="cumlogsumexp")
case("cum_max_infs_axis0", lambda x: lax.cummax(x, 0), Spec(("B", 4), "float32", _with_infs),
     covers="cummax")
case("cum_sum_jnp_int8_to_int32", lambda x: jnp.cumsum(x, axis=1, dtype=jnp.int32),
     Spec(_X, "int8", _big_ints(np.int8)), covers="cumsum")
case("cum_sum_uint32_wraps", lambda x: lax.cumsum(x, 1, reverse=True),
     Spec(_X, "uint32", lambda rng, shape: rng.integers(2**31, 2**32, shape, dtype=np.uint32)),
     covers="cumsum")
case("cum_prod_uint8_wraps_axis0", lambda x: lax.cumprod(x, 0),
     Spec(("B", 3), "uint8", lambda rng, shape: rng.integers(0, 256, shape, dtype=np.uint8)),
     covers="cumprod")
case("cum_prod_length1", lambda x: lax.cumprod(x, 1), ("B", 1), covers="cumprod")


# reduce with a custom body (associative and commutative: XLA's order is open).

def _argmax_pair(a, b):
  """(value, index) of the larger value, the smaller index on ties."""
  take_b = (b[0] > a[0]) | ((b[0] == a[0]) & (b[1] < a[1]))
  return jnp.where(take_b, b[0], a[0]), jnp.where(take_b, b[1], a[1])


def _lex_max(a, b):
  """The lexicographic max of (hi, lo) pairs."""
  take_b = (b[0] > a[0]) | ((b[0] == a[0]) & (b[1] > a[1]))
  return jnp.where(take_b, b[0], a[0]), jnp.where(take_b, b[1], a[1])


def _reduce_argmax(axis: int):
  def fn(x):
    idx = lax.broadcasted_iota(jnp.int32, x.shape, axis)
    return lax.reduce((x, idx), (-jnp.inf, jnp.int32(2**30)), _argmax_pair, (axis,))
  return fn


def _ties_and_infs(rng, shape):
  x = rng.integers(-3, 4, shape).astype(np.float32)
  flat = x.reshape(-1)
  flat[1::7] = -np.inf
  flat[4::9] = np.inf
  return x


case("red_argmax_axis1", _reduce_argmax(1), Spec(("B", 7), "float32", _ties_and_infs),
     covers="reduce")
case("red_argmax_batch_axis", _reduce_argmax(0), Spec(("B", 5), "float32", _ties_and_infs),
     covers="reduce")
case("red_lex_max_two_axes", lambda hi, lo: lax.reduce((hi, lo), (jnp.int32(-2**31),
                                                                jnp.int32(-2**31)),
                                                        _lex_max, (1, 2)),
     Spec(("B", 3, 5), "int32", "int"), Spec(("B", 3, 5), "int32", "int"), covers="reduce")
case("red_lex_max_all_axes", lambda hi, lo: lax.reduce((hi, lo), (jnp.int32(-2**31),
                                                                jnp.int32(-2**31)),
                                                        _lex_max, (0, 1)),
     Spec(("B", 3), "int32", "int"), Spec(("B", 3), "int32", "int"), covers="reduce")
case("red_lambda_add_int32", lambda x: lax.reduce(x, jnp.int32(0), lambda a, b: a + b, (0, 2)),
     Spec(("B", 3, 6), "int32", _big_ints(np.int32)), covers="reduce")
case("red_lambda_add_float", lambda x: lax.reduce(x, 0.0, lambda a, b: a + b, (1,)),
     ("B", 9), covers="reduce")
case("red_lambda_max_bf16", lambda x: lax.reduce(x.astype(jnp.bfloat16), jnp.bfloat16(-jnp.inf),
                                                 lambda a, b: jnp.maximum(a, b), (0, 1)),
     ("B", 5), covers="reduce")
case("red_lambda_xor_bool", lambda x: lax.reduce(x, False, lambda a, b: a ^ b, (0,)),
     Spec(("B", 4), "bool"), covers="reduce")
case("red_lambda_max_int16", lambda x: lax.reduce(x, jnp.int16(-2**15),
                                                  lambda a, b: jnp.maximum(a, b), (1,)),
     Spec(("B", 6), "int16", _big_ints(np.int16)), covers="reduce")
case("red_sequential_order_int32", lambda x: lax.reduce(x, jnp.int32(-1),
                                                        lambda a, b: a * 3 + b, (1, 2)),
     Spec(("B", 4, 6), "int32", "int"), covers="reduce")
case("red_lambda_add_float_long", lambda x: lax.reduce(x, 0.0, lambda a, b: a + b, (1,)),
     ("B", 45), covers="reduce")
case("red_empty_axis", lambda x: lax.reduce(x, 0.0, lambda a, b: a + b, (1,)), ("B", 0),
     covers="reduce")


# The gradients (select_and_scatter_add) and tangents (select_and_gather_add) of
# max/min pooling: small-int values make ties, edge values NaNs, infs, -inf windows.

def _pool_vjp(pool):
  return lambda x, g: jax.vjp(pool, x)[1](g)[0]


def _pool_jvp(pool):
  return lambda x, t: jax.jvp(pool, (x,), (t,))[1]


def _ties(rng, shape):
  return rng.integers(-2, 3, shape).astype(np.float32)


_POOL_GRADS = {
    "2x2_s2": (_pool("max_pool", (2, 2), (2, 2)), ("B", 4, 6, 2), ("B", 2, 3, 2)),
    "3x3_s1_same": (_pool("max_pool", (3, 3), (1, 1), "SAME"), ("B", 4, 5, 2), ("B", 4, 5, 2)),
    "3x3_s2_same_nchw": (_window(-np.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), "SAME"),
                         ("B", 2, 5, 6), ("B", 2, 3, 3)),
    "min_2x3_padded": (_window(np.inf, lax.min, (1, 2, 3), (1, 1, 2), ((0, 0), (1, 0), (2, 1))),
                       ("B", 4, 5), ("B", 4, 3)),
}
for _name, (_fn, _in, _out) in _POOL_GRADS.items():
  _edges = _pool_edges(1 if _name.startswith("min") else -1)
  for _vals, _tag in ((_ties, "ties"), (_edges, "edges")):
    case(f"sas_grad_{_name}_{_tag}", _pool_vjp(_fn), Spec(_in, "float32", _vals), Spec(_out),
         covers="select_and_scatter_add", expect_ops=("ScatterElements",))
    if not _name.endswith("nchw"):   # (0, 1)-padded: refused, see test_mechanics
      case(f"sga_jvp_{_name}_{_tag}", _pool_jvp(_fn), Spec(_in, "float32", _vals), Spec(_in),
           covers="select_and_gather_add")
  if not _name.endswith("nchw"):
    case(f"sga_jvp_{_name}", _pool_jvp(_fn), Spec(_in), Spec(_in),
         covers="select_and_gather_add")
case("sas_grad_batch_axis_window", jax.grad(lambda x: _window(-np.inf, lax.max, (2, 1), (1, 1),
                                                               "VALID")(x).sum()),
     Spec(("B", 3), "float32", _ties), covers="select_and_scatter_add")
case("sas_jax_grad_max_pool", jax.grad(lambda x: _pool("max_pool", (2, 2), (1, 1))(x).sum()),
     Spec(("B", 3, 4, 1), "float32", _ties), covers="select_and_scatter_add")
case("sas_grad_bf16", _pool_vjp(lambda x: _pool("max_pool", (2, 2), (2, 2))(
    x.astype(jnp.bfloat16)).astype(jnp.float32)), Spec(("B", 4, 4, 1), "float32", _ties),
     Spec(("B", 2, 2, 1)), covers="select_and_scatter_add", rtol=1e-2, atol=1e-2)
