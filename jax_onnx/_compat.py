"""The one place where jax_onnx touches JAX internals (``jax._src``).

The tracing API moves between JAX releases; keeping every private import here
means a JAX upgrade is a change to this file, not a hunt through the package.
Tested with the JAX range pinned in pyproject.toml.
"""
from __future__ import annotations

import os

import jax
from jax._src import core as _core
from jax._src import source_info_util as _siu
from jax._src.export import shape_poly as _shape_poly

Tracer = _core.Tracer
Trace = _core.Trace
ShapedArray = _core.ShapedArray
InconclusiveDimensionOperation = _core.InconclusiveDimensionOperation
set_current_trace = _core.set_current_trace
eval_jaxpr = _core.eval_jaxpr
SymbolicScope = _shape_poly.SymbolicScope
symbolic_shape = _shape_poly.symbolic_shape
DimExpr = _shape_poly._DimExpr
DimFactor = _shape_poly._DimFactor

# Frames inside jax_onnx are not the user's: source lines must point past us.
_siu.register_exclusion(os.path.dirname(os.path.abspath(__file__)))


def current_trace():
  return _core.trace_ctx.trace


class Source:
  """Where a JAX op came from: its SourceInfo, and the Source of the call
  (jit, custom_jvp, ...) it was spliced from. Inside jnp's inline jits the
  recorded traceback stops at jnp; the user's line is then the call site's."""
  __slots__ = ("info", "outer")

  def __init__(self, info, outer: "Source | None" = None):
    self.info = info
    self.outer = outer

  @property
  def name_stack(self):
    return self.info.name_stack

  def line(self) -> str:
    src = self
    while src is not None:
      tb = src.info.traceback
      frame = _siu.user_frame(tb) if tb is not None else None
      if frame is not None:
        return _siu._summarize_frame(frame)
      src = src.outer
    return "unknown"


def current_source(outer: "Source | None" = None) -> Source:
  return Source(_siu.current(), outer)


def is_symbolic_dim(d) -> bool:
  return _shape_poly.is_symbolic_dim(d)


def dim_terms(e: DimExpr):
  """[(coefficient, [(factor, exponent), ...]), ...] of a symbolic dimension."""
  return [(coeff, list(term._factors)) for term, coeff in e._sorted_terms]


def factor_parts(f: DimFactor):
  """(var, None, ()) for a variable; (None, 'floordiv'|'mod'|'max'|'min', operands)."""
  return f.var, f.operation, tuple(f.operands)


def dim_vars(e) -> set[str]:
  return set(e._get_vars()) if is_symbolic_dim(e) else set()


def is_x64_enabled() -> bool:
  return bool(jax.config.jax_enable_x64)


def extra_primitives() -> dict:
  """Primitives that jnp/lax bind but jax.extend.core.primitives does not list."""
  from jax._src.lax import lax as _lax
  return {"stack": _lax.stack_p, "unstack": _lax.unstack_p, "tile": _lax.tile_p,
          "split": _lax.split_p,
          "optimization_barrier": _lax.optimization_barrier_p,
          "dim_as_value": _shape_poly.dim_as_value_p}
