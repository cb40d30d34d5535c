"""A convolutional token embedding, as in speech front-ends (Whisper-style):
1-D convolutions over a feature sequence ('B', 32, 16) (e.g. 16 mel bins per
frame), the second one with stride 2, gelu, then LayerNorm -> ('B', 16, 32).

    python examples/conv_token_embedding.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

FRAMES, FEATURES, DIM = 32, 16, 32
INPUT_SPEC = jax.ShapeDtypeStruct(("B", FRAMES, FEATURES), jnp.float32)
DESCRIPTION = ("A speech-style convolutional token embedding: two 1-D convolutions over "
               "time (the second strided) with gelu, then LayerNorm.")
COMPONENTS = ("nnx.Conv (1-D)", "jax.nn.gelu", "nnx.LayerNorm")


class ConvTokenEmbedding(nnx.Module):

  def __init__(self, features: int, dim: int, *, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(features, dim, kernel_size=(3,), padding=1, rngs=rngs)
    self.conv2 = nnx.Conv(dim, dim, kernel_size=(3,), strides=2, padding=1, rngs=rngs)
    self.norm = nnx.LayerNorm(dim, rngs=rngs)

  def __call__(self, x):                       # (B, T, C): channels last
    x = jax.nn.gelu(self.conv1(x))
    x = jax.nn.gelu(self.conv2(x))             # (B, T/2, dim): one token per 2 frames
    return self.norm(x)


def make_model() -> ConvTokenEmbedding:
  return ConvTokenEmbedding(FEATURES, DIM, rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("conv_token_embedding", make_model(), INPUT_SPEC, path,
                             verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
