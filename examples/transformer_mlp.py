"""The MLP half of a pre-LN transformer block (LayerNorm, Linear, gelu, Linear,
residual), exported with a symbolic batch: input ('B', 8, 32).

    python examples/transformer_mlp.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

SEQ, DIM, MLP_DIM = 8, 32, 128
INPUT_SPEC = jax.ShapeDtypeStruct(("B", SEQ, DIM), jnp.float32)
DESCRIPTION = "The MLP sub-block of a pre-LN transformer: LayerNorm, Linear, gelu, Linear, residual."
COMPONENTS = ("nnx.LayerNorm", "nnx.Linear", "jax.nn.gelu")


class TransformerMLP(nnx.Module):

  def __init__(self, dim: int, mlp_dim: int, *, rngs: nnx.Rngs):
    self.norm = nnx.LayerNorm(dim, rngs=rngs)
    self.fc1 = nnx.Linear(dim, mlp_dim, rngs=rngs)
    self.fc2 = nnx.Linear(mlp_dim, dim, rngs=rngs)

  def __call__(self, x):
    return x + self.fc2(jax.nn.gelu(self.fc1(self.norm(x))))


def make_model() -> TransformerMLP:
  return TransformerMLP(DIM, MLP_DIM, rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("transformer_mlp", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
