"""Export time vs. jax.make_jaxpr, for functions of N primitives.

    python benchmarks/bench_export.py                       # N = 1000 5000 20000
    python benchmarks/bench_export.py --sizes 1000 50000 --repeat 3

Three shapes of function, each with ~N primitives:
  chain   x = tanh(x) * 1.01 + 0.1, repeated (3 primitives per step)
  wide    N/3 independent branches sin(x * c_k), summed (3 primitives per branch)
  jits    the chain, in jax.jit-ted chunks of 50 steps (150 primitives + 1 jit each)
  blocks  pre-LN transformer blocks written out in jnp (layer norms, einsum
          attention, gelu MLP; ~80 primitives each): the graph the pattern
          fusions and layout passes work on

For each: best-of-repeat wall time of `jax.make_jaxpr(f)(spec)` and of
`jax_onnx.transform(f).lower(spec)`, the time of building `.model` (the
ModelProto) and of serializing it, the time of the graph passes inside the
export (exported.stats['passes_seconds']), the ONNX node count, and the peak
tracemalloc memory of one export.

Columns: prims = exported.stats['primitives'] (every primitive bound on the
ONNX trace, including jnp's internal jit wrappers and the folded conversions of
Python scalars: ~8 per chain step); eqns = top-level equations of make_jaxpr's
jaxpr (3 per step: jnp's wrappers are inlined there); us/prim = export s / prims.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np

import jax_onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import cpu_model  # noqa: E402

SPEC = jax.ShapeDtypeStruct((8, 16), jnp.float32)
CHUNK_STEPS = 50


def make_chain(n: int):
  steps = max(1, n // 3)

  def chain(x):
    for _ in range(steps):
      x = jnp.tanh(x) * 1.01 + 0.1
    return x
  return chain


def make_wide(n: int):
  branches = max(1, n // 3)
  coeffs = [1.0 + k / branches for k in range(branches)]

  def wide(x):
    acc = jnp.sin(x * coeffs[0])
    for c in coeffs[1:]:
      acc = acc + jnp.sin(x * c)
    return acc
  return wide


def make_jits(n: int):
  steps = max(1, n // 3)

  @jax.jit
  def chunk(x):
    for _ in range(CHUNK_STEPS):
      x = jnp.tanh(x) * 1.01 + 0.1
    return x

  def rest(x, k):
    for _ in range(k):
      x = jnp.tanh(x) * 1.01 + 0.1
    return x

  def jits(x):
    full, extra = divmod(steps, CHUNK_STEPS)
    for _ in range(full):
      x = chunk(x)
    return rest(x, extra)
  return jits


def make_blocks(n: int):
  rng = np.random.default_rng(0)
  d, heads, hidden = 16, 2, 32
  w = {k: (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)
       for k, shape in (("qkv", (d, 3 * d)), ("proj", (d, d)), ("up", (d, hidden)),
                        ("down", (hidden, d)))}

  def layer_norm(x):
    mean = jnp.mean(x, -1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(jnp.var(x, -1, keepdims=True) + 1e-5)

  def block(x):                                   # x: (1, t, d)
    t = x.shape[1]
    q, k, v = (part.reshape(1, t, heads, d // heads)
               for part in jnp.split(layer_norm(x) @ w["qkv"], 3, axis=-1))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d // heads)
    att = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)
    x = x + att.reshape(1, t, d) @ w["proj"]
    return x + jax.nn.gelu(layer_norm(x) @ w["up"]) @ w["down"]

  def blocks(x):
    h = x[None]
    for _ in range(max(1, n // 80)):
      h = block(h)
    return h[0]
  return blocks


BUILDERS = {"chain": make_chain, "wide": make_wide, "jits": make_jits, "blocks": make_blocks}


def best_of(repeat: int, fn):
  best, result = float("inf"), None
  for _ in range(repeat):
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    best = min(best, time.perf_counter() - t0)
  return best, result


def measure(kind: str, n: int, repeat: int) -> dict:
  build = BUILDERS[kind]
  # A fresh function (and fresh inner jits) per trial: make_jaxpr and jit cache
  # traces per function object, which would otherwise time a cache hit.
  t_jaxpr, jaxpr = best_of(repeat, lambda: jax.make_jaxpr(build(n))(SPEC))
  t_export, t_model, t_ser = float("inf"), float("inf"), float("inf")
  t_passes = float("inf")
  exported = None
  for _ in range(repeat):
    onnx_fn = jax_onnx.transform(build(n))
    gc.collect()
    t0 = time.perf_counter()
    exported = onnx_fn.lower(SPEC)
    t1 = time.perf_counter()
    model = exported.model          # builds the ModelProto (cached afterwards)
    t2 = time.perf_counter()
    model.SerializeToString()
    t3 = time.perf_counter()
    t_export = min(t_export, t1 - t0)
    t_model = min(t_model, t2 - t1)
    t_ser = min(t_ser, t3 - t2)
    t_passes = min(t_passes, exported.stats["passes_seconds"])
  prims = exported.stats["primitives"]
  nodes = len(exported.model.graph.node)
  # Peak memory of one export, separately (tracemalloc slows Python down).
  onnx_fn = jax_onnx.transform(build(n))
  gc.collect()
  tracemalloc.start()
  onnx_fn.lower(SPEC)
  _, peak = tracemalloc.get_traced_memory()
  tracemalloc.stop()
  return dict(kind=kind, n=n, prims=prims, jaxpr_eqns=len(jaxpr.eqns),
              t_jaxpr=t_jaxpr, t_export=t_export, t_model=t_model, t_ser=t_ser,
              t_passes=t_passes, nodes=nodes, peak_mib=peak / 2**20)



def repeated_exports(kind: str, n: int, times: int) -> list[float]:
  """Memory still allocated (tracemalloc, MiB) after each of `times` exports of
  fresh functions of the same size: flat = nothing accumulates across exports."""
  tracemalloc.start()
  held = []
  for _ in range(times):
    exported = jax_onnx.transform(BUILDERS[kind](n)).lower(SPEC)
    exported.model
    del exported
    gc.collect()
    held.append(tracemalloc.get_traced_memory()[0] / 2**20)
  tracemalloc.stop()
  return held


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--repeated", type=int, default=5,
                  help="exports of a 5000-primitive chain for the memory-growth check "
                       "(0: skip)")
  ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
  ap.add_argument("--kinds", nargs="+", default=list(BUILDERS), choices=list(BUILDERS))
  ap.add_argument("--repeat", type=int, default=3)
  args = ap.parse_args(argv)

  print(f"# jax {jax.__version__}, jax_onnx {jax_onnx.__version__}, "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {cpu_model()}")
  print(f"# input {SPEC.shape} {SPEC.dtype}; best of {args.repeat}")
  # warm up JAX's caches (jnp's jitted ufuncs, dispatch) outside the timings
  for kind in args.kinds:
    measure(kind, 30, 1)
  header = (f"{'kind':6} {'N':>6} {'prims':>6} {'eqns':>6} {'make_jaxpr s':>12} {'export s':>9} "
            f"{'ratio':>6} {'us/prim':>8} {'.model s':>9} {'serialize s':>11} "
            f"{'passes s':>8} {'nodes':>6} {'peak MiB':>9}")
  print(header)
  print("-" * len(header))
  rows = []
  for kind in args.kinds:
    for n in args.sizes:
      r = measure(kind, n, args.repeat)
      rows.append(r)
      print(f"{kind:6} {n:>6} {r['prims']:>6} {r['jaxpr_eqns']:>6} {r['t_jaxpr']:>12.3f} {r['t_export']:>9.3f} "
            f"{r['t_export'] / r['t_jaxpr']:>6.2f} "
            f"{1e6 * r['t_export'] / r['prims']:>8.1f} {r['t_model']:>9.3f} "
            f"{r['t_ser']:>11.3f} {r['t_passes']:>8.3f} {r['nodes']:>6} "
            f"{r['peak_mib']:>9.1f}", flush=True)

  print("\n# linearity: export us per primitive at each size "
        "(flat = linear; last/first ratio)")
  for kind in args.kinds:
    per = [(r["n"], 1e6 * r["t_export"] / r["prims"]) for r in rows if r["kind"] == kind]
    cells = "  ".join(f"N={n}: {us:.1f}" for n, us in per)
    ratio = per[-1][1] / per[0][1] if len(per) > 1 else 1.0
    print(f"{kind:6} {cells}   last/first = {ratio:.2f}")
  print("\n# graph passes: us per primitive at each size (flat = linear)")
  for kind in args.kinds:
    per = [(r["n"], 1e6 * r["t_passes"] / r["prims"]) for r in rows if r["kind"] == kind]
    print(f"{kind:6} " + "  ".join(f"N={n}: {us:.1f}" for n, us in per))
  if args.repeated:
    held = repeated_exports("chain", 5000, args.repeated)
    print(f"\n# memory held after each of {args.repeated} exports of a 5000-step chain "
          "(MiB, tracemalloc): " + ", ".join(f"{m:.2f}" for m in held))
  return rows


if __name__ == "__main__":
  sys.exit(0 if main() is not None else 1)
