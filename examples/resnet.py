"""A small ResNet in Flax NNX, exported with a symbolic batch: input
('B', 16, 16, 3) NHWC -> logits ('B', 10). A conv stem, three residual blocks
with nnx.BatchNorm in inference mode (the second strided, with a 1x1
projection shortcut), global average pooling and a Linear classifier.

    python examples/resnet.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

INPUT_SPEC = jax.ShapeDtypeStruct(("B", 16, 16, 3), jnp.float32)
DESCRIPTION = ("A small ResNet: conv stem, residual blocks with BatchNorm (running "
               "statistics), a strided block with a 1x1 projection shortcut, global "
               "average pooling, Linear classifier.")
COMPONENTS = ("nnx.Conv", "nnx.BatchNorm", "jax.nn.relu", "jnp.mean", "nnx.Linear")


class ResidualBlock(nnx.Module):

  def __init__(self, cin: int, cout: int, *, strides: int = 1, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(cin, cout, (3, 3), strides=strides, use_bias=False, rngs=rngs)
    self.bn1 = nnx.BatchNorm(cout, rngs=rngs)
    self.conv2 = nnx.Conv(cout, cout, (3, 3), use_bias=False, rngs=rngs)
    self.bn2 = nnx.BatchNorm(cout, rngs=rngs)
    self.shortcut = None                       # identity, or a projection to the new shape
    if strides != 1 or cin != cout:
      self.shortcut = nnx.data(nnx.Sequential(
          nnx.Conv(cin, cout, (1, 1), strides=strides, use_bias=False, rngs=rngs),
          nnx.BatchNorm(cout, rngs=rngs)))

  def __call__(self, x):
    y = jax.nn.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    return jax.nn.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs):
    self.stem = nnx.Conv(3, 8, (3, 3), use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(8, rngs=rngs)
    self.blocks = nnx.List([
        ResidualBlock(8, 8, rngs=rngs),
        ResidualBlock(8, 16, strides=2, rngs=rngs),   # (B, 8, 8, 16)
        ResidualBlock(16, 16, rngs=rngs),
    ])
    self.head = nnx.Linear(16, 10, rngs=rngs)

  def __call__(self, x):
    x = jax.nn.relu(self.bn(self.stem(x)))
    for block in self.blocks:
      x = block(x)
    return self.head(jnp.mean(x, axis=(1, 2)))       # global average pooling


def make_model() -> ResNet:
  model = ResNet(rngs=nnx.Rngs(0))
  _common.randomize_batch_norms(model)
  model.eval()          # BatchNorm uses its running averages
  return model


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("resnet", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
