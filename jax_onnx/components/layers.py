"""Flax NNX layers: nnx.Embed -> Gather (a component), and the test cases of the
layers whose primitives already export as the idiomatic op (Linear -> Gemm by
the MatMul+Add fusion pass, Conv -> Conv, pooling -> MaxPool/AveragePool...).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax_onnx.components.core import composite, register_component, route_method, should_route
from jax_onnx.registry import Lazy, Spec, case


def _routed_embed(original):
  def __call__(self, inputs, out_sharding=None):
    if (out_sharding is not None or self.num_embeddings == 1 or not should_route()
        or not jnp.issubdtype(inputs.dtype, jnp.integer)):
      return original(self, inputs, out_sharding)
    (table,) = self.promote_dtype((self.embedding[...],), dtype=self.dtype, inexact=False)
    return composite("jax_onnx.embed", lambda t, i: jnp.take(t, i, axis=0))(table, inputs)
  return __call__


@register_component("jax_onnx.embed", title="flax.nnx.Embed", onnx_ops=["Gather"],
                    notes="ids outside [-n, n) give NaN rows, as jnp.take does")
def _embed(ctx, table, ids):
  n = ctx.avals_in[0].shape[0]
  id_dtype = np.dtype(ctx.avals_in[1].dtype)
  if not isinstance(n, (int, np.integer)):
    return None
  if id_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
    ids, id_dtype = ctx.cast(ids, np.int64), np.dtype(np.int64)
  # Gather wraps negative ids as jnp.take does; ids outside [-n, n) would make
  # ONNX Runtime fail, where JAX fills the row with NaN: so must the model.
  valid = ctx.op("And", ctx.op("GreaterOrEqual", ids, ctx.scalar(-n, id_dtype)),
                 ctx.op("Less", ids, ctx.scalar(n, id_dtype)))
  safe = ctx.op("Where", valid, ids, ctx.scalar(0, id_dtype))
  rows = ctx.op("Gather", table, safe, axis=0)
  nan = ctx.scalar(np.nan, ctx.aval_out.dtype)
  return ctx.op("Where", ctx.op("Unsqueeze", valid, ctx.ints([-1])), rows, nan)


route_method("flax.nnx.Embed", "flax.nnx.nn.linear", "Embed", "__call__", _routed_embed)


# ---------------------------------------------------------------------------
# Test cases: NNX layers with random weights, built before the export.

def _model(make, call=None):
  def build():
    from flax import nnx
    layer = make(nnx, nnx.Rngs(0))
    return (lambda *xs: call(layer, *xs)) if call else layer
  return Lazy(build)


def _ids(rng, shape):
  ids = rng.integers(-10, 10, shape)
  ids.reshape(-1)[:2] = [10, -11][: ids.size]   # just out of range: NaN rows in JAX
  return ids


_X = ("B", 8)
case("component_nnx_linear", _model(lambda nnx, r: nnx.Linear(8, 4, rngs=r)), _X,
     covers="flax.nnx.Linear", expect_ops=("Gemm",), forbid_ops=("MatMul", "Add"))
case("component_nnx_linear_3d", _model(lambda nnx, r: nnx.Linear(8, 4, rngs=r)), ("B", 3, 8),
     covers="flax.nnx.Linear", expect_ops=("MatMul", "Add"))
case("component_nnx_linear_no_bias",
     _model(lambda nnx, r: nnx.Linear(8, 4, use_bias=False, rngs=r)), _X,
     covers="flax.nnx.Linear", expect_ops=("MatMul",))
case("component_nnx_linear_general",
     _model(lambda nnx, r: nnx.LinearGeneral(8, (2, 4), rngs=r)), ("B", 3, 8),
     covers="flax.nnx.LinearGeneral", expect_ops=("MatMul",))
case("component_nnx_einsum",
     _model(lambda nnx, r: nnx.Einsum("btd,dh->bth", (8, 4), (4,), rngs=r)), ("B", 3, 8),
     covers="flax.nnx.Einsum", expect_ops=("MatMul",))
case("component_nnx_embed", _model(lambda nnx, r: nnx.Embed(10, 4, rngs=r)),
     Spec(("B", 3), "int32", _ids), covers="flax.nnx.Embed", expect_ops=("Gather",),
     forbid_ops=("GatherND",))
case("component_nnx_embed_uint8_ids", _model(lambda nnx, r: nnx.Embed(10, 4, rngs=r)),
     Spec(("B", 3), "uint8", "index", high=12), covers="flax.nnx.Embed",
     expect_ops=("Gather",))
case("component_nnx_dropout_deterministic",
     _model(lambda nnx, r: nnx.Dropout(0.5, deterministic=True), lambda d, x: d(x) * 2.0), _X,
     covers="flax.nnx.Dropout", expect_ops=("Mul",), forbid_ops=("RandomUniformLike",))
case("component_sigmoid", lambda x: jax.nn.sigmoid(x), _X, covers="jax.nn.sigmoid",
     expect_ops=("Sigmoid",))
case("component_silu", lambda x: jax.nn.silu(x), _X, covers="jax.nn.silu",
     expect_ops=("Sigmoid", "Mul"))
case("component_tanh", lambda x: jax.nn.tanh(x), _X, covers="jax.nn.tanh", expect_ops=("Tanh",))
case("component_one_hot", lambda i: jax.nn.one_hot(i, 5), Spec(("B", 3), "int32", "int"),
     covers="jax.nn.one_hot", expect_ops=("Equal",))
case("component_standardize", lambda x: jax.nn.standardize(x), _X, covers="jax.nn.standardize",
     atol=2e-5)
