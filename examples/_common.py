"""Shared driver of the examples: export, save, run in ONNX Runtime, compare."""
from __future__ import annotations

import collections
import os
import tempfile
import time

import jax
import numpy as np

import jax_onnx
from jax_onnx.testing import op_types

RTOL = ATOL = 1e-4
BATCHES = (2, 7)


def default_path(name: str) -> str:
  return os.path.join(tempfile.mkdtemp(prefix="jax_onnx_example_"), f"{name}.onnx")


def make_input(rng: np.random.Generator, spec: jax.ShapeDtypeStruct, batch: int,
               high: int | None = None) -> np.ndarray:
  """An input for `spec` with its symbolic dims set to `batch`: standard normal
  floats, or integers in [0, high) (valid token ids) for an integer dtype."""
  shape = tuple(batch if not isinstance(d, int) else d for d in spec.shape)
  dtype = np.dtype(spec.dtype)
  if np.issubdtype(dtype, np.integer):
    if high is None:
      raise ValueError(f"an integer input {spec} needs `high` (e.g. the vocabulary size)")
    return rng.integers(0, high, shape).astype(dtype)
  return rng.standard_normal(shape).astype(dtype)


def run_example(name: str, model, spec: jax.ShapeDtypeStruct, path: str | None = None,
                batches=BATCHES, verbose: bool = True, high: int | None = None) -> dict:
  """Exports `model` for `spec` (symbolic batch 'B'), saves it to `path`, runs
  it in ONNX Runtime at each batch size and compares with JAX (integer inputs
  are drawn in [0, high)). Raises AssertionError on a mismatch; returns a
  summary dict."""
  path = path or default_path(name)
  t0 = time.perf_counter()
  exported = jax_onnx.transform(model).lower(spec)
  proto = exported.model            # serialised lazily: count it in the export time
  export_seconds = time.perf_counter() - t0
  exported.save(path)

  ops = op_types(proto)
  histogram = dict(sorted(collections.Counter(ops).items(), key=lambda kv: (-kv[1], kv[0])))
  param_bytes = sum(a.nbytes for a in exported.graph.initializers.values())
  rng = np.random.default_rng(0)
  errors = {}
  reference = jax.jit(model)    # one XLA compilation per batch size, not one per op
  for batch in batches:
    x = make_input(rng, spec, batch, high)
    actual = np.asarray(exported(x))
    expected = np.asarray(reference(x))
    errors[batch] = float(np.max(np.abs(actual.astype(np.float64) - expected)))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL,
                               err_msg=f"{name}: ONNX Runtime vs JAX at batch {batch}")
  summary = {"name": name, "path": path, "nodes": len(ops), "ops": histogram,
             "param_bytes": param_bytes, "export_seconds": export_seconds,
             "max_abs_error": errors}
  if verbose:
    print_summary(summary)
  return summary


def print_summary(s: dict) -> None:
  print(f"== {s['name']}: saved to {s['path']}")
  print(f"   nodes: {s['nodes']}")
  print("   ops:   " + ", ".join(f"{k} x{v}" for k, v in s["ops"].items()))
  print(f"   parameter bytes: {s['param_bytes']:,}")
  print(f"   export seconds:  {s['export_seconds']:.3f}")
  for batch, err in s["max_abs_error"].items():
    print(f"   batch {batch}: max abs error {err:.3g}")


def randomize_batch_norms(model, seed: int = 1) -> None:
  """Gives every nnx.BatchNorm in `model` non-trivial running statistics and
  affine parameters: fresh ones (mean 0, var 1, scale 1, bias 0) are the
  identity up to eps, so an export that dropped them would still match."""
  from flax import nnx
  key = jax.random.key(seed)
  for _, module in nnx.iter_modules(model):
    if isinstance(module, nnx.BatchNorm):
      key, k_mean, k_var, k_scale, k_bias = jax.random.split(key, 5)
      shape = module.mean.shape
      module.mean[...] = 0.5 * jax.random.normal(k_mean, shape)
      module.var[...] = jax.random.uniform(k_var, shape, minval=0.5, maxval=2.0)
      module.scale[...] = 1.0 + 0.2 * jax.random.normal(k_scale, shape)
      module.bias[...] = 0.2 * jax.random.normal(k_bias, shape)
