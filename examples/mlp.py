"""A Flax NNX MLP (30 -> 64 -> 64 -> 10), exported with a symbolic batch.

    python examples/mlp.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

INPUT_SPEC = jax.ShapeDtypeStruct(("B", 30), jnp.float32)
DESCRIPTION = "A three-layer perceptron with relu and gelu activations."
COMPONENTS = ("nnx.Linear", "jax.nn.relu", "jax.nn.gelu")


class MLP(nnx.Module):

  def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
    self.fc1 = nnx.Linear(din, dhidden, rngs=rngs)
    self.fc2 = nnx.Linear(dhidden, dhidden, rngs=rngs)
    self.out = nnx.Linear(dhidden, dout, rngs=rngs)

  def __call__(self, x):
    x = jax.nn.relu(self.fc1(x))
    x = jax.nn.gelu(self.fc2(x))
    return self.out(x)


def make_model() -> MLP:
  return MLP(30, 64, 10, rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("mlp", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
