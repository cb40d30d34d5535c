"""Named jits as ONNX local functions (transform(..., named_jits="function")).

A `jax.jit`-decorated function called several times becomes one FunctionProto
and one call node per use: the model reads like the program. The body is traced
once per (jaxpr, input avals); the names it reads from the main graph (weights,
symbolic-dim arithmetic) become extra function inputs, since ONNX functions see
no outer scope.
"""
from __future__ import annotations

import dataclasses
import re

from jax_onnx import _compat
from jax_onnx.graph import Graph
from jax_onnx.trace import MISSING, OnnxTracer, trace_subgraph

DOMAIN = "jax_onnx.functions"


@dataclasses.dataclass
class LocalFunction:
  name: str
  graph: Graph
  captured: list[str]      # outer names passed as trailing inputs
  out_avals: list


def call_as_function(trace, name: str, closed_jaxpr, tracers) -> list[OnnxTracer]:
  export = trace.export
  key = (id(closed_jaxpr.jaxpr), tuple((t.aval.shape, t.aval.dtype) for t in tracers))
  entry = export.functions.get(key)
  if entry is None:
    fname = _unique(export, name)
    # trace_subgraph makes the new trace current while the body is evaluated.
    graph, out_avals = trace_subgraph(
        trace, fname,
        lambda _, *a: _compat.eval_jaxpr(closed_jaxpr.jaxpr, closed_jaxpr.consts, *a),
        [t.aval for t in tracers])
    captured = sorted(graph.free_names())
    entry = LocalFunction(fname, graph, captured, out_avals)
    export.functions[key] = (closed_jaxpr, entry)   # keep the jaxpr alive: ids stay unique
  else:
    entry = entry[1]
  if export.missing:
    return [OnnxTracer(trace, a, MISSING) for a in entry.out_avals]
  args = [trace.materialize(t) for t in tracers] + entry.captured
  outs = trace.builder.op(entry.name, *args, outputs=len(entry.out_avals), domain=DOMAIN)
  return trace.typed_outputs(outs, entry.out_avals)


def _unique(export, name: str) -> str:
  base = re.sub(r"[^A-Za-z0-9_]", "_", name or "jit") or "jit"
  taken = {e[1].name for e in export.functions.values()}
  candidate, i = base, 1
  while candidate in taken:
    candidate, i = f"{base}_{i}", i + 1
  return candidate


def all_functions(export) -> list[LocalFunction]:
  return [entry for _, entry in export.functions.values()]
