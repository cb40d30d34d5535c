"""Flax NNX layers: nnx.Embed -> Gather (a component), and the test cases of the
layers whose primitives already export as the idiomatic op (Linear -> Gemm by
the MatMul+Add fusion pass, Conv -> Conv, pooling -> MaxPool/AveragePool...).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax_onnx.components.core import (composite, register_component, route_function,
                                      route_method, should_route)
from jax_onnx.registry import Lazy, Spec, case
from jax_onnx.shapes import is_static


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


# ---------------------------------------------------------------------------
# nnx.avg_pool (flax.linen.pooling.avg_pool) -> AveragePool.

def _routed_avg_pool(original):
  def avg_pool(inputs, window_shape, strides=None, padding="VALID", count_include_pad=True):
    window = tuple(int(w) for w in window_shape)
    strides = tuple(int(s) for s in strides) if strides else (1,) * len(window)
    if (np.ndim(inputs) != len(window) + 2 or not should_route()
        or not (isinstance(padding, str) or all(len(p) == 2 for p in padding))):
      return original(inputs, window_shape, strides, padding, count_include_pad)
    pads = padding if isinstance(padding, str) else tuple(
        (int(lo), int(hi)) for lo, hi in padding)

    def decomposition(x, **_):
      return original(x, window, strides, pads, count_include_pad)
    return composite("jax_onnx.avg_pool", decomposition)(
        inputs, window=window, strides=strides, padding=pads,
        count_include_pad=bool(count_include_pad))
  return avg_pool


@register_component("jax_onnx.avg_pool", title="flax.nnx.avg_pool", onnx_ops=["AveragePool"],
                    notes="one batch axis, channels last; padding within the window")
def _avg_pool(ctx, x, *, window, strides, padding, count_include_pad):
  shape = ctx.avals_in[0].shape
  spatial = shape[1:-1]
  if isinstance(padding, str):
    if not is_static(spatial):
      return None
    padding = jax.lax.padtype_to_pads(spatial, window, strides, padding)
  if any(lo < 0 or hi < 0 or lo >= w or hi >= w for (lo, hi), w in zip(padding, window)):
    return None
  ndim = len(shape)
  to_channels_first = [0, ndim - 1] + list(range(1, ndim - 1))
  y = ctx.op("AveragePool", ctx.op("Transpose", x, perm=to_channels_first),
             kernel_shape=list(window), strides=list(strides),
             pads=[lo for lo, _ in padding] + [hi for _, hi in padding],
             count_include_pad=int(count_include_pad))
  return ctx.op("Transpose", y, perm=list(np.argsort(to_channels_first)))


route_function("flax.nnx.avg_pool", "jax_onnx.avg_pool",
               ("flax.linen.pooling", "flax.linen", "flax.nnx"), "avg_pool", _routed_avg_pool)


def _pool(name, **kw):
  return lambda x: getattr(__import__("flax.nnx", fromlist=["nnx"]), name)(x, **kw)


_IMG = ("B", 6, 7, 3)
case("component_nnx_avg_pool", _pool("avg_pool", window_shape=(2, 2), strides=(2, 2)), _IMG,
     covers="flax.nnx.avg_pool", expect_ops=("AveragePool",))
case("component_nnx_avg_pool_same_exclude_pad",
     _pool("avg_pool", window_shape=(3, 3), strides=(2, 1), padding="SAME",
           count_include_pad=False), _IMG, covers="flax.nnx.avg_pool",
     expect_ops=("AveragePool",))
case("component_nnx_avg_pool_same_include_pad",
     _pool("avg_pool", window_shape=(3, 2), padding="SAME"), _IMG, covers="flax.nnx.avg_pool",
     expect_ops=("AveragePool",))
case("component_nnx_avg_pool_1d", _pool("avg_pool", window_shape=(3,), strides=(2,)),
     ("B", 9, 4), covers="flax.nnx.avg_pool", expect_ops=("AveragePool",))
case("component_nnx_max_pool", _pool("max_pool", window_shape=(2, 2), strides=(2, 2)), _IMG,
     covers="flax.nnx.max_pool", expect_ops=("Max",))
case("component_nnx_max_pool_3x3", _pool("max_pool", window_shape=(3, 3), padding="SAME"),
     _IMG, covers="flax.nnx.max_pool", expect_ops=("Max",))
case("component_nnx_conv", _model(lambda nnx, r: nnx.Conv(3, 4, (3, 3), rngs=r)), _IMG,
     covers="flax.nnx.Conv", expect_ops=("Conv",))
case("component_nnx_conv_nchw_input",
     _model(lambda nnx, r: nnx.Conv(3, 4, (3, 3), rngs=r)), _IMG, covers="flax.nnx.Conv",
     options={"pre_transpose": [(0, 2, 3, 1)], "post_transpose": [(0, 3, 1, 2)]},
     expect_ops=("Conv",), forbid_ops=("Transpose", "Add"))
case("component_nnx_conv_transpose",
     _model(lambda nnx, r: nnx.ConvTranspose(3, 4, (3, 3), strides=(2, 2), rngs=r)), _IMG,
     covers="flax.nnx.ConvTranspose", expect_ops=("ConvTranspose",))


def _small_cnn(nnx, rngs):
  class CNN(nnx.Module):
    def __init__(self):
      self.conv1 = nnx.Conv(3, 4, (3, 3), rngs=rngs)
      self.conv2 = nnx.Conv(4, 4, (3, 3), strides=(2, 2), rngs=rngs)
      self.norm = nnx.BatchNorm(4, use_running_average=True, rngs=rngs)
      self.head = nnx.Linear(4 * 3 * 3, 5, rngs=rngs)

    def __call__(self, x):
      x = nnx.avg_pool(nnx.relu(self.conv1(x)), (2, 2), (1, 1))
      x = nnx.relu(self.norm(self.conv2(x)))
      return self.head(x.reshape(x.shape[0], -1))
  return CNN()


# An NHWC Flax CNN fed NCHW: transpose sinking leaves no Transpose at all (the
# flatten's layout is folded into the Linear's weights).
case("component_cnn_nchw_input_has_no_transpose", _model(_small_cnn), _IMG,
     covers="flax.nnx.Conv", options={"pre_transpose": [(0, 2, 3, 1)]},
     expect_ops=("Conv", "AveragePool", "BatchNormalization", "Gemm"),
     forbid_ops=("Transpose",))


def _stored_pool(nnx, rngs):
  import functools

  class Pooled(nnx.Module):
    def __init__(self):
      self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
      self.pool = functools.partial(nnx.avg_pool, window_shape=(2, 2), strides=(2, 2))

    def __call__(self, x):
      return self.pool(self.conv(x))
  return Pooled()


case("component_nnx_stored_partial_pool", _model(_stored_pool), _IMG, covers="flax.nnx.avg_pool",
     expect_ops=("AveragePool",), forbid_ops=("Slice",))
