"""jax.nn.dot_product_attention (and nnx.MultiHeadAttention, which calls it when
no attention dropout runs) -> the ONNX Attention op (opset 23).

JAX's layout is (batch, seq, heads, head_dim); Attention's 3-D form takes
(batch, seq, heads * head_dim), a free Reshape, so no Transpose is needed.
A boolean mask becomes an additive one with JAX's own large negative number,
so fully masked rows get the same (uniform) weights as in JAX.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jax_onnx.components.core import (
  composite,
  register_component,
  route_function,
  should_route,
)
from jax_onnx.registry import Lazy, Spec, case
from jax_onnx.shapes import is_static

# jax.nn's masked logits: -0.7 * float32 max (see jax._src.nn.functions).
_LARGE_NEGATIVE = np.float32(-0.7 * np.finfo(np.float32).max)


def _routed_attention(original):
  @functools.wraps(original)
  def routed(query, key, value, bias=None, mask=None, *, scale=None, is_causal=False,
             query_seq_lengths=None, key_value_seq_lengths=None, local_window_size=None,
             implementation=None, **kw):
    plain = (query_seq_lengths is not None or key_value_seq_lengths is not None
             or local_window_size is not None or implementation not in (None, "xla") or kw
             or np.ndim(query) != 4 or not should_route())
    if plain:
      return original(query, key, value, bias, mask, scale=scale, is_causal=is_causal,
                      query_seq_lengths=query_seq_lengths,
                      key_value_seq_lengths=key_value_seq_lengths,
                      local_window_size=local_window_size, implementation=implementation, **kw)
    head_dim = query.shape[-1]
    scale = float(1.0 / np.sqrt(head_dim)) if scale is None else float(scale)

    def decomposition(q, k, v, b, m, *, scale, is_causal, **_):
      return original(q, k, v, b, m, scale=scale, is_causal=is_causal)
    return composite("jax_onnx.dot_product_attention", decomposition)(
        query, key, value, bias, mask, scale=scale, is_causal=bool(is_causal),
        has_bias=bias is not None, has_mask=mask is not None)
  return routed


@register_component("jax_onnx.dot_product_attention", title="jax.nn.dot_product_attention",
                    onnx_ops=["Attention"], min_opset=23,
                    notes="opset >= 23; (B, T, N, H) operands, grouped heads, mask, bias, causal")
def _attention(ctx, q, k, v, *extra, scale, is_causal, has_bias, has_mask):
  (b, t, n, h), (_, s, kv_heads, _), (_, _, _, hv) = (a.shape for a in ctx.avals_in[:3])
  if not is_static((n, h, kv_heads, hv)) or n % kv_heads:
    return None
  extra = list(extra)
  bias = extra.pop(0) if has_bias else None
  mask = extra.pop(0) if has_mask else None
  if is_causal and (bias is not None or mask is not None):
    return None   # JAX masks causally *after* the bias/mask: keep its exact order
  additive = bias
  if mask is not None:
    masked = ctx.op("Where", mask, ctx.scalar(0.0, np.float32),
                    ctx.scalar(_LARGE_NEGATIVE, np.float32))
    additive = masked if additive is None else ctx.op("Add", additive, masked)
  inputs = [ctx.reshape(q, (b, t, n * h)), ctx.reshape(k, (b, s, kv_heads * h)),
            ctx.reshape(v, (b, s, kv_heads * hv))]
  if additive is not None:
    inputs.append(additive)
  y = ctx.op("Attention", *inputs, q_num_heads=n, kv_num_heads=kv_heads, scale=scale,
             is_causal=int(is_causal))
  return ctx.reshape(y, (b, t, n, hv), in_shape=(b, t, n * hv), dtype=ctx.aval_out.dtype)


route_function("jax.nn.dot_product_attention", "jax_onnx.dot_product_attention",
               ("jax.nn", "flax.nnx"), "dot_product_attention", _routed_attention)


# ---------------------------------------------------------------------------
# Test cases.

_Q, _KV = ("B", 6, 4, 8), ("B", 7, 4, 8)
_dpa = lambda *a, **kw: jax.nn.dot_product_attention(*a, **kw)   # looked up when called


def _mask_with_empty_rows(rng, shape):
  m = rng.random(shape) < 0.6
  m[..., 0, :] = False    # a fully masked row: uniform weights in JAX
  return m


case("component_attention", _dpa, _Q, _KV, _KV, covers="jax.nn.dot_product_attention",
     opset=23, expect_ops=("Attention",), forbid_ops=("Transpose", "Softmax"), atol=1e-5)
case("component_attention_causal", lambda q, k, v: _dpa(q, k, v, is_causal=True), _Q, _Q, _Q,
     covers="jax.nn.dot_product_attention", opset=23, expect_ops=("Attention",), atol=1e-5)
case("component_attention_scale", lambda q, k, v: _dpa(q, k, v, scale=0.3), _Q, _KV, _KV,
     covers="jax.nn.dot_product_attention", opset=23, expect_ops=("Attention",), atol=1e-5)
case("component_attention_grouped_heads", _dpa, _Q, ("B", 7, 2, 8), ("B", 7, 2, 8),
     covers="jax.nn.dot_product_attention", opset=23, expect_ops=("Attention",), atol=1e-5)
case("component_attention_mask", lambda q, k, v, m: _dpa(q, k, v, mask=m), _Q, _KV, _KV,
     Spec(("B", 1, 6, 7), "bool", _mask_with_empty_rows), covers="jax.nn.dot_product_attention",
     opset=23, expect_ops=("Attention",), atol=1e-5)
case("component_attention_bias", lambda q, k, v, b: _dpa(q, k, v, b), _Q, _KV, _KV,
     ("B", 4, 6, 7), covers="jax.nn.dot_product_attention", opset=23,
     expect_ops=("Attention",), atol=1e-5)
case("component_attention_mask_and_causal_decomposed",
     lambda q, k, v, m: _dpa(q, k, v, mask=m, is_causal=True), _Q, _Q, _Q,
     Spec(("B", 1, 6, 6), "bool", _mask_with_empty_rows), covers="jax.nn.dot_product_attention",
     opset=23, forbid_ops=("Attention",), atol=1e-5)
case("component_attention_opset21_decomposed", _dpa, _Q, _KV, _KV,
     covers="jax.nn.dot_product_attention", opset=21, forbid_ops=("Attention",), atol=1e-5)


def _mha(causal_mask: bool):
  def build():
    from flax import nnx
    mha = nnx.MultiHeadAttention(num_heads=4, in_features=16, qkv_features=16, decode=False,
                                 rngs=nnx.Rngs(0))
    if causal_mask:
      return lambda x: mha(x, mask=nnx.make_causal_mask(jnp.ones(x.shape[:2])))
    return mha
  return Lazy(build)


case("component_nnx_multi_head_attention", _mha(False), ("B", 5, 16),
     covers="flax.nnx.MultiHeadAttention", opset=23, expect_ops=("Attention",), atol=1e-5)
case("component_nnx_multi_head_attention_causal_mask", _mha(True), ("B", 5, 16),
     covers="flax.nnx.MultiHeadAttention", opset=23, expect_ops=("Attention",), atol=1e-5)
