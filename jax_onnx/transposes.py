"""Transpose sinking: moves layout Transposes down through elementwise ops and
slices until they meet their inverse and cancel.

A Flax CNN is NHWC; ONNX Conv and pooling are NCHW, so each conv rule wraps its
op in a Transpose pair. Between two convs sit bias adds, activations, pooling
slices and normalizations, which do not care about the layout: pushing the
Transpose after them lets it cancel against the next conv's input Transpose.
With `pre_transpose` NCHW inputs, a CNN's body then has no Transpose left
except where the layout matters (a flatten before a Linear, which
`fold_flatten_transposes` absorbs into the weights).

Every rewrite is exact: f(T(x), c) = T(f(x, T^-1(c))) for elementwise f, and
Slice along axis a of T(x) = T(Slice along axis p[a] of x).
"""
from __future__ import annotations

import numpy as np

from jax_onnx import passes
from jax_onnx.graph import Graph, Node
from jax_onnx.shapes import is_static

# Ops applied elementwise to all their inputs (with numpy broadcasting).
ELEMENTWISE = frozenset({
    "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Tanh", "Sigmoid", "Relu",
    "Gelu", "Elu", "LeakyRelu", "Softplus", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
    "Not", "IsNaN", "IsInf", "Cast", "Identity", "Add", "Sub", "Mul", "Div", "Pow", "Max",
    "Min", "Mod", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or",
    "Xor", "Where", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot",
})


def _inverse(perm) -> list[int]:
  return [int(i) for i in np.argsort(perm)]


class _Sinker:

  def __init__(self, graph: Graph, namer):
    self.graph = graph
    self.namer = namer
    self.root = graph.root
    self.transposed: dict[str, tuple[str, list[int]]] = {}   # value -> (source, perm)
    self.readers = passes.readers(graph, subgraphs=True)
    self.outputs = {n for n, _, _ in graph.outputs}
    self.sunk = 0

  def run(self) -> int:
    nodes = []
    for node in self.graph.nodes:
      nodes.append(node)
      if node.op_type == "Transpose" and len(node.inputs) == 1:
        self.transposed[node.outputs[0]] = (node.inputs[0], list(node.attrs["perm"]))
        continue
      perm = self._sinkable(node)
      if perm is not None:
        nodes.append(self._sink(node, perm))
    self.graph.nodes = nodes
    return self.sunk

  def _worth_it(self, name: str) -> bool:
    # Sinking duplicates the Transpose past each reader: only when all of them
    # can take it (else the original one stays and nothing is gained).
    # A Transpose reader composes with it.
    readers = self.readers.get(name, [])
    return name not in self.outputs and all(
        r.op_type in ELEMENTWISE or r.op_type in ("Slice", "Transpose") for r in readers)

  def _sinkable(self, node: Node) -> list[int] | None:
    if node.op_type not in ELEMENTWISE and node.op_type != "Slice":
      return None
    if len(node.outputs) != 1 or node.subgraphs():
      return None
    data = node.inputs[:1] if node.op_type == "Slice" else node.inputs
    perms = [self.transposed[i][1] for i in data if i in self.transposed]
    if not perms or any(p != perms[0] for p in perms):
      return None
    if not all(self._worth_it(i) for i in data if i in self.transposed):
      return None
    for i in data:
      if i not in self.transposed and self.root.initializers.get(i) is None:
        return None   # a computed operand in the other layout
    if node.op_type == "Slice" and not self._const_slice_args(node):
      return None
    return perms[0]

  def _const_slice_args(self, node: Node) -> bool:
    return all(self.root.initializers.get(i) is not None for i in node.inputs[1:] if i)

  def _sink(self, node: Node, perm: list[int]) -> Node:
    """Rewrites `node` to read the untransposed values; returns the Transpose
    that now produces its (unchanged) output name."""
    rank = len(perm)
    inverse = _inverse(perm)
    if node.op_type == "Slice":
      node.inputs = [self.transposed[node.inputs[0]][0]] + self._permuted_axes(node, perm)
    else:
      node.inputs = [self.transposed[i][0] if i in self.transposed
                     else self._permuted_const(i, rank, inverse) for i in node.inputs]
    out = node.outputs[0]
    inner = self.namer(f"{node.op_type.lower()}_sunk")
    node.outputs = [inner]
    types = self.graph.value_types
    if out in types:
      dtype, dims = types[out]
      types[inner] = (dtype, tuple(dims[i] for i in inverse))
    self.transposed[out] = (inner, perm)
    self.sunk += 1
    return Node("Transpose", [inner], [out], {"perm": list(perm)}, source=node.source)

  def _permuted_const(self, name: str, rank: int, inverse: list[int]) -> str:
    value = self.root.initializers[name]
    if value.ndim == 0:
      return name
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    new = np.ascontiguousarray(np.transpose(full, inverse))
    new_name = self.namer("const_sunk")
    self.root.initializers[new_name] = new
    return new_name

  def _permuted_axes(self, node: Node, perm: list[int]) -> list[str]:
    starts = node.inputs[1]
    args = list(node.inputs[1:])
    n = self.root.initializers[starts].size
    axes = (self.root.initializers[args[2]] if len(args) > 2 and args[2]
            else np.arange(n, dtype=np.int64))
    rank = len(perm)
    new_axes = np.asarray([perm[int(a) % rank] for a in axes.reshape(-1)], np.int64)
    name = self.namer("axes_sunk")
    self.root.initializers[name] = new_axes
    while len(args) < 3:
      args.append("")
    args[2] = name
    return args


def sink_transposes(graph: Graph, namer) -> int:
  """Moves Transposes below elementwise ops and slices (see the module doc);
  a later `passes.simplify` cancels the pairs that meet. Returns the number of
  ops a Transpose was moved past."""
  return _Sinker(graph, namer).run()


def fold_flatten_transposes(graph: Graph) -> int:
  """Transpose(x, p) -> Reshape to (batch, features) -> MatMul/Gemm with
  constant weights  =>  Reshape(x) -> MatMul/Gemm with the weight rows
  permuted: the flatten of a CNN exported with NCHW layout reads the conv
  output in place. Needs static non-batch dims and p[0] == 0."""
  producer = {o: n for n in graph.nodes for o in n.outputs}
  readers = passes.readers(graph)
  outputs = {n for n, _, _ in graph.outputs}
  init = graph.root.initializers
  types = graph.value_types
  folded = 0
  for node in graph.nodes:
    if node.op_type != "Reshape":
      continue
    t = producer.get(node.inputs[0])
    if t is None or t.op_type != "Transpose" or len(readers.get(t.outputs[0], [])) != 1:
      continue
    perm = list(t.attrs["perm"])
    t_type, out_type = types.get(t.outputs[0]), types.get(node.outputs[0])
    if (perm[0] != 0 or t_type is None or out_type is None or len(out_type[1]) != 2
        or node.outputs[0] in outputs):
      continue
    src_dims = [t_type[1][i] for i in _inverse(perm)][1:]
    if not is_static(src_dims):
      continue
    mms = readers.get(node.outputs[0], [])
    if not mms or any(m.op_type not in ("MatMul", "Gemm") or m.inputs[0] != node.outputs[0]
                      or m.attrs.get("transA") or m.attrs.get("transB")
                      or init.get(m.inputs[1]) is None for m in mms):
      continue
    y_dims = [src_dims[p - 1] for p in perm[1:]]
    for m in mms:
      w = init[m.inputs[1]]
      # Row r of w belongs to flat index r of the transposed layout: put it at
      # the flat index of the same element in the source layout.
      w_new = np.transpose(w.reshape(*y_dims, w.shape[-1]),
                           [a - 1 for a in _inverse(perm)[1:]] + [len(y_dims)])
      name = m.inputs[1] + "_nchw"
      init[name] = np.ascontiguousarray(w_new.reshape(w.shape))
      m.inputs = [m.inputs[0], name] + m.inputs[2:]
    node.inputs = [t.inputs[0]] + node.inputs[1:]
    folded += 1
  return folded
