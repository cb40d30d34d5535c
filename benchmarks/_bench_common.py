"""Shared by the benchmark scripts: the machine's description and the examples."""
from __future__ import annotations

import importlib.util
import os
import platform

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES_DIR = os.path.join(os.path.dirname(HERE), "examples")
# Modules of examples/ that define make_model() and INPUT_SPEC.
EXAMPLES = ["mlp", "transformer_block"]


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
