"""Convolution: conv_general_dilated, with any dimension numbers, padding
(negative included), lhs/rhs dilation and feature/batch groups.

ONNX Conv is NC<spatial> x OI<spatial>: other layouts (Flax's NHWC/HWIO) are
transposed in and out. lhs dilation (transposed convolution) is a ConvTranspose
when the window strides are 1, else the input is dilated with zeros. ONNX
Runtime's Conv runs in float32 only; other dtypes (float64, integers, which wrap
on overflow as in XLA) use an exact im2col: one strided Slice per kernel tap
and one MatMul.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import dtypes as dt
from jax_onnx import kernels
from jax_onnx.errors import SymbolicDimError
from jax_onnx.registry import Lazy, Spec, case, register_rule
from jax_onnx.shapes import is_static_dim

F32 = np.dtype(np.float32)
I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min
_WORK = {np.dtype(np.bool_): np.dtype(np.int32)}


def _identity(perm) -> bool:
  return list(perm) == list(range(len(perm)))



def _is_zero(d) -> bool:
  return is_static_dim(d) and d == 0


# Kernel manipulations: on numpy arrays when the kernel is a constant (weights),
# else ONNX nodes.
def _k_transpose(ctx, w, perm):
  if _identity(perm):
    return w
  if isinstance(w, np.ndarray):
    return np.transpose(w, perm)
  return ctx.op("Transpose", w, perm=list(perm))


def _k_reshape(ctx, w, old, new):
  if list(old) == list(new):
    return w
  return w.reshape(new) if isinstance(w, np.ndarray) else ctx.reshape(w, new)


def _k_flip(ctx, w, axes):
  if isinstance(w, np.ndarray):
    return np.flip(w, axes)
  n = len(axes)
  return ctx.op("Slice", w, ctx.ints([-1] * n), ctx.ints([I64_MIN] * n), ctx.ints(axes),
                ctx.ints([-1] * n))


def _k_cast(ctx, w, dtype):
  if isinstance(w, np.ndarray):
    return w.astype(dtype)
  return ctx.cast(w, dtype)


def _k_const(ctx, w):
  return ctx.const(w) if isinstance(w, np.ndarray) else w


@register_rule(P.conv_general_dilated_p, family="convolution",
               onnx_ops=["Conv", "ConvTranspose", "Transpose", "Pad", "Slice", "MatMul", "Reshape"])
def _conv_general_dilated(ctx, lhs, rhs, *, window_strides, padding, lhs_dilation,
                          rhs_dilation, dimension_numbers, feature_group_count,
                          batch_group_count, **params):
  del params   # precision, out_sharding; preferred_element_type is the out dtype
  lhs_spec, rhs_spec, out_spec = dimension_numbers
  dtype = np.dtype(ctx.aval_out.dtype)
  if any(_is_zero(d) for a in (*ctx.avals_in, ctx.aval_out) for d in a.shape):
    # An empty operand: every sum is empty (or the result is), which ORT's Conv rejects.
    return ctx.op("Expand", ctx.scalar(0, dtype), ctx.shape(ctx.aval_out.shape))
  # Computed in float32 by ONNX Conv, else in a dtype MatMul has a kernel for
  # (bool: XLA's AND/OR sum is a count of true products cast back to bool).
  work = F32 if dtype == F32 else (kernels.wider("MatMul", dtype) or _WORK.get(dtype, dtype))
  xs = [ctx.avals_in[0].shape[i] for i in lhs_spec]                  # N, C, spatial
  x = _k_transpose(ctx, lhs, lhs_spec)
  if ctx.avals_in[0].dtype != work:
    x = ctx.cast(x, work)
  w = ctx.consts_in[1] if ctx.consts_in[1] is not None else rhs
  w = _k_transpose(ctx, w, rhs_spec)                                  # O, I, spatial
  if ctx.avals_in[1].dtype != work:
    w = _k_cast(ctx, w, work)
  ws = [ctx.avals_in[1].shape[i] for i in rhs_spec]
  out_dims = [ctx.aval_out.shape[i] for i in out_spec]               # N, K, spatial
  groups = feature_group_count
  if batch_group_count > 1:
    x, xs = _batch_groups_as_features(ctx, x, xs, batch_group_count)
    groups = batch_group_count
  lo, hi = [p[0] for p in padding], [p[1] for p in padding]
  dilated = any(d != 1 for d in lhs_dilation)
  if not all(is_static_dim(p) for p in lo + hi):
    x, xs, lo, hi = _pad_symbolic(ctx, x, xs, lo, hi, dilated)
  if work == F32 and dilated and all(s == 1 for s in window_strides):
    y = _conv_transpose(ctx, x, w, ws, lo, hi, lhs_dilation, rhs_dilation, groups)
  else:
    x, xs, lo, hi = _dilate(ctx, x, xs, lhs_dilation, lo, hi)
    x, xs, lo, hi = _crop(ctx, x, xs, lo, hi)
    if work == F32:
      y = ctx.op("Conv", x, _k_const(ctx, w), strides=list(window_strides),
                 dilations=list(rhs_dilation), pads=lo + hi, group=groups)
    else:
      y = _conv_im2col(ctx, x, w, xs, ws, lo, hi, window_strides, rhs_dilation, groups,
                       out_dims)
  if work != dtype:
    y = ctx.cast(y, dtype)
  return _k_transpose(ctx, y, np.argsort(out_spec))


def _pad_symbolic(ctx, x, xs, lo, hi, dilated):
  """Padding that depends on a symbolic dim ('SAME' with strides on a dynamic
  spatial dim; JAX makes it non-negative) is a Pad node with computed pads."""
  if dilated:
    raise SymbolicDimError("conv_general_dilated with lhs_dilation and padding that "
                           "depends on a symbolic dimension: give explicit padding")
  x = ctx.op("Pad", x, ctx.shape([0, 0, *lo, 0, 0, *hi]))
  xs = xs[:2] + [d + a + b for d, a, b in zip(xs[2:], lo, hi)]
  return x, xs, [0] * len(lo), [0] * len(hi)


def _batch_groups_as_features(ctx, x, xs, g):
  """XLA's batch groups: lhs batch group i (N/g rows, in order) meets output
  feature group i. Moving the groups into the channels makes them feature
  groups: (g*N', C) -> (N', g*C)."""
  n, c, *sp = xs
  x = ctx.reshape(x, [g, n // g, c] + sp)
  x = ctx.op("Transpose", x, perm=[1, 0] + list(range(2, len(xs) + 1)))
  xs = [n // g, g * c] + sp
  return ctx.reshape(x, xs), xs


def _dilate(ctx, x, xs, lhs_dilation, lo, hi):
  """Inserts d-1 zeros between the elements of each spatial dim: a trailing
  axis padded to d, merged in, and the d-1 zeros after the last element taken
  off the high padding."""
  hi = list(hi)
  xs = list(xs)
  for i, d in enumerate(lhs_dilation):
    if d == 1:
      continue
    a = 2 + i
    x = ctx.op("Unsqueeze", x, ctx.ints([a + 1]))
    x = ctx.op("Pad", x, ctx.ints([0, d - 1]), None, ctx.ints([a + 1]))
    xs[a] = xs[a] * d
    x = ctx.reshape(x, xs)
    hi[i] -= d - 1
  return x, xs, list(lo), hi


def _crop(ctx, x, xs, lo, hi):
  """Negative padding slices the (dilated) input; returns the padding left."""
  axes = [2 + i for i in range(len(lo)) if lo[i] < 0 or hi[i] < 0]
  if not axes:
    return x, xs, list(lo), list(hi)
  starts = [max(0, -lo[a - 2]) for a in axes]
  ends = [hi[a - 2] if hi[a - 2] < 0 else I64_MAX for a in axes]
  x = ctx.op("Slice", x, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes))
  xs = list(xs)
  for a in axes:
    xs[a] = xs[a] + min(0, lo[a - 2]) + min(0, hi[a - 2])
  return x, xs, [max(0, p) for p in lo], [max(0, p) for p in hi]


def _conv_transpose(ctx, x, w, ws, lo, hi, strides, rhs_dilation, groups):
  """conv(dilate(x, s), w, padding (lo, hi)) = ConvTranspose(x, flipped w,
  strides s): ConvTranspose's full output starts ke - 1 - lo before JAX's and
  ends ke - 1 - hi after it (ke: the dilated kernel size). Positive amounts are
  ConvTranspose pads (cropped); negative ones are rows no input reaches: zeros."""
  k, cg, *ksp = ws
  nsp = len(ksp)
  w = _k_flip(ctx, w, list(range(2, 2 + nsp)))
  # (K, C/g, k...) -> (C, K/g, k...): ConvTranspose's kernel is input-major.
  kg = k // groups
  w = _k_reshape(ctx, w, ws, [groups, kg, cg] + ksp)
  w = _k_transpose(ctx, w, [0, 2, 1] + list(range(3, 3 + nsp)))
  w = _k_reshape(ctx, w, [groups, cg, kg] + ksp, [groups * cg, kg] + ksp)
  ke = [(kd - 1) * r + 1 for kd, r in zip(ksp, rhs_dilation)]
  begin = [e - 1 - p for e, p in zip(ke, lo)]
  end = [e - 1 - p for e, p in zip(ke, hi)]
  y = ctx.op("ConvTranspose", x, _k_const(ctx, w), strides=list(strides),
             dilations=list(rhs_dilation), group=groups,
             pads=[max(0, p) for p in begin] + [max(0, p) for p in end])
  if any(p < 0 for p in begin + end):
    pads = [0, 0] + [max(0, -p) for p in begin] + [0, 0] + [max(0, -p) for p in end]
    y = ctx.op("Pad", y, ctx.ints(pads))
  return y


def _conv_im2col(ctx, x, w, xs, ws, lo, hi, strides, rhs_dilation, groups, out_dims):
  """Exact convolution for dtypes ONNX Conv lacks: the input window of every
  kernel tap is a strided Slice; (K/g, C/g * taps) @ (C/g * taps, out) per group."""
  n, _, *sp = xs
  k, cg, *ksp = ws
  nsp = len(sp)
  osp = out_dims[2:]
  if any(p > 0 for p in lo + hi):
    x = ctx.op("Pad", x, ctx.ints([0, 0] + list(lo) + [0, 0] + list(hi)))
  axes = ctx.ints(list(range(2, 2 + nsp)))
  steps = ctx.ints(strides)
  taps = []
  for tap in np.ndindex(*ksp):
    starts = [t * r for t, r in zip(tap, rhs_dilation)]
    ends = [s0 + (o - 1) * s + 1 for s0, o, s in zip(starts, osp, strides)]
    cut = ctx.op("Slice", x, ctx.ints(starts), ctx.shape(ends), axes, steps)
    taps.append(ctx.op("Unsqueeze", cut, ctx.ints([2])))
  cols = ctx.op("Concat", *taps, axis=2) if len(taps) > 1 else taps[0]   # N, C, taps, out...
  ntaps = math.prod(ksp)
  out_flat = math.prod(osp) if osp else 1
  cols = ctx.reshape(cols, [n, groups, cg * ntaps, out_flat])
  w = _k_reshape(ctx, w, ws, [groups, k // groups, cg * ntaps])
  y = ctx.op("MatMul", _k_const(ctx, w), cols)                      # N, g, K/g, out
  return ctx.reshape(y, [n, k] + list(osp))


# ---------------------------------------------------------------------------
# Test cases: lax.conv_general_dilated directly.
_CASE_KW = ("rtol", "atol", "expect_ops", "forbid_ops", "skip", "opset")
_NHWC = ("NHWC", "HWIO", "NHWC")


def _w(shape, dtype=np.float32, seed=0):
  """Weights scaled so outputs stay O(1) (tolerances are relative)."""
  rng = np.random.default_rng(seed)
  fan_in = math.prod(shape) / max(shape)
  return (rng.standard_normal(shape) / math.sqrt(fan_in)).astype(dtype)


def _conv_case(name, x, w_shape, *, kernel_input=False, dtype="float32", **kw):
  """A conv of input x (a shape or Spec) with constant weights, or with the
  kernel as a second input."""
  case_kw = {k: kw.pop(k) for k in _CASE_KW if k in kw}
  kw.setdefault("window_strides", (1,) * (len(w_shape) - 2))
  kw.setdefault("padding", "VALID")
  conv = functools.partial(lax.conv_general_dilated, **kw)
  x = x if isinstance(x, Spec) else Spec(x, dtype)
  if kernel_input:
    case(name, conv, x, Spec(w_shape, dtype), covers="conv_general_dilated", **case_kw)
  else:
    w = _w(w_shape)
    w = w.astype(dtype) if dt.is_float(dtype) else np.round(w * 3).astype(dtype)
    case(name, lambda x: conv(x, w), x, covers="conv_general_dilated", **case_kw)


_conv_case("conv_nhwc_same", ("B", 6, 7, 3), (3, 3, 3, 4), padding="SAME",
           dimension_numbers=_NHWC, expect_ops=["Conv"])
_conv_case("conv_nhwc_valid_stride", ("B", 7, 8, 3), (3, 3, 3, 4), window_strides=(2, 2),
           dimension_numbers=_NHWC)
_conv_case("conv_nchw_kernel_input", ("B", 3, 6, 5), (4, 3, 3, 2), kernel_input=True,
           padding=[(1, 1), (0, 2)], expect_ops=["Conv"], forbid_ops=["Transpose"])
_conv_case("conv_nhwc_kernel_input", ("B", 6, 5, 3), (3, 2, 3, 4), kernel_input=True,
           window_strides=(1, 2), padding="SAME", dimension_numbers=_NHWC)
_conv_case("conv_1d_nwc", ("B", 9, 2), (3, 2, 5), window_strides=(2,), padding=[(2, 1)],
           dimension_numbers=("NWC", "WIO", "NWC"), precision=lax.Precision.HIGHEST,
           preferred_element_type=jnp.float32)
_conv_case("conv_1d_ncw", ("B", 2, 7), (5, 2, 3))
_conv_case("conv_3d_ndhwc", ("B", 4, 5, 3, 2), (2, 3, 2, 2, 3), window_strides=(1, 2, 1),
           padding="SAME", dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
_conv_case("conv_3d_ncdhw_rhs_dilation", ("B", 2, 5, 4, 5), (3, 2, 2, 2, 2), padding="SAME",
           rhs_dilation=(2, 1, 2))
_conv_case("conv_odd_layout", (5, "B", 6, 3), (4, 3, 2, 3), padding=[(1, 0), (0, 1)],
           dimension_numbers=("HNWC", "OHWI", "CWHN"))
_conv_case("conv_negative_padding", ("B", 3, 6, 7), (4, 3, 2, 2), window_strides=(1, 2),
           padding=[(-1, 2), (1, -2)])
_conv_case("conv_rhs_dilation_stride", ("B", 9, 11, 4), (3, 3, 4, 2), window_strides=(2, 3),
           padding="SAME", rhs_dilation=(2, 3), dimension_numbers=_NHWC)
_conv_case("conv_feature_groups", ("B", 5, 5, 6), (3, 3, 2, 6), padding="SAME",
           feature_group_count=3, dimension_numbers=_NHWC)
_conv_case("conv_depthwise", ("B", 5, 6, 4), (3, 3, 1, 8), padding="SAME",
           feature_group_count=4, dimension_numbers=_NHWC)
# Batch groups (what the kernel gradient of a conv binds): the batch is a
# multiple of the group count, so the symbolic batch is B groups of rows.
case("conv_batch_groups",
     lambda x, w: lax.conv_general_dilated(x.reshape(-1, *x.shape[2:]), w, (1,), [(1, 0)],
                                           batch_group_count=2),
     (2, "B", 3, 6), (4, 3, 2), covers="conv_general_dilated")
_W_BG = _w((2, 2, 2, 6))
case("conv_batch_groups_nhwc",
     lambda x: lax.conv_general_dilated(x.reshape(-1, *x.shape[2:]), _W_BG, (1, 1), "VALID",
                                        dimension_numbers=_NHWC, batch_group_count=3),
     (3, "B", 4, 4, 2), covers="conv_general_dilated")

# lhs dilation (transposed convolution): ConvTranspose when the window strides
# are 1, else zeros interleaved; all paddings, negative ones included.
_conv_case("conv_lhs_dilation", ("B", 3, 4, 5), (2, 3, 3, 2), padding=[(2, 2), (1, 1)],
           lhs_dilation=(2, 3), expect_ops=["ConvTranspose"], forbid_ops=["Conv"])
_conv_case("conv_lhs_dilation_pads", ("B", 3, 4, 5), (2, 3, 3, 3),
           padding=[(0, 4), (-1, 3)], lhs_dilation=(2, 2), rhs_dilation=(1, 2))
_conv_case("conv_lhs_dilation_big_pads", ("B", 2, 4), (3, 2, 2), padding=[(3, -2)],
           lhs_dilation=(3,))
_conv_case("conv_lhs_dilation_kernel_input", ("B", 5, 4, 4), (3, 3, 2, 6), kernel_input=True,
           padding=[(2, 1), (1, 2)], lhs_dilation=(2, 2), dimension_numbers=_NHWC,
           feature_group_count=2)
_conv_case("conv_lhs_dilation_groups", ("B", 4, 5, 4), (2, 2, 2, 6), padding=[(1, 1), (1, 0)],
           lhs_dilation=(2, 1), dimension_numbers=_NHWC, feature_group_count=2)
_conv_case("conv_lhs_dilation_strided", ("B", 3, 5, 4), (2, 3, 3, 2), window_strides=(2, 3),
           padding=[(1, 2), (-1, 1)], lhs_dilation=(3, 2), forbid_ops=["ConvTranspose"])
_conv_case("conv_lhs_dilation_3d", ("B", 3, 3, 2, 2), (2, 2, 2, 2, 2),
           padding=[(1, 1), (0, 1), (1, 0)], lhs_dilation=(2, 1, 2),
           dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
_conv_case("conv_lhs_dilation_batch_groups", (4, 3, 5), (4, 3, 2), kernel_input=True,
           padding=[(1, 1)], lhs_dilation=(2,), batch_group_count=2)


def _with_non_finite(rng, shape):
  x = rng.standard_normal(shape)
  x.flat[::7] = np.nan
  x.flat[3::11] = np.inf
  x.flat[5::13] = -np.inf
  return x


_conv_case("conv_non_finite", Spec(("B", 3, 6, 5), values=_with_non_finite), (4, 3, 2, 2),
           padding=[(1, 0), (1, 1)])
_conv_case("conv_non_finite_transpose", Spec(("B", 3, 4, 4), values=_with_non_finite),
           (2, 3, 2, 2), padding=[(1, 1), (1, 0)], lhs_dilation=(2, 2))
_conv_case("conv_non_finite_strided_transpose", Spec(("B", 3, 4, 4), values=_with_non_finite),
           (2, 3, 2, 2), padding=[(1, 1), (1, 0)], lhs_dilation=(2, 2), window_strides=(2, 1))
# Empty results and empty sums (all zeros): no Conv for ORT to reject.
_conv_case("conv_empty_output", ("B", 2, 2), (3, 2, 3), forbid_ops=["Conv"])
_conv_case("conv_empty_channels", ("B", 0, 5), (3, 0, 2), padding=[(1, 0)])
_conv_case("conv_empty_spatial_transpose", ("B", 2, 0), (3, 2, 2), padding=[(2, 1)],
           lhs_dilation=(2,))
# A dynamic spatial dim (sequence length 'B'): 'SAME' with strides makes the
# padding symbolic.
_NWC = ("NWC", "WIO", "NWC")
_conv_case("conv_dynamic_length_same_strided", (2, "B", 3), (3, 3, 4), window_strides=(2,),
           padding="SAME", dimension_numbers=_NWC)
_conv_case("conv_dynamic_length_int", Spec((2, "B", 3), "int32", "int"), (3, 3, 4),
           dtype="int32", window_strides=(2,), padding="SAME", dimension_numbers=_NWC)
_conv_case("conv_dynamic_length_lhs_dilation", (2, "B", 3), (3, 3, 4), padding=[(2, 1)],
           lhs_dilation=(2,), dimension_numbers=_NWC)
_conv_case("conv_dynamic_length_lhs_dilation_strided", (2, "B", 3), (3, 3, 4),
           window_strides=(2,), padding=[(1, 2)], lhs_dilation=(3,), dimension_numbers=_NWC)

_W_T = _w((3, 3, 4, 5))
for _pad in ("SAME", "VALID", ((2, 1), (0, 3))):
  for _tk in (False, True):
    _name = f"conv_transpose_{_pad if isinstance(_pad, str) else 'explicit'}"
    case(f"{_name}{'_tk' if _tk else ''}".lower(),
         lambda x, p=_pad, tk=_tk: lax.conv_transpose(
             x, _W_T, (2, 2), p, dimension_numbers=_NHWC, transpose_kernel=tk),
         ("B", 4, 3, 5 if _tk else 4), covers="conv_general_dilated")

# Dtypes: half floats run in float32 (as XLA on CPU); integers and float64 take
# the exact im2col path (MatMul), integer sums wrap as XLA's do.
_conv_case("conv_float16", ("B", 5, 5, 3), (3, 3, 3, 4), dtype="float16", padding="SAME",
           dimension_numbers=_NHWC, rtol=1e-2, atol=1e-2)
_conv_case("conv_bfloat16_transpose", ("B", 3, 4, 4), (2, 3, 3, 3), dtype="bfloat16",
           padding=[(2, 2), (1, 1)], lhs_dilation=(2, 2), rtol=2e-2, atol=2e-2)
_conv_case("conv_bfloat16_to_f32", ("B", 3, 4, 4), (2, 3, 3, 3), dtype="bfloat16",
           padding="SAME", preferred_element_type=jnp.float32)
_conv_case("conv_int32", Spec(("B", 3, 6, 5), "int32", "int"), (4, 3, 3, 2), dtype="int32",
           padding=[(1, 1), (-1, 2)], window_strides=(2, 1), rhs_dilation=(1, 2),
           expect_ops=["MatMul"], forbid_ops=["Conv"])
_conv_case("conv_int32_wraps", Spec(("B", 6, 2), "int32", lambda r, s: r.integers(
    2**30, 2**31 - 1, s)), (3, 2, 2), dtype="int32", kernel_input=True,
           dimension_numbers=("NWC", "WIO", "NWC"))
_conv_case("conv_int8_to_int32", Spec(("B", 4, 5, 6), "int8", lambda r, s: r.integers(
    -128, 128, s)), (3, 2, 3, 6), dtype="int8", padding="SAME", feature_group_count=2,
           dimension_numbers=_NHWC, kernel_input=True, preferred_element_type=jnp.int32)
_conv_case("conv_int8_wraps", Spec(("B", 4, 5, 6), "int8", lambda r, s: r.integers(
    -128, 128, s)), (3, 2, 3, 6), dtype="int8", padding="SAME", feature_group_count=2,
           dimension_numbers=_NHWC, kernel_input=True)
_conv_case("conv_uint8_transpose", Spec(("B", 2, 4), "uint8", "int"), (3, 2, 2),
           dtype="uint8", lhs_dilation=(2,), padding=[(1, 1)], kernel_input=True)
_conv_case("conv_int16_batch_groups", Spec((4, 3, 5), "int16", "int"), (4, 3, 2),
           dtype="int16", kernel_input=True, batch_group_count=2, padding=[(1, 0)])
_conv_case("conv_bool", Spec(("B", 4, 5, 6), "bool"), (3, 2, 6, 4), dtype="bool",
           kernel_input=True, padding=[(1, 0), (2, -1)], window_strides=(1, 2),
           dimension_numbers=_NHWC)
_conv_case("conv_uint32", Spec(("B", 2, 5), "uint32", "int"), (3, 2, 2), dtype="uint32",
           kernel_input=True, padding=[(1, 1)])


# Flax NNX layers (weights become constants), built on first use (Lazy).
# The layer is built abstractly and its parameters set from numpy: eager
# initialisation would compile a dozen small XLA programs per case.
def _nnx_case(name, kind, x, *args, case_kw=None, **kw):
  def build():
    from flax import nnx
    layer = nnx.eval_shape(lambda: getattr(nnx, kind)(*args, rngs=nnx.Rngs(0), **kw))
    for i, (_, param) in enumerate(nnx.iter_graph(layer)):
      if isinstance(param, nnx.Param):
        param.set_value(jnp.asarray(_w(param.get_value().shape, seed=i)))
    return layer
  case(name, Lazy(build), x, covers=f"flax.nnx.{kind}", **(case_kw or {}))


_nnx_case("conv_nnx_same", "Conv", ("B", 8, 8, 3), 3, 8, (3, 3))
_nnx_case("conv_nnx_valid_strided", "Conv", ("B", 9, 8, 3), 3, 4, (3, 2), strides=(2, 2),
          padding="VALID")
_nnx_case("conv_nnx_dilated", "Conv", ("B", 9, 9, 2), 2, 4, (3, 3), kernel_dilation=(2, 2))
_nnx_case("conv_nnx_groups", "Conv", ("B", 6, 6, 4), 4, 6, (3, 3), feature_group_count=2)
_nnx_case("conv_nnx_input_dilation", "Conv", ("B", 5, 5, 2), 2, 3, (3, 3),
          input_dilation=(2, 2), padding=((1, 1), (2, 0)))
_nnx_case("conv_nnx_1d_causal", "Conv", ("B", 7, 3), 3, 4, (3,), padding="CAUSAL")
_nnx_case("conv_nnx_circular", "Conv", ("B", 6, 6, 2), 2, 3, (3, 3), padding="CIRCULAR")
_nnx_case("conv_nnx_3d", "Conv", ("B", 4, 5, 4, 2), 2, 3, (2, 3, 2), strides=(1, 2, 1))
_nnx_case("conv_nnx_transpose", "ConvTranspose", ("B", 4, 5, 3), 3, 4, (3, 3), strides=(2, 2),
          case_kw={"expect_ops": ["ConvTranspose"]})
_nnx_case("conv_nnx_transpose_valid", "ConvTranspose", ("B", 4, 4, 3), 3, 2, (4, 4),
          strides=(2, 2), padding="VALID", transpose_kernel=True)
_nnx_case("conv_nnx_transpose_1d_dilated", "ConvTranspose", ("B", 5, 2), 2, 3, (3,),
          strides=(3,), kernel_dilation=(2,))
_nnx_case("conv_nnx_transpose_circular", "ConvTranspose", ("B", 4, 4, 2), 2, 3, (3, 3),
          strides=(2, 2), padding="CIRCULAR")


# ---------------------------------------------------------------------------
# jax.image.resize: no primitive of its own. Its interpolation weights are
# constants (static sizes), applied by dot_general; 'nearest' is a gather.
def _resize_case(name, x, size, method, antialias=True, **case_kw):
  fn = lambda x: jax.image.resize(x, (x.shape[0], *size, x.shape[-1]), method,
                                  antialias=antialias)
  case(name, fn, x, covers="jax.image.resize", **case_kw)


# (lanczos5 differs from lanczos3 only in its constant weights.)
for _method in ("nearest", "linear", "cubic", "lanczos3"):
  _resize_case(f"resize_{_method}_up", ("B", 5, 6, 3), (10, 9), _method)
  _resize_case(f"resize_{_method}_down", ("B", 8, 9, 2), (3, 4), _method)
_resize_case("resize_linear_down_no_antialias", ("B", 8, 9, 2), (3, 4), "linear",
             antialias=False)
_resize_case("resize_nearest_3d", ("B", 3, 4, 2, 1), (5, 2, 3), "nearest")
