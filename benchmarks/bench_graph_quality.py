"""Size and shape of the exported ONNX graphs of the examples.

    python benchmarks/bench_graph_quality.py
    python benchmarks/bench_graph_quality.py --examples mlp --opset 18

For each example model (examples/<name>.py exposing make_model() and
INPUT_SPEC), exported with its symbolic batch:

  nodes          ONNX nodes: main graph, local-function bodies, total
                 (subgraphs of control-flow nodes included)
  ops            histogram of op types over all of those nodes
  inits          number of initializers of the main graph
  param bytes    sum of the initializers' nbytes (as stored in the ModelProto);
                 bytes held by Constant nodes are reported separately
  file bytes     size of the file exported.save() writes (plus <file>.data, if any)
  file/param     file bytes / param bytes: the overhead of the graph, names,
                 value_info and metadata around the weights
  prims          exported.stats['primitives']: primitives bound on the ONNX trace
  before/after   exported.stats['nodes_before'] / ['nodes_after']: main-graph
                 nodes before and after the clean-up passes

Import-safe: `measure(model, spec, **transform_kwargs) -> dict` does one
example and has no side effects other than a temporary directory it removes.
To add a model, add its module name to EXAMPLES.
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

import jax_onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import EXAMPLES, load_example  # noqa: E402





def _walk_ops(graph, out: list) -> None:
  for node in graph.node:
    out.append(node)
    for attr in node.attribute:
      if attr.type == onnx.AttributeProto.GRAPH:
        _walk_ops(attr.g, out)
      for g in attr.graphs:
        _walk_ops(g, out)


def _constant_node_bytes(nodes) -> int:
  total = 0
  for node in nodes:
    if node.op_type != "Constant":
      continue
    for attr in node.attribute:
      if attr.type == onnx.AttributeProto.TENSOR:
        total += numpy_helper.to_array(attr.t).nbytes
  return total


def measure(model, spec, **transform_kwargs) -> dict:
  """Exports `model` for `spec` (a jax.ShapeDtypeStruct, shape tuple or a
  sequence of them for several inputs) and returns the graph's figures."""
  specs = spec if isinstance(spec, (list, tuple)) and spec and not isinstance(
      spec[0], (int, str)) else [spec]
  exported = jax_onnx.transform(model, **transform_kwargs).lower(*specs)
  proto = exported.model

  main_nodes: list = []
  _walk_ops(proto.graph, main_nodes)
  function_nodes: list = []
  for f in proto.functions:
    _walk_ops(f, function_nodes)
  all_nodes = main_nodes + function_nodes
  histogram = dict(sorted(collections.Counter(n.op_type for n in all_nodes).items(),
                          key=lambda kv: (-kv[1], kv[0])))

  param_bytes = sum(numpy_helper.to_array(t).nbytes for t in proto.graph.initializer)
  param_count = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)

  with tempfile.TemporaryDirectory(prefix="jax_onnx_bench_") as d:
    path = os.path.join(d, "model.onnx")
    exported.save(path)
    file_bytes = os.path.getsize(path)
    if os.path.exists(path + ".data"):
      file_bytes += os.path.getsize(path + ".data")

  stats = exported.stats
  return dict(
      nodes_main=len(main_nodes),
      nodes_functions=len(function_nodes),
      nodes=len(all_nodes),
      functions=len(proto.functions),
      op_histogram=histogram,
      op_types=len(histogram),
      initializers=len(proto.graph.initializer),
      param_count=param_count,
      param_bytes=param_bytes,
      constant_node_bytes=_constant_node_bytes(all_nodes),
      file_bytes=file_bytes,
      file_per_param_bytes=file_bytes / param_bytes if param_bytes else float("inf"),
      value_info=len(proto.graph.value_info),
      primitives=stats.get("primitives"),
      nodes_before_passes=stats.get("nodes_before"),
      nodes_after_passes=stats.get("nodes_after"),
      dead_nodes_removed=stats.get("dead_nodes_removed"),
      opset=exported.opset,
  )


def print_table(results: dict[str, dict]) -> None:
  cols = [("example", None, "s"), ("nodes", "nodes", "d"), ("main", "nodes_main", "d"),
          ("in fns", "nodes_functions", "d"), ("op types", "op_types", "d"),
          ("inits", "initializers", "d"), ("params", "param_count", ","),
          ("param bytes", "param_bytes", ","), ("const bytes", "constant_node_bytes", ","),
          ("file bytes", "file_bytes", ","), ("file/param", "file_per_param_bytes", ".3f"),
          ("prims", "primitives", "d"), ("before", "nodes_before_passes", "d"),
          ("after", "nodes_after_passes", "d")]
  table = [[c[0] for c in cols]]
  for name, r in results.items():
    row = [name]
    for _, key, fmt in cols[1:]:
      v = r[key]
      row.append("-" if v is None else format(v, fmt))
    table.append(row)
  widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
  for i, row in enumerate(table):
    cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
    print("  ".join(cells))
    if i == 0:
      print("  ".join("-" * w for w in widths))


def print_histograms(results: dict[str, dict]) -> None:
  for name, r in results.items():
    print(f"\n# {name}: op histogram ({r['nodes']} nodes, {r['op_types']} op types)")
    width = max(len(op) for op in r["op_histogram"])
    top = max(r["op_histogram"].values())
    for op, n in r["op_histogram"].items():
      bar = "#" * max(1, round(40 * n / top))
      print(f"  {op:{width}} {n:>5}  {bar}")


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--examples", nargs="+", default=EXAMPLES,
                  help=f"modules of examples/ (default: {' '.join(EXAMPLES)})")
  ap.add_argument("--opset", type=int, default=None, help="ONNX opset (jax_onnx's default)")
  args = ap.parse_args(argv)
  kwargs = {} if args.opset is None else {"opset": args.opset}

  import jax
  print(f"# jax {jax.__version__}, onnx {onnx.__version__}, jax_onnx {jax_onnx.__version__}, "
        f"python {platform.python_version()}")
  results = {}
  for name in args.examples:
    module = load_example(name)
    results[name] = measure(module.make_model(), module.INPUT_SPEC, **kwargs)
  print(f"# opset {next(iter(results.values()))['opset']}; symbolic batch; "
        f"nodes = main graph + local functions\n")
  print_table(results)
  print_histograms(results)
  return results


if __name__ == "__main__":
  sys.exit(0 if main() else 1)
