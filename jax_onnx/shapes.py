"""Symbolic dimensions: JAX dim expressions -> ONNX dim_params and shape arithmetic.

Every symbolic dimension variable ('B') is read once from the first graph input
axis where it stands alone (Shape(x, start=i, end=i+1)); expressions such as
2*B, B*H, B//2 are built from those with int64 Mul/Add/Div/Mod/Max/Min nodes,
each expression once per export. All dims are int64 tensors of shape [1].
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from jax_onnx import _compat
from jax_onnx.errors import SpecError


def is_static_dim(d) -> bool:
  """A known size, not a symbolic dimension."""
  return isinstance(d, (int, np.integer))


def is_static(shape: Sequence) -> bool:
  return all(is_static_dim(d) for d in shape)


_DIM_PARAMS: dict = {}


def _dim_param(d) -> str:
  name = _DIM_PARAMS.get(d)
  if name is None:
    name = _DIM_PARAMS[d] = str(d).replace(" ", "")
  return name


def onnx_dims(shape: Sequence) -> tuple:
  """Shape for ONNX type info: ints stay ints, symbolic dims become dim_params
  named by the JAX expression ('B', '2*B')."""
  return tuple(int(d) if is_static_dim(d) else _dim_param(d)
               for d in shape)


class SymbolicDims:

  def __init__(self, root_builder):
    self.b = root_builder    # shape arithmetic always lives in the root graph
    self.sources: dict[str, tuple[str, int]] = {}
    self._cache: dict = {}

  def add_input(self, name: str, shape: Sequence) -> None:
    for axis, d in enumerate(shape):
      if _compat.is_symbolic_dim(d):
        var = d._to_var()
        if var is not None and var not in self.sources:
          self.sources[var] = (name, axis)

  def check_solvable(self, shapes: Sequence[Sequence]) -> None:
    needed = set()
    for shape in shapes:
      for d in shape:
        needed |= _compat.dim_vars(d)
    unsolved = sorted(needed - set(self.sources))
    if unsolved:
      raise SpecError(
          f"symbolic dimension(s) {unsolved} only appear inside expressions "
          "(such as 2*N) in the input specs; each variable must also be a whole "
          "dimension of some input so its value can be read at run time.")

  # -- values -------------------------------------------------------------

  def dim(self, d) -> str:
    """ONNX int64 [1] tensor holding dimension `d` (int or symbolic)."""
    if not _compat.is_symbolic_dim(d):
      return self.b.const(np.array([int(d)], np.int64))
    hit = self._cache.get(d)
    if hit is None:
      hit = self._cache[d] = self._expr(d)
    return hit

  def shape(self, shape: Sequence) -> str:
    """ONNX int64 1-D tensor holding a whole shape."""
    if is_static(shape):
      return self.b.const(np.array([int(d) for d in shape], np.int64))
    key = ("shape", tuple(shape))
    hit = self._cache.get(key)
    if hit is None:
      pieces, run = [], []
      for d in shape:
        if _compat.is_symbolic_dim(d):
          if run:
            pieces.append(self.b.const(np.array(run, np.int64)))
            run = []
          pieces.append(self.dim(d))
        else:
          run.append(int(d))
      if run:
        pieces.append(self.b.const(np.array(run, np.int64)))
      hit = self._cache[key] = (pieces[0] if len(pieces) == 1
                                else self.b.op("Concat", *pieces, axis=0))
    return hit

  def scalar(self, d, dtype) -> str:
    """Dimension `d` as a rank-0 tensor of `dtype` (for dim_as_value)."""
    v = self.b.op("Squeeze", self.dim(d), self.b.const(np.array([0], np.int64)))
    if np.dtype(dtype) != np.int64:
      from jax_onnx.dtypes import onnx_dtype
      v = self.b.op("Cast", v, to=onnx_dtype(dtype))
    return v

  # -- expression evaluation ---------------------------------------------

  def _var(self, var: str) -> str:
    key = ("var", var)
    hit = self._cache.get(key)
    if hit is None:
      if var not in self.sources:
        raise SpecError(f"symbolic dimension '{var}' does not appear as a whole "
                        "dimension of any input, so its value is unknown at run time.")
      name, axis = self.sources[var]
      hit = self._cache[key] = self.b.op("Shape", name, start=axis, end=axis + 1)
    return hit

  def _expr(self, e) -> str:
    total = None
    for coeff, factors in _compat.dim_terms(e):
      term = None
      for factor, exp in factors:
        f = self._factor(factor)
        for _ in range(exp):
          term = f if term is None else self.b.op("Mul", term, f)
      if term is None:
        term = self.b.const(np.array([coeff], np.int64))
      elif coeff != 1:
        term = self.b.op("Mul", term, self.b.const(np.array([coeff], np.int64)))
      total = term if total is None else self.b.op("Add", total, term)
    return total

  def _factor(self, f) -> str:
    var, operation, operands = _compat.factor_parts(f)
    if var is not None:
      return self._var(var)
    a, b = (self.dim(o) for o in operands)
    if operation == "floordiv":   # Python floor division, exact for any signs
      return self.b.op("Div", self.b.op("Sub", a, self.b.op("Mod", a, b)), b)
    if operation == "mod":        # int Mod with fmod=0 takes the divisor's sign, as Python
      return self.b.op("Mod", a, b)
    if operation == "max":
      return self.b.op("Max", a, b)
    if operation == "min":
      return self.b.op("Min", a, b)
    raise NotImplementedError(f"symbolic dimension operation {operation!r}")
