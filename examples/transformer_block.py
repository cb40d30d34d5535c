"""A small pre-LN transformer block (Flax NNX Linear layers, plain jnp math),
exported with a symbolic batch: input ('B', 8, 32).

    python examples/transformer_block.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

SEQ, DIM, HEADS, MLP_DIM = 8, 32, 4, 64
INPUT_SPEC = jax.ShapeDtypeStruct(("B", SEQ, DIM), jnp.float32)
DESCRIPTION = ("A pre-LN transformer block written with plain jnp math: self-attention "
               "with einsum and softmax, then a gelu MLP.")
COMPONENTS = ("nnx.Linear", "nnx.Param", "jnp.einsum", "jax.nn.softmax", "jax.nn.gelu",
              "jax.lax.rsqrt", "jax.lax.slice_in_dim")


class LayerNorm(nnx.Module):
  """Layer norm over the last axis, written with jnp mean/var."""

  def __init__(self, dim: int, eps: float = 1e-5):
    self.scale = nnx.Param(jnp.ones((dim,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((dim,), jnp.float32))
    self.eps = eps

  def __call__(self, x):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...] + self.bias[...]


class SelfAttention(nnx.Module):

  def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
    self.heads = heads
    self.head_dim = dim // heads
    self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
    self.proj = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, x):
    b, t, d = x.shape                       # b may be symbolic
    qkv = self.qkv(x)
    # lax.slice_in_dim is one `slice` (an ONNX Slice). jnp indexing such as
    # qkv[..., :d] of an array with a symbolic batch dim lowers to a `gather`
    # instead (a chain of index arithmetic and GatherND in ONNX).
    q, k, v = (jax.lax.slice_in_dim(qkv, i * d, (i + 1) * d, axis=-1)
               .reshape(b, t, self.heads, self.head_dim) for i in range(3))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(float(self.head_dim))
    weights = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d)
    return self.proj(out)


class TransformerBlock(nnx.Module):

  def __init__(self, dim: int, heads: int, mlp_dim: int, *, rngs: nnx.Rngs):
    self.ln1 = LayerNorm(dim)
    self.attn = SelfAttention(dim, heads, rngs=rngs)
    self.ln2 = LayerNorm(dim)
    self.fc1 = nnx.Linear(dim, mlp_dim, rngs=rngs)
    self.fc2 = nnx.Linear(mlp_dim, dim, rngs=rngs)

  def __call__(self, x):
    x = x + self.attn(self.ln1(x))
    return x + self.fc2(jax.nn.gelu(self.fc1(self.ln2(x))))


def make_model() -> TransformerBlock:
  return TransformerBlock(DIM, HEADS, MLP_DIM, rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("transformer_block", make_model(), INPUT_SPEC, path,
                             verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
