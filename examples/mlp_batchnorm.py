"""An MLP with nnx.BatchNorm and nnx.Dropout in inference mode (running
statistics, no dropout), exported with a symbolic batch: input ('B', 20).

    python examples/mlp_batchnorm.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

INPUT_SPEC = jax.ShapeDtypeStruct(("B", 20), jnp.float32)
DESCRIPTION = ("An MLP with batch norm (running statistics) and dropout, both in "
               "inference mode, and gelu activations.")
COMPONENTS = ("nnx.Linear", "nnx.BatchNorm", "nnx.Dropout", "jax.nn.gelu")


class MLPBatchNorm(nnx.Module):

  def __init__(self, din: int, dhidden: int, dout: int, *, rngs: nnx.Rngs):
    self.fc1 = nnx.Linear(din, dhidden, rngs=rngs)
    self.bn1 = nnx.BatchNorm(dhidden, rngs=rngs)
    self.fc2 = nnx.Linear(dhidden, dhidden, rngs=rngs)
    self.bn2 = nnx.BatchNorm(dhidden, rngs=rngs)
    self.dropout = nnx.Dropout(0.3, rngs=rngs)
    self.out = nnx.Linear(dhidden, dout, rngs=rngs)

  def __call__(self, x):
    x = jax.nn.gelu(self.bn1(self.fc1(x)))
    x = jax.nn.gelu(self.bn2(self.fc2(x)))
    return self.out(self.dropout(x))


def make_model() -> MLPBatchNorm:
  model = MLPBatchNorm(20, 64, 10, rngs=nnx.Rngs(0))
  _common.randomize_batch_norms(model)
  model.eval()          # BatchNorm uses its running averages, Dropout is the identity
  return model


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("mlp_batchnorm", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
