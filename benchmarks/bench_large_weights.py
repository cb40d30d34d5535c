"""Large weights: export a model with GiBs of parameters, save it with external
data, load it in ONNX Runtime and run it; print peak memory against the
parameter bytes.

    python benchmarks/bench_large_weights.py            # 3 GiB of float32 weights
    python benchmarks/bench_large_weights.py --gib 0.5

Each stage runs in its own process, so each peak (ru_maxrss) is that stage's:
  export+save: build the weights, export, save (model.onnx + model.onnx.data);
  load+run:    ONNX Runtime loads the saved files and runs batch 2 and 5,
               checking the result against numpy.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _weights(gib: float, layers: int = 3):
  """`layers` square float32 matrices holding `gib` GiB in all (cheap to fill)."""
  n = int(np.sqrt(gib * 2**30 / 4 / layers))
  rng = np.random.default_rng(0)
  ws = []
  for _ in range(layers):
    w = np.empty((n, n), np.float32)
    for i in range(0, n, 4096):   # fill in row blocks: no second full-size temporary
      w[i:i + 4096] = rng.standard_normal((min(4096, n - i), n), np.float32) / np.sqrt(n)
    ws.append(w)
  return ws


def _peak_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_export(gib: float, path: str) -> dict:
  import jax
  import jax.numpy as jnp
  import jax_onnx
  ws = _weights(gib)
  param_bytes = sum(w.nbytes for w in ws)
  before = _peak_mib()

  def mlp(x):
    for w in ws:
      x = jnp.tanh(x @ w)
    return x

  t0 = time.perf_counter()
  exported = jax_onnx.transform(mlp).lower(jax.ShapeDtypeStruct(("B", ws[0].shape[0]), jnp.float32))
  t1 = time.perf_counter()
  exported.save(path, external_data=True)
  t2 = time.perf_counter()
  return dict(param_bytes=param_bytes, export_s=t1 - t0, save_s=t2 - t1,
              peak_mib=_peak_mib(), peak_before_export_mib=before,
              model_bytes=os.path.getsize(path), data_bytes=os.path.getsize(path + ".data"))


def stage_run(gib: float, path: str) -> dict:
  import onnxruntime as ort
  t0 = time.perf_counter()
  sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
  t1 = time.perf_counter()
  peak_after_load = _peak_mib()
  n = sess.get_inputs()[0].shape[1]
  errors = {}
  for b in (2, 5):
    x = np.random.default_rng(b).standard_normal((b, n), np.float32)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    errors[b] = y
  del sess
  ws = _weights(gib)   # after the session is gone: the reference in numpy
  for b, y in errors.items():
    x = np.random.default_rng(b).standard_normal((b, n), np.float32)
    for w in ws:
      x = np.tanh(x @ w)
    errors[b] = float(np.abs(y - x).max())
  return dict(load_s=t1 - t0, peak_after_load_mib=peak_after_load, max_abs_error=errors)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--gib", type=float, default=3.0)
  parser.add_argument("--stage", choices=["export", "run"])
  parser.add_argument("--path")
  args = parser.parse_args()
  if args.stage:
    fn = stage_export if args.stage == "export" else stage_run
    print(json.dumps(fn(args.gib, args.path)))
    return
  with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "model.onnx")
    results = {}
    for stage in ("export", "run"):
      out = subprocess.run([sys.executable, __file__, "--gib", str(args.gib), "--stage", stage,
                            "--path", path], check=True, capture_output=True, text=True)
      results[stage] = json.loads(out.stdout.strip().splitlines()[-1])
  e, r = results["export"], results["run"]
  gib = e["param_bytes"] / 2**30
  print(f"parameters: {gib:.2f} GiB ({e['param_bytes']:,} bytes)")
  print(f"export: {e['export_s']:.2f} s, save: {e['save_s']:.2f} s "
        f"(model.onnx {e['model_bytes']:,} B, model.onnx.data {e['data_bytes']:,} B)")
  print(f"export+save peak RSS: {e['peak_mib'] / 1024:.2f} GiB = "
        f"{e['peak_mib'] * 2**20 / e['param_bytes']:.2f}x the parameter bytes "
        f"(weights built: {e['peak_before_export_mib'] / 1024:.2f} GiB before export)")
  print(f"ORT load: {r['load_s']:.2f} s, peak RSS after load {r['peak_after_load_mib'] / 1024:.2f} GiB"
        f" = {r['peak_after_load_mib'] * 2**20 / e['param_bytes']:.2f}x")
  print(f"max abs error vs numpy: {r['max_abs_error']}")


if __name__ == "__main__":
  main()
