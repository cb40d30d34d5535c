"""Shared by the benchmark scripts: the machine's description and the examples."""
from __future__ import annotations

import gc
import importlib.util
import os
import platform
import time

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


def time_in_rounds(fns, reps: int, rounds: int) -> list[list[list[int]]]:
  """Times `reps` single calls of each of `fns`, split into `rounds` rounds
  that alternate them (load from other processes then falls on all alike),
  with the garbage collector off. Returns, per fn, its calls' times in ns,
  one list per round."""
  per_round = max(1, reps // rounds)
  clock = time.perf_counter_ns
  samples: list[list[list[int]]] = [[] for _ in fns]
  gc_was_enabled = gc.isenabled()
  gc.collect()
  gc.disable()
  try:
    for _ in range(rounds):
      for fn, out in zip(fns, samples):
        times = []
        for _ in range(per_round):
          t0 = clock()
          fn()
          times.append(clock() - t0)
        out.append(times)
  finally:
    if gc_was_enabled:
      gc.enable()
  return samples


def all_calls(rounds: list[list[int]]) -> list[int]:
  return [t for r in rounds for t in r]


def round_ratio(a: list[list[int]], b: list[list[int]]) -> float:
  """Median over rounds of (a's median / b's median) in that round: the two
  ran back to back, so slow drifts in the machine's load cancel out."""
  import numpy as np
  return float(np.median([np.median(x) / np.median(y) for x, y in zip(a, b)]))
