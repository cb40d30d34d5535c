"""Graph clean-up passes. Each is one linear walk over the nodes."""
from __future__ import annotations

import numpy as np

from jax_onnx.graph import Graph, Node
from jax_onnx.shapes import is_static, is_static_dim


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


# ---------------------------------------------------------------------------
# Simplification passes. Each builds its maps once and walks the nodes once.

# Ops that broadcast their inputs numpy-style and compute elementwise.
_BROADCASTING = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Where", "Equal", "Less",
    "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor", "PRelu",
}


def _freeze(value):
  if isinstance(value, np.ndarray):
    return ("array", value.dtype.str, value.shape, value.tobytes())
  if isinstance(value, (list, tuple)):
    return tuple(_freeze(v) for v in value)
  return value


def _consumers(graph: Graph) -> dict[str, int]:
  counts: dict[str, int] = {}
  for node in graph.nodes:
    for name in _node_reads(node):
      counts[name] = counts.get(name, 0) + 1
  for name, _, _ in graph.outputs:
    counts[name] = counts.get(name, 0) + 1
  return counts


def readers(graph: Graph, subgraphs: bool = False) -> dict[str, list[Node]]:
  """The nodes that read each value, each node once per value; with
  `subgraphs`, a node whose subgraphs read the value from outside too."""
  out: dict[str, list[Node]] = {}
  for node in graph.nodes:
    names = set(node.inputs)
    if subgraphs:
      for sub in node.subgraphs():
        names |= sub.free_names()
    for name in names:
      out.setdefault(name, []).append(node)
  return out


def known_types(graph: Graph) -> dict[str, tuple]:
  """(dtype, shape) of the values whose type the export recorded."""
  root = graph.root
  types = dict(graph.value_types)
  types.update({n: (d, s) for n, d, s in graph.inputs})
  types.update({n: (a.dtype, tuple(a.shape)) for n, a in root.initializers.items()})
  return types


def _const(graph: Graph, name: str):
  return graph.root.initializers.get(name)


def eliminate_common_subexpressions(graph: Graph) -> int:
  """Merges nodes with the same op, inputs and attributes (after merging their
  inputs): e.g. the two `mean` computations of `jnp.var(x) ... jnp.mean(x)`."""
  seen: dict[tuple, list[str]] = {}
  renames: dict[str, str] = {}
  kept, merged = [], 0
  outputs = {n for n, _, _ in graph.outputs}
  for node in graph.nodes:
    node.inputs = [renames.get(i, i) for i in node.inputs]
    if node.subgraphs() or any(o in outputs for o in node.outputs):   # names kept
      kept.append(node)
      continue
    key = (node.op_type, node.domain, tuple(node.inputs), len(node.outputs),
           tuple(sorted((k, _freeze(v)) for k, v in node.attrs.items())))
    hit = seen.get(key)
    if hit is None:
      seen[key] = node.outputs
      kept.append(node)
    else:
      renames.update(zip(node.outputs, hit))
      merged += 1
  graph.nodes = kept
  if renames:
    _rename(graph, renames)
  return merged


def simplify(graph: Graph) -> int:
  """Local rewrites, each exact:
  - Reduce*(keepdims=0) -> Unsqueeze(same axes)  =>  Reduce*(keepdims=1)
  - Transpose(Transpose(x, p), q)                 =>  Transpose(x, p o q) (or x)
    (whatever else reads the inner Transpose)
  - Reshape(Reshape/Squeeze/Unsqueeze(x), t)      =>  Reshape(x, t)
    (where t's 0s, "copy this dim", copy the same dims from x)
  - Reshape(x, t) whose result has x's (known) shape =>  x
  - Slice(x) with step 1 and x's (known) shape      =>  x
  - Expand(x, s) feeding only broadcasting ops whose other operand already has
    the expanded shape                            =>  x (ONNX broadcasts itself)
  - Identity(x) inside the graph                  =>  x
  - Split(Reshape(x, (..., n, rest...)), axis of n) with each part only
    flattened back to (..., k * prod(rest))       =>  Split(x, last axis)
    (q, k, v of a fused projection, reshaped to (b, t, 3, h, d) and split)
  - Add/Mul(Reshape(x, s), c), s splitting x's last axis and the constant c
    within the split axes                         =>  Reshape(Add/Mul(x, c'), s)
    (the bias of a multi-head projection, added before its heads are split:
    the Reshape can then meet the next one and cancel)
  Returns the number of rewrites."""
  uses = _consumers(graph)
  producer = {o: n for n in graph.nodes for o in n.outputs}
  types = known_types(graph)
  outputs = {n for n, _, _ in graph.outputs}
  consumers_of = readers(graph)
  renames: dict[str, str] = {}
  rewrites = 0

  def single_use_producer(name, op_type):
    p = producer.get(name)
    if p is not None and p.op_type == op_type and uses.get(name) == 1 and name not in outputs:
      return p
    return None

  for node in graph.nodes:
    node.inputs = [renames.get(i, i) for i in node.inputs]
    op = node.op_type
    if op == "Unsqueeze" and len(node.inputs) == 2:
      red = producer.get(node.inputs[0])
      axes = _const(graph, node.inputs[1])
      if (red is not None and red.op_type.startswith("Reduce") and uses.get(node.inputs[0]) == 1
          and node.inputs[0] not in outputs and red.attrs.get("keepdims") == 0
          and len(red.inputs) == 2 and axes is not None):
        red_axes = _const(graph, red.inputs[1])
        if red_axes is not None and sorted(red_axes.tolist()) == sorted(axes.tolist()):
          red.attrs = dict(red.attrs, keepdims=1)
          renames[node.outputs[0]] = red.outputs[0]
          kept_type = graph.value_types.get(node.outputs[0])
          graph.value_types.pop(red.outputs[0], None)
          if kept_type is not None:
            graph.value_types[red.outputs[0]] = kept_type
          types[red.outputs[0]] = kept_type
          rewrites += 1
    elif op == "Transpose":
      # (Composed even when the inner one has other readers: still one node here.)
      inner = producer.get(node.inputs[0])
      if inner is not None and inner.op_type == "Transpose":
        p, q = inner.attrs["perm"], node.attrs["perm"]
        perm = [p[i] for i in q]
        if perm == list(range(len(perm))):
          if node.outputs[0] in outputs:    # a graph output keeps its name
            node.op_type, node.inputs, node.attrs = "Identity", [inner.inputs[0]], {}
          else:
            renames[node.outputs[0]] = inner.inputs[0]
        else:
          node.inputs = [inner.inputs[0]]
          node.attrs = dict(node.attrs, perm=perm)
        rewrites += 1
    elif op == "Reshape":
      inner = producer.get(node.inputs[0])
      if (inner is not None and inner.op_type in _RESHAPES and uses.get(node.inputs[0]) == 1
          and node.inputs[0] not in outputs and not node.attrs.get("allowzero")
          and _zeros_copy_same_dims(graph, node.inputs[1], types.get(inner.inputs[0]),
                                    types.get(node.inputs[0]))):
        node.inputs = [inner.inputs[0], node.inputs[1]]
        rewrites += 1
      if _same_type(types, node) and node.outputs[0] not in outputs:
        renames[node.outputs[0]] = node.inputs[0]
        rewrites += 1
    elif op == "Slice" and node.outputs[0] not in outputs and _slices_all(graph, node, types):
      renames[node.outputs[0]] = node.inputs[0]
      rewrites += 1
    elif op in ("Add", "Mul") and _sink_reshape(graph, node, single_use_producer, types):
      rewrites += 1
    elif op == "Split" and _split_before_reshape(graph, node, single_use_producer, types,
                                                 consumers_of, outputs, renames):
      rewrites += 1
    elif op == "Identity" and node.outputs[0] not in outputs:
      renames[node.outputs[0]] = node.inputs[0]
      rewrites += 1
    elif op == "Expand" and node.outputs[0] not in outputs:
      out_type = types.get(node.outputs[0])
      expanded_by = consumers_of.get(node.outputs[0], [])
      if out_type is not None and expanded_by and all(
          r.op_type in _BROADCASTING and any(
              i != node.outputs[0] and types.get(i, (None, None))[1] == out_type[1]
              for i in r.inputs) for r in expanded_by):
        renames[node.outputs[0]] = node.inputs[0]
        rewrites += 1
  if renames:
    # Chains of renames (a -> b -> c) resolve to their end.
    for k in list(renames):
      v = renames[k]
      while v in renames:
        v = renames[v]
      renames[k] = v
    _rename_inputs(graph, renames)
  return rewrites


_RESHAPES = frozenset({"Reshape", "Squeeze", "Unsqueeze"})


def _same_type(types, node: Node) -> bool:
  before, after = types.get(node.inputs[0]), types.get(node.outputs[0])
  return before is not None and before[1] is not None and before == after


def _slices_all(graph: Graph, node: Node, types) -> bool:
  """Whether Slice(x, starts, ends[, axes[, steps]]) is all of x: step 1 and
  either x's (known) shape, or constant bounds covering each sliced axis."""
  ins = node.inputs + [""] * (5 - len(node.inputs))
  steps = _const(graph, ins[4]) if ins[4] else np.ones(1, np.int64)
  if steps is None or not (steps == 1).all():
    return False
  if _same_type(types, node):
    return True
  x = types.get(ins[0])
  starts, ends = _const(graph, ins[1]), _const(graph, ins[2])
  axes = _const(graph, ins[3]) if ins[3] else np.arange(len(starts) if starts is not None else 0)
  if x is None or x[1] is None or starts is None or ends is None or axes is None:
    return False
  big = np.iinfo(np.int64).max // 2
  for a, start, end in zip(axes.tolist(), starts.tolist(), ends.tolist()):
    d = x[1][a]
    static = is_static_dim(d)
    if not (start == 0 or static and start <= -d) or not (end >= big or static and end >= d):
      return False
  return True


def _zeros_copy_same_dims(graph: Graph, target: str, before, after) -> bool:
  """Whether Reshape(·, target) gives the same on `before` as on `after`
  (shapes of the same size): its 0 entries copy a dim, which must then be the
  same dim in both. A computed target has explicit dims."""
  t = _const(graph, target)
  if t is None or not (t == 0).any():
    return True
  if before is None or after is None or before[1] is None or after[1] is None:
    return False
  return all(i < len(before[1]) and i < len(after[1]) and before[1][i] == after[1][i]
             for i in np.flatnonzero(t == 0))


def _split_before_reshape(graph: Graph, node: Node, single_use_producer, types,
                          consumers_of, outputs, renames) -> bool:
  """Split(Reshape(x) -> r, axis) -> parts, each read only by a Reshape that
  flattens it back => Split(x, last axis, sizes * prod(rest)) -> the parts,
  renamed to what those Reshapes produced (they are left unread)."""
  reshape = single_use_producer(node.inputs[0], "Reshape")
  if reshape is None or any(o in outputs for o in node.outputs):
    return False
  x = reshape.inputs[0]
  tx, tr = types.get(x), types.get(node.inputs[0])
  if tx is None or tr is None or tx[1] is None or tr[1] is None:
    return False
  lead, axis = tuple(tx[1][:-1]), node.attrs.get("axis", 0) % len(tr[1])
  rest = tr[1][axis + 1:]
  if tuple(tr[1][:axis]) != lead or not is_static(tr[1][axis:]):
    return False
  if len(node.inputs) > 1 and node.inputs[1]:
    sizes = _const(graph, node.inputs[1])
  elif tr[1][axis] % len(node.outputs) == 0:
    sizes = np.full(len(node.outputs), tr[1][axis] // len(node.outputs))
  else:
    return False
  width = int(np.prod(rest))
  flat_types = []
  for part, k in zip(node.outputs, sizes if sizes is not None else ()):
    part_readers = consumers_of.get(part, [])
    back = part_readers[0] if len(part_readers) == 1 else None
    if back is None or back.op_type != "Reshape" or back.outputs[0] in outputs:
      return False
    t = types.get(back.outputs[0])
    if t is None or t[1] is None or tuple(t[1]) != lead + (int(k) * width,):
      return False
    flat_types.append((back.outputs[0], t))
  if sizes is None or len(flat_types) != len(node.outputs):
    return False
  flat_sizes = [int(k) * width for k in sizes]
  key = "split_" + "_".join(map(str, flat_sizes))     # same sizes, same constant
  graph.root.initializers[key] = np.asarray(flat_sizes, np.int64)
  node.inputs = [x, key]
  node.attrs = {"axis": len(lead)}
  for part, (flat, t) in zip(node.outputs, flat_types):
    renames[flat] = part
    types[part] = graph.value_types[part] = t
  return True


def _sink_reshape(graph: Graph, node: Node, single_use_producer, types) -> bool:
  """Add/Mul(Reshape(x, s) -> r, c) -> out  becomes  Add/Mul(x, c') -> r,
  Reshape(r, s) -> out, in place (r is read by this node only)."""
  init = graph.root.initializers
  for k in (0, 1):
    reshape, c = single_use_producer(node.inputs[k], "Reshape"), init.get(node.inputs[1 - k])
    if reshape is not None and c is not None:
      break
  else:
    return False
  x, r, out = reshape.inputs[0], reshape.outputs[0], node.outputs[0]
  tx, tr, tout = types.get(x), types.get(r), types.get(out)
  if None in (tx, tr, tout) or tr != tout or c.dtype != tx[0] or not tx[1]:
    return False
  lead, split = tx[1][:-1], tr[1][len(tx[1]) - 1:]
  if (tuple(tr[1][:len(lead)]) != tuple(lead) or not split
      or not is_static(split)
      or int(np.prod(split)) != tx[1][-1] or c.ndim > len(tr[1])):
    return False
  outer = c.shape[:max(0, c.ndim - len(split))]
  if any(d != 1 for d in outer):
    return False
  inner = c.reshape(c.shape[len(outer):])
  try:
    flat = (inner.reshape(()) if inner.size == 1 else
            np.broadcast_to(inner, split).reshape(-1))
  except ValueError:
    return False
  name = f"{node.inputs[1 - k]}_as_{'x'.join(str(d) for d in split)}"   # same c, same split
  init.setdefault(name, np.ascontiguousarray(flat))
  target, attrs = reshape.inputs[1], reshape.attrs
  reshape.op_type, reshape.inputs, reshape.attrs = node.op_type, [x, name], {}
  node.op_type, node.inputs, node.attrs = "Reshape", [r, target], attrs
  types[r] = graph.value_types[r] = tx
  return True


def _rename_inputs(graph: Graph, renames: dict[str, str]) -> None:
  for node in graph.nodes:
    node.inputs = [renames.get(i, i) for i in node.inputs]
    for sub in node.subgraphs():
      _rename_inputs(sub, renames)
  graph.outputs = [(renames.get(n, n), d, s) for n, d, s in graph.outputs]


def fuse_gemm(graph: Graph) -> int:
  """MatMul(A, B) + C with 2-D A and B and C broadcastable to the result
  => Gemm(A, B, C): one node, as a Linear layer reads."""
  types = known_types(graph)
  fused = 0
  for node, mm, bias in _adds_fed_by(graph, ("MatMul",)):
    ta, tb, tc = (types.get(mm.inputs[0]), types.get(mm.inputs[1]), types.get(bias))
    if not (ta and tb and tc) or len(ta[1]) != 2 or len(tb[1]) != 2 or len(tc[1]) > 2:
      continue
    if np.dtype(ta[0]).kind != "f" or tc[0] != ta[0]:
      continue
    if len(tc[1]) == 2 and tc[1][0] != 1 and tc[1][0] != ta[1][0]:
      continue
    node.op_type, node.inputs, node.attrs = "Gemm", [mm.inputs[0], mm.inputs[1], bias], {}
    fused += 1
  return fused


def merge_sibling_projections(graph: Graph, namer) -> int:
  """x @ W1 + b1, x @ W2 + b2, ... (constant 2-D W, bias along the last axis)
  => Split(x @ [W1 W2 ...] + [b1 b2 ...]): the separate q/k/v projections of
  an attention layer become one MatMul, one Add, one Split. Each column of a
  product is the same dot product either way (bit-identical in ONNX Runtime:
  checked on its MLAS kernels); only all-biased groups merge (adding a zero
  bias would turn -0.0 into +0.0). Returns the number of MatMuls merged away."""
  init = graph.root.initializers
  types = known_types(graph)
  uses = _consumers(graph)
  outputs = {n for n, _, _ in graph.outputs}
  read_by = readers(graph)
  groups: dict[str, list[tuple[Node, Node, np.ndarray, np.ndarray]]] = {}
  for node in graph.nodes:
    if node.op_type != "MatMul" or uses.get(node.outputs[0]) != 1 or node.outputs[0] in outputs:
      continue
    x, w_name = node.inputs
    w, tx = init.get(w_name), types.get(x)
    add = read_by.get(node.outputs[0], [None])[0]
    if (w is None or w.ndim != 2 or w.dtype.kind != "f" or tx is None or tx[1] is None
        or len(tx[1]) < 2 or tx[0] != w.dtype or add is None or add.op_type != "Add"):
      continue
    b = init.get(add.inputs[1] if add.inputs[0] == node.outputs[0] else add.inputs[0])
    n = w.shape[1]
    if (b is None or b.dtype != w.dtype or b.size != n or b.ndim > len(tx[1])
        or (b.ndim and b.shape[-1] != n)):
      continue
    groups.setdefault(x, []).append((node, add, w, b.reshape(n)))
  replace: dict[int, list[Node]] = {}
  drop: set[int] = set()
  merged = 0
  for x, members in groups.items():
    if len(members) < 2 or len({m[2].shape[0] for m in members}) != 1:
      continue
    dtype, lead = types[x][0], tuple(types[x][1][:-1])
    sizes = [m[2].shape[1] for m in members]
    w_name, b_name, split = namer("weight"), namer("bias"), namer("const")
    init[w_name] = np.concatenate([m[2] for m in members], axis=1)
    init[b_name] = np.concatenate([m[3] for m in members])
    init[split] = np.asarray(sizes, np.int64)
    mm, biased = namer("MatMul"), namer("Add")
    first = members[0][0]
    replace[id(first)] = [
        Node("MatMul", [x, w_name], [mm], {}, source=first.source),
        Node("Add", [mm, b_name], [biased], {}, source=first.source),
        Node("Split", [biased, split], [m[1].outputs[0] for m in members], {"axis": -1},
             source=first.source)]
    for name in (mm, biased):
      graph.value_types[name] = (np.dtype(dtype), lead + (sum(sizes),))
    drop.update(id(n) for m in members for n in m[:2])
    merged += len(members) - 1
  if replace:
    nodes = []
    for node in graph.nodes:
      if id(node) in replace:
        nodes.extend(replace[id(node)])
      elif id(node) not in drop:
        nodes.append(node)
    graph.nodes = nodes
  return merged


def _adds_fed_by(graph: Graph, op_types):
  """(add, producer, other operand) for each Add with an operand that only it
  reads, produced by one of `op_types`: the pattern of the fusion passes. An
  Add the caller rewrote (its op_type no longer Add) is not offered again."""
  uses = _consumers(graph)
  producer = {o: n for n in graph.nodes for o in n.outputs}
  outputs = {n for n, _, _ in graph.outputs}
  for node in graph.nodes:
    for k in (0, 1):
      if node.op_type != "Add":
        break
      p = producer.get(node.inputs[k])
      if (p is not None and p.op_type in op_types and uses.get(node.inputs[k]) == 1
          and node.inputs[k] not in outputs):
        yield node, p, node.inputs[1 - k]


def fuse_conv_bias(graph: Graph) -> int:
  """Conv(x, w) + b with a constant b of shape (1, C, 1, ...) => Conv(x, w, b)
  (and ConvTranspose):
  the bias of an NNX Conv lands in the Conv (after transpose sinking has put
  the add in the Conv's NC... layout)."""
  init = graph.root.initializers
  fused = 0
  for node, conv, bias_name in _adds_fed_by(graph, ("Conv", "ConvTranspose")):
    bias, w = init.get(bias_name), init.get(conv.inputs[1])
    if len(conv.inputs) != 2 or bias is None or w is None:
      continue
    # Conv kernels are (C_out, C_in/g, k...); ConvTranspose's (C_in, C_out/g, k...).
    channels = w.shape[0] if conv.op_type == "Conv" else w.shape[1] * conv.attrs.get("group", 1)
    spatial = w.ndim - 2
    if (bias.dtype != w.dtype or bias.ndim > w.ndim or bias.ndim < spatial + 1
        or bias.size != channels
        or bias.shape[bias.ndim - spatial - 1:] != (channels,) + (1,) * spatial):
      continue
    name = bias_name + "_conv_bias"
    init[name] = bias.reshape(channels)
    node.op_type, node.inputs, node.attrs = conv.op_type, conv.inputs + [name], dict(conv.attrs)
    fused += 1
  return fused


def run_default_passes(graph: Graph, functions=(), namer=None,
                       fuse_opset: int | None = None) -> dict[str, int]:
  """fuse_opset: rewrite hand-written attention and norms into single ops of
  that opset (`fusions`; when components are on)."""
  from jax_onnx import fusions, transposes
  before = len(graph.nodes)
  stats = {"nodes_before": before}
  removed = 0
  stats["cse_merged"] = eliminate_common_subexpressions(graph)
  stats["rewrites"] = 0

  def settle(rounds: int = 3) -> int:
    """simplify, then drop what it left unread, until nothing changes (a
    rewrite can expose the next: a collapsed chain leaves a Split whose parts
    are now flattened directly); each round is linear, and there are at most 3."""
    dropped = 0
    for _ in range(rounds):
      rewrites = simplify(graph)
      stats["rewrites"] += rewrites
      dropped += eliminate_dead_code(graph)
      if not rewrites:
        break
    return dropped

  removed += settle()
  if fuse_opset is not None and namer is not None:
    fused = fusions.run(graph, namer, fuse_opset)
    stats.update(fused)
    if any(fused.values()):
      removed += eliminate_dead_code(graph)   # the matched nodes: single readers now
      removed += settle()
  if namer is not None and any(n.op_type == "Transpose" for n in graph.nodes):
    stats["transposes_sunk"] = transposes.sink_transposes(graph, namer)
    stats["rewrites"] += simplify(graph)
    stats["flatten_transposes_folded"] = transposes.fold_flatten_transposes(graph)
    removed += eliminate_dead_code(graph)   # the Transposes left behind
  stats["cse_merged"] += eliminate_common_subexpressions(graph)
  if namer is not None:
    stats["projections_merged"] = merge_sibling_projections(graph, namer)
  stats["gemm_fused"] = fuse_gemm(graph)
  stats["conv_bias_fused"] = fuse_conv_bias(graph)
  removed += eliminate_dead_code(graph)
  for f in functions:   # function bodies keep their signature: only inner nodes go
    eliminate_common_subexpressions(f.graph)
    simplify(f.graph)
    removed += eliminate_dead_code(f.graph)
  fold_output_identities(graph)
  stats.update(dead_nodes_removed=removed, nodes_after=len(graph.nodes))
  return stats
