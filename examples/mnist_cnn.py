"""The classic MNIST CNN in Flax NNX, exported with a symbolic batch: input
('B', 28, 28, 1) NHWC -> log-probabilities ('B', 10).

    python examples/mnist_cnn.py [out.onnx]
"""
from __future__ import annotations

import os
import sys
from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

INPUT_SPEC = jax.ShapeDtypeStruct(("B", 28, 28, 1), jnp.float32)
DESCRIPTION = ("The classic MNIST CNN: two 3x3 convolutions with relu and 2x2 average "
               "pooling, then two Linear layers and log_softmax.")
COMPONENTS = ("nnx.Conv", "jax.nn.relu", "nnx.avg_pool", "jnp.reshape", "nnx.Linear",
              "jax.nn.log_softmax")


class CNN(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(1, 32, kernel_size=(3, 3), rngs=rngs)
    self.conv2 = nnx.Conv(32, 64, kernel_size=(3, 3), rngs=rngs)
    self.avg_pool = partial(nnx.avg_pool, window_shape=(2, 2), strides=(2, 2))
    self.linear1 = nnx.Linear(7 * 7 * 64, 256, rngs=rngs)
    self.linear2 = nnx.Linear(256, 10, rngs=rngs)

  def __call__(self, x):
    x = self.avg_pool(jax.nn.relu(self.conv1(x)))       # (B, 14, 14, 32)
    x = self.avg_pool(jax.nn.relu(self.conv2(x)))       # (B, 7, 7, 64)
    x = x.reshape(x.shape[0], -1)                       # flatten
    x = jax.nn.relu(self.linear1(x))
    return jax.nn.log_softmax(self.linear2(x))


def make_model() -> CNN:
  return CNN(rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("mnist_cnn", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
