"""Complex numbers and the FFT.

ONNX Runtime has no complex tensors, so the trace holds a complex64 value as
float32 of shape aval.shape + (2,): [re, im] on a trailing axis (complex128:
float64), the layout of ONNX's DFT. Primitives that only move data or act on
each part alone run on those pairs (trace.COMPLEX_BY_PART); the rules here are
for complex arithmetic. They see the pairs: ctx avals are the physical ones.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx.registry import Spec, case, register_rule
from jax_onnx.trace import COMPLEX_RULES


def _complex_rule(primitive, onnx_ops=(), own=False):
  """A rule for `primitive` on complex operands; `own`: a primitive that only
  exists for complex numbers (also listed in the rule table)."""
  def decorate(fn):
    COMPLEX_RULES[primitive] = fn
    if own:
      register_rule(primitive, family="complex", onnx_ops=onnx_ops)(fn)
    return fn
  return decorate


# Parts and pairs, on the physical [..., 2] arrays.
_re = lambda z: z[..., 0]
_im = lambda z: z[..., 1]
_pair = lambda re, im: jnp.stack([re, im], axis=-1)


@_complex_rule(P.complex_p, ["Concat"], own=True)
def _complex(ctx, x, y):
  return ctx.decompose(_pair)


@_complex_rule(P.real_p, ["Slice"], own=True)
def _real(ctx, z):
  return ctx.decompose(_re)


@_complex_rule(P.imag_p, ["Slice"], own=True)
def _imag(ctx, z):
  return ctx.decompose(_im)


@_complex_rule(P.conj_p, ["Mul"], own=True)
def _conj(ctx, z, **_):
  if not _compat.is_complex_dtype(ctx.logical_in[0].dtype):   # lax.conj of a real x
    return ctx.decompose(lambda x: _pair(x, jnp.full_like(x, -0.0)).astype(ctx.aval_out.dtype))
  return ctx.decompose(lambda z: z * np.asarray([1, -1], z.dtype))


def _mul_fn(a, b):
  ar, ai, br, bi = _re(a), _im(a), _re(b), _im(b)
  return _pair(ar * br - ai * bi, ar * bi + ai * br)


@_complex_rule(P.mul_p)
def _mul(ctx, a, b, **_):
  # XLA computes re = fma(ar, br, -(ai bi)), im = fma(ai, br, ar bi): one
  # product exact (an overflowing product meets the other's inf, not inf - inf).
  # In float64 a float32 product is exact, so that fma rounds as XLA's (but for
  # a rare 1-ulp double rounding); complex128 has no wider type: plain products.
  if ctx.avals_in[0].dtype != np.float32:
    return ctx.decompose(_mul_fn)
  split = lambda z: ctx.op("Split", z, ctx.ints([1, 1]), axis=-1, outputs=2)
  (ar, ai), (br, bi) = split(a), split(b)
  w = lambda t: ctx.cast(t, np.float64)
  re = ctx.op("Sub", ctx.op("Mul", w(ar), w(br)), w(ctx.op("Mul", ai, bi)))
  im = ctx.op("Add", ctx.op("Mul", w(ai), w(br)), w(ctx.op("Mul", ar, bi)))
  return ctx.cast(ctx.op("Concat", re, im, axis=-1), np.float32)


def _div_fn(a, b):
  # Smith's algorithm (scale by the larger part of b: |b|^2 cannot overflow);
  # where both parts come out NaN, the C99 Annex G cases, as XLA does:
  # b == 0, infinite a over finite b, finite a over infinite b.
  ar, ai, br, bi = _re(a), _im(a), _re(b), _im(b)
  tiny = np.finfo(ar.dtype).tiny   # XLA on CPU flushes denormal results to zero
  ftz = lambda t: jnp.where(jnp.abs(t) < tiny, t * 0, t)
  big_r = jnp.abs(br) >= jnp.abs(bi)
  r = ftz(jnp.where(big_r, bi / br, br / bi))
  d = jnp.where(big_r, br + bi * r, bi + br * r)
  re = ftz(jnp.where(big_r, ar + ai * r, ar * r + ai) / d)
  im = ftz(jnp.where(big_r, ai - ar * r, ai * r - ar) / d)
  one, zero, inf = jnp.ones_like(ar), jnp.zeros_like(ar), jnp.inf
  unit = lambda t: jnp.copysign(jnp.where(jnp.isinf(t), one, zero), t)
  fin, isinf = jnp.isfinite, jnp.isinf
  cases = [   # (condition, re, im), first match wins
      ((br == 0) & (bi == 0) & ~(jnp.isnan(ar) & jnp.isnan(ai)),
       jnp.copysign(inf, br) * ar, jnp.copysign(inf, br) * ai),
      ((isinf(ar) | isinf(ai)) & fin(br) & fin(bi),
       inf * (unit(ar) * br + unit(ai) * bi), inf * (unit(ai) * br - unit(ar) * bi)),
      (fin(ar) & fin(ai) & (isinf(br) | isinf(bi)),
       0 * (ar * unit(br) + ai * unit(bi)), 0 * (ai * unit(br) - ar * unit(bi))),
  ]
  sre, sim = re, im
  for cond, cre, cim in reversed(cases):
    sre, sim = jnp.where(cond, cre, sre), jnp.where(cond, cim, sim)
  nan = jnp.isnan(re) & jnp.isnan(im)
  return _pair(jnp.where(nan, sre, re), jnp.where(nan, sim, im))


@_complex_rule(P.div_p)
def _div(ctx, a, b, **_):
  return ctx.decompose(_div_fn)


def _abs_fn(z):
  # hypot scaled by the larger part: no overflow of re^2 + im^2.
  x, y = jnp.abs(_re(z)), jnp.abs(_im(z))
  hi, lo = jnp.maximum(x, y), jnp.minimum(x, y)
  safe = jnp.where(hi == 0, 1, hi)
  r = hi * jnp.sqrt(1 + jnp.square(lo / safe))
  r = jnp.where(hi == 0, 0, r)
  r = jnp.where(jnp.isinf(hi), jnp.inf, r)
  return jnp.where(jnp.isnan(x) | jnp.isnan(y), jnp.where(jnp.isinf(hi), jnp.inf, jnp.nan), r)


@_complex_rule(P.abs_p)
def _abs(ctx, z, **_):
  return ctx.decompose(_abs_fn)


def _as_complex(ctx, fn):
  """Traces fn on the complex operands themselves (their ops use these rules)."""
  T = type(ctx.tracers_in[0])
  zs = [T(ctx.trace, a, t.value, t.const) for a, t in zip(ctx.logical_in, ctx.tracers_in)]
  return ctx.trace_jax(fn, *zs)


def _power(z, y: int):
  # lax's own integer_pow: square-and-multiply, 1/z^-y for negative powers.
  if y == 0:
    return lax.full_like(z, 1)
  acc, x, n = None, z, abs(y)
  while n:
    if n & 1:
      acc = x if acc is None else acc * x
    n >>= 1
    if n:
      x = x * x
  return lax.full_like(acc, 1) / acc if y < 0 else acc


@_complex_rule(P.integer_pow_p)
def _integer_pow(ctx, z, *, y):
  return _as_complex(ctx, lambda z: _power(z, y))


@_complex_rule(P.square_p)
def _square(ctx, z):
  return _as_complex(ctx, lambda z: z * z)


@_complex_rule(P.exp_p)
def _exp(ctx, z, **_):
  # e^re (cos im, sin im); a zero imaginary part stays exact (e^re may be inf).
  def fn(z):
    e, im = jnp.exp(_re(z)), _im(z)
    return _pair(e * jnp.cos(im), jnp.where(im == 0, im, e * jnp.sin(im)))
  return ctx.decompose(fn)


@_complex_rule(P.eq_p)
def _eq(ctx, a, b, **_):
  return ctx.decompose(lambda a, b: (_re(a) == _re(b)) & (_im(a) == _im(b)))


@_complex_rule(P.ne_p)
def _ne(ctx, a, b, **_):
  return ctx.decompose(lambda a, b: (_re(a) != _re(b)) | (_im(a) != _im(b)))


@_complex_rule(P.convert_element_type_p)
def _convert(ctx, x, *, new_dtype, **_):
  out = ctx.aval_out
  if not _compat.is_complex_dtype(np.dtype(new_dtype)):   # complex -> real: the real part
    return ctx.decompose(lambda z: _re(z).astype(out.dtype))
  if _compat.is_complex_dtype(ctx.logical_in[0].dtype):
    return ctx.decompose(lambda z: z.astype(out.dtype))
  return ctx.decompose(lambda x: _pair(x.astype(out.dtype), jnp.zeros_like(x, out.dtype)))


@_complex_rule(P.dot_general_p)
def _dot_general(ctx, a, b, *, dimension_numbers, precision=None, **_):
  dtype = ctx.aval_out.dtype
  cplx = [_compat.is_complex_dtype(v.dtype) for v in ctx.logical_in]
  dot = lambda x, y: lax.dot_general(x.astype(dtype), y.astype(dtype), dimension_numbers,
                                     precision=precision, preferred_element_type=dtype)

  def fn(x, y):
    xr, xi = (_re(x), _im(x)) if cplx[0] else (x, None)
    yr, yi = (_re(y), _im(y)) if cplx[1] else (y, None)
    re = dot(xr, yr) - dot(xi, yi) if xi is not None and yi is not None else dot(xr, yr)
    ims = [dot(xi, yr) if xi is not None else None, dot(xr, yi) if yi is not None else None]
    ims = [t for t in ims if t is not None]
    return _pair(re, ims[0] + ims[1] if len(ims) == 2 else ims[0])
  return ctx.decompose(fn)


# -- FFT ------------------------------------------------------------------------

def _dft(ctx, x, axis: int, n: int, *, inverse=False, onesided=False):
  """ONNX DFT of x (physical, trailing [re, im] or [re] axis) along `axis`, of
  length n. ONNX Runtime's float32 DFT of a length that is not a power of two
  loses digits (1e-4 of the largest magnitude at n = 1000): that runs in float64."""
  flags = {"inverse": int(inverse) or None, "onesided": int(onesided) or None}
  dtype = ctx.aval_out.dtype
  wide = dtype == np.float32 and n & (n - 1) != 0
  if wide:
    x = ctx.cast(x, np.float64)
  if ctx.opset >= 20:
    y = ctx.op("DFT", x, None, ctx.const(np.asarray(axis, np.int64)), **flags)
  else:
    y = ctx.op("DFT", x, axis=axis, **flags)
  return ctx.cast(y, dtype) if wide else y


@_complex_rule(P.fft_p, ["DFT", "Slice", "Concat"], own=True)
def _fft(ctx, x, *, fft_type, fft_lengths):
  kind = getattr(fft_type, "name", str(fft_type)).split(".")[-1]
  rank = len(ctx.aval_out.shape) - (kind != "IRFFT")       # logical rank
  axes = list(range(rank - len(fft_lengths), rank))        # physical axis = logical
  dtype = ctx.avals_out[0].dtype
  if kind in ("FFT", "IFFT"):
    for a, n in zip(axes, fft_lengths):
      x = _dft(ctx, x, a, n, inverse=kind == "IFFT")
    return x
  if kind == "RFFT":
    x = _dft(ctx, ctx.op("Unsqueeze", x, ctx.ints([-1])), axes[-1], fft_lengths[-1],
             onesided=True)
    # The DC (and even n's Nyquist) bins of a real signal are real: exactly, in JAX.
    n = fft_lengths[-1]
    real_bins = np.ones((n // 2 + 1, 2), dtype)
    real_bins[0, 1] = 0
    real_bins[-1, 1] = n % 2
    x = ctx.op("Mul", x, ctx.const(real_bins))
    for a, k in zip(axes[:-1], fft_lengths[:-1]):
      x = _dft(ctx, x, a, k)
    return x
  # IRFFT: inverse DFTs on the leading axes, then the last from its Hermitian
  # spectrum rebuilt in full (X[n-k] = conj X[k]); the real part is the signal.
  for a, k in zip(axes[:-1], fft_lengths[:-1]):
    x = _dft(ctx, x, a, k, inverse=True)
  n, last = fft_lengths[-1], axes[-1]
  h = n // 2 + 1
  m = ctx.avals_in[0].shape[last]
  if m < h:   # missing high frequencies are zeros
    pads = [0] * (2 * (rank + 1))
    pads[rank + 1 + last] = h - m
    x = ctx.op("Pad", x, ctx.ints(pads))
  ints = ctx.ints
  half = ctx.op("Slice", x, ints([0]), ints([h]), ints([last]))
  mirror = ctx.op("Slice", x, ints([n - h]), ints([0]), ints([last]), ints([-1]))
  mirror = ctx.op("Mul", mirror, ctx.const(np.asarray([1, -1], dtype)))
  full = ctx.op("Concat", half, mirror, axis=last) if n - h > 0 else half
  y = _dft(ctx, full, last, n, inverse=True)
  y = ctx.op("Slice", y, ints([0]), ints([1]), ints([-1]))
  return ctx.op("Squeeze", y, ints([-1]))


# -- test cases -------------------------------------------------------------------

def _parts(z):
  return jnp.real(z), jnp.imag(z)


def _edge(rng, shape):
  v = rng.standard_normal(shape).astype(np.float32)
  flat = v.reshape(-1)
  edges = np.asarray([0.0, -0.0, 1e30, -1e30, 1e-30, 3.0, np.inf, -np.inf], np.float32)
  flat[:len(edges)] = edges[:flat.size]
  return v


# DFT sums in another order: float32 error ~1e-6 of the largest magnitude (~10 here).
_TOL = {"atol": 1e-4}
_EDGES = np.asarray([0.0, -0.0, 1.0, -2.5, 0.3, 1e30, -1e30, 3e38, np.inf, -np.inf, np.nan],
                    np.float32)


def _special(rng, shape):   # (XLA flushes denormals on CPU: none here)
  return rng.choice(_EDGES, size=shape)


_S = Spec(("B", 96), "float32", _special)
_X = ("B", 16)
case("fft_rfft_abs", lambda x: jnp.abs(jnp.fft.rfft(x)), _X, **_TOL, covers="fft",
     expect_ops=("DFT",))
case("fft_rfft_irfft", lambda x: jnp.fft.irfft(jnp.fft.rfft(x)), _X, **_TOL, covers="fft")
case("fft_rfft_irfft_odd", lambda x: jnp.fft.irfft(jnp.fft.rfft(x), n=15), ("B", 15),
     **_TOL, covers="fft")
case("fft_rfft_n", lambda x: _parts(jnp.fft.rfft(x, n=20)), _X, **_TOL, covers="fft")
case("fft_irfft_n", lambda x, y: jnp.fft.irfft(lax.complex(x, y), n=10), _X, _X,
     **_TOL, covers="fft")
case("fft_irfft_n_pad", lambda x, y: jnp.fft.irfft(lax.complex(x, y), n=40), _X, _X,
     **_TOL, covers="fft")
case("fft_fft", lambda x, y: _parts(jnp.fft.fft(lax.complex(x, y))), _X, _X, **_TOL, covers="fft")
case("fft_ifft", lambda x, y: _parts(jnp.fft.ifft(lax.complex(x, y))), _X, _X, **_TOL, covers="fft")
case("fft_fft2", lambda x, y: _parts(jnp.fft.fft2(lax.complex(x, y))), ("B", 4, 8),
     ("B", 4, 8), **_TOL, covers="fft")
case("fft_ifft2", lambda x, y: _parts(jnp.fft.ifft2(lax.complex(x, y))), ("B", 4, 6),
     ("B", 4, 6), **_TOL, covers="fft")
case("fft_rfft2", lambda x: _parts(jnp.fft.rfft2(x)), ("B", 6, 8), **_TOL, covers="fft")
case("fft_irfft2", lambda x: jnp.fft.irfft2(jnp.fft.rfft2(x) * 2), ("B", 6, 8), **_TOL,
     covers="fft")
case("fft_fftn3", lambda x: _parts(jnp.fft.rfftn(x, axes=(1, 2, 3))), ("B", 2, 4, 6),
     **_TOL, covers="fft")
case("fft_fftshift", lambda x: jnp.fft.fftshift(jnp.abs(jnp.fft.fft(x)), axes=-1), _X,
     **_TOL, covers="fft")
case("fft_filter",
     lambda x, m: jnp.fft.irfft(jnp.fft.rfft(x) * (m > 0), n=16), _X, ("B", 9), **_TOL,
     covers="fft")
case("fft_ortho", lambda x: _parts(jnp.fft.rfft(x, norm="ortho")), _X, **_TOL, covers="fft")
case("fft_ortho_inverse", lambda x, y: _parts(jnp.fft.ifft(lax.complex(x, y), norm="ortho")),
     _X, _X, **_TOL, covers="fft")
case("fft_axis0", lambda x, y: _parts(jnp.fft.fft(lax.complex(x, y), axis=0)), (8, "B"),
     (8, "B"), **_TOL, covers="fft")
case("fft_long", lambda x: jnp.fft.irfft(jnp.fft.rfft(x) * 3, n=300), (2, 300), **_TOL,
     covers="fft")
case("fft_rfft2_odd", lambda x: _parts(jnp.fft.rfft2(x)), ("B", 6, 10), **_TOL, covers="fft")
case("fft_irfft2_odd", lambda x: jnp.fft.irfft2(jnp.fft.rfft2(x), s=(5, 9)), ("B", 6, 10),
     **_TOL, covers="fft")
case("fft_opset18", lambda x: jnp.fft.irfft(jnp.fft.rfft(x)), _X, **_TOL, covers="fft", opset=18)

_E = Spec((3, 8), "float32", _edge)
case("complex_parts", lambda x, y: _parts(lax.complex(x, y)), _E, _E, covers="complex")
case("complex_real", lambda x, y: jnp.real(lax.complex(x, y)) * 2, _E, _E, covers="real")
case("complex_imag", lambda x, y: jnp.imag(lax.complex(x, y)) * 2, _E, _E, covers="imag")
case("complex_conj_real", lambda x: _parts(lax.conj(x)), _E, covers="conj")
case("complex_conj", lambda x, y: _parts(jnp.conj(lax.complex(x, y))), _E, _E, covers="conj")
case("complex_mul", lambda a, b, c, d: _parts(lax.complex(a, b) * lax.complex(c, d)),
     ("B", 8), ("B", 8), ("B", 8), ("B", 8), covers="mul")
case("complex_mul_special", lambda a, b, c, d: _parts(lax.complex(a, b) * lax.complex(c, d)),
     _S, _S, _S, _S, covers="mul")
case("complex_div", lambda a, b, c, d: _parts(lax.complex(a, b) / lax.complex(c, d)),
     ("B", 8), ("B", 8), ("B", 8), ("B", 8), covers="div")
case("complex_div_special", lambda a, b, c, d: _parts(lax.complex(a, b) / lax.complex(c, d)),
     _S, _S, _S, _S, covers="div")
case("complex_abs_special", lambda x, y: jnp.abs(lax.complex(x, y)), _S, _S, covers="abs")
case("complex_abs", lambda x, y: jnp.abs(lax.complex(x, y)), _E, _E, covers="abs")
case("complex_add_sub", lambda a, b, c: _parts(lax.complex(a, b) + 2j * lax.complex(c, a)
                                                 - lax.complex(b, c)),
     ("B", 8), ("B", 8), ("B", 8), covers="add")
case("complex_dot", lambda a, b, c, d: _parts(lax.complex(a, b) @ lax.complex(c, d)),
     ("B", 4, 5), ("B", 4, 5), (5, 3), (5, 3), covers="dot_general")
case("complex_dot_real", lambda a, b, c: _parts(a @ lax.complex(b, c)),
     ("B", 5), (5, 3), (5, 3), covers="dot_general")
case("complex_sum", lambda x, y: _parts(jnp.sum(lax.complex(x, y), axis=1)), ("B", 6, 3),
     ("B", 6, 3), covers="reduce_sum")
case("complex_moves", lambda x, y: _parts(jnp.flip(jnp.concatenate(
     [lax.complex(x, y).T, lax.complex(y, x).T[::2]]), 0)), ("B", 6), ("B", 6),
     covers="concatenate")
case("complex_pow", lambda x, y: _parts(lax.complex(x, y) ** 3 + lax.complex(y, x) ** -2
                                         + jnp.square(lax.complex(x, x))),
     ("B", 8), ("B", 8), covers="integer_pow", rtol=1e-4, atol=1e-4)
case("complex_exp", lambda x, y: _parts(jnp.exp(lax.complex(x, y))), _E, _E, covers="exp")
case("fft_angle", lambda x: jnp.angle(jnp.fft.rfft(x)), _X, **_TOL, covers="fft")
case("complex_eq", lambda x, y: lax.complex(x, y) == lax.complex(y, x), ("B", 6), ("B", 6),
     covers="eq")
