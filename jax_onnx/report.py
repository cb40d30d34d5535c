"""The export report: `exported.report()` -> Markdown. Also the model summaries
(signature, op histogram, initializer sizes) that `jax-onnx inspect` prints."""
from __future__ import annotations

import collections
import importlib.metadata
import os
import sys
import time

import numpy as np
import onnx

TOP_SOURCES = 10


# ---------------------------------------------------------------------------
# Facts about a ModelProto (also used by `jax-onnx inspect`).

def _dtype_name(elem_type: int) -> str:
  """numpy's name (float32, bfloat16, ...), or ONNX's for types numpy lacks."""
  try:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
  except (KeyError, TypeError, ValueError):
    return onnx.TensorProto.DataType.Name(elem_type).lower()


def value_signature(vi: onnx.ValueInfoProto) -> tuple[str, str, list]:
  """(name, dtype, dims): dims are ints, symbolic names, or '?' when unknown."""
  t = vi.type.tensor_type
  dims = [d.dim_param if d.HasField("dim_param") else
          d.dim_value if d.HasField("dim_value") else "?" for d in t.shape.dim]
  return vi.name, _dtype_name(t.elem_type), dims


def format_type(dtype: str, dims: list) -> str:
  return f"{dtype}[{', '.join(str(d) for d in dims)}]"


def walk_nodes(model: onnx.ModelProto):
  """Yields (where, node) for every node: where is 'graph', 'subgraph' (bodies
  of If/Loop/Scan) or 'function' (local function bodies, nested ones included)."""
  def walk(nodes, where):
    for node in nodes:
      yield where, node
      for attr in node.attribute:
        subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in subs:
          yield from walk(g.node, "subgraph" if where == "graph" else where)
  yield from walk(model.graph.node, "graph")
  for f in model.functions:
    yield from walk(f.node, "function")


def op_histogram(model: onnx.ModelProto) -> list[tuple[str, int]]:
  """(op type, count), most frequent first; custom-domain ops as 'domain.Op'."""
  counts = collections.Counter(
      f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
      for _, n in walk_nodes(model))
  return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _tensor_bytes(t: onnx.TensorProto) -> int:
  n = int(np.prod(t.dims, dtype=np.int64))
  try:
    itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
  except (KeyError, TypeError, ValueError):
    itemsize = 1
  if _dtype_name(t.data_type) in ("int4", "uint4", "float4_e2m1fn", "float4e2m1"):
    return (n + 1) // 2
  return n * itemsize


def initializer_stats(model: onnx.ModelProto) -> dict:
  """Count, values and bytes of the main graph's initializers (the model's
  weights and large constants), whether stored inline or as external data,
  and the external data files they reference."""
  inits = list(model.graph.initializer)
  external = collections.Counter()
  for t in inits:
    if t.data_location == onnx.TensorProto.EXTERNAL:
      info = {e.key: e.value for e in t.external_data}
      external[info.get("location", "?")] += 1
  by_dtype = collections.Counter()
  for t in inits:
    by_dtype[_dtype_name(t.data_type)] += _tensor_bytes(t)
  return {"count": len(inits),
          "values": sum(int(np.prod(t.dims, dtype=np.int64)) for t in inits),
          "bytes": sum(by_dtype.values()), "bytes_by_dtype": dict(by_dtype),
          "external_files": dict(external)}


def source_lines(model: onnx.ModelProto) -> tuple[int, int, list[tuple[str, int]]]:
  """(nodes with a JAX source location, all nodes, [(location, nodes)] most
  frequent first). The location is the node's metadata_props 'source'."""
  total, counts = 0, collections.Counter()
  for _, node in walk_nodes(model):
    total += 1
    src = next((p.value for p in node.metadata_props if p.key == "source"), None)
    if src and src != "unknown":
      counts[short_path(src)] += 1
  ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
  return sum(counts.values()), total, ranked


def short_path(location: str) -> str:
  """'/venv/.../site-packages/flax/nnx/x.py:4:2 (f)' -> 'flax/nnx/x.py:4:2 (f)';
  files under the working directory relative to it."""
  marker = "site-packages" + os.sep
  if marker in location:
    return location.split(marker, 1)[1]
  cwd = os.getcwd() + os.sep
  return location.removeprefix(cwd)


def human_bytes(n: int) -> str:
  for unit in ("B", "kB", "MB", "GB"):
    if n < 1000 or unit == "GB":
      return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
    n /= 1000
  return f"{n:.1f} GB"


def versions() -> dict[str, str]:
  import jax
  import onnxruntime

  import jax_onnx
  out = {"JAX": jax.__version__}
  try:
    out["jaxlib"] = importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    pass
  if "flax" in sys.modules:
    out["Flax"] = importlib.metadata.version("flax")
  out.update({"jax_onnx": jax_onnx.__version__, "ONNX": onnx.__version__,
              "ONNX Runtime": onnxruntime.__version__,
              "Python": sys.version.split()[0]})
  return out


# ---------------------------------------------------------------------------
# The report.

def _table(header: tuple, rows) -> list[str]:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return lines


def _proto_and_serialise_time(exported):
  """The model (weights inline when they fit in a protobuf) and the seconds
  its serialisation took, or None when the weights are referenced instead."""
  from jax_onnx import saving
  if exported.weight_bytes > saving.AUTO_EXTERNAL_BYTES:
    refs = {name: ("(external)", 0) for name in exported.graph.initializers}
    return exported.model_proto(external=refs), None, None
  t0 = time.perf_counter()
  proto = exported.model_proto()
  size = len(proto.SerializeToString())
  return proto, time.perf_counter() - t0, size


def report(exported, verify: bool = False) -> str:
  """The export report of `exported`, as Markdown. With `verify`, runs
  exported.verify() first if it has not run yet."""
  if verify and exported.verification is None:
    exported.verification = exported.verify()
  proto, serialise_seconds, size = _proto_and_serialise_time(exported)
  stats = exported.stats or {}
  out = ["# jax_onnx export report", ""]

  out += ["## Versions", ""]
  out += _table(("package", "version"), versions().items())

  out += ["", "## Model", ""]
  out.append(f"- ONNX opset {exported.opset}, IR version {proto.ir_version}")
  places = collections.Counter(where for where, _ in walk_nodes(proto))
  n_nodes = sum(places.values())
  out.append(f"- {n_nodes} nodes: {places['graph']} in the main graph, "
             f"{places['subgraph']} in control-flow subgraphs (If/Loop/Scan bodies), "
             f"{places['function']} in local functions ({len(proto.functions)} functions)")
  inits = initializer_stats(proto)
  dtypes = ", ".join(f"{d} {human_bytes(b)}" for d, b in sorted(inits["bytes_by_dtype"].items()))
  out.append(f"- parameters (initializers: weights and constants): {inits['values']:,} values "
             f"in {inits['count']} tensors, {inits['bytes']:,} bytes"
             + (f" ({dtypes})" if dtypes else ""))
  if size is not None:
    out.append(f"- serialised model: {size:,} bytes")

  out += ["", "## Inputs and outputs", ""]
  rows = []
  for kind, values in (("input", proto.graph.input), ("output", proto.graph.output)):
    for vi in values:
      name, dtype, dims = value_signature(vi)
      rows.append((kind, f"`{name}`", dtype, "[" + ", ".join(str(d) for d in dims) + "]"))
  out += _table(("", "name", "dtype", "shape"), rows)
  symbolic = sorted({d for *_, dims in map(value_signature, proto.graph.input)
                     for d in dims if isinstance(d, str)})
  if symbolic:
    out += ["", "Symbolic dimensions: " + ", ".join(f"`{d}`" for d in symbolic) + "."]

  out += ["", "## ONNX op histogram", "",
          ("Counts every node: the main graph, control-flow subgraphs (If/Loop/Scan "
          "bodies) and local function bodies."), ""]
  out += _table(("op", "nodes"), op_histogram(proto))

  out += ["", "## Components", ""]
  components = stats.get("components") or {}
  if components:
    rows = []
    for key, n in components.items():
      title, _, how = key.rpartition(" (")
      rows.append((f"`{title}`", how.rstrip(")"), n))
    out += [("Fused: one ONNX op for the whole component. Decomposed: exported as its "
            "primitives (the opset or dtype has no fused op, or components=False)."), ""]
    out += _table(("component", "exported as", "calls"), rows)
  else:
    out.append("No jax.nn / flax.nnx components were routed in this export.")

  out += ["", "## Export time", ""]
  rows = []
  if "trace_seconds" in stats:
    rows.append(("tracing", f"{stats['trace_seconds']:.3f}",
                 f"{stats.get('primitives', '?')} primitives"))
  if "passes_seconds" in stats:
    before, after = stats.get("nodes_before"), stats.get("nodes_after")
    note = f"{before} -> {after} nodes" if before is not None else "optimize=False"
    rows.append(("optimisation passes", f"{stats['passes_seconds']:.3f}", note))
  if "save_seconds" in stats:
    rows.append(("saving", f"{stats['save_seconds']:.3f}", "model_proto + write"))
  elif serialise_seconds is not None:
    rows.append(("serialisation", f"{serialise_seconds:.3f}",
                 "measured by the report"))
  out += _table(("stage", "seconds", "notes"), rows)
  counters = {k: v for k, v in stats.items()
              if isinstance(v, int) and k not in ("primitives", "nodes_before", "nodes_after")}
  if counters:
    out += ["", "Pass counters: " + ", ".join(f"{k} {v}" for k, v in counters.items()) + "."]

  out += ["", "## Source locations", ""]
  located, total, ranked = source_lines(proto)
  out.append(f"{located} of {total} nodes carry their JAX source location (node metadata "
             "`source` = file:line:column (function), shown by Netron).")
  if ranked:
    out += ["", "Top source lines by node count:", ""]
    out += _table(("source", "nodes"),
                  [(f"`{loc}`", n) for loc, n in ranked[:TOP_SOURCES]])

  out += ["", "## Verification", ""]
  if exported.verification is not None:
    out += _verification(exported.verification)
  else:
    out.append("Not run (export with verify=True, or call report(verify=True)).")
  return "\n".join(out) + "\n"


def _verification(v) -> list[str]:
  out = [f"onnx.checker (full check, strict shape inference): {v.checker}", ""]
  out += _table(("run", "output", "max abs error", "max rel error", "ok"),
                [(o.run, f"`{o.output}`", f"{o.max_abs:.3g}", f"{o.max_rel:.3g}",
                  "yes" if o.passed else "**NO**") for o in v.outputs])
  out += ["", f"Verification {'passed' if v.passed else '**FAILED**'}."]
  return out


def write_report(exported, path, verify: bool = False) -> None:
  text = report(exported, verify=verify)
  with open(os.fspath(path), "w", encoding="utf-8") as f:
    f.write(text)
