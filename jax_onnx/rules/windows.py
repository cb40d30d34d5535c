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
from jax_onnx.registry import Spec, case, register_rule
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


def _static(d) -> bool:
  return isinstance(d, (int, np.integer))


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
  return (any(_static(d) and d == 0 for d in shape) or 0 in window_dimensions)


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
    if _static(n) and n <= 1:
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

    if _static(n):
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
