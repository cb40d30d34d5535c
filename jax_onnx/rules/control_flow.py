"""Control flow as ONNX subgraphs: cond/switch -> If, while -> Loop, scan -> Scan/Loop.

Each body is a sub-jaxpr evaluated compositionally under a fresh OnnxTrace
that builds the ONNX subgraph (trace.trace_subgraph). Values from outside a
body (weights, loop constants, xs) are read by name from the enclosing scope,
never copied into the subgraph. A scan stays one Loop whatever its length: the
graph does not grow with the number of iterations.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx.registry import register_rule
from jax_onnx.trace import OnnxTracer, trace_subgraph

_I64 = np.dtype(np.int64)
_LOOP_COUNTERS = [_compat.ShapedArray((), _I64), _compat.ShapedArray((), np.dtype(np.bool_))]


def _body(closed_jaxpr, *args):
  """Evaluates a sub-jaxpr on the current (sub)trace."""
  return _compat.eval_jaxpr(closed_jaxpr.jaxpr, closed_jaxpr.consts, *args)


# ---------------------------------------------------------------------------
# cond / switch -> If

@register_rule(P.cond_p, family="control_flow", higher_order=True, onnx_ops=["If"])
def _cond(trace, tracers, *, branches, **params):
  del params
  index, operands = tracers[0], tracers[1:]
  if index.const is not None:   # the branch is known at export time: splice it
    return trace.eval_jaxpr(branches[int(index.const)], operands)
  return _switch(trace, index, list(branches), operands, 0)


def _switch(trace, index, branches, operands, first):
  """If(index == first) then branches[0] else (the others): nested for switch."""
  if len(branches) == 1:
    return trace.eval_jaxpr(branches[0], operands)
  b = trace.builder
  idx = trace.materialize(trace.lift(index))
  is_first = b.op("Equal", idx, b.const(np.asarray(first, index.aval.dtype)))
  then_graph, out_avals = trace_subgraph(
      trace, "then", lambda sub: _body(branches[0], *operands), [])
  else_graph, _ = trace_subgraph(
      trace, "else", lambda sub: _switch(sub, index, branches[1:], operands, first + 1), [])
  names = b.op("If", is_first, outputs=len(out_avals), then_branch=then_graph,
               else_branch=else_graph)
  return trace.typed_outputs(names, out_avals)


# ---------------------------------------------------------------------------
# while -> Loop (no trip count; the condition is re-evaluated in the body)

def _any(trace, pred):
  """A batched condition (vmap of a while loop) keeps the loop running while
  any element holds."""
  return trace.call_jax(jnp.any, pred) if pred.aval.shape else pred


def _select_running(pred, new, old):
  # ... and only the elements whose condition holds take the body's update
  # (as XLA lowers a while with a batched predicate).
  expand = lambda p, x: p.reshape(p.shape + (1,) * (x.ndim - p.ndim))
  return [jnp.where(expand(pred, n), n, o) for n, o in zip(new, old)]


@register_rule(P.while_p, family="control_flow", higher_order=True, onnx_ops=["Loop"])
def _while(trace, tracers, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
  cond_consts = tracers[:cond_nconsts]
  body_consts = tracers[cond_nconsts:cond_nconsts + body_nconsts]
  init = tracers[cond_nconsts + body_nconsts:]
  (keep_going,) = trace.eval_jaxpr(cond_jaxpr, cond_consts + init)
  batched = bool(keep_going.aval.shape)
  keep_going = trace.lift(_any(trace, keep_going))
  if keep_going.const is not None and not keep_going.const:
    return init   # the loop never runs

  def body(sub, i, cond, *carry):
    del i, cond
    new_carry = _body(body_jaxpr, *body_consts, *carry)
    if batched:
      (running,) = _body(cond_jaxpr, *cond_consts, *carry)
      new_carry = sub.call_jax(_select_running, running, new_carry, list(carry))
    (again,) = _body(cond_jaxpr, *cond_consts, *new_carry)
    return [_any(sub, again), *new_carry]

  graph, _ = trace_subgraph(trace, "while_body", body,
                            _LOOP_COUNTERS + [t.aval for t in init])
  names = trace.builder.op("Loop", None, trace.materialize(keep_going),
                           *[trace.materialize(t) for t in init],
                           outputs=len(init), body=graph)
  return trace.typed_outputs(names, [t.aval for t in init])


# ---------------------------------------------------------------------------
# scan -> ONNX Scan when it has xs (measured faster than Loop in ONNX Runtime:
# benchmarks/bench_scan_loop.py), else Loop with a trip count.

# "auto": Scan when there are xs, Loop otherwise; "loop": always Loop (benchmarks).
SCAN_LOWERING = "auto"


@register_rule(P.scan_p, family="control_flow", higher_order=True, onnx_ops=["Scan", "Loop"])
def _scan(trace, tracers, *, jaxpr, length, reverse, num_consts, num_carry, **params):
  del params   # unroll, linear, _split_transpose: no effect on the values
  consts = tracers[:num_consts]
  init = tracers[num_consts:num_consts + num_carry]
  xs = tracers[num_consts + num_carry:]
  y_avals = jaxpr.out_avals[num_carry:]
  stacked = [a.update(shape=(length, *a.shape)) for a in y_avals]
  out_avals = [t.aval for t in init] + stacked
  if xs and SCAN_LOWERING == "auto":
    names = _scan_as_onnx_scan(trace, jaxpr, consts, init, xs, reverse, len(y_avals))
  else:
    names = _scan_as_loop(trace, jaxpr, consts, init, xs, length, reverse, len(y_avals))
  return trace.typed_outputs(names, out_avals)


def _scan_as_onnx_scan(trace, jaxpr, consts, init, xs, reverse, num_ys):
  """ONNX Scan slices the xs and stacks the ys itself; direction 1 walks the
  xs backwards and prepends the ys, which is JAX's reverse=True."""
  row_avals = [x.aval.update(shape=x.aval.shape[1:]) for x in xs]

  def body(sub, *args):
    carry, x_t = args[:len(init)], args[len(init):]
    return _body(jaxpr, *consts, *carry, *x_t)

  graph, _ = trace_subgraph(trace, "scan_body", body, [t.aval for t in init] + row_avals)
  direction = 1 if reverse else 0
  names = trace.builder.op(
      "Scan", *[trace.materialize(t) for t in init], *[trace.materialize(x) for x in xs],
      outputs=len(init) + num_ys, body=graph, num_scan_inputs=len(xs),
      scan_input_directions=[direction] * len(xs) if reverse else None,
      scan_output_directions=[direction] * num_ys if reverse and num_ys else None)
  return names if isinstance(names, list) else [names]


def _scan_as_loop(trace, jaxpr, consts, init, xs, length, reverse, num_ys):
  """Loop with a trip count: xs Gathered per step, ys stacked by the Loop."""
  b = trace.builder
  if _compat.is_symbolic_dim(length):
    trip = trace.export.dims.scalar(length, _I64)
  else:
    trip = b.const(np.asarray(int(length), _I64))
  last = b.op("Sub", trip, b.const(np.asarray(1, _I64))) if reverse else None
  x_names = [trace.materialize(x) for x in xs]

  def body(sub, i, cond, *carry):
    del cond
    sb = sub.builder
    step = sb.op("Sub", last, i.value) if reverse else i.value
    x_t = [OnnxTracer(sub, x.aval.update(shape=x.aval.shape[1:]),
                      sb.op("Gather", name, step, axis=0))
           for x, name in zip(xs, x_names)]
    outs = _body(jaxpr, *consts, *carry, *x_t)
    keep_going = OnnxTracer(sub, _LOOP_COUNTERS[1], None, np.asarray(True))
    return [keep_going, *outs]

  graph, _ = trace_subgraph(trace, "scan_body", body,
                            _LOOP_COUNTERS + [t.aval for t in init])
  names = b.op("Loop", trip, None, *[trace.materialize(t) for t in init],
               outputs=len(init) + num_ys, body=graph)
  names = names if isinstance(names, list) else [names]
  carry_out, ys = names[:len(init)], names[len(init):]
  if reverse:   # Loop stacked the ys in iteration order: flip them
    flip = [b.const(np.asarray([-1], _I64)), b.const(np.asarray([np.iinfo(np.int64).min], _I64)),
            b.const(np.asarray([0], _I64)), b.const(np.asarray([-1], _I64))]
    ys = [b.op("Slice", y, *flip) for y in ys]
  return carry_out + ys


# ---------------------------------------------------------------------------
# Test cases (static and dynamic batch, like every case).

def _cases():
  import jax
  import jax.numpy as jnp
  from jax import lax

  from jax_onnx.registry import Spec, case

  rng = np.random.default_rng(7)
  w = rng.standard_normal((3, 3)).astype(np.float32) / 2
  X = ("B", 3)

  # cond / switch
  case("cond_two_branches", lambda x: lax.cond(x.sum() > 0, lambda a: a * 2, lambda a: a - 1, x),
       X, covers="cond", expect_ops=("If",))
  case("cond_pytree_and_weights", lambda x: lax.cond(
      jnp.mean(x) > 0, lambda a: {"y": jnp.tanh(a @ w), "n": a.sum()},
      lambda a: {"y": a * 0.5, "n": a.max()}, x), X, covers="cond")
  case("cond_per_example_vmap", jax.vmap(lambda r: lax.cond(r[0] > 0, jnp.sin, jnp.cos, r)), X,
       covers="cond")
  case("switch_three_branches", lambda i, x: lax.switch(
      i[0], [lambda a: a * 2, lambda a: a - 1, lambda a: jnp.sin(a)], x),
       Spec((1,), "int32", "int", 3), X, covers="cond")
  case("cond_constant_predicate", lambda x: lax.cond(True, jnp.sin, jnp.cos, x), X,
       covers="cond", forbid_ops=("If",))

  # while / fori_loop
  def newton_sqrt(x):
    def body(c):
      y, it = c
      return y - (y * y - x) / (2 * y), it + 1
    def cond(c):
      y, it = c
      return jnp.logical_and(jnp.max(jnp.abs(y * y - x)) > 1e-4 * jnp.max(x), it < 100)
    return lax.while_loop(cond, body, (x, 0))
  case("while_newton_to_tolerance", newton_sqrt, Spec(X, "float32", "positive"),
       covers="while", expect_ops=("Loop",))
  case("fori_loop_dynamic_bounds", lambda x, n: lax.fori_loop(0, n[0], lambda i, c: c * 0.9 + i, x),
       X, Spec((1,), "int32", "index", 6), covers="while")
  case("while_vmapped_batched_condition", jax.vmap(
      lambda v: lax.while_loop(lambda c: c[0] < 50, lambda c: (c[0] * 2 + 1, c[1] + 1), (v, 0))),
       Spec(("B",), "int32", "index", 40), covers="while")
  case("while_never_runs", lambda x: lax.while_loop(lambda c: c[1] < 0, lambda c: (c[0] * 2, c[1]),
                                                      (x, 1))[0], X, covers="while")

  # scan
  case("scan_carry_and_ys", lambda x: lax.scan(lambda c, a: (c + a, c * a), x[0], x), X,
       covers="scan", expect_ops=("Scan",))
  case("scan_reverse", lambda x: lax.scan(lambda c, a: (c * 0.5 + a, jnp.sin(c)), x[0], x,
                                          reverse=True), X, covers="scan")
  case("scan_consts_no_xs", lambda x: lax.scan(lambda c, _: (jnp.tanh(c @ w), c.sum()), x, None,
                                               length=4), X, covers="scan")
  case("fori_loop_static_bounds", lambda x: lax.fori_loop(0, 5, lambda i, c: c * 1.5 + i, x), X,
       covers="scan")
  case("scan_over_feature_axis", lambda x: lax.scan(lambda c, a: (c + a, c), jnp.zeros(x.shape[0]),
                                                     x.T)[1].T, X, covers="scan")
  case("scan_checkpointed_body", lambda x: lax.scan(jax.checkpoint(
      lambda c, a: (jnp.sin(c) + a, c)), x[0], x), X, covers="scan")
  case("vmap_of_scan", jax.vmap(lambda r: lax.scan(lambda c, a: (c * a + 1, c), 1.0, r)), X,
       covers="scan")
  case("nested_scan_in_cond_in_while", lambda x: lax.while_loop(
      lambda c: c[1] < 3,
      lambda c: (lax.cond(c[1] < 1,
                          lambda a: lax.scan(lambda s, t: (s + t, s), a[0], a)[1],
                          lambda a: a * 0.5, c[0]), c[1] + 1),
      (x, 0))[0], X, covers="while")

  case("nested_scan_cond_while_jit_scan", lambda x: lax.scan(
      jax.jit(lambda c, a: (lax.while_loop(
          lambda s: s[1] < 2,
          lambda s: (lax.cond(s[1] == 0, lambda v: lax.scan(lambda u, t: (u * 0.5 + t, u), v, a)[0],
                              jnp.tanh, s[0]), s[1] + 1),
          (c, 0))[0], c.sum())), x[0], x), X, covers="scan")

  # A bidirectional LSTM over time, batch-major input (B, T, F).
  lstm_w = rng.standard_normal((2, 3 + 4, 16)).astype(np.float32) * 0.3

  def lstm(xs, wd, reverse):
    def cell(carry, x_t):
      h, c = carry
      z = jnp.concatenate([x_t, h], axis=-1) @ wd
      i, f, g, o = jnp.split(z, 4, axis=-1)
      c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
      h = jax.nn.sigmoid(o) * jnp.tanh(c)
      return (h, c), h
    h0 = jnp.zeros((xs.shape[0], 4), xs.dtype)
    _, hs = lax.scan(cell, (h0, h0), jnp.swapaxes(xs, 0, 1), reverse=reverse)
    return jnp.swapaxes(hs, 0, 1)

  case("bidirectional_lstm", lambda xs: jnp.concatenate(
      [lstm(xs, lstm_w[0], False), lstm(xs, lstm_w[1], True)], axis=-1),
       ("B", 5, 3), covers="scan", rtol=1e-4, atol=1e-5)


_cases()
