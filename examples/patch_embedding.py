"""A ViT patch embedding: nnx.Conv with kernel = stride = patch size, the
reshape of its feature map into tokens, a prepended class token and a learned
position embedding; input ('B', 32, 32, 3) -> tokens ('B', 65, 48).

    python examples/patch_embedding.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

IMAGE, CHANNELS, PATCH, DIM = 32, 3, 4, 48
TOKENS = (IMAGE // PATCH) ** 2
INPUT_SPEC = jax.ShapeDtypeStruct(("B", IMAGE, IMAGE, CHANNELS), jnp.float32)
DESCRIPTION = ("A ViT patch embedding: a strided nnx.Conv (kernel = stride = patch), reshape "
               "to tokens, a class token and a learned position embedding.")
COMPONENTS = ("nnx.Conv", "jnp.reshape", "nnx.Param", "jnp.broadcast_to", "jnp.concatenate")


class PatchEmbedding(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs):
    self.proj = nnx.Conv(CHANNELS, DIM, (PATCH, PATCH), strides=(PATCH, PATCH),
                         padding="VALID", rngs=rngs)
    self.cls = nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, 1, DIM)))
    self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, TOKENS + 1, DIM)))

  def __call__(self, x):
    b = x.shape[0]                                     # symbolic
    tokens = self.proj(x).reshape(b, TOKENS, DIM)      # (B, H/P * W/P, DIM)
    cls = jnp.broadcast_to(self.cls[...], (b, 1, DIM))
    return jnp.concatenate([cls, tokens], axis=1) + self.pos[...]


def make_model() -> PatchEmbedding:
  return PatchEmbedding(rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("patch_embedding", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
