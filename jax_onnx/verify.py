"""Exported.verify(): the model against JAX, in ONNX Runtime with and without
its graph optimisations, after the full ONNX checker."""
from __future__ import annotations

import dataclasses
import zlib

import jax
import numpy as np
import onnx

from jax_onnx import _compat, runtime

DYNAMIC_SIZES = (2, 5)   # values given to every symbolic dimension when drawing inputs


@dataclasses.dataclass
class OutputError:
  run: str            # "ort-optimized" / "ort-unoptimized", and the input sizes
  output: str
  max_abs: float
  max_rel: float
  passed: bool


@dataclasses.dataclass
class VerifyResult:
  checker: str                     # "ok" or the checker's message
  outputs: list[OutputError]

  @property
  def passed(self) -> bool:
    return self.checker == "ok" and all(o.passed for o in self.outputs)

  def __bool__(self) -> bool:
    return self.passed

  def __str__(self) -> str:
    lines = [f"onnx.checker (full, strict shape inference): {self.checker}",
             "| run | output | max abs error | max rel error | ok |", "|---|---|---|---|---|"]
    lines += [f"| {o.run} | {o.output} | {o.max_abs:.3g} | {o.max_rel:.3g} | "
              f"{'yes' if o.passed else 'NO'} |" for o in self.outputs]
    lines.append(f"verification {'passed' if self.passed else 'FAILED'}")
    return "\n".join(lines)


def random_inputs(exported, size: int, seed: int = 0) -> list[np.ndarray]:
  """Inputs for the exported specs, every symbolic dimension variable = `size`."""
  env = {}
  for aval in exported.in_avals:
    for d in aval.shape:
      for var in _compat.dim_vars(d):
        env[var] = size
  rng = np.random.default_rng(zlib.crc32(f"{seed}/{size}".encode()))
  leaves = []
  for aval in exported.in_avals:
    shape = tuple(int(d._evaluate(env)) if _compat.is_symbolic_dim(d) else int(d)
                  for d in aval.shape)
    dt = np.dtype(aval.dtype)
    if dt == np.bool_:
      leaves.append(rng.random(shape) < 0.5)
    elif dt.kind in "iu":
      leaves.append(rng.integers(0 if dt.kind == "u" else -8, 9, shape).astype(dt))
    else:
      leaves.append(rng.standard_normal(shape).astype(dt))
  return leaves


def verify(exported, fn, args, rtol: float, atol: float) -> VerifyResult:
  try:
    onnx.checker.check_model(exported.model_proto(), full_check=True)
    checker = "ok"
  except Exception as e:   # noqa: BLE001 - report whatever the checker says
    checker = f"{type(e).__name__}: {e}"
  if args:
    input_sets = [("given inputs", list(args))]
  else:
    dynamic = any(_compat.is_symbolic_dim(d) for a in exported.in_avals for d in a.shape)
    sizes = DYNAMIC_SIZES if dynamic else (None,)
    input_sets = [(f"random inputs, dims={s}" if s else "random inputs",
                   jax.tree_util.tree_unflatten(exported.in_tree, random_inputs(exported, s or 1)))
                  for s in sizes]
  sessions = {"ort-optimized": exported.session(),
              "ort-unoptimized": runtime.create_session(exported, optimize=False)}
  results = []
  for label, inputs in input_sets:
    expected = jax.tree_util.tree_leaves(jax.jit(fn)(*inputs))
    feeds = exported.check_inputs(tuple(inputs))
    for run, sess in sessions.items():
      got = exported.run_feeds(feeds, session=sess)
      for name, a, e in zip(exported.output_names, got, expected):
        results.append(_compare(f"{run}, {label}", name, a, np.asarray(e), rtol, atol))
  return VerifyResult(checker, results)


def _compare(run, name, actual, expected, rtol, atol) -> OutputError:
  if actual.shape != expected.shape or actual.dtype != expected.dtype:
    return OutputError(run, name, float("inf"), float("inf"), False)
  if expected.dtype.kind in "biu":
    diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64)) if actual.size else [0]
    worst = float(np.max(diff)) if np.size(diff) else 0.0
    return OutputError(run, name, worst, worst, worst == 0)
  a = actual.astype(np.float64)
  e = expected.astype(np.float64)
  same_nan = np.array_equal(np.isnan(a), np.isnan(e))
  finite = np.isfinite(e) & np.isfinite(a)
  same_inf = np.array_equal(np.where(np.isinf(e), e, 0), np.where(np.isinf(a), a, 0))
  err = np.abs(a - e)[finite] if finite.any() else np.zeros(1)
  rel = err / np.maximum(np.abs(e[finite]), np.finfo(np.float64).tiny) if finite.any() else err
  ok = same_nan and same_inf and bool(np.all(err <= atol + rtol * np.abs(e[finite]))) \
      if finite.any() else same_nan and same_inf
  return OutputError(run, name, float(np.max(err)), float(np.max(rel)), ok)
