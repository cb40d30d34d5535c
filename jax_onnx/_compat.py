"""The one place where jax_onnx touches JAX internals (``jax._src``).

The tracing API moves between JAX releases; keeping every private import here
means a JAX upgrade is a change to this file, not a hunt through the package.
Tested with the JAX range pinned in pyproject.toml.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax._src import core as _core
from jax._src import dtypes as _dtypes
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
  from jax._src.random import core as _random
  from jax._src.random import prng as _prng
  return {"stack": _lax.stack_p, "unstack": _lax.unstack_p, "tile": _lax.tile_p,
          "split": _lax.split_p,
          "optimization_barrier": _lax.optimization_barrier_p,
          "dim_as_value": _shape_poly.dim_as_value_p,
          **{p.name: p for p in (_prng.random_wrap_p, _prng.random_unwrap_p,
                                 _prng.iota_2x32_shape_p, _random.random_clone_p)}}


# -- typed PRNG keys (extended dtype key<impl>): an OnnxTracer of a key array
# holds its uint32 key data, of the physical shape aval.shape + impl.key_shape.

def is_key_dtype(dtype) -> bool:
  return isinstance(dtype, _dtypes.ExtendedDType) and _dtypes.issubdtype(
      dtype, _dtypes.prng_key)


def is_complex_dtype(dtype) -> bool:
  return isinstance(dtype, np.dtype) and dtype.kind == "c"


def has_physical(dtype) -> bool:
  """Dtypes the trace holds as other data: keys (uint32 words) and complex
  numbers ([re, im] pairs on a trailing axis: ONNX Runtime has no complex)."""
  return is_key_dtype(dtype) or is_complex_dtype(dtype)


def physical_aval(aval):
  """The aval of the data the trace holds: a key array's uint32 data, a complex
  array's float [..., 2] pairs (other avals unchanged)."""
  if is_complex_dtype(aval.dtype):
    real = np.dtype(np.float64 if aval.dtype == np.complex128 else np.float32)
    return aval.update(shape=(*aval.shape, 2), dtype=real, weak_type=False)
  return _core.physical_aval(aval)


def to_physical(x, dtype) -> np.ndarray:
  """The data (numpy) the trace holds for the concrete value `x` of `dtype`."""
  if is_key_dtype(dtype):
    return key_data(x)
  if is_complex_dtype(dtype):
    x = np.asarray(x, dtype=dtype)
    return np.stack([x.real, x.imag], axis=-1)
  return np.asarray(x, dtype=dtype)


def to_logical(data, dtype):
  """The concrete value of `dtype` that the trace's `data` stands for."""
  if is_key_dtype(dtype):
    return wrap_key(data, dtype)
  if is_complex_dtype(dtype):
    x = np.empty(data.shape[:-1], dtype)
    x.real, x.imag = data[..., 0], data[..., 1]
    return x
  return data


def key_data(keys):
  """The uint32 data (numpy) of a concrete key array."""
  return np.asarray(keys._base_array)


def wrap_key(data, dtype):
  """A concrete key array of key dtype `dtype` holding the uint32 `data`."""
  from jax._src.random import prng
  return prng.PRNGKeyArray(dtype._impl, data)


def prng_module():
  from jax._src.random import prng
  return prng


def random_gamma_impl():
  """JAX's implementation of random_gamma (its lowering), on typed keys."""
  from jax._src.random import core
  return core._gamma_impl


def special_impls() -> dict:
  """JAX's own lax-level implementations of the special functions it lowers by
  decomposition (jax._src.lax.special): {name: fn(*args, dtype=...)}."""
  from jax._src.lax import special as _sp
  return {"igamma": _sp.igamma_impl, "igammac": _sp.igammac_impl,
          "igamma_grad_a": _sp.igamma_grad_a_impl,
          "regularized_incomplete_beta": _sp.regularized_incomplete_beta_impl,
          "bessel_i0e": lambda x, dtype: _sp.bessel_i0e_impl(x)}


# -- composites (jax.lax.composite) ---------------------------------------------
from jax._src.hashable_array import HashableArray  # noqa: F401  (composite attributes)
from jax._src.interpreters import ad as _ad
from jax._src.interpreters import batching as _batching
from jax._src.interpreters import partial_eval as _pe
from jax._src.lax import lax as _lax_internal

composite_p = _lax_internal.composite_p


def is_staging_trace(trace) -> bool:
  """A trace that records a jaxpr (jax.jit, scan bodies...), as opposed to one
  that transforms values (vmap, jvp)."""
  return isinstance(trace, _pe.DynamicJaxprTrace)


def _composite_batcher(axis_data, args, dims, *, jaxpr, **_):
  # vmap of a composite: vmap its decomposition (the component is not kept).
  fn = _core.jaxpr_as_fun(jaxpr)
  outs = jax.vmap(fn, in_axes=tuple(dims), axis_size=axis_data.size,
                  axis_name=axis_data.name)(*args)
  return outs, [0] * len(outs)


def _composite_jvp(primals, tangents, *, jaxpr, **_):
  # jvp of a composite: jvp of its decomposition.
  tangents = [_ad.instantiate_zeros(t) for t in tangents]
  return jax.jvp(_core.jaxpr_as_fun(jaxpr), list(primals), tangents)


def install_composite_transforms():
  """Gives composite_p vmap and jvp rules (by its decomposition) while jax_onnx
  routes library functions through composites; returns the undo callable."""
  old_batcher = _batching.fancy_primitive_batchers.get(composite_p)
  old_jvp = _ad.primitive_jvps.get(composite_p)
  _batching.fancy_primitive_batchers[composite_p] = _composite_batcher
  _ad.primitive_jvps[composite_p] = _composite_jvp

  def undo():
    if old_batcher is None:
      _batching.fancy_primitive_batchers.pop(composite_p, None)
    else:
      _batching.fancy_primitive_batchers[composite_p] = old_batcher
    _ad.primitive_jvps[composite_p] = old_jvp
  return undo


def eager():
  """A context in which JAX computes eagerly, also inside an export (building a
  test-case model on first use)."""
  return _core.set_current_trace(_core.eval_trace)
