"""A CNN with nnx.LayerNorm over channels, max pooling and nnx.Dropout
(inference: the identity), exported with a symbolic batch: input
('B', 28, 28, 1) NHWC -> logits ('B', 10).

    python examples/cnn_layernorm.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

INPUT_SPEC = jax.ShapeDtypeStruct(("B", 28, 28, 1), jnp.float32)
DESCRIPTION = ("A CNN with LayerNorm over channels, relu, 2x2 max pooling, strided "
               "convolution, and dropout (inference mode) before the classifier.")
COMPONENTS = ("nnx.Conv", "nnx.LayerNorm", "jax.nn.relu", "nnx.max_pool", "nnx.Dropout",
              "nnx.Linear")


class ConvNorm(nnx.Module):
  """Conv -> LayerNorm (over channels) -> relu."""

  def __init__(self, cin: int, cout: int, *, strides: int = 1, rngs: nnx.Rngs):
    self.conv = nnx.Conv(cin, cout, (3, 3), strides=strides, rngs=rngs)
    self.norm = nnx.LayerNorm(cout, rngs=rngs)

  def __call__(self, x):
    return jax.nn.relu(self.norm(self.conv(x)))


class CNN(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs):
    self.block1 = ConvNorm(1, 8, rngs=rngs)
    self.block2 = ConvNorm(8, 16, rngs=rngs)
    self.block3 = ConvNorm(16, 16, strides=2, rngs=rngs)
    # Built for inference only: deterministic=True makes it the identity and
    # it holds no random key.
    self.dropout = nnx.Dropout(0.5, deterministic=True)
    self.head = nnx.Linear(4 * 4 * 16, 10, rngs=rngs)

  def __call__(self, x):
    x = nnx.max_pool(self.block1(x), (2, 2), strides=(2, 2))       # (B, 14, 14, 8)
    x = nnx.max_pool(self.block2(x), (2, 2), strides=(2, 2))       # (B, 7, 7, 16)
    x = self.block3(x)                                             # (B, 4, 4, 16)
    return self.head(self.dropout(x.reshape(x.shape[0], -1)))


def make_model() -> CNN:
  return CNN(rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("cnn_layernorm", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
