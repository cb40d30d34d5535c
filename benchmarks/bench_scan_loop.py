"""ONNX Loop vs ONNX Scan for a JAX scan: which runs faster in ONNX Runtime?

jax_onnx can lower lax.scan to a Loop (trip count, xs Gathered per step, ys
stacked by the Loop) or to ONNX's Scan op. This exports the same recurrence,
h_t = tanh(h_{t-1} @ W + x_t @ U), y_t = h_t, both ways (jax_onnx's own
lowering, rules.control_flow.SCAN_LOWERING), a hand-built Scan as a cross-check,
checks all against JAX, and times them in alternating rounds.

    python benchmarks/bench_scan_loop.py [--steps 256] [--batch 8] [--hidden 64]
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import jax_onnx


def _session(model):
  return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def scan_model(w, u, steps, batch, hidden):
  """ONNX Scan over time-major xs (T, B, F)."""
  body = helper.make_graph(
      [helper.make_node("MatMul", ["h_in", "W"], ["hw"]),
       helper.make_node("MatMul", ["x_t", "U"], ["xu"]),
       helper.make_node("Add", ["hw", "xu"], ["pre"]),
       helper.make_node("Tanh", ["pre"], ["h_out"]),
       helper.make_node("Identity", ["h_out"], ["y_t"])],
      "body",
      [helper.make_tensor_value_info("h_in", T.FLOAT, [batch, hidden]),
       helper.make_tensor_value_info("x_t", T.FLOAT, [batch, u.shape[0]])],
      [helper.make_tensor_value_info("h_out", T.FLOAT, [batch, hidden]),
       helper.make_tensor_value_info("y_t", T.FLOAT, [batch, hidden])])
  graph = helper.make_graph(
      [helper.make_node("Scan", ["h0", "xs"], ["h", "ys"], body=body, num_scan_inputs=1)],
      "scan", [helper.make_tensor_value_info("h0", T.FLOAT, [batch, hidden]),
               helper.make_tensor_value_info("xs", T.FLOAT, [steps, batch, u.shape[0]])],
      [helper.make_tensor_value_info("h", T.FLOAT, [batch, hidden]),
       helper.make_tensor_value_info("ys", T.FLOAT, [steps, batch, hidden])],
      initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(u, "U")])
  m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
  m.ir_version = 10
  onnx.checker.check_model(m, full_check=True)
  return m


def time_session(sess, feeds, reps):
  sess.run(None, feeds)
  ts = []
  for _ in range(reps):
    t0 = time.perf_counter_ns()
    sess.run(None, feeds)
    ts.append((time.perf_counter_ns() - t0) / 1e3)
  return statistics.median(ts)


def main():
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--steps", type=int, default=256)
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--hidden", type=int, default=64)
  ap.add_argument("--reps", type=int, default=200)
  args = ap.parse_args()
  rng = np.random.default_rng(0)
  f_in, hidden = 32, args.hidden
  w = (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
  u = (rng.standard_normal((f_in, hidden)) / np.sqrt(f_in)).astype(np.float32)
  h0 = np.zeros((args.batch, hidden), np.float32)
  xs = rng.standard_normal((args.steps, args.batch, f_in)).astype(np.float32)

  def rnn(h0, xs):
    return jax.lax.scan(lambda h, x: (jnp.tanh(h @ w + x @ u),) * 2, h0, xs)

  from jax_onnx.rules import control_flow
  sessions = {}
  for lowering in ("loop", "auto"):
    control_flow.SCAN_LOWERING = lowering
    exported = jax_onnx.transform(rnn).lower(h0, xs)
    ops = {n.op_type for n in exported.model.graph.node}
    name = "Scan" if "Scan" in ops else "Loop"
    sessions[f"{name} (jax_onnx)"] = (exported.session(), exported.check_inputs((h0, xs)))
  control_flow.SCAN_LOWERING = "auto"
  sessions["Scan (by hand)"] = (_session(scan_model(w, u, args.steps, args.batch, hidden)),
                                {"h0": h0, "xs": xs})
  ref = jax.jit(rnn)(h0, xs)
  for name, (sess, feeds) in sessions.items():
    out = sess.run(None, feeds)
    for o, r in zip(out, ref):
      np.testing.assert_allclose(o, np.asarray(r), rtol=1e-4, atol=1e-5, err_msg=name)
  times = {name: [] for name in sessions}
  for _ in range(5):   # alternating rounds: background load hits every variant alike
    for name, (sess, feeds) in sessions.items():
      times[name].append(time_session(sess, feeds, max(1, args.reps // 5)))
  times = {name: statistics.median(ts) for name, ts in times.items()}
  jitted = jax.jit(rnn)
  jax.block_until_ready(jitted(h0, xs))
  ts = []
  for _ in range(args.reps):
    t0 = time.perf_counter_ns()
    jax.block_until_ready(jitted(h0, xs))
    ts.append((time.perf_counter_ns() - t0) / 1e3)
  t_jax = statistics.median(ts)
  print(f"# RNN scan: {args.steps} steps, batch {args.batch}, hidden {hidden}; "
        f"median over 5 alternating rounds of {args.reps // 5} runs (us)")
  base = times["Scan (jax_onnx)"]
  for name, t in times.items():
    print(f"{name:18} {t:10.1f}   /Scan(jax_onnx) = {t / base:.2f}")
  print(f"{'jax.jit':18} {t_jax:10.1f}   /Scan(jax_onnx) = {t_jax / base:.2f}")


if __name__ == "__main__":
  main()
