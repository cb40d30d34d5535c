"""Pattern fusions: hand-written attention and normalizations -> one ONNX op.

Components catch `jax.nn.dot_product_attention` and the NNX norm layers by name;
code that spells them out arrives as primitives. These passes find them in the
graph the rules built:

  attention (opset >= 23)
    P = Softmax(MatMul(A, B) [* scale | / c] [+ bias], axis=-1)    A: (b, h, q, d)
    O = MatMul(P, V)             or   O^T = MatMul(V^T, Transpose(P, swap))
  with Transposes around the MatMuls wherever einsum's layouts ask for them.
  That is Attention(Q=A, K=B^T, V) on (b, h, seq, d) operands; when Q, K and V
  all come from (b, seq, h, d) values by a (0, 2, 1, 3) Transpose, as
  multi-head code reshaping (b, seq, h * d) projections makes them, the 3-D
  form reads those projections directly and no Transpose is left.

  layer norm (LayerNormalization) and RMS norm (RMSNormalization, opset >= 23)
    d = x - mean(x);  d * rsqrt(mean(d * d) + eps) [* scale] [+ bias]
    x * rsqrt(mean(x * x) + eps) [* scale]
  over trailing axes (mean = ReduceSum / n, rsqrt = Reciprocal(Sqrt) or a
  division by the Sqrt), scale and bias constants.

Numerics: Attention multiplies Q·K^T by `scale`; a division by c becomes a
multiplication by 1/c (at most one rounding apart per logit), as the Attention
component does. ONNX Runtime's normalizations compute the two-pass statistics
of the pattern (E[(x - E[x])^2], not E[x^2] - E[x]^2: the shifted-input cases
check it). Only float32 is fused (in half floats XLA rounds each step).

Each match is local (a few producer/reader lookups from its anchor node), so
each pass is one linear walk; the Transposes the attention fusion inserts are
composed with their neighbours and cancelled by `passes.simplify`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jax_onnx import passes
from jax_onnx.graph import Graph, Node
from jax_onnx.shapes import is_static, is_static_dim

# What the README's components table says of each fusion (keyed by the
# `covers` of its test cases).
PATTERNS = {
    "jax_onnx.fusions.attention": dict(
        title="attention written out: softmax(Q·Kᵀ·scale + bias)·V", onnx_ops="Attention",
        how="pattern fusion (opset >= 23); its primitives' rules otherwise",
        notes="einsum or matmul; (b, s, h, d) or (b, h, s, d) operands; float32"),
    "jax_onnx.fusions.norm": dict(
        title="layer norm / RMS norm written out", onnx_ops="LayerNormalization, RMSNormalization",
        how="pattern fusion (RMS norm: opset >= 23); its primitives' rules otherwise",
        notes="jnp.mean/jnp.var over trailing axes, rsqrt or / sqrt, constant scale and bias; "
              "float32; E[x²] - E[x]² variance is left as written"),
}

_SWAP = [0, 1, 3, 2]          # (b, h, m, n) -> (b, h, n, m)
_HEADS_SECOND = [0, 2, 1, 3]  # (b, s, h, d) <-> (b, h, s, d); its own inverse
MIN_OPSET = 23


class _Graph:
  """The lookups a match needs: producers, readers, types, constants."""

  def __init__(self, graph: Graph):
    self.graph = graph
    self.producer = {o: n for n in graph.nodes for o in n.outputs}
    self.readers = passes.readers(graph, subgraphs=True)
    self.outputs = {n for n, _, _ in graph.outputs}
    self.types = passes.known_types(graph)
    self.init = graph.root.initializers

  def only_reader(self, name: str) -> Node | None:
    readers = self.readers.get(name, [])
    if len(readers) == 1 and name not in self.outputs:
      return readers[0]
    return None

  def single_use(self, name: str, *op_types: str) -> Node | None:
    """The producer of `name` if it is one of op_types and only one node reads `name`."""
    p = self.producer.get(name)
    if p is not None and p.op_type in op_types and self.only_reader(name) is not None:
      return p
    return None

  def scalar(self, name: str) -> float | None:
    a = self.init.get(name)
    if a is not None and a.size == 1 and a.dtype == np.float32:
      return float(a.reshape(()))
    return None

  def shape(self, name: str):
    """The recorded shape; a rule's inner Transposes have none: derived."""
    t = self.types.get(name)
    if t is not None:
      return tuple(t[1])
    base, perm = self.through_transposes(name)
    t = self.types.get(base) if perm is not None else None
    return None if t is None else tuple(t[1][i] for i in perm)

  def through_transposes(self, name: str) -> tuple[str, list[int]]:
    """(x, p) with name == Transpose(x, p), following chains of Transposes."""
    perm = None
    node = self.producer.get(name)
    while node is not None and node.op_type == "Transpose":
      p = list(node.attrs["perm"])
      perm = p if perm is None else [p[i] for i in perm]
      name = node.inputs[0]
      node = self.producer.get(name)
    return name, perm


@dataclasses.dataclass
class _Match:
  q: tuple            # (value, perm or None): the operand is Transpose(value, perm)
  k: tuple
  v: tuple
  bias: str | None
  scale: float
  transposed_out: bool   # the last MatMul computes the output's transpose
  last: Node             # the node whose output the Attention op replaces


def _logits(g: _Graph, softmax: Node):
  """(S, scale, bias) with softmax's input = S * scale + bias, S a MatMul output."""
  name, scale, bias = softmax.inputs[0], 1.0, None
  add = g.single_use(name, "Add")
  if add is not None:
    for k in (0, 1):
      if g.single_use(add.inputs[k], "Div", "Mul", "MatMul", "Transpose") is not None:
        name, bias = add.inputs[k], add.inputs[1 - k]
        break
    else:
      return None
  scaled = g.single_use(name, "Div", "Mul")
  if scaled is not None:
    x, c = scaled.inputs
    if scaled.op_type == "Mul" and g.scalar(x) is not None:
      x, c = c, x
    constant = g.scalar(c)
    if constant is None or constant == 0.0:
      return None
    name, scale = x, (1.0 / constant if scaled.op_type == "Div" else constant)
  return name, scale, bias


def _match(g: _Graph, softmax: Node) -> _Match | None:
  t = g.types.get(softmax.inputs[0])
  if (t is None or t[0] != np.float32 or len(t[1]) != 4
      or softmax.attrs.get("axis", -1) not in (-1, 3)):
    return None
  found = _logits(g, softmax)
  if found is None:
    return None
  s, scale, bias = found
  # S = A·B (Q = A, K = B^T), or S = (A·B)^T = B^T·A^T (Q = B^T, K = A).
  flipped = g.single_use(s, "Transpose")
  if flipped is not None and list(flipped.attrs["perm"]) == _SWAP:
    s = flipped.inputs[0]
  else:
    flipped = None
  mm = g.single_use(s, "MatMul")
  if mm is None:
    return None
  a, b = mm.inputs
  q, k = ((b, _SWAP), (a, None)) if flipped else ((a, None), (b, _SWAP))

  # O = P·V, or O^T = V^T·P^T.
  reader = g.only_reader(softmax.outputs[0])
  if reader is None:
    return None
  if reader.op_type == "MatMul" and reader.inputs[0] == softmax.outputs[0]:
    last, v, transposed_out = reader, (reader.inputs[1], None), False
  elif reader.op_type == "Transpose" and list(reader.attrs["perm"]) == _SWAP:
    last = g.only_reader(reader.outputs[0])
    if last is None or last.op_type != "MatMul" or last.inputs[1] != reader.outputs[0]:
      return None
    v, transposed_out = (last.inputs[0], _SWAP), True
  else:
    return None
  if not _shapes_fit(g, q, k, v, bias):
    return None
  return _Match(q=q, k=k, v=v, bias=bias, scale=scale, transposed_out=transposed_out,
                last=last)


def _oriented_shape(g: _Graph, operand):
  name, perm = operand
  shape = g.shape(name)
  if shape is None or perm is None:
    return shape
  return tuple(shape[i] for i in perm)


def _shapes_fit(g: _Graph, q, k, v, bias) -> bool:
  """(b, h, q, d), (b, h, k, d), (b, h, k, dv): no broadcasting between the
  batch and head dims (the Attention op's K/V heads must divide Q's)."""
  sq, sk, sv = (_oriented_shape(g, x) for x in (q, k, v))
  if not (sq and sk and sv) or not len(sq) == len(sk) == len(sv) == 4:
    return False
  if not (sq[:2] == sk[:2] == sv[:2] and sq[3] == sk[3] and sk[2] == sv[2]):
    return False
  if bias is not None:
    sb = g.shape(bias)
    t = g.types.get(bias)
    target = (sq[0], sq[1], sq[2], sk[2])
    if sb is None or t[0] != np.float32 or len(sb) > 4:
      return False
    # Broadcastable to (b, h, q, k) and not larger than it.
    for got, want in zip(reversed(sb), reversed(target)):
      if got != 1 and got != want:
        return False
  return True


class _Emitter:
  """Builds the replacement nodes for one match, with their value types."""

  def __init__(self, graph: Graph, g: _Graph, namer, source):
    self.graph, self.g, self.namer, self.source = graph, g, namer, source
    self.nodes: list[Node] = []

  def op(self, op_type, inputs, dtype, shape, out=None, **attrs) -> str:
    out = out or self.namer(op_type)
    self.nodes.append(Node(op_type, inputs, [out], attrs, source=self.source))
    self.graph.value_types[out] = (np.dtype(dtype), tuple(shape))
    return out

  def ints(self, values) -> str:
    name = self.namer("const")
    self.g.init[name] = np.asarray(values, np.int64)
    return name

  def oriented(self, operand) -> str:
    name, perm = operand
    if perm is None:
      return name
    return self.op("Transpose", [name], np.float32, _oriented_shape(self.g, operand),
                   perm=perm)


def _heads_second_source(g: _Graph, operand):
  """x with operand == Transpose(x, (0, 2, 1, 3)), x of static (h, d): the
  (b, seq, h, d) value a 3-D Attention operand is a free reshape of."""
  name, perm = operand
  base, inner = g.through_transposes(name)
  if inner is None:
    return None
  total = inner if perm is None else [inner[i] for i in perm]
  shape = g.shape(base)
  if total != _HEADS_SECOND or shape is None or not is_static(shape[2:]):
    return None
  return base


def _emit(graph: Graph, g: _Graph, m: _Match, namer) -> list[Node]:
  e = _Emitter(graph, g, namer, m.last.source)
  sq, sk, sv = (_oriented_shape(g, x) for x in (m.q, m.k, m.v))
  b, h, tq, _ = sq
  dv = sv[3]
  out4 = (b, h, tq, dv)
  final = m.last.outputs[0]
  attrs = dict(scale=float(m.scale))
  bases = [_heads_second_source(g, x) for x in (m.q, m.k, m.v)]
  if all(x is not None for x in bases) and is_static_dim(h):
    # 3-D form on the (b, seq, h * d) projections: Reshapes only.
    flat = e.ints([0, 0, -1])
    q3, k3, v3 = (e.op("Reshape", [x, flat], np.float32,
                       tuple(g.shape(x)[:2]) + (g.shape(x)[2] * g.shape(x)[3],))
                  for x in bases)
    inputs = [q3, k3, v3] + ([m.bias] if m.bias is not None else [])
    y3 = e.op("Attention", inputs, np.float32, (b, tq, h * dv),
              q_num_heads=int(h), kv_num_heads=int(h), **attrs)
    y4 = e.op("Reshape", [y3, e.ints([0, 0, int(h), int(dv)])], np.float32, (b, tq, h, dv))
    out = e.op("Transpose", [y4], np.float32, out4, perm=_HEADS_SECOND)
  else:
    inputs = [e.oriented(m.q), e.oriented(m.k), e.oriented(m.v)]
    out = e.op("Attention", inputs + ([m.bias] if m.bias is not None else []),
               np.float32, out4, **attrs)
  if m.transposed_out:
    e.op("Transpose", [out], np.float32, (b, h, dv, tq), out=final, perm=_SWAP)
  else:
    e.nodes[-1].outputs = [final]
    graph.value_types[final] = graph.value_types.pop(out)
  return e.nodes


def run(graph: Graph, namer, opset: int) -> dict[str, int]:
  """All fusions the opset allows; counts by kind."""
  stats = {"norms_fused": fuse_normalizations(graph, namer, opset)}
  if opset >= MIN_OPSET:
    stats["attention_fused"] = fuse_attention(graph, namer)
  return stats


def fuse_attention(graph: Graph, namer) -> int:
  """Replaces each matched softmax(Q·K^T·scale + bias)·V by an Attention op;
  the nodes it leaves unread go with the next dead-code elimination."""
  g = _Graph(graph)
  replacements: dict[int, list[Node]] = {}
  for node in graph.nodes:
    if node.op_type == "Softmax":
      m = _match(g, node)
      if m is not None and id(m.last) not in replacements:
        replacements[id(m.last)] = _emit(graph, g, m, namer)
  if replacements:
    nodes = []
    for node in graph.nodes:
      nodes.extend(replacements.get(id(node), (node,)))
    graph.nodes = nodes
  return len(replacements)



# ---------------------------------------------------------------------------
# Layer norm and RMS norm.

def _mean(g: _Graph, name: str) -> tuple[str, int] | None:
  """(x, axis) if name = ReduceSum(x, axes, keepdims=1) / n, jnp.mean's form,
  with axes = axis..rank-1 (static) and n their size."""
  div = g.producer.get(name)
  if div is None or div.op_type != "Div":
    return None
  red, n = g.producer.get(div.inputs[0]), g.scalar(div.inputs[1])
  if (red is None or red.op_type != "ReduceSum" or n is None or len(red.inputs) != 2
      or red.attrs.get("keepdims", 1) != 1):
    return None
  axes, shape = g.init.get(red.inputs[1]), g.shape(red.inputs[0])
  if axes is None or shape is None or axes.size == 0:
    return None
  rank = len(shape)
  axes = sorted(int(a) % rank for a in axes.ravel())
  normalized = shape[axes[0]:]
  if (axes != list(range(axes[0], rank))
      or not is_static(normalized)
      or n != float(np.prod(normalized))):
    return None
  return red.inputs[0], axes[0]


def _square_of(g: _Graph, name: str) -> str | None:
  node = g.producer.get(name)
  if node is not None and node.op_type == "Mul" and node.inputs[0] == node.inputs[1]:
    return node.inputs[0]
  return None


def _affine(g: _Graph, y: str, op_type: str, normalized: tuple):
  """(node, c) if y's only reader is `op_type`(y, c) (either order) with a
  float32 constant c that broadcasts within the normalized dims: c's name if
  it has their shape, else c broadcast to it."""
  node = g.only_reader(y)
  if (node is None or node.op_type != op_type or len(node.inputs) != 2
      or g.shape(node.outputs[0]) != g.shape(y)):
    return None
  other = node.inputs[1] if node.inputs[0] == y else node.inputs[0]
  c = g.init.get(other)
  if c is None or c.dtype != np.float32 or other == y:
    return None
  rank = len(normalized)
  if c.ndim > rank and any(d != 1 for d in c.shape[:c.ndim - rank]):
    return None
  if c.shape == normalized:
    return node, other                # the constant as it is: no copy
  trailing = c.shape[max(0, c.ndim - rank):]
  try:
    full = np.broadcast_to(c.reshape(trailing), normalized)
  except ValueError:
    return None
  return node, np.ascontiguousarray(full)


@dataclasses.dataclass
class _NormMatch:
  x: str
  axis: int
  eps: float
  centered: bool         # layer norm (x - mean), else RMS norm
  last: Node             # rewritten in place into the normalization op
  scale: str | np.ndarray | None
  bias: str | np.ndarray | None


def _match_norm(g: _Graph, sqrt: Node) -> _NormMatch | None:
  """From the Sqrt of `mean(d * d) + eps` to the node that ends the norm."""
  add = g.producer.get(sqrt.inputs[0])
  if add is None or add.op_type != "Add":
    return None
  for k in (0, 1):
    eps = g.scalar(add.inputs[k])
    var = _mean(g, add.inputs[1 - k]) if eps is not None else None
    if var is not None:
      break
  else:
    return None
  d, axis = _square_of(g, var[0]), var[1]
  if d is None:
    return None
  centered = g.producer.get(d)
  is_sub = centered is not None and centered.op_type == "Sub"
  mean = _mean(g, centered.inputs[1]) if is_sub else None
  if mean is not None and mean == (centered.inputs[0], axis):
    x = centered.inputs[0]
  else:
    x, centered = d, None             # no mean taken: RMS norm
  t = g.types.get(x)
  if t is None or t[0] != np.float32 or g.shape(x) is None:
    return None

  # d * (1 / sqrt), (1 / sqrt) * d, or d / sqrt.
  norm = None
  for reader in g.readers.get(sqrt.outputs[0], []):
    if reader.op_type == "Div" and reader.inputs == [d, sqrt.outputs[0]]:
      norm = reader
    elif reader.op_type == "Reciprocal":
      for mul in g.readers.get(reader.outputs[0], []):
        if mul.op_type == "Mul" and sorted(mul.inputs) == sorted([d, reader.outputs[0]]):
          norm = mul
  if norm is None or g.shape(norm.outputs[0]) != g.shape(x):
    return None
  normalized = tuple(g.shape(x)[axis:])
  last, scale, bias = norm, None, None
  found = _affine(g, last.outputs[0], "Mul", normalized)
  if found is not None:
    last, scale = found
  if centered is not None:
    found = _affine(g, last.outputs[0], "Add", normalized)
    if found is not None:
      last, bias = found
  return _NormMatch(x=x, axis=axis, eps=eps, centered=centered is not None, last=last,
                    scale=scale, bias=bias)


def fuse_normalizations(graph: Graph, namer, opset: int) -> int:
  """Rewrites each matched norm's last node into LayerNormalization (or, from
  opset 23, RMSNormalization); the statistics nodes go with the next dead-code
  elimination."""
  g = _Graph(graph)
  fused = 0
  for node in list(graph.nodes):
    if node.op_type != "Sqrt":
      continue
    m = _match_norm(g, node)
    if m is None or (not m.centered and opset < MIN_OPSET):
      continue
    normalized = g.shape(m.x)[m.axis:]
    inputs = [m.x]
    for role, value in (("scale", m.scale), ("bias", m.bias)):
      if value is None and role == "bias":
        continue
      if value is None:
        value = np.ones(normalized, np.float32)
      if not isinstance(value, str):
        name = namer(role)
        g.init[name], value = value, name
      inputs.append(value)
    last = m.last
    last.op_type = "LayerNormalization" if m.centered else "RMSNormalization"
    last.inputs, last.attrs = inputs, dict(axis=m.axis, epsilon=float(m.eps))
    fused += 1
  return fused


# ---------------------------------------------------------------------------
# Test cases: attention as people write it, fused or (where the pattern does
# not hold) left alone; all checked against JAX.

def _cases():
  import jax
  import jax.numpy as jnp

  from jax_onnx.registry import Spec, case

  def einsum_attention(q, k, v):      # (b, s, h, d) operands, as in multi-head code
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(float(q.shape[-1]))
    return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)

  def matmul_attention(q, k, v, scale=0.125):   # (b, h, s, d) operands
    return jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) * scale, axis=-1) @ v

  def biased_attention(q, k, v, bias):
    return jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) * 0.125 + bias, axis=-1) @ v

  def flat_heads_attention(x, w):   # (b, s, 3 * h * d) projection -> heads -> back
    b, t, _ = x.shape
    q, k, v = (jax.lax.slice_in_dim(x @ w, i * 16, (i + 1) * 16, axis=-1).reshape(b, t, 4, 4)
               for i in range(3))
    return einsum_attention(q, k, v).reshape(b, t, 16)

  qs, kvs = ("B", 6, 4, 8), ("B", 7, 4, 8)
  heads_first_q, heads_first_kv = ("B", 4, 6, 8), ("B", 4, 7, 8)
  fused = dict(covers="jax_onnx.fusions.attention", opset=23, atol=1e-5,
               expect_ops=("Attention",), forbid_ops=("Softmax", "MatMul"))
  case("fusion_attention", einsum_attention, qs, kvs, ("B", 7, 4, 5),
       **dict(fused, forbid_ops=("Softmax", "MatMul", "Transpose")))
  case("fusion_attention_einsum_flat_heads", flat_heads_attention, ("B", 5, 16), (16, 48),
       **dict(fused, forbid_ops=("Softmax", "Transpose")))
  case("fusion_attention_matmul", matmul_attention, heads_first_q, heads_first_kv,
       heads_first_kv, **fused)
  case("fusion_attention_unscaled", lambda q, k, v: matmul_attention(q, k, v, 1.0),
       heads_first_q, heads_first_kv, heads_first_kv, **fused)
  case("fusion_attention_scale_first",
       lambda q, k, v: jax.nn.softmax(0.3 * (q @ jnp.swapaxes(k, -1, -2)), axis=-1) @ v,
       heads_first_q, heads_first_kv, heads_first_kv, **fused)
  for name, bias in (("batch", ("B", 1, 6, 7)), ("full", ("B", 4, 6, 7)), ("2d", (6, 7))):
    case(f"fusion_attention_bias_{name}", biased_attention, heads_first_q, heads_first_kv,
         heads_first_kv, bias, **fused)
  unfused = dict(covers="jax_onnx.fusions.attention", atol=1e-5, forbid_ops=("Attention",))
  case("fusion_attention_not_before_opset23", einsum_attention, qs, kvs, kvs,
       opset=21, **unfused)
  case("fusion_attention_not_without_components", einsum_attention, qs, kvs, kvs,
       opset=23, options={"components": False}, **unfused)
  case("fusion_attention_not_bias_after_scale",     # softmax((S + bias) * scale): not Attention's
       lambda q, k, v, b: jax.nn.softmax((q @ jnp.swapaxes(k, -1, -2) + b) * 0.125, -1) @ v,
       heads_first_q, heads_first_kv, heads_first_kv, ("B", 1, 6, 7), opset=23, **unfused)
  case("fusion_attention_not_softmax_over_queries",
       lambda q, k, v: jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2), axis=-2) @ v,
       heads_first_q, heads_first_kv, heads_first_kv, opset=23, **unfused)
  case("fusion_attention_not_probabilities_read_twice",
       lambda q, k, v: (lambda p: (p @ v, p))(jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2), -1)),
       heads_first_q, heads_first_kv, heads_first_kv, opset=23, **unfused)

  # Norms written out, constants closed over as a module's parameters are.
  rng = np.random.default_rng(0)
  scale, bias = (rng.standard_normal(16).astype(np.float32) for _ in range(2))

  def layer_norm(x, axes=-1, eps=1e-5):
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.var(x, axis=axes, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * scale + bias

  def rms_norm(x):
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * scale

  def shifted(rng, shape):       # |mean| >> std: E[x^2] - E[x]^2 would lose it all
    return (1000 + rng.standard_normal(shape)).astype(np.float32)

  x = ("B", 5, 16)
  norm = dict(covers="jax_onnx.fusions.norm", atol=2e-5,
              forbid_ops=("ReduceSum", "Sqrt", "Reciprocal", "Sub"))
  case("fusion_layer_norm", layer_norm, x, expect_ops=("LayerNormalization",), **norm)
  # At mean 1000, x - mean keeps ~13 bits: JAX's float32 statistics are 1e-4
  # from exact (ONNX Runtime's 6e-5); E[x^2] - E[x]^2 would be off by ~10%.
  case("fusion_layer_norm_shifted_inputs", layer_norm, Spec(x, "float32", shifted),
       expect_ops=("LayerNormalization",), **dict(norm, atol=1e-3))
  case("fusion_layer_norm_two_axes", lambda x: layer_norm(x, (-2, -1)), x,
       expect_ops=("LayerNormalization",), **norm)
  case("fusion_layer_norm_divide_no_affine",
       lambda x: (x - x.mean(-1, keepdims=True)) / jnp.sqrt(x.var(-1, keepdims=True) + 1e-6),
       x, expect_ops=("LayerNormalization",), **norm)
  case("fusion_layer_norm_traced_scale",     # a non-constant scale stays a Mul
       lambda x, s: layer_norm(x) * s, x, (16,), expect_ops=("LayerNormalization", "Mul"),
       **norm)
  case("fusion_rms_norm", rms_norm, x, opset=23, expect_ops=("RMSNormalization",), **norm)
  unfused = dict(covers="jax_onnx.fusions.norm", atol=2e-5,
                 forbid_ops=("LayerNormalization", "RMSNormalization"))
  case("fusion_rms_norm_not_before_opset23", rms_norm, x, opset=21, **unfused)
  case("fusion_layer_norm_not_over_a_middle_axis", lambda x: layer_norm(x, 1), x, **unfused)
  case("fusion_layer_norm_not_fast_variance",   # jax.nn.standardize: E[x^2] - E[x]^2
       lambda x: jax.nn.standardize(x, axis=-1, epsilon=1e-5), x, **unfused)
  case("fusion_layer_norm_not_without_components", layer_norm, x,
       options={"components": False}, **unfused)


_cases()
