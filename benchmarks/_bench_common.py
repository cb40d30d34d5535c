"""Shared by the benchmark scripts: the machine's description and the examples."""
from __future__ import annotations

import importlib.util
import os
import platform

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES_DIR = os.path.join(os.path.dirname(HERE), "examples")
# Modules of examples/ that define make_model() and INPUT_SPEC.
EXAMPLES = ["mlp", "mlp_batchnorm", "transformer_mlp", "transformer_block", "mnist_cnn",
            "cnn_layernorm", "conv_token_embedding", "patch_embedding", "vit_patches",
            "vit_conv", "gpt", "resnet"]


def make_input(module, rng, batch: int):
  """A random input for an example at `batch`: normal floats, or ids in
  [0, INPUT_HIGH) for an integer input (token ids)."""
  import numpy as np
  spec = module.INPUT_SPEC
  shape = tuple(d if isinstance(d, int) else batch for d in spec.shape)
  if np.issubdtype(np.dtype(spec.dtype), np.integer):
    return rng.integers(0, module.INPUT_HIGH, shape).astype(spec.dtype)
  return rng.standard_normal(shape).astype(spec.dtype)


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def load_example(name: str, examples_dir: str = EXAMPLES_DIR):
  """Imports examples/<name>.py by path (the examples are not a package)."""
  path = os.path.join(examples_dir, f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_bench_example_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
