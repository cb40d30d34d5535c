"""Emitting ONNX nodes: the small API that rules write against."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from jax_onnx.graph import Graph, Namer, Node

# Constants up to this many bytes are deduplicated by content; larger ones by
# the identity of the array they came from (hashing weights would cost time).
_HASH_LIMIT_BYTES = 1 << 16


class GraphBuilder:
  """Appends nodes to one Graph; constants always go to the root graph."""

  def __init__(self, graph: Graph, namer: Namer, consts: "ConstantPool"):
    self.graph = graph
    self.namer = namer
    self.consts = consts
    self.source = None   # set by the trace while a primitive's rule runs

  def op(self, op_type: str, *inputs: str | None, outputs: int = 1,
         domain: str = "", **attrs: Any):
    """Appends one node; returns its output name (or a list if outputs != 1).

    A None input is an omitted optional input. None-valued attributes are dropped.
    """
    outs = [self.namer(op_type) for _ in range(outputs)]
    attrs = {k: v for k, v in attrs.items() if v is not None}
    ins = ["" if i is None else i for i in inputs]
    self.graph.nodes.append(Node(op_type, ins, outs, attrs, domain, self.source))
    return outs[0] if outputs == 1 else outs

  def const(self, value, dtype=None) -> str:
    return self.consts.add(np.asarray(value, dtype=dtype))


class ConstantPool:
  """The root graph's initializers, deduplicated."""

  def __init__(self, root: Graph, namer: Namer):
    self.root = root
    self.namer = namer
    self._by_content: dict[tuple, str] = {}
    self._by_id: dict[int, tuple[Any, str]] = {}

  def add(self, array: np.ndarray, origin: Any = None) -> str:
    """Name of an initializer holding `array`. `origin` is the object it came
    from (a jax.Array); arrays from the same object are stored once."""
    if origin is not None:
      hit = self._by_id.get(id(origin))
      if hit is not None:
        return hit[1]
    if array.nbytes <= _HASH_LIMIT_BYTES:
      key = (array.dtype.str, array.shape, hashlib.blake2b(
          np.ascontiguousarray(array).tobytes(), digest_size=16).digest())
      name = self._by_content.get(key)
      if name is None:
        name = self._by_content[key] = self._new(array)
    else:
      name = self._new(array)
    if origin is not None:
      self._by_id[id(origin)] = (origin, name)   # keep origin alive: ids stay unique
    return name

  def _new(self, array: np.ndarray) -> str:
    name = self.namer("const" if array.size <= 16 else "weight")
    self.root.initializers[name] = array
    return name
