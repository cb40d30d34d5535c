"""The small Vision Transformer shared by vit_conv.py and vit_patches.py: a
16x16x3 image, 4x4 patches (16 tokens + a class token), dim 32, 4 heads,
2 pre-LN layers with nnx.MultiHeadAttention, a linear classifier on the class
token. The two examples differ in the patch embedding (the stem)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

IMAGE, CHANNELS, PATCH, DIM, HEADS, LAYERS, CLASSES = 16, 3, 4, 32, 4, 2, 10
TOKENS = (IMAGE // PATCH) ** 2
INPUT_SPEC = jax.ShapeDtypeStruct(("B", IMAGE, IMAGE, CHANNELS), jnp.float32)


class ConvStem(nnx.Module):
  """Patch embedding as one convolution with kernel = stride = patch size."""

  def __init__(self, *, rngs: nnx.Rngs):
    self.conv = nnx.Conv(CHANNELS, DIM, (PATCH, PATCH), strides=(PATCH, PATCH),
                         padding="VALID", rngs=rngs)

  def __call__(self, x):
    y = self.conv(x)                                  # (B, H/P, W/P, DIM)
    return y.reshape(y.shape[0], TOKENS, DIM)


class PatchStem(nnx.Module):
  """Patch embedding as a reshape of the image into flattened patches, then a
  Linear layer (the same linear map as ConvStem, without a convolution)."""

  def __init__(self, *, rngs: nnx.Rngs):
    self.proj = nnx.Linear(PATCH * PATCH * CHANNELS, DIM, rngs=rngs)

  def __call__(self, x):
    b, n = x.shape[0], IMAGE // PATCH
    patches = x.reshape(b, n, PATCH, n, PATCH, CHANNELS).transpose(0, 1, 3, 2, 4, 5)
    return self.proj(patches.reshape(b, TOKENS, PATCH * PATCH * CHANNELS))


class EncoderBlock(nnx.Module):

  def __init__(self, *, rngs: nnx.Rngs):
    self.ln1 = nnx.LayerNorm(DIM, rngs=rngs)
    self.attn = nnx.MultiHeadAttention(num_heads=HEADS, in_features=DIM, decode=False,
                                       rngs=rngs)
    self.ln2 = nnx.LayerNorm(DIM, rngs=rngs)
    self.fc1 = nnx.Linear(DIM, 2 * DIM, rngs=rngs)
    self.fc2 = nnx.Linear(2 * DIM, DIM, rngs=rngs)

  def __call__(self, x):
    x = x + self.attn(self.ln1(x))
    return x + self.fc2(jax.nn.gelu(self.fc1(self.ln2(x))))


class ViT(nnx.Module):

  def __init__(self, stem: str, *, rngs: nnx.Rngs):
    self.stem = {"conv": ConvStem, "patches": PatchStem}[stem](rngs=rngs)
    self.cls = nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, 1, DIM)))
    self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, TOKENS + 1, DIM)))
    self.blocks = nnx.List([EncoderBlock(rngs=rngs) for _ in range(LAYERS)])
    self.norm = nnx.LayerNorm(DIM, rngs=rngs)
    self.head = nnx.Linear(DIM, CLASSES, rngs=rngs)

  def __call__(self, x):
    tokens = self.stem(x)
    cls = jnp.broadcast_to(self.cls[...], (tokens.shape[0], 1, DIM))
    x = jnp.concatenate([cls, tokens], axis=1) + self.pos[...]
    for block in self.blocks:
      x = block(x)
    return self.head(self.norm(x)[:, 0])
