"""A small GPT-style decoder: token ids ('B', 16) int32 -> logits ('B', 16, 64).
nnx.Embed for tokens, learned positions, two pre-LN blocks with causal
self-attention, a final LayerNorm and an output projection tied to the
token embedding.

    python examples/gpt.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

VOCAB, SEQ, DIM, HEADS, LAYERS = 64, 16, 32, 4, 2
INPUT_SPEC = jax.ShapeDtypeStruct(("B", SEQ), jnp.int32)
INPUT_HIGH = VOCAB            # inputs are token ids in [0, VOCAB)
DESCRIPTION = ("A GPT-style decoder: token and learned position embeddings, two pre-LN "
               "blocks with causal self-attention, logits tied to the token embedding.")
COMPONENTS = ("nnx.Embed", "nnx.Param", "nnx.LayerNorm", "nnx.Linear",
              "jax.nn.dot_product_attention(is_causal=True)", "jax.nn.gelu", "nnx.Embed.attend")


class CausalSelfAttention(nnx.Module):

  def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
    self.heads = heads
    self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
    self.proj = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, x):
    b, t, d = x.shape                       # b is symbolic
    q, k, v = jnp.split(self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads), 3, axis=2)
    # (B, T, 1, H, D/H) -> (B, T, H, D/H), the layout jax.nn.dot_product_attention takes
    out = jax.nn.dot_product_attention(q[:, :, 0], k[:, :, 0], v[:, :, 0], is_causal=True)
    return self.proj(out.reshape(b, t, d))


class Block(nnx.Module):

  def __init__(self, dim: int, heads: int, *, rngs: nnx.Rngs):
    self.ln1 = nnx.LayerNorm(dim, rngs=rngs)
    self.attn = CausalSelfAttention(dim, heads, rngs=rngs)
    self.ln2 = nnx.LayerNorm(dim, rngs=rngs)
    self.fc1 = nnx.Linear(dim, 4 * dim, rngs=rngs)
    self.fc2 = nnx.Linear(4 * dim, dim, rngs=rngs)

  def __call__(self, x):
    x = x + self.attn(self.ln1(x))
    return x + self.fc2(jax.nn.gelu(self.fc1(self.ln2(x))))


class GPT(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs):
    self.embed = nnx.Embed(VOCAB, DIM, rngs=rngs)
    self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (SEQ, DIM)))
    self.blocks = nnx.List([Block(DIM, HEADS, rngs=rngs) for _ in range(LAYERS)])
    self.ln_f = nnx.LayerNorm(DIM, rngs=rngs)

  def __call__(self, ids):
    x = self.embed(ids) + self.pos[...]
    for block in self.blocks:
      x = block(x)
    return self.embed.attend(self.ln_f(x))   # logits over the vocabulary


def make_model() -> GPT:
  return GPT(rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("gpt", make_model(), INPUT_SPEC, path, verbose=verbose,
                             high=INPUT_HIGH)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
