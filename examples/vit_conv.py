"""A small Vision Transformer whose patch embedding is one nnx.Conv with
kernel = stride = 4 (the usual ViT stem); input ('B', 16, 16, 3).

    python examples/vit_conv.py [out.onnx]
"""
from __future__ import annotations

import os
import sys

from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common
import _vit

INPUT_SPEC = _vit.INPUT_SPEC
DESCRIPTION = ("A 2-layer Vision Transformer (dim 32, 4 heads) whose 4x4 patches are "
               "embedded by a strided nnx.Conv, with a class token and learned positions.")
COMPONENTS = ("nnx.Conv", "nnx.Linear", "nnx.Param", "nnx.LayerNorm",
              "nnx.MultiHeadAttention", "jax.nn.gelu", "jnp.concatenate")


def make_model() -> _vit.ViT:
  return _vit.ViT("conv", rngs=nnx.Rngs(0))


def main(path: str | None = None, verbose: bool = True) -> dict:
  return _common.run_example("vit_conv", make_model(), INPUT_SPEC, path, verbose=verbose)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else None)
