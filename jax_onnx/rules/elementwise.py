"""Elementwise arithmetic, comparisons, logic and selection, with JAX's semantics.

ONNX broadcasts implicitly but JAX's elementwise primitives get operands of
equal shape (scalars are already broadcast by jnp), so each rule is one op or
a short exact formula.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx import dtypes as dt
from jax_onnx.registry import Spec, case, register_rule

F32 = "float32"


def _register_simple(table: dict, family: str):
  """One ONNX op per primitive, same operands."""
  for prim, onnx_op in table.items():
    def rule(ctx, *args, _op=onnx_op, **params):
      del params   # e.g. accuracy=None on transcendental functions
      return ctx.op(_op, *args)
    register_rule(prim, family=family, onnx_ops=[onnx_op])(rule)


_register_simple({
    P.add_p: "Add", P.sub_p: "Sub", P.mul_p: "Mul", P.add_jaxvals_p: "Add",
    P.neg_p: "Neg", P.abs_p: "Abs", P.exp_p: "Exp", P.log_p: "Log",
    P.tanh_p: "Tanh", P.logistic_p: "Sigmoid", P.erf_p: "Erf", P.sqrt_p: "Sqrt",
    P.sin_p: "Sin", P.cos_p: "Cos", P.floor_p: "Floor", P.ceil_p: "Ceil",
    P.eq_p: "Equal",
}, "elementwise")


def _register_kernel_checked(table: dict, family: str):
  """One ONNX op per primitive, run in a wider dtype where ORT lacks a kernel."""
  for prim, (onnx_op, result_is_data) in table.items():
    def rule(ctx, *args, _op=onnx_op, _data=result_is_data):
      return ctx.op_as(ctx.avals_in[0].dtype, _op, *args, result_is_data=_data)
    register_rule(prim, family=family, onnx_ops=[onnx_op])(rule)


_register_kernel_checked({
    P.max_p: ("Max", True), P.min_p: ("Min", True),
    P.lt_p: ("Less", False), P.le_p: ("LessOrEqual", False),
    P.gt_p: ("Greater", False), P.ge_p: ("GreaterOrEqual", False),
}, "elementwise")


@register_rule(P.ne_p, family="elementwise", onnx_ops=["Equal", "Not"])
def _ne(ctx, x, y):
  return ctx.op("Not", ctx.op("Equal", x, y))


@register_rule(P.copy_p, family="elementwise", onnx_ops=["(none)"])
def _copy(ctx, x):
  return x


register_rule(P.stop_gradient_p, family="elementwise", onnx_ops=["(none)"])(_copy)


@register_rule(P.div_p, family="elementwise", onnx_ops=["Div", "Where"])
def _div(ctx, x, y):
  if not dt.is_int(ctx.aval_out.dtype):
    return ctx.op("Div", x, y)
  # Integer division truncates in both; XLA defines x/0 = -1 (all ones), where
  # ONNX Runtime would trap, so the divisor is made safe first.
  dtype = ctx.aval_out.dtype
  where = lambda c, a, b: ctx.where(c, a, b, dtype)
  is_zero = ctx.op("Equal", y, ctx.scalar(0, dtype))
  safe = where(is_zero, ctx.scalar(1, dtype), y)
  if dt.is_signed_int(dtype):   # INT_MIN / -1 overflows (traps); XLA gives INT_MIN
    minus_one = ctx.op("Equal", y, ctx.scalar(-1, dtype))
    safe = where(minus_one, ctx.scalar(1, dtype), safe)
    q = where(minus_one, ctx.op("Neg", x), ctx.op("Div", x, safe))
  else:
    q = ctx.op("Div", x, safe)
  all_ones = -1 if dt.is_signed_int(dtype) else np.iinfo(dtype).max
  return where(is_zero, ctx.scalar(all_ones, dtype), q)


@register_rule(P.sign_p, family="elementwise", onnx_ops=["Sign"])
def _sign(ctx, x):
  s = ctx.op("Sign", x)
  if dt.is_float(ctx.aval_out.dtype):
    # sign(NaN) = NaN and sign(+-0.0) = +-0.0 in JAX: keep Sign's result only
    # where |x| > 0. x goes in Where's *last* input: ORT's Where drops the sign
    # of a -0.0 it selects from its middle input.
    s = ctx.op("Where", ctx.op("Greater", ctx.op("Abs", x), ctx.scalar(0, ctx.aval_out.dtype)),
               s, x)
  return s


@register_rule(P.rsqrt_p, family="elementwise", onnx_ops=["Sqrt", "Reciprocal"])
def _rsqrt(ctx, x, **_):
  return ctx.op("Reciprocal", ctx.op("Sqrt", x))


@register_rule(P.square_p, family="elementwise", onnx_ops=["Mul"])
def _square(ctx, x):
  return ctx.op("Mul", x, x)


@register_rule(P.log1p_p, family="elementwise", onnx_ops=["Log", "Div", "Where"])
def _log1p(ctx, x, **_):
  # Accurate for tiny x: with u = 1 + x (rounded), log1p(x) = x * (log(u) / (u - 1)),
  # the ratio being 1 where u == 1. Multiplying x (not selecting it) keeps
  # log1p(-0.0) = -0.0: ORT's Where loses the sign of a selected -0.0.
  dtype = ctx.aval_out.dtype
  one = ctx.scalar(1, dtype)
  u = ctx.op("Add", x, one)
  um1 = ctx.op("Sub", u, one)
  ratio = ctx.op("Where", ctx.op("Equal", um1, ctx.scalar(0, dtype)), one,
                 ctx.op("Div", ctx.op("Log", u), um1))
  r = ctx.op("Mul", x, ratio)
  return ctx.op("Where", ctx.op("IsInf", u, detect_negative=0), u, r)   # log1p(inf) = inf


@register_rule(P.expm1_p, family="elementwise", onnx_ops=["Exp", "Log", "Where"])
def _expm1(ctx, x, **_):
  # Kahan: with u = exp(x), expm1(x) = x * ((u - 1) / log(u)), exact near 0
  # (ratio 1 where u == 1; x multiplied, not selected, keeps -0.0).
  dtype = ctx.aval_out.dtype
  one = ctx.scalar(1, dtype)
  u = ctx.op("Exp", x)
  um1 = ctx.op("Sub", u, one)
  ratio = ctx.op("Where", ctx.op("Equal", um1, ctx.scalar(0, dtype)), one,
                 ctx.op("Div", um1, ctx.op("Log", u)))
  r = ctx.op("Mul", x, ratio)
  r = ctx.op("Where", ctx.op("Equal", um1, ctx.scalar(-1, dtype)), um1, r)
  return ctx.op("Where", ctx.op("IsInf", u), u, r)


@register_rule(P.round_p, family="elementwise", onnx_ops=["Round", "Where"])
def _round(ctx, x, *, rounding_method):
  even = ctx.op("Round", x)   # ONNX rounds half to even
  if int(rounding_method) == int(lax.RoundingMethod.TO_NEAREST_EVEN):
    return even
  # Away from zero: only exact halves differ from half-to-even.
  dtype = ctx.aval_out.dtype
  trunc = ctx.op("Mul", ctx.op("Sign", x), ctx.op("Floor", ctx.op("Abs", x)))
  is_half = ctx.op("Equal", ctx.op("Abs", ctx.op("Sub", x, trunc)), ctx.scalar(0.5, dtype))
  return ctx.op("Where", is_half, ctx.op("Add", trunc, ctx.op("Sign", x)), even)


@register_rule(P.pow_p, family="elementwise", onnx_ops=["Pow"])
def _pow(ctx, x, y):
  return ctx.op("Pow", x, y)


@register_rule(P.integer_pow_p, family="elementwise", onnx_ops=["Mul", "Reciprocal"])
def _integer_pow(ctx, x, *, y):
  # Binary exponentiation by multiplication, as XLA computes it.
  if y == 0:
    return ctx.op("Expand", ctx.scalar(1, ctx.aval_out.dtype), ctx.op("Shape", x))
  result, base, n = None, x, abs(int(y))
  while n:
    if n & 1:
      result = base if result is None else ctx.op("Mul", result, base)
    n >>= 1
    if n:
      base = ctx.op("Mul", base, base)
  return ctx.op("Reciprocal", result) if y < 0 else result


def _logical(onnx_bool: str, onnx_bits: str):
  def rule(ctx, *args):
    return ctx.op(onnx_bool if dt.is_bool(ctx.aval_out.dtype) else onnx_bits, *args)
  return rule


for _prim, _ops in {P.and_p: ("And", "BitwiseAnd"), P.or_p: ("Or", "BitwiseOr"),
                    P.xor_p: ("Xor", "BitwiseXor"), P.not_p: ("Not", "BitwiseNot")}.items():
  register_rule(_prim, family="elementwise", onnx_ops=_ops)(_logical(*_ops))


@register_rule(P.select_n_p, family="elementwise", onnx_ops=["Where"])
def _select_n(ctx, which, *cases):
  if len(cases) == 1:
    return cases[0]
  pred = ctx.consts_in[0]
  if pred is not None and pred.size and np.all(pred.reshape(-1) == pred.reshape(-1)[0]):
    return cases[int(pred.reshape(-1)[0])]   # a constant choice (e.g. jnp.var's where=True)
  dtype = ctx.aval_out.dtype
  if dt.is_bool(ctx.avals_in[0].dtype):
    return ctx.where(which, cases[1], cases[0], dtype)
  # which is an int index: pick case i where which == i, last case by default.
  wdtype = ctx.avals_in[0].dtype
  out = cases[-1]
  for i in range(len(cases) - 2, -1, -1):
    out = ctx.where(ctx.op("Equal", which, ctx.scalar(i, wdtype)), cases[i], out, dtype)
  return out


@register_rule(P.clamp_p, family="elementwise", onnx_ops=["Max", "Min"])
def _clamp(ctx, lo, x, hi):
  dtype = ctx.aval_out.dtype
  return ctx.op_as(dtype, "Min", ctx.op_as(dtype, "Max", x, lo), hi)


# ---------------------------------------------------------------------------
# Test cases. Binary ops get two batch-shaped operands.

_BIN = ("B", 3, 4)
for _name, _fn in {"add": lax.add, "sub": lax.sub, "mul": lax.mul, "div": lax.div,
                   "max": lax.max, "min": lax.min}.items():
  case(f"{_name}_f32", _fn, _BIN, _BIN, covers=_name)
case("add_scalar_literal", lambda x: x + 2.0, _BIN, covers="add")
case("add_int32", lax.add, Spec(_BIN, "int32", "int"), Spec(_BIN, "int32", "int"), covers="add")
case("add_any_grad", jax.grad(lambda x: jnp.sum(x * x + jnp.sin(x))), _BIN, covers="add_any")
case("div_int32_trunc_and_zero",
     lax.div, Spec(_BIN, "int32", "int"), Spec(_BIN, "int32", "int"), covers="div")
case("max_nan", lambda x: lax.max(x, jnp.where(x > 0, jnp.nan, -x)), _BIN, covers="max")
case("min_nan", lambda x: lax.min(x, jnp.where(x > 0, jnp.nan, -x)), _BIN, covers="min")

_UNARY = {
    "neg": (lax.neg, "normal"), "abs": (lax.abs, "normal"), "sign": (lax.sign, "int"),
    "exp": (lax.exp, "normal"), "log": (lax.log, "positive"), "log1p": (lax.log1p, "unit"),
    "expm1": (lax.expm1, "unit"), "tanh": (lax.tanh, "normal"),
    "logistic": (lax.logistic, "normal"), "erf": (lax.erf, "normal"),
    "sqrt": (lax.sqrt, "positive"), "rsqrt": (lax.rsqrt, "positive"),
    "sin": (lax.sin, "normal"), "cos": (lax.cos, "normal"),
    "floor": (lax.floor, "normal"), "ceil": (lax.ceil, "normal"),
    "square": (lax.square, "normal"), "copy": (lax.copy_p.bind, "normal"),
}
for _name, (_fn, _values) in _UNARY.items():
  case(f"{_name}_f32", _fn, Spec(_BIN, F32, _values), covers=_name)


def _tiny_and_edges(rng, shape):
  x = rng.standard_normal(shape).astype(np.float32) * np.float32(1e-6)
  flat = x.reshape(-1)
  flat[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0][: flat.size]
  return x


def _halves(rng, shape):
  return (rng.integers(-8, 8, shape) * 0.5).astype(np.float32)


case("log1p_tiny_and_edges", lax.log1p, Spec(_BIN, F32, _tiny_and_edges), covers="log1p",
     rtol=5e-7, atol=0)
case("expm1_tiny_and_edges", lax.expm1, Spec(_BIN, F32, _tiny_and_edges), covers="expm1",
     rtol=5e-7, atol=0)
case("sign_edges", lax.sign, Spec(_BIN, F32, _tiny_and_edges), covers="sign", atol=0)
case("round_half_away", lambda x: lax.round(x, lax.RoundingMethod.AWAY_FROM_ZERO),
     Spec(_BIN, F32, _halves), covers="round", atol=0)
case("round_half_even", lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN),
     Spec(_BIN, F32, _halves), covers="round", atol=0)
case("jnp_round", jnp.round, Spec(_BIN, F32, _halves), covers="round", atol=0)
case("pow_f32", lax.pow, Spec(_BIN, F32, "positive"), _BIN, covers="pow", rtol=1e-5)
case("integer_pow_3", lambda x: lax.integer_pow(x, 3), _BIN, covers="integer_pow")
case("integer_pow_neg2", lambda x: lax.integer_pow(x, -2), Spec(_BIN, F32, "positive"),
     covers="integer_pow")
case("integer_pow_0", lambda x: lax.integer_pow(x, 0), _BIN, covers="integer_pow")
case("integer_pow_7_int", lambda x: lax.integer_pow(x, 7), Spec(_BIN, "int32", "int"),
     covers="integer_pow")
for _name, _fn in {"eq": lax.eq, "ne": lax.ne, "lt": lax.lt, "le": lax.le,
                   "gt": lax.gt, "ge": lax.ge}.items():
  case(f"{_name}_int", _fn, Spec(_BIN, "int32", "int"), Spec(_BIN, "int32", "int"),
       covers=_name)
  case(f"{_name}_f32", lambda x, _f=_fn: _f(x, jnp.round(x)), _BIN, covers=_name)
for _name, _fn in {"and": lax.bitwise_and, "or": lax.bitwise_or,
                   "xor": lax.bitwise_xor}.items():
  case(f"{_name}_bool", _fn, Spec(_BIN, "bool", "bool"), Spec(_BIN, "bool", "bool"),
       covers=_name)
  case(f"{_name}_int32", _fn, Spec(_BIN, "int32", "int"), Spec(_BIN, "int32", "int"),
       covers=_name)
case("not_bool", lax.bitwise_not, Spec(_BIN, "bool", "bool"), covers="not")
case("not_int32", lax.bitwise_not, Spec(_BIN, "int32", "int"), covers="not")
case("select_n_bool", lambda p, x, y: lax.select_n(p, x, y),
     Spec(_BIN, "bool", "bool"), _BIN, _BIN, covers="select_n")
case("select_n_int3", lambda i, x, y, z: lax.select_n(i, x, y, z),
     Spec(_BIN, "int32", "index", high=3), _BIN, _BIN, _BIN, covers="select_n")
case("jnp_where", lambda x: jnp.where(x > 0, x, 0.1 * x), _BIN, covers="select_n")
case("clamp_scalar", lambda x: lax.clamp(-0.5, x, 0.5), _BIN, covers="clamp")
case("clamp_array", lambda lo, x: lax.clamp(lo, x, lo + 1.0), _BIN, _BIN, covers="clamp")
case("jnp_clip", lambda x: jnp.clip(x, -1.0, 1.0), _BIN, covers="clamp")
case("stop_gradient", lambda x: lax.stop_gradient(x) * 2.0, _BIN, covers="stop_gradient")

_BF = ("B", 3, 4)
case("bf16_arithmetic", lambda x, y: (x * y + jnp.tanh(x)) / (jnp.abs(y) + 1),
     Spec(_BF, "bfloat16"), Spec(_BF, "bfloat16"), covers="mul", rtol=1e-2, atol=1e-2)
case("bf16_select_and_compare", lambda x, y: jnp.where(x > y, x, y),
     Spec(_BF, "bfloat16"), Spec(_BF, "bfloat16"), covers="select_n", atol=0)
case("f16_arithmetic", lambda x, y: jnp.exp(x) * y - x,
     Spec(_BF, "float16"), Spec(_BF, "float16"), covers="exp", rtol=2e-3, atol=2e-3)


def _signed_zeros(rng, shape):
  return np.where(rng.random(shape) < 0.5, np.float32(0.0), np.float32(-0.0))


# 1 / f(+-0.0) = +-inf tells the zeros apart (allclose does not).
for _name, _fn in {"log1p": lax.log1p, "expm1": lax.expm1, "sign": lax.sign}.items():
  case(f"{_name}_keeps_sign_of_zero", lambda x, f=_fn: 1.0 / f(x), Spec(_BIN, F32, _signed_zeros),
       covers=_name, atol=0)
