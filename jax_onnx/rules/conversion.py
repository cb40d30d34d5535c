"""Dtype conversion and value-preserving primitives (sharding, device_put, dims)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name
from jax import lax
import numpy as np
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx import dtypes as dt
from jax_onnx.registry import Spec, case, register_rule


@register_rule(P.convert_element_type_p, family="conversion", onnx_ops=["Cast"])
def _convert_element_type(ctx, x, *, new_dtype, **params):
  del params   # weak_type and sharding do not change the values
  src, dst = ctx.avals_in[0].dtype, np.dtype(new_dtype)
  if src == dst:
    return x
  if dt.is_float(src) and dt.is_int(dst):
    return _float_to_int(ctx, x, src, dst)
  return ctx.cast(x, dst)


def _float_to_int(ctx, x, src, dst):
  """XLA's conversion: truncate, saturate at the int range, NaN -> 0.
  (ONNX leaves out-of-range casts undefined.)"""
  info = np.iinfo(dst)
  if np.dtype(src).itemsize < 4:   # (b)float16 -> float32 is exact and has kernels
    x, src = ctx.cast(x, np.float32), np.dtype(np.float32)
  # 2**bits is exact in every float type, so `x >= top` is an exact test.
  top = ctx.scalar(float(info.max) + 1.0, src)
  lowest = ctx.scalar(float(info.min), src)
  too_big = ctx.op("GreaterOrEqual", x, top)
  safe = ctx.op("Where", ctx.op("IsNaN", x), ctx.scalar(0, src), x)
  safe = ctx.op("Max", safe, lowest)
  safe = ctx.op("Where", too_big, ctx.scalar(0, src), safe)
  return ctx.where(too_big, ctx.scalar(info.max, dst), ctx.cast(safe, dst), dst)


@register_rule(P.sharding_constraint_p, family="conversion", onnx_ops=["(none)"])
def _sharding_constraint(ctx, x, **params):
  del params
  return x


@register_rule(P.device_put_p, family="conversion", onnx_ops=["(none)"])
def _device_put(ctx, *xs, **params):
  del params
  return list(xs)


@register_rule(_compat.extra_primitives()["dim_as_value"], family="conversion",
               onnx_ops=["Shape", "Cast"])
def _dim_as_value(ctx, *, dim):
  return ctx.trace.export.dims.scalar(dim, ctx.aval_out.dtype)


def _float_edges(rng, shape):
  x = (rng.standard_normal(shape) * 100).astype(np.float32)
  flat = x.reshape(-1)
  edges = [np.nan, np.inf, -np.inf, 3e9, -3e9, 2.5, -2.5, 255.9, 256.0, -0.5]
  flat[: len(edges)] = edges[: flat.size]
  return x


_S = ("B", 4, 3)
for _dst in ("int32", "int8", "uint8", "uint32", "int16", "bool", "float16", "bfloat16"):
  case(f"convert_f32_to_{_dst}", lambda x, _d=_dst: x.astype(_d),
       Spec(_S, "float32", _float_edges), covers="convert_element_type",
       rtol=1e-2 if _dst in ("float16", "bfloat16") else 0, atol=0)
case("convert_int32_to_f32", lambda x: x.astype(jnp.float32), Spec(_S, "int32", "int"),
     covers="convert_element_type", atol=0)
case("convert_int32_to_uint8_wraps", lambda x: (x * 97).astype(jnp.uint8),
     Spec(_S, "int32", "int"), covers="convert_element_type", atol=0)
case("convert_bool_to_f32", lambda x: x.astype(jnp.float32), Spec(_S, "bool", "bool"),
     covers="convert_element_type", atol=0)
case("sharding_constraint", lambda x: jax.lax.with_sharding_constraint(
    x * 2.0, jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])), _S,
     covers="sharding_constraint")
case("device_put", lambda x: jax.device_put(x, jax.devices("cpu")[0]) + 1.0, _S,
     covers="device_put")
case("dim_as_value_mean", lambda x: jnp.sum(x, axis=0) / x.shape[0], _S,
     covers="dim_as_value")
case("dim_as_value_arange", lambda x: x + jnp.arange(x.shape[0], dtype=jnp.float32)[:, None, None],
     _S, covers="dim_as_value")
case("dim_floordiv_slice", lambda x: lax.slice_in_dim(x, 0, x.shape[0] // 2, axis=0) * 2.0,
     ("B", 4, 3), covers="dim_as_value")
case("dim_floordiv_value", lambda x: x * (x.shape[0] // 2 + x.shape[0] % 2), ("B", 4, 3),
     covers="dim_as_value")
case("dim_product_of_two_vars", lambda x, y: (x[:, :, None] * y[:, None, :]).reshape(
    x.shape[0], -1).sum(axis=1), ("B", 4), Spec(("B", 3)), covers="dim_as_value")


@register_rule(P.name_p, family="conversion", onnx_ops=["(none)"])
def _name(ctx, x, *, name):
  # jax.ad_checkpoint.checkpoint_name only tags a value for remat policies.
  del ctx, name
  return x


case("checkpoint_name", lambda x: checkpoint_name(x * 2.0, "hidden") + 1.0,
     ("B", 3), covers="name")
