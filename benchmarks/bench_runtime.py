"""Steady-state inference latency: ONNX Runtime (the exported model) vs jax.jit.

    python benchmarks/bench_runtime.py                       # batches 1 32, 2000 reps
    python benchmarks/bench_runtime.py --reps 5000 --batches 1 8 32 --examples mlp

For each example model (examples/<name>.py exposing make_model() and
INPUT_SPEC, with a symbolic batch dimension 'B'):

  1. export it once with the symbolic batch: jax_onnx.transform(model).lower(INPUT_SPEC);
  2. at each batch size, build a random float input, check that ONNX Runtime
     and jax.jit(model) agree (rtol = atol = 1e-4), warm both up, then time
     single calls with time.perf_counter_ns:
       ort   exported.session().run(None, feeds)   (the session jax_onnx builds,
             with its default SessionOptions; no input checking or conversion)
       jax   jitted(x).block_until_ready()         (x already a device array;
             the module's weights are closed over, i.e. constants of the jit)
  3. report median and p90 in microseconds, ORT median / JAX median, and
     "by round": the median over rounds of each round's ORT/JAX ratio (the
     two runtimes of one round run back to back, so slow drifts in the
     machine's load cancel out of it).

With --ort-threads N, a second session of the same model with
intra_op_num_threads = N is timed too (extra columns), e.g. to see how much of
the ORT time is thread-pool overhead on a small or busy machine.

The repetitions are split into --rounds rounds that alternate ORT and JAX, so
that load from other processes on a shared machine hits both about equally.
The garbage collector is disabled while timing.

To benchmark another model, add its file name (without .py) to EXAMPLES: the
module must define make_model() and INPUT_SPEC with a symbolic first axis.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

import jax
import numpy as np

import jax_onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import (  # noqa: E402
    EXAMPLES, all_calls, cpu_model, load_example, make_input, round_ratio, time_in_rounds)

RTOL = ATOL = 1e-4



def concrete_shape(spec, batch: int) -> tuple[int, ...]:
  """The spec's shape with every symbolic dimension set to `batch`."""
  return tuple(d if isinstance(d, int) else batch for d in spec.shape)


def percentiles_us(samples_ns) -> tuple[float, float]:
  a = np.asarray(samples_ns, dtype=np.float64) / 1e3
  return float(np.median(a)), float(np.percentile(a, 90))


def session_with_threads(exported, intra_op_num_threads: int):
  """A second session of the same model, with jax_onnx's options except the
  number of intra-op threads (float32 models only: no bfloat16 boundary)."""
  import onnxruntime as ort
  opts = ort.SessionOptions()
  opts.log_severity_level = 3
  opts.intra_op_num_threads = intra_op_num_threads
  return ort.InferenceSession(exported.model.SerializeToString(), opts,
                              providers=["CPUExecutionProvider"])


def measure(name: str, module, batches, reps: int, warmup: int, rounds: int,
            seed: int = 0, ort_threads: int | None = None, opset: int | None = None
            ) -> list[dict]:
  model, spec = module.make_model(), module.INPUT_SPEC
  exported = jax_onnx.transform(model, **({"opset": opset} if opset else {})).lower(spec)
  sess = exported.session()
  opts = sess.get_session_options()
  sess_t = session_with_threads(exported, ort_threads) if ort_threads is not None else None
  (input_name,) = exported.input_names          # the examples take one array
  jitted = jax.jit(model)
  rng = np.random.default_rng(seed)
  rows = []
  for batch in batches:
    x = make_input(module, rng, batch)
    feeds = {input_name: x}
    x_dev = jax.device_put(x)

    # Correctness first: the raw session output against jax.jit.
    (ort_out,) = sess.run(None, feeds)
    jax_out = np.asarray(jitted(x_dev))
    np.testing.assert_allclose(ort_out, jax_out, rtol=RTOL, atol=ATOL,
                               err_msg=f"{name}: ORT vs jax.jit at batch {batch}")
    max_err = float(np.max(np.abs(ort_out.astype(np.float64) - jax_out)))
    if sess_t is not None:
      np.testing.assert_allclose(sess_t.run(None, feeds)[0], jax_out, rtol=RTOL, atol=ATOL)

    run_ort = lambda: sess.run(None, feeds)                     # noqa: E731
    run_jax = lambda: jitted(x_dev).block_until_ready()         # noqa: E731
    run_ort_t = (lambda: sess_t.run(None, feeds)) if sess_t else None  # noqa: E731
    for _ in range(warmup):
      run_ort()
      run_jax()
      if run_ort_t:
        run_ort_t()

    timed = time_in_rounds([run_ort, run_jax] + ([run_ort_t] if run_ort_t else []),
                           reps, rounds)
    ort_ns, jax_ns = all_calls(timed[0]), all_calls(timed[1])
    ort_t_ns = all_calls(timed[2]) if run_ort_t else []

    ort_med, ort_p90 = percentiles_us(ort_ns)
    jax_med, jax_p90 = percentiles_us(jax_ns)
    extra = {}
    if run_ort_t:
      t_med, t_p90 = percentiles_us(ort_t_ns)
      extra = dict(ort_threads=ort_threads, ort_t_median_us=t_med, ort_t_p90_us=t_p90,
                   ratio_t=t_med / jax_med)
    rows.append(dict(**extra,example=name, batch=batch, reps=len(ort_ns),
                     ort_median_us=ort_med, ort_p90_us=ort_p90,
                     jax_median_us=jax_med, jax_p90_us=jax_p90,
                     ratio=ort_med / jax_med, round_ratio=round_ratio(timed[0], timed[1]),
                     max_abs_error=max_err,
                     intra_op_num_threads=opts.intra_op_num_threads,
                     inter_op_num_threads=opts.inter_op_num_threads,
                     nodes=len(exported.model.graph.node)))
  return rows



class _OneOp:
  """The call floor: a one-op model (one Neg node / one XLA op) on (B, 30),
  timed like the examples. What either runtime costs per call before any
  real work: binding, dispatch, output allocation."""
  INPUT_SPEC = jax.ShapeDtypeStruct(("B", 30), np.float32)

  @staticmethod
  def make_model():
    return jax.numpy.negative


def _threads(n: int) -> str:
  return f"{n} (ORT default)" if n == 0 else str(n)


def print_table(rows: list[dict]) -> None:
  threads = rows[0].get("ort_threads") if rows else None
  header = (f"{'example':18} {'batch':>5} {'reps':>6} {'ORT med us':>10} {'ORT p90 us':>10} "
            f"{'JAX med us':>10} {'JAX p90 us':>10} {'ORT/JAX':>7} {'by round':>8} "
            f"{'max abs err':>11}")
  if threads is not None:
    header += f" {'ORT' + str(threads) + 't med':>11} {'ORT' + str(threads) + 't p90':>11} {'/JAX':>5}"
  print(header)
  print("-" * len(header))
  for r in rows:
    line = (f"{r['example']:18} {r['batch']:>5} {r['reps']:>6} {r['ort_median_us']:>10.1f} "
            f"{r['ort_p90_us']:>10.1f} {r['jax_median_us']:>10.1f} {r['jax_p90_us']:>10.1f} "
            f"{r['ratio']:>7.2f} {r['round_ratio']:>8.2f} {r['max_abs_error']:>11.2g}")
    if threads is not None:
      line += f" {r['ort_t_median_us']:>11.1f} {r['ort_t_p90_us']:>11.1f} {r['ratio_t']:>5.2f}"
    print(line, flush=True)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--reps", type=int, default=2000,
                  help="timed calls per (example, batch, runtime); default 2000")
  ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
  ap.add_argument("--warmup", type=int, default=50, help="untimed calls first; default 50")
  ap.add_argument("--rounds", type=int, default=20,
                  help="alternating ORT/JAX rounds the reps are split into; default 20")
  ap.add_argument("--examples", nargs="+", default=EXAMPLES,
                  help=f"modules of examples/ (default: {' '.join(EXAMPLES)})")
  ap.add_argument("--ort-threads", type=int, default=None, metavar="N",
                  help="also time a second ORT session with intra_op_num_threads=N "
                       "(extra columns ORTNt); off by default")
  ap.add_argument("--opset", type=int, default=None,
                  help="ONNX opset of the export (23 fuses Attention); jax_onnx's default")
  ap.add_argument("--no-floor", dest="floor", action="store_false",
                  help="skip timing the one-op model (the per-call floor of each runtime)")
  args = ap.parse_args(argv)

  import onnxruntime as ort
  print(f"# jax {jax.__version__} ({jax.default_backend()}), onnxruntime {ort.__version__}, "
        f"jax_onnx {jax_onnx.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {cpu_model()}")
  rows = []
  threads = None
  for name in args.examples:
    module = load_example(name)
    rows += measure(name, module, args.batches, args.reps, args.warmup, args.rounds,
                    ort_threads=args.ort_threads, opset=args.opset)
    threads = (rows[-1]["intra_op_num_threads"], rows[-1]["inter_op_num_threads"])
  print(f"# ORT session options as jax_onnx sets them: intra_op_num_threads = "
        f"{_threads(threads[0])}, inter_op_num_threads = {_threads(threads[1])}; "
        f"CPUExecutionProvider")
  print(f"# opset {args.opset or jax_onnx.api.DEFAULT_OPSET}; {args.warmup} warm-up calls, then {args.reps} timed calls each in "
        f"{args.rounds} alternating rounds; times per call in microseconds\n")
  print_table(rows)
  if args.floor:
    floor = measure("(one op: x -> -x)", _OneOp, [1], args.reps, args.warmup, args.rounds)[0]
    print(f"\n# call floor, one op on (1, 30): ORT {floor['ort_median_us']:.1f} us, "
          f"jax.jit {floor['jax_median_us']:.1f} us (ratio {floor['round_ratio']:.2f} by "
          "round): below ~2x this, a ratio measures the binding, not the model")
  return rows


if __name__ == "__main__":
  sys.exit(0 if main() else 1)
