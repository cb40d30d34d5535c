"""Graph clean-up passes. Each is one linear walk over the nodes."""
from __future__ import annotations

from jax_onnx.graph import Graph, Node


def _node_reads(node: Node) -> set[str]:
  reads = set(node.inputs)
  for sub in node.subgraphs():
    reads |= sub.free_names()
  return reads


def eliminate_dead_code(graph: Graph) -> int:
  """Drops nodes whose outputs nothing reads (recursing into subgraphs) and,
  in the root graph, unused initializers. Returns the number of nodes removed."""
  live = {name for name, _, _ in graph.outputs}
  kept: list[Node] = []
  removed = 0
  for node in reversed(graph.nodes):
    if any(o in live for o in node.outputs):
      for sub in node.subgraphs():
        removed += eliminate_dead_code(sub)
      live |= _node_reads(node)
      kept.append(node)
    else:
      removed += 1
  kept.reverse()
  graph.nodes = kept
  if graph.parent is None:
    for name in [n for n in graph.initializers if n not in live]:
      del graph.initializers[name]
  graph.value_types = {k: v for k, v in graph.value_types.items() if k in live}
  return removed


def _rename(graph: Graph, renames: dict[str, str]) -> None:
  for node in graph.nodes:
    node.inputs = [renames.get(i, i) for i in node.inputs]
    node.outputs = [renames.get(o, o) for o in node.outputs]
    for sub in node.subgraphs():
      _rename(sub, renames)
  graph.outputs = [(renames.get(n, n), d, s) for n, d, s in graph.outputs]
  for old, new in renames.items():
    if old in graph.value_types:
      graph.value_types[new] = graph.value_types.pop(old)


def fold_output_identities(graph: Graph) -> None:
  """Gives graph outputs their names by renaming the producing node's output,
  instead of keeping the `Identity(v) -> output_name` nodes the trace emits."""
  produced_here = {o for node in graph.nodes for o in node.outputs}
  output_names = {name for name, _, _ in graph.outputs}
  renames: dict[str, str] = {}
  drop = set()
  for i, node in enumerate(graph.nodes):
    if (node.op_type == "Identity" and node.outputs[0] in output_names
        and node.inputs[0] in produced_here and node.inputs[0] not in output_names
        and node.inputs[0] not in renames):
      renames[node.inputs[0]] = node.outputs[0]
      drop.add(i)
  if not renames:
    return
  graph.nodes = [n for i, n in enumerate(graph.nodes) if i not in drop]
  _rename(graph, renames)


def run_default_passes(graph: Graph, functions=()) -> dict[str, int]:
  before = len(graph.nodes)
  removed = eliminate_dead_code(graph)
  for f in functions:   # function bodies keep their signature: only inner nodes go
    removed += eliminate_dead_code(f.graph)
  fold_output_identities(graph)
  return {"nodes_before": before, "dead_nodes_removed": removed,
          "nodes_after": len(graph.nodes)}
