"""Integer and bit-level primitives: rem, shifts, population_count, clz, reduce_xor,
is_finite, nextafter, reduce_precision and bitcast_convert_type.

ONNX Runtime shifts only unsigned integers (BitShift) and opsets <= 25 have no
BitCast, so:
  * integer bit tricks run on the same-width unsigned view (Cast wraps modulo
    2**n), with XLA's answers for out-of-range shift amounts;
  * a float's bit pattern is built exactly from its value (sign, exponent by
    an exact floor(log2), mantissa by power-of-two scaling) in float64, where
    every float32/float16/bfloat16 value is normal, and back. NaNs come out as
    the canonical quiet NaN: their sign and payload are not recoverable.
"""
from __future__ import annotations

import jax.numpy as jnp
import ml_dtypes
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import dtypes as dt
from jax_onnx.registry import Spec, case, register_rule

I64, F64, F32 = np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.float32)
_BF16, _F16 = np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)
_UNSIGNED = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32),
             8: np.dtype(np.uint64)}
# Float formats: (exponent bits, mantissa bits).
_FORMAT = {_F16: (5, 10), _BF16: (8, 7), F32: (8, 23), F64: (11, 52)}
# XLA on CPU treats float32/float64 denormals as zero in comparisons (DAZ);
# bfloat16 is compared as float32, float16's denormals are float32 normals.
_DAZ_TINY = {_BF16: ml_dtypes.finfo(np.float32).tiny, F32: ml_dtypes.finfo(np.float32).tiny,
             F64: ml_dtypes.finfo(np.float64).tiny}


def _nbits(dtype) -> int:
  return np.dtype(dtype).itemsize * 8


# ---------------------------------------------------------------------------
# rem

@register_rule(P.rem_p, family="bits", onnx_ops=["Mod", "Where"])
def _rem(ctx, x, y):
  dtype = ctx.aval_out.dtype
  if dt.is_float(dtype):
    # C fmod: sign of x, fmod(x, +-inf) = x, fmod(+-inf, y) = fmod(x, 0) = NaN.
    return ctx.op("Mod", x, y, fmod=1)
  # C truncation. XLA: x rem 0 = x (ONNX Runtime traps); INT_MIN rem -1 = 0 (as in ORT).
  if ctx.consts_in[1] is not None and np.all(ctx.consts_in[1] != 0):
    return ctx.op("Mod", x, y, fmod=1)
  is_zero = ctx.op("Equal", y, ctx.scalar(0, dtype))
  safe = ctx.where(is_zero, ctx.scalar(1, dtype), y, dtype)
  return ctx.where(is_zero, x, ctx.op("Mod", x, safe, fmod=1), dtype)


# ---------------------------------------------------------------------------
# Shifts, population count, count leading zeros: on the unsigned view.

def _unsigned(ctx, x, dtype):
  u = _UNSIGNED[np.dtype(dtype).itemsize]
  return (x if np.dtype(dtype) == u else ctx.cast(x, u)), u


def _back(ctx, x, u, dtype):
  return x if np.dtype(dtype) == u else ctx.cast(x, dtype)


def _logical_shift(ctx, ux, s, dtype, direction):
  """BitShift of the unsigned view; an amount outside [0, bits) (a negative
  one is a huge unsigned one) shifts everything out, as in XLA."""
  us, u = _unsigned(ctx, s, dtype)
  bits = _nbits(u)
  known = ctx.consts_in[1]   # (the amount is operand 1 of every shift)
  if known is not None and np.all((known >= 0) & (known < bits)):
    return ctx.op("BitShift", ux, us, direction=direction)
  in_range = ctx.op_as(u, "Less", us, ctx.scalar(bits, u), result_is_data=False)
  shifted = ctx.op("BitShift", ux, ctx.op("BitwiseAnd", us, ctx.scalar(bits - 1, u)),
                   direction=direction)
  return ctx.where(in_range, shifted, ctx.scalar(0, u), u)


def _shift(direction: str):
  def rule(ctx, x, s):
    dtype = ctx.aval_out.dtype
    ux, u = _unsigned(ctx, x, dtype)
    return _back(ctx, _logical_shift(ctx, ux, s, dtype, direction), u, dtype)
  return rule


register_rule(P.shift_left_p, family="bits", onnx_ops=["BitShift"])(_shift("LEFT"))
register_rule(P.shift_right_logical_p, family="bits", onnx_ops=["BitShift"])(_shift("RIGHT"))


@register_rule(P.shift_right_arithmetic_p, family="bits", onnx_ops=["BitShift", "BitwiseXor"])
def _shift_right_arithmetic(ctx, x, s):
  # With m = all ones where the top bit is set (else 0): x >> s = m ^ ((x ^ m) >>> s),
  # which also gives the sign fill for amounts out of range. For unsigned
  # types XLA too fills with the top bit.
  dtype = ctx.aval_out.dtype
  ux, u = _unsigned(ctx, x, dtype)
  top = ctx.op_as(u, "GreaterOrEqual", ux, ctx.scalar(1 << (_nbits(u) - 1), u),
                  result_is_data=False)
  m = ctx.where(top, ctx.scalar(np.iinfo(u).max, u), ctx.scalar(0, u), u)
  r = ctx.op("BitwiseXor", m, _logical_shift(ctx, ctx.op("BitwiseXor", ux, m), s, dtype, "RIGHT"))
  return _back(ctx, r, u, dtype)


def _bytes_of(byte: int, u) -> int:
  return int.from_bytes(bytes([byte]) * np.dtype(u).itemsize, "little")


def _popcount(ctx, v, u):
  """SWAR bit count of the unsigned `v`: pairs, nibbles, bytes, then the byte
  counts summed into the top byte by one multiplication (which wraps)."""
  c = lambda k: ctx.scalar(k, u)
  shr = lambda a, k: ctx.op("BitShift", a, c(k), direction="RIGHT")
  mask = lambda a, byte: ctx.op("BitwiseAnd", a, c(_bytes_of(byte, u)))
  v = ctx.op("Sub", v, mask(shr(v, 1), 0x55))
  v = ctx.op("Add", mask(v, 0x33), mask(shr(v, 2), 0x33))
  v = mask(ctx.op("Add", v, shr(v, 4)), 0x0F)
  if _nbits(u) > 8:
    v = shr(ctx.op("Mul", v, c(_bytes_of(1, u))), _nbits(u) - 8)
  return v


@register_rule(P.population_count_p, family="bits",
               onnx_ops=["BitShift", "BitwiseAnd", "Mul"])
def _population_count(ctx, x):
  dtype = ctx.aval_out.dtype
  ux, u = _unsigned(ctx, x, dtype)
  return _back(ctx, _popcount(ctx, ux, u), u, dtype)


@register_rule(P.clz_p, family="bits", onnx_ops=["BitShift", "BitwiseOr"])
def _clz(ctx, x):
  # Smear the highest set bit downwards; the zeros left above it are the count.
  dtype = ctx.aval_out.dtype
  v, u = _unsigned(ctx, x, dtype)
  k = 1
  while k < _nbits(u):
    v = ctx.op("BitwiseOr", v, ctx.op("BitShift", v, ctx.scalar(k, u), direction="RIGHT"))
    k *= 2
  return _back(ctx, ctx.op("Sub", ctx.scalar(_nbits(u), u), _popcount(ctx, v, u)), u, dtype)


@register_rule(P.reduce_xor_p, family="bits", onnx_ops=["ReduceSum", "BitwiseOr"])
def _reduce_xor(ctx, x, *, axes, **params):
  """XOR over axes = parity of the set bits, bit by bit (ONNX has no bitwise
  reductions); the odd bits' masks are then ORed together."""
  del params   # out_sharding
  if not axes:
    return x
  dtype = ctx.avals_in[0].dtype
  if dt.is_bool(dtype):
    count = ctx.op("ReduceSum", ctx.cast(x, I64), ctx.ints(axes), keepdims=0)
    return ctx.cast(ctx.op("BitwiseAnd", count, ctx.scalar(1, I64)), np.bool_)
  masks = np.left_shift(np.int64(1), np.arange(_nbits(dtype), dtype=np.int64))
  planes = ctx.op("BitwiseAnd", ctx.op("Unsqueeze", _to_bits(ctx, x, dtype), ctx.ints([-1])),
                  ctx.const(masks))
  ones = ctx.cast(ctx.op("Not", ctx.op("Equal", planes, ctx.scalar(0, I64))), I64)
  odd = ctx.op("BitwiseAnd", ctx.op("ReduceSum", ones, ctx.ints(axes), keepdims=0),
               ctx.scalar(1, I64))
  return _from_bits(ctx, _or_last_axis(ctx, ctx.op("Mul", odd, ctx.const(masks)), len(masks)),
                    dtype)


def _or_last_axis(ctx, x, n: int):
  """BitwiseOr over the static last axis of length n (a power of two), by
  halves. (ONNX Runtime's int64 ReduceSum goes through float64: not exact.)"""
  while n > 1:
    n //= 2
    halves = [ctx.op("Slice", x, ctx.ints([lo]), ctx.ints([lo + n]), ctx.ints([-1]))
              for lo in (0, n)]
    x = ctx.op("BitwiseOr", *halves)
  return ctx.op("Squeeze", x, ctx.ints([-1]))


# ---------------------------------------------------------------------------
# Floats <-> bit patterns, exactly, in float64.

def _to_f64(ctx, x, dtype):
  if np.dtype(dtype) == _BF16:
    x = ctx.cast(x, F32)
  return x if np.dtype(dtype) == F64 else ctx.cast(x, F64)


def _from_f64(ctx, v, dtype):
  """Exact for values `dtype` holds (the only ones built here) and infinities."""
  if np.dtype(dtype) == _BF16:
    v = ctx.cast(v, F32)
  return v if np.dtype(dtype) == F64 else ctx.cast(v, dtype)


def _pow2_table(lo: int, hi: int) -> np.ndarray:
  with np.errstate(over="ignore"):
    return np.ldexp(1.0, np.arange(lo, hi + 1))


def _scale(ctx, v, k, lo: int, hi: int):
  """v * 2**k for int64 k in [lo, hi], exact: two gathered factors, each a
  normal float64, so the intermediate product stays normal too."""
  ks = np.arange(lo, hi + 1)
  idx = ctx.op("Sub", k, ctx.scalar(lo, I64))
  for half in (ks // 2, ks - ks // 2):
    v = ctx.op("Mul", v, ctx.op("Gather", ctx.const(np.ldexp(1.0, half)), idx))
  return v


def _floor_log2(ctx, a, lo: int, hi: int):
  """floor(log2(a)) clamped to [lo, hi], for float64 a > 0: estimated with Log,
  then corrected against exact powers of two (the estimate is off by <= 1)."""
  est = ctx.op("Mul", ctx.op("Log", a), ctx.scalar(1 / np.log(2), F64))
  est = ctx.cast(ctx.op("Floor", ctx.op("Clip", est, ctx.scalar(lo, F64),
                                        ctx.scalar(hi, F64))), I64)
  powers = ctx.const(_pow2_table(lo, hi + 1))
  idx = ctx.op("Sub", est, ctx.scalar(lo, I64))
  below = ctx.op("Less", a, ctx.op("Gather", powers, idx))
  above = ctx.op("GreaterOrEqual", a, ctx.op("Gather", powers,
                                             ctx.op("Add", idx, ctx.scalar(1, I64))))
  e = ctx.op("Add", ctx.op("Sub", est, ctx.cast(below, I64)), ctx.cast(above, I64))
  return ctx.op("Clip", e, ctx.scalar(lo, I64), ctx.scalar(hi, I64))


def _negative(ctx, v):
  """The sign bit of float64 v (-0.0 included; NaN counts as positive)."""
  zero = ctx.scalar(0.0, F64)
  return ctx.op("Or", ctx.op("Less", v, zero),
                ctx.op("Less", ctx.op("Div", ctx.scalar(1.0, F64), v), zero))


def _float_bits(ctx, x, dtype):
  """The bit pattern of float x as int64 (zero-extended below 64 bits)."""
  ebits, mbits = _FORMAT[np.dtype(dtype)]
  bias = 2 ** (ebits - 1) - 1
  emin, emax = 1 - bias, bias
  v = _to_f64(ctx, x, dtype)
  a = ctx.op("Abs", v)
  finite = ctx.op("Less", a, ctx.scalar(np.inf, F64))
  regular = ctx.op("And", finite, ctx.op("Greater", a, ctx.scalar(0.0, F64)))
  a1 = ctx.op("Where", regular, a, ctx.scalar(1.0, F64))
  # Exponent e' = max(floor(log2 a), emin), mantissa a * 2**(M - e') (the
  # implicit one included for normals): bits = (e' + bias - 1) * 2**M + mantissa
  # covers normals and denormals alike.
  e = _floor_log2(ctx, a1, emin, emax)
  mant = ctx.cast(_scale(ctx, a1, ctx.op("Sub", ctx.scalar(mbits, I64), e),
                         mbits - emax, mbits - emin), I64)
  mag = ctx.op("Add", ctx.op("Mul", ctx.op("Add", e, ctx.scalar(bias - 1, I64)),
                             ctx.scalar(2 ** mbits, I64)), mant)
  inf_bits = (2 ** ebits - 1) << mbits
  special = ctx.op("Where", ctx.op("IsNaN", v), ctx.scalar(inf_bits | 1 << (mbits - 1), I64),
                   ctx.scalar(inf_bits, I64))
  special = ctx.op("Where", finite, ctx.scalar(0, I64), special)
  mag = ctx.op("Where", regular, mag, special)
  sign = ctx.scalar(np.left_shift(np.int64(1), ebits + mbits), I64)   # wraps for 64 bits
  return ctx.op("Where", _negative(ctx, v), ctx.op("BitwiseOr", mag, sign), mag)


def _bits_float(ctx, b, dtype):
  """The float of `dtype` whose bit pattern is the low bits of int64 b."""
  ebits, mbits = _FORMAT[np.dtype(dtype)]
  bias = 2 ** (ebits - 1) - 1
  c = lambda k: ctx.scalar(k, I64)
  sign = np.left_shift(np.int64(1), ebits + mbits)
  neg = ctx.op("Not", ctx.op("Equal", ctx.op("BitwiseAnd", b, c(sign)), c(0)))
  mag = ctx.op("BitwiseAnd", b, c((1 << (ebits + mbits)) - 1))
  field = ctx.op("Div", mag, c(2 ** mbits))                    # mag >= 0: floor
  e1 = ctx.op("Max", field, c(1))                              # denormals: as exponent 1
  mant = ctx.op("Sub", mag, ctx.op("Mul", ctx.op("Sub", e1, c(1)), c(2 ** mbits)))
  lo = 1 - bias - mbits
  v = _scale(ctx, ctx.cast(mant, F64), ctx.op("Add", e1, c(lo - 1)), lo,
             2 ** ebits - 1 - bias - mbits)
  top = 2 ** ebits - 1
  inf_nan = ctx.op("Where", ctx.op("Equal", mant, c(2 ** mbits)), ctx.scalar(np.inf, F64),
                   ctx.scalar(np.nan, F64))
  v = ctx.op("Where", ctx.op("Equal", field, c(top)), inf_nan, v)
  v = ctx.op("Mul", v, ctx.op("Where", neg, ctx.scalar(-1.0, F64), ctx.scalar(1.0, F64)))
  return _from_f64(ctx, v, dtype)


def _to_bits(ctx, x, dtype):
  """The bit pattern of x as int64, zero-extended below 64 bits."""
  if dt.is_float(dtype):
    return _float_bits(ctx, x, dtype)
  if np.dtype(dtype) == I64:
    return x
  if dt.is_signed_int(dtype):
    return ctx.op("BitwiseAnd", ctx.cast(x, I64), ctx.scalar((1 << _nbits(dtype)) - 1, I64))
  return ctx.cast(x, I64)    # unsigned: zero-extends, uint64 wraps


def _from_bits(ctx, b, dtype):
  if dt.is_float(dtype):
    return _bits_float(ctx, b, dtype)
  return b if np.dtype(dtype) == I64 else ctx.cast(b, dtype)   # Cast wraps


@register_rule(P.bitcast_convert_type_p, family="bits",
               onnx_ops=["Cast", "Gather", "Log", "BitShift", "BitwiseOr"])
def _bitcast_convert_type(ctx, x, *, new_dtype):
  old, new = np.dtype(ctx.avals_in[0].dtype), np.dtype(new_dtype)
  if old == new:
    return x
  if dt.is_int(old) and dt.is_int(new) and old.itemsize == new.itemsize:
    return ctx.cast(x, new)          # Cast between same-width ints wraps
  b, u64 = _to_bits(ctx, x, old), np.dtype(np.uint64)
  n_old, n_new = _nbits(old), _nbits(new)
  if n_old > n_new:                  # one value -> a trailing axis of parts, low first
    offsets = np.arange(0, n_old, n_new, dtype=np.uint64)
    parts = ctx.op("BitShift", ctx.op("Unsqueeze", ctx.cast(b, u64), ctx.ints([-1])),
                   ctx.const(offsets), direction="RIGHT")
    b = ctx.cast(ctx.op("BitwiseAnd", parts, ctx.scalar((1 << n_new) - 1, u64)), I64)
  elif n_old < n_new:                # the trailing axis of parts -> one value
    offsets = np.arange(0, n_new, n_old, dtype=np.uint64)
    parts = ctx.cast(ctx.op("BitShift", ctx.cast(b, u64), ctx.const(offsets),
                            direction="LEFT"), I64)
    b = _or_last_axis(ctx, parts, len(offsets))
  return _from_bits(ctx, b, new)


# ---------------------------------------------------------------------------
# Float classification and neighbours.

@register_rule(P.is_finite_p, family="bits", onnx_ops=["Abs", "Less"])
def _is_finite(ctx, x):
  # NaN compares false.
  return ctx.op("Less", ctx.op("Abs", x), ctx.scalar(np.inf, ctx.avals_in[0].dtype))


@register_rule(P.nextafter_p, family="bits", onnx_ops=["Gather", "Log", "Where"])
def _nextafter(ctx, x, y):
  """The neighbour of x towards y in x's own format (runs in float64 for
  every dtype, so it needs the trace to leave half floats alone)."""
  dtype = np.dtype(ctx.aval_out.dtype)
  ebits, mbits = _FORMAT[dtype]
  bias = 2 ** (ebits - 1) - 1
  emin, emax = 1 - bias, bias
  v, w = _to_f64(ctx, x, dtype), _to_f64(ctx, y, dtype)
  s = lambda k: ctx.scalar(k, F64)
  a = ctx.op("Abs", v)
  zero = ctx.op("Equal", a, s(0.0))
  regular = ctx.op("And", ctx.op("Less", a, s(np.inf)), ctx.op("Not", zero))
  a1 = ctx.op("Where", regular, a, s(2.0 ** emin))
  e = _floor_log2(ctx, a1, emin, emax)
  # One unit in the last place at exponent e; half of it below an exact power
  # of two (except at the smallest normal exponent, where denormals go on).
  idx = ctx.op("Sub", e, ctx.scalar(emin, I64))
  ulp = ctx.op("Gather", ctx.const(_pow2_table(emin - mbits, emax - mbits)), idx)
  at_power = ctx.op("And", ctx.op("Equal", a1, ctx.op(
      "Gather", ctx.const(_pow2_table(emin, emax)), idx)), ctx.op(
      "Greater", e, ctx.scalar(emin, I64)))
  ulp_below = ctx.op("Where", at_power, ctx.op("Mul", ulp, s(0.5)), ulp)
  away = ctx.op("Or", zero, ctx.op("Not", ctx.op(
      "Xor", ctx.op("Greater", w, v), ctx.op("Greater", v, s(0.0)))))
  mag = ctx.op("Where", away, ctx.op("Add", a, ulp), ctx.op("Sub", a, ulp_below))
  mag = ctx.op("Where", regular, mag, ctx.op(
      "Where", zero, ctx.op("Add", a, ulp), s(float(ml_dtypes.finfo(dtype).max))))   # inf -> max
  same = ctx.op("Equal", v, w)
  if dtype in _DAZ_TINY:   # XLA's x == y test sees denormals as zero
    tiny = s(float(_DAZ_TINY[dtype]))
    same = ctx.op("Or", same, ctx.op("And", ctx.op("Less", a, tiny),
                                     ctx.op("Less", ctx.op("Abs", w), tiny)))
  # x == y gives y. Magnitude and sign are selected apart and multiplied last:
  # ONNX Runtime's Where drops the sign of a -0.0 in its middle input.
  mag = ctx.op("Where", same, ctx.op("Abs", w), mag)
  nan = ctx.op("Or", ctx.op("IsNaN", v), ctx.op("IsNaN", w))
  mag = ctx.op("Where", nan, s(np.nan), mag)
  sign = lambda t: ctx.op("Where", _negative(ctx, t), s(-1.0), s(1.0))
  from_y = ctx.op("Or", zero, same)
  return _from_f64(ctx, ctx.op("Mul", mag, ctx.op("Where", from_y, sign(w), sign(v))), dtype)


@register_rule(P.reduce_precision_p, family="bits", onnx_ops=["Round", "Gather", "Where"])
def _reduce_precision(ctx, x, *, exponent_bits, mantissa_bits):
  """Round to nearest even with `mantissa_bits`, then overflow to inf and flush
  below the smallest normal of `exponent_bits`, as XLA does on x's own bits
  (bits of x's format that are not reduced stay as they are)."""
  dtype = np.dtype(ctx.aval_out.dtype)
  ebits, mbits = _FORMAT[dtype]
  if mantissa_bits >= mbits and exponent_bits >= ebits:
    return x
  bias = 2 ** (ebits - 1) - 1
  emin, emax = 1 - bias, bias
  s = lambda k: ctx.scalar(k, F64)
  v = _to_f64(ctx, x, dtype)
  a = ctx.op("Abs", v)
  if mantissa_bits < mbits:
    m = int(mantissa_bits)
    regular = ctx.op("And", ctx.op("Less", a, s(np.inf)), ctx.op("Greater", a, s(0.0)))
    a1 = ctx.op("Where", regular, a, s(1.0))
    e = _floor_log2(ctx, a1, emin, emax)   # denormals round at the smallest exponent
    t = _scale(ctx, a1, ctx.op("Sub", ctx.scalar(m, I64), e), m - emax, m - emin)
    q = ctx.op("Round", t)                 # half to even in the kept bits...
    if m == 0:                             # ...whose last one is then the exponent's
      odd = ctx.op("Equal", ctx.op("BitwiseAnd", ctx.op("Add", e, ctx.scalar(bias, I64)),
                                   ctx.scalar(1, I64)), ctx.scalar(1, I64))
      tie_down = ctx.op("And", ctx.op("Equal", t, s(1.5)), ctx.op("Not", odd))
      q = ctx.op("Where", tie_down, s(1.0), q)
    r = _scale(ctx, q, ctx.op("Sub", e, ctx.scalar(m, I64)), emin - m, emax - m)
    a = ctx.op("Where", regular, r, a)
  if exponent_bits < ebits:
    rbias = 2 ** (exponent_bits - 1) - 1
    a = ctx.op("Where", ctx.op("Less", a, s(2.0 ** (1 - rbias))), s(0.0), a)
    a = ctx.op("Where", ctx.op("GreaterOrEqual", a, s(2.0 ** (rbias + 1))), s(np.inf), a)
  a = ctx.op("Mul", a, ctx.op("Where", _negative(ctx, v), s(-1.0), s(1.0)))
  return _from_f64(ctx, a, dtype)


# ---------------------------------------------------------------------------
# Test cases. Edge values are laid out first (and binary ones as a grid of all
# pairs where the shape has room), the rest random over the dtype's range.

_INTS = ("int8", "int16", "int32", "uint8", "uint16", "uint32")   # 64-bit: x64 only


def _fill(edges, rest):
  """(rng, shape) -> array: `edges` tiled first, then `rest(rng, n)`."""
  def make(rng, shape):
    n = int(np.prod(shape))
    e = np.asarray(edges)
    out = np.concatenate([e[: n], rest(rng, max(n - len(e), 0)).astype(e.dtype)])
    return out.reshape(shape)
  return make


def _grid(values, first: bool):
  """All pairs of `values` over the flattened shape: first or second member."""
  v = np.asarray(values)
  def make(rng, shape):
    i = np.arange(int(np.prod(shape))) % (len(v) ** 2)
    return (v[i // len(v)] if first else v[i % len(v)]).reshape(shape)
  return make


def _int_values(dtype):
  info = np.iinfo(dtype)
  edges = np.array([0, 1, info.max, info.min, info.max - 1, info.min + 1, 2, 3]
                   + ([-1, -2, -7] if info.min else [5, 6, 7]), dtype)
  return _fill(edges, lambda rng, n: rng.integers(info.min, info.max, n, dtype, endpoint=True))


def _shift_amounts(dtype):
  bits, lo = _nbits(dtype), (-3 if np.iinfo(dtype).min else 0)
  return lambda rng, shape: rng.integers(lo, bits + 3, shape).astype(dtype)


def _float_values(dtype):
  fi = ml_dtypes.finfo(dtype)
  edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1.5, fi.max, -fi.max,
                    fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal,
                    fi.tiny - fi.smallest_subnormal, 2.0, 3.0, 0.1, -65504.0, 65519.0],
                   np.float64).astype(dtype)
  def rest(rng, n):   # random signs, mantissas and exponents over the whole range
    e = rng.integers(int(fi.minexp) - int(fi.nmant), int(fi.maxexp), n)
    m = 1 + rng.random(n)
    return (np.where(rng.random(n) < 0.5, -1, 1) * np.ldexp(m, e)).astype(dtype)
  return _fill(edges, rest)


_SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 3.0, 1e-30, np.inf, -np.inf, np.nan]
_N = ("B", 128)   # a grid of up to 11 x 11 pairs fits in one batch row

for _t in _INTS:
  case(f"bits_rem_{_t}", lax.rem, Spec(_N, _t, _int_values(_t)),
       Spec(_N, _t, _fill(np.array([0, -1, 1, 0, 7, 3, 0, 0, 5] if np.iinfo(_t).min else
                                   [0, 1, 1, 0, 7, 3, 0, 0, 5], np.int64).astype(_t),
                          lambda rng, n, _t=_t: rng.integers(np.iinfo(_t).min // 3 - 1,
                                                             np.iinfo(_t).max // 3 + 1, n))),
       covers="rem")
  case(f"bits_shifts_{_t}",
       lambda x, s: (lax.shift_left(x, s), lax.shift_right_logical(x, s),
                     lax.shift_right_arithmetic(x, s)),
       Spec(_N, _t, _int_values(_t)), Spec(_N, _t, _shift_amounts(_t)), covers="shift_left")
  case(f"bits_popcount_clz_{_t}", lambda x: (lax.population_count(x), lax.clz(x)),
       Spec(_N, _t, _int_values(_t)), covers="population_count")
case("bits_rem_f32_specials", lax.rem, Spec(_N, F32, _grid(_SPECIAL, True)),
     Spec(_N, F32, _grid(_SPECIAL, False)), covers="rem", atol=0, rtol=0)
case("bits_rem_f16", lax.rem, Spec(_N, _F16, _grid(_SPECIAL, True)),
     Spec(_N, _F16, _grid(_SPECIAL, False)), covers="rem", atol=0, rtol=0)
case("bits_rem_f32_random", lax.rem, Spec(("B", 3, 4), F32), Spec(("B", 3, 4), F32),
     covers="rem", atol=0, rtol=0)
for _name, _fn in {"remainder": jnp.remainder, "fmod": jnp.fmod,
                   "mod_operator": lambda x, y: x % y}.items():
  case(f"bits_jnp_{_name}_int32", _fn, Spec(("B", 3, 4), "int32", "int"),
       Spec(("B", 3, 4), "int32", "int"), covers="rem")
  case(f"bits_jnp_{_name}_f32", _fn, Spec(_N, F32, _grid(_SPECIAL, True)),
       Spec(_N, F32, _grid(_SPECIAL, False)), covers="rem", atol=0, rtol=0)
case("bits_jnp_left_shift", jnp.left_shift, Spec(_N, "int32", _int_values(np.int32)),
     Spec(_N, "int32", _shift_amounts(np.int32)), covers="shift_left")
case("bits_jnp_right_shift_signed", jnp.right_shift, Spec(_N, "int32", _int_values(np.int32)),
     Spec(_N, "int32", _shift_amounts(np.int32)), covers="shift_right_arithmetic")
case("bits_jnp_right_shift_unsigned", jnp.right_shift, Spec(_N, "uint8", _int_values(np.uint8)),
     Spec(_N, "uint8", _shift_amounts(np.uint8)), covers="shift_right_logical")
case("bits_rshift_40_int32", lambda x: (x >> 40, x << 40, x >> 3),
     Spec(_N, "int32", _int_values(np.int32)), covers="shift_right_arithmetic")
case("bits_jnp_bitwise_count", jnp.bitwise_count, Spec(_N, "int16", _int_values(np.int16)),
     covers="population_count")

_R = ("B", 5, 4)
for _t in ("int8", "uint8", "int32", "uint32", "int16"):
  case(f"bits_reduce_xor_{_t}", lambda x: (lax.reduce_xor_p.bind(x, axes=(1,)),
                                            lax.reduce_xor_p.bind(x, axes=(0, 2))),
       Spec(_R, _t, _int_values(_t)), covers="reduce_xor")
case("bits_reduce_xor_bool", lambda x: (lax.reduce_xor_p.bind(x, axes=(1, 2)),
                                         lax.reduce_xor_p.bind(x, axes=(0,))),
     Spec(_R, "bool", "bool"), covers="reduce_xor")
case("bits_reduce_xor_empty", lambda x: lax.reduce_xor_p.bind(x, axes=(1,)),
     Spec(("B", 0, 3), "int32", "int"), covers="reduce_xor")
case("bits_jnp_bitwise_xor_reduce", lambda x: jnp.bitwise_xor.reduce(x, axis=-1),
     Spec(_R, "int32", _int_values(np.int32)), covers="reduce_xor")

for _t in (F32, _F16, _BF16):
  case(f"bits_is_finite_{_t.name}", lambda x: (jnp.isfinite(x), jnp.isinf(x), jnp.isnan(x)),
       Spec(_N, _t, _float_values(_t)), covers="is_finite")


def _nan_free_bits(x):
  """x's bit pattern, NaNs as 0 (their payload is not kept), to check -0.0 and
  denormals exactly."""
  ints = {2: jnp.int16, 4: jnp.int32}[x.dtype.itemsize]
  return jnp.where(jnp.isnan(x), 0, lax.bitcast_convert_type(x, ints))


def _with_bits(fn):
  return lambda *a: (fn(*a), _nan_free_bits(fn(*a)))


_NEXT = [0.0, -0.0, 1.0, -1.0, 1.5, 2.0, -2.0, np.inf, -np.inf, np.nan]
for _t in (F32, _F16, _BF16):
  _fi = ml_dtypes.finfo(_t)
  _vals = np.array(_NEXT + [_fi.max, -_fi.max, _fi.tiny, -_fi.tiny, _fi.smallest_subnormal,
                            -_fi.smallest_subnormal, 2 * _fi.smallest_subnormal],
                   np.float64).astype(_t)
  case(f"bits_nextafter_{_t.name}", _with_bits(jnp.nextafter),
       Spec(("B", 289), _t, _grid(_vals, True)), Spec(("B", 289), _t, _grid(_vals, False)),
       covers="nextafter", atol=0, rtol=0)
case("bits_nextafter_random", _with_bits(jnp.nextafter), Spec(_N, F32, _float_values(F32)),
     Spec(_N, F32), covers="nextafter", atol=0, rtol=0)

_PRECISIONS = {F32: [(8, 7), (5, 10), (8, 0), (3, 2), (4, 23), (11, 30), (8, 22)],
               _F16: [(5, 10), (5, 3), (4, 10), (3, 0), (8, 7)],
               _BF16: [(8, 7), (5, 3), (4, 2), (8, 0), (5, 10)]}
for _t, _params in _PRECISIONS.items():
  for _e, _m in _params:
    case(f"bits_reduce_precision_{_t.name}_e{_e}m{_m}",
         _with_bits(lambda x, _e=_e, _m=_m: lax.reduce_precision(x, _e, _m)),
         Spec(_N, _t, _float_values(_t)), covers="reduce_precision", atol=0, rtol=0)

for _src, _dst in [(F32, "int32"), (F32, "uint32"), ("int32", F32), ("uint32", F32),
                   (F32, "uint8"), (F32, "int16"), (_F16, "int16"), ("int16", _F16),
                   ("uint16", _BF16), (_BF16, "int16"), (_F16, "uint8"), ("int32", "uint32"),
                   ("uint8", "int8"), ("int32", "int8"), ("uint16", "uint32")]:
  _src, _dst = np.dtype(_src), np.dtype(_dst)
  _shape = ("B", 8, max(_dst.itemsize // _src.itemsize, 1))
  _vals = (_float_values if dt.is_float(_src) else _int_values)(_src)
  _fn = lambda x, _d=_dst: lax.bitcast_convert_type(x, _d)
  if dt.is_float(_dst):
    _fn = _with_bits(_fn)
  case(f"bits_bitcast_{_src.name}_to_{_dst.name}", _fn, Spec(_shape, _src, _vals),
       covers="bitcast_convert_type", atol=0, rtol=0)
case("bits_clz_int8", lax.clz, Spec(_N, "int8", _int_values(np.int8)), covers="clz")
case("bits_jnp_shifts_uint32", lambda x, s: (x << s, x >> s),
     Spec(_N, "uint32", _int_values(np.uint32)), Spec(_N, "uint32", _shift_amounts(np.uint32)),
     covers="shift_right_logical")
case("bits_const_amounts", lambda x: (x % 7, x % -3, lax.rem(x, jnp.int32(0)), x >> 3, x << 31,
                                      lax.shift_right_logical(x, 5), x >> jnp.arange(4) * 11),
     Spec(("B", 8, 4), "int32", _int_values(np.int32)), covers="rem")
