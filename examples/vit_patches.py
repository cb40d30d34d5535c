"""A small Vision Transformer whose patch embedding reshapes the image into
flattened 4x4 patches and applies nnx.Linear; input ('B', 16, 16, 3).

    python examples/vit_patches.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common
import _vit

INPUT_SPEC = _vit.INPUT_SPEC
DESCRIPTION = ("A 2-layer Vision Transformer (dim 32, 4 heads) on 4x4 patches cut by a "
               "reshape and embedded by nnx.Linear, with a class token and learned positions.")
COMPONENTS = ("jnp.reshape", "jnp.transpose", "nnx.Linear", "nnx.Param", "nnx.LayerNorm",
              "nnx.MultiHeadAttention", "jax.nn.gelu", "jnp.concatenate")


def make_model() -> _vit.ViT:
  return _vit.ViT("patches", rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("vit_patches", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
