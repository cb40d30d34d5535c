"""onnx_trace: a JAX trace whose every primitive becomes ONNX nodes as it is bound.

No jaxpr is staged and walked: `OnnxTrace.process_primitive` receives each
primitive with its operands (our tracers, or concrete arrays that JAX hands
over: weights, literals) and calls that primitive's rule from the registry.
Higher-order primitives (jit, control flow) are evaluated compositionally: their
sub-jaxprs are run under this trace (spliced), or under a fresh `OnnxTrace` that
builds an ONNX subgraph.
"""
from __future__ import annotations

import collections
import contextlib
import math
from typing import Any, Callable, Sequence

import jax
import jax.extend.core.primitives as _prims
import ml_dtypes
import numpy as np

from jax_onnx import _compat
from jax_onnx.builder import ConstantPool, GraphBuilder
from jax_onnx.context import RuleContext
from jax_onnx.dtypes import onnx_dtype
from jax_onnx.errors import TracerLeakError, UnsupportedParameters
from jax_onnx.graph import Graph, Namer
from jax_onnx.registry import get_rule
from jax_onnx.shapes import SymbolicDims, is_static, onnx_dims

# The value name given to results of primitives that have no rule: tracing goes
# on so that one error can list every unsupported primitive.
MISSING = "<missing>"

# Constant inputs are folded by running the primitive in JAX, when the result
# is no larger than this many elements or than the inputs (transposes and casts
# of weights fold; broadcasting a scalar to a big tensor does not).
FOLD_MIN_ELEMENTS = 4096


def _fold_convert(x, *, new_dtype, **_):
  # numpy's casts agree with XLA's except float -> int (saturation, NaN): JAX does those.
  if np.dtype(new_dtype).kind in "iu" and x.dtype.kind == "f":
    return None
  return x.astype(new_dtype)


def _fold_broadcast(x, *dyn, shape, broadcast_dimensions, **_):
  if dyn:
    return None
  expanded = [1] * len(shape)
  for src, dst in zip(x.shape, broadcast_dimensions):
    expanded[dst] = src
  if list(broadcast_dimensions) != sorted(broadcast_dimensions):
    return None
  return np.broadcast_to(x.reshape(expanded), shape)


def _fold_reshape(x, *, new_sizes, dimensions, **_):
  return None if dimensions is not None else x.reshape(new_sizes)


# Folds of cheap structural primitives in numpy: running them in JAX eagerly
# costs a dispatch (and a compile per new shape) for each weak-typed literal.
_NUMPY_FOLDS = {
    _prims.convert_element_type_p: _fold_convert,
    _prims.broadcast_in_dim_p: _fold_broadcast,
    _prims.reshape_p: _fold_reshape,
    _prims.squeeze_p: lambda x, *, dimensions: np.squeeze(x, tuple(dimensions)),
    _prims.transpose_p: lambda x, *, permutation: np.transpose(x, permutation),
}


# Half-precision floats are computed per primitive in float32 and rounded back,
# as XLA does on CPU: ONNX Runtime has few bfloat16 kernels, and its float16
# kernels are not all exact (Where(c, -0.0, x) in float16 loses the sign).
_HALF = (np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16))

# Primitives that only move or relabel data, with ONNX Runtime kernels for half
# floats: they stay in bfloat16/float16 (everything else computes in float32;
# not broadcast_in_dim: ORT has no bfloat16 Expand).
_ANY_DTYPE = {
    _prims.convert_element_type_p, _prims.reshape_p, _prims.transpose_p, _prims.squeeze_p,
    _prims.concatenate_p, _prims.slice_p, _prims.gather_p, _prims.dynamic_slice_p,
    _prims.copy_p, _prims.stop_gradient_p, _prims.device_put_p, _prims.sharding_constraint_p,
    _prims.bitcast_convert_type_p, _prims.nextafter_p, _prims.reduce_precision_p,  # own format
    _prims.exp2_p,   # rounds like XLA inside its rule
}

# JAX's abstract evaluation is a pure function of (primitive, avals, params) and
# is the largest per-primitive cost after binding itself: memoise it.
_ABSTRACT_EVAL_CACHE: dict = {}
_ABSTRACT_EVAL_CACHE_SIZE = 1 << 16


# Primitives that take or make typed PRNG keys themselves (rules/random.py).
# Any other primitive with key operands only moves keys: see _on_key_data.
KEY_PRIMITIVES = {"random_seed", "random_wrap", "random_unwrap", "random_bits",
                  "random_split", "random_fold_in"}


def _moves_keys(primitive, ins, out_avals) -> bool:
  return (primitive.name not in KEY_PRIMITIVES
          and any(_compat.is_key_dtype(t.aval.dtype) for t in ins)
          and all(_compat.is_key_dtype(a.dtype) for a in out_avals))


def _has_complex(ins, out_avals) -> bool:
  return any(_compat.is_complex_dtype(a.dtype) for a in [t.aval for t in ins] + out_avals)


# Primitives that act on the real and imaginary parts of complex values
# independently (moves, and sums of complex values): run on the pairs.
COMPLEX_BY_PART = {
    "reshape", "transpose", "slice", "concatenate", "broadcast_in_dim", "squeeze",
    "expand_dims", "gather", "dynamic_slice", "dynamic_update_slice", "select_n", "pad",
    "rev", "copy", "copy_p", "device_put", "stop_gradient", "sharding_constraint",
    "optimization_barrier", "split", "tile", "add", "sub", "neg", "reduce_sum",
    "cumsum", "add_any", "scatter",
}

# Rules for primitives with complex arithmetic: {Primitive: rule(ctx, *args, **params)}.
COMPLEX_RULES: dict = {}


def _abstract_eval(primitive, avals, params):
  try:
    key = (primitive, tuple(avals), tuple(params.items()))
    hit = _ABSTRACT_EVAL_CACHE.get(key)
  except TypeError:   # unhashable params (jaxprs, callables): no caching
    return primitive.abstract_eval(*avals, **params)
  if hit is None:
    hit = primitive.abstract_eval(*avals, **params)
    if len(_ABSTRACT_EVAL_CACHE) >= _ABSTRACT_EVAL_CACHE_SIZE:
      _ABSTRACT_EVAL_CACHE.clear()
    _ABSTRACT_EVAL_CACHE[key] = hit
  return hit


class ComplexContext(RuleContext):
  """The ctx of a complex rule: avals are physical, logical_in/out JAX's own."""
  __slots__ = ("logical_in", "logical_out")


class ExportState:
  """What one export shares across the main graph and all its subgraphs."""

  def __init__(self, opset: int, options: Any):
    self.opset = opset
    self.options = options
    self.namer = Namer()
    self.root = Graph("main")
    self.consts = ConstantPool(self.root, self.namer)
    self.root_builder = GraphBuilder(self.root, self.namer, self.consts)
    self.dims = SymbolicDims(self.root_builder)
    self.missing: dict[str, list[str]] = {}   # primitive name -> source lines
    self.reasons: dict[str, str] = {}          # why a primitive cannot be exported
    self.functions: dict = {}   # (jaxpr id, avals) -> (jaxpr, LocalFunction)
    self.call_site = None       # Source of the enclosing higher-order primitive
    self.fold = getattr(options, "constant_folding", True)
    self.primitive_count = 0
    # (component, 'fused' | 'decomposed') -> count
    self.components: collections.Counter = collections.Counter()

  def subgraph_builder(self, name: str, parent: Graph) -> GraphBuilder:
    return GraphBuilder(Graph(self.namer(name), parent), self.namer, self.consts)


class OnnxTracer(_compat.Tracer):
  """A JAX value in the ONNX graph: a value name, and/or a known constant."""
  __slots__ = ("value", "const", "origin")

  def __init__(self, trace: "OnnxTrace", aval, value: str | None = None,
               const: np.ndarray | None = None, origin: Any = None):
    super().__init__(trace, aval)
    self.value = value     # ONNX value name; None until a constant is needed
    self.const = const     # numpy value when known at export time
    self.origin = origin   # the jax.Array a constant came from (for dedupe)

  def to_concrete_value(self):
    if self.const is not None:
      return _compat.to_logical(self.const, self.aval.dtype)
    return self.const

  def full_lower(self):
    return self


class OnnxTrace(_compat.Trace):

  def __init__(self, export: ExportState, builder: GraphBuilder):
    super().__init__()
    self.export = export
    self.builder = builder

  # -- values ----------------------------------------------------------------
  def new_input(self, name: str, aval) -> OnnxTracer:
    return OnnxTracer(self, aval, name)

  def lift(self, x) -> OnnxTracer:
    if isinstance(x, OnnxTracer):
      if x._trace is self:
        return x
      if x._trace.export is self.export and x._trace.is_valid():
        # A value of an enclosing graph: ONNX subgraphs read it by name.
        return OnnxTracer(self, x.aval, x.value, x.const, x.origin)
      raise TracerLeakError(
          "a value from a finished or different jax_onnx export was used here "
          "(was a traced value stored in a global or a closure?). Pass it as an "
          "argument of the exported function instead.")
    if isinstance(x, _compat.Tracer):
      raise TracerLeakError(
          f"a value traced by another JAX transformation ({type(x).__name__}, "
          f"{x.aval.str_short()}) reached the ONNX export. jax_onnx.transform "
          "must be the outermost transformation: call it outside jax.jit/grad/vmap, "
          "or pass that value as an argument of the exported function.")
    aval = jax.typeof(x)
    if not isinstance(aval, _compat.ShapedArray):
      raise TypeError(f"jax_onnx cannot export a value of type {type(x).__name__} ({aval})")
    # (a typed PRNG key array is held as its uint32 key data, complex as pairs)
    const = _compat.to_physical(x, aval.dtype)
    # Arrays are deduplicated by identity (a weight used twice is stored once).
    origin = x if isinstance(x, (jax.Array, np.ndarray)) else None
    return OnnxTracer(self, aval, None, const, origin)

  def materialize(self, t: OnnxTracer) -> str:
    if t.value is None:
      t.value = self.export.consts.add(t.const, origin=t.origin)
    return t.value

  def stage_value(self, val):
    return self.lift(val)

  # -- primitives --------------------------------------------------------------
  def process_primitive(self, primitive, tracers, params, /):
    ins = [self.lift(t) for t in tracers]
    rule = get_rule(primitive)
    self.export.primitive_count += 1
    if rule is not None and rule.higher_order:
      export = self.export
      outer = export.call_site
      export.call_site = _compat.current_source(outer)
      try:
        return rule.fn(self, ins, **params)
      finally:
        export.call_site = outer
    out_avals, effects = _abstract_eval(primitive, [t.aval for t in ins], params)
    multiple = primitive.multiple_results
    out_avals = list(out_avals) if multiple else [out_avals]
    if effects:
      rule = None   # effects (prints, callbacks, ordered IO) have no ONNX meaning
      self.export.reasons.setdefault(primitive.name, (
          "it has side effects (printing, callbacks, IO), which an ONNX graph cannot "
          "express: remove it from the exported function"))

    if any(t.value == MISSING for t in ins):
      outs = [OnnxTracer(self, a, MISSING) for a in out_avals]
    elif not effects and (folded := self._fold(primitive, ins, out_avals, params)) is not None:
      outs = folded
    elif _moves_keys(primitive, ins, out_avals):
      outs = self._on_key_data(primitive, ins, out_avals, params)
    elif _has_complex(ins, out_avals):
      outs = self._on_complex(primitive, ins, out_avals, params)
    elif rule is None:
      source = _compat.current_source(self.export.call_site).line()
      self.export.missing.setdefault(primitive.name, []).append(source)
      outs = [OnnxTracer(self, a, MISSING) for a in out_avals]
    else:
      try:
        outs = self._apply_rule(rule, primitive, ins, out_avals, params)
      except UnsupportedParameters as e:
        self.builder.source = None
        source = _compat.current_source(self.export.call_site).line()
        self.export.missing.setdefault(primitive.name, []).append(source)
        self.export.reasons[primitive.name] = str(e)
        outs = [OnnxTracer(self, a, MISSING) for a in out_avals]
    return outs if multiple else outs[0]

  def _apply_rule(self, rule, primitive, ins, out_avals, params):
    builder = self.builder
    builder.source = _compat.current_source(self.export.call_site)
    args = [self.materialize(t) for t in ins]
    if primitive not in _ANY_DTYPE and any(
        a.dtype in _HALF for a in [t.aval for t in ins] + out_avals):
      names = self._apply_in_float32(rule, primitive, ins, args, out_avals, params)
    else:
      ctx = RuleContext(self, primitive, ins, out_avals)
      result = rule.fn(ctx, *args, **params)
      names = result if primitive.multiple_results else [result]
    if len(names) != len(out_avals):
      raise AssertionError(f"rule for {primitive} returned {len(names)} values, "
                           f"expected {len(out_avals)}")
    builder.source = None
    return self.typed_outputs(names, out_avals)

  def typed_outputs(self, names, avals) -> list[OnnxTracer]:
    """Tracers for values this graph computes (rule results, control-flow and
    function-call outputs), with their types recorded for the shape info. A
    name that already has a type (a rule returning its input) keeps it."""
    names = names if isinstance(names, list) else [names]
    types = self.builder.graph.value_types
    for name, aval in zip(names, avals):
      phys = _compat.physical_aval(aval)   # key arrays: their uint32 data
      types.setdefault(name, (phys.dtype, onnx_dims(phys.shape)))
    return [OnnxTracer(self, aval, name) for name, aval in zip(names, avals)]

  def _apply_in_float32(self, rule, primitive, ins, args, out_avals, params):
    """Half-precision arithmetic as XLA does it on CPU: in float32, each result
    rounded back to its half type."""
    to32 = lambda a: a.update(dtype=np.dtype(np.float32)) if a.dtype in _HALF else a
    f32 = onnx_dtype(np.float32)
    wide_ins = []
    for t, name in zip(ins, args):
      wide = t.aval.dtype in _HALF
      wide_ins.append(OnnxTracer(
          self, to32(t.aval), self.builder.op("Cast", name, to=f32) if wide else name,
          t.const.astype(np.float32) if wide and t.const is not None else t.const))
    if params.get("preferred_element_type") in _HALF:
      params = dict(params, preferred_element_type=np.dtype(np.float32))
    ctx = RuleContext(self, primitive, wide_ins, [to32(a) for a in out_avals])
    result = rule.fn(ctx, *[w.value for w in wide_ins], **params)
    names = result if primitive.multiple_results else [result]
    return [self.builder.op("Cast", n, to=onnx_dtype(a.dtype)) if a.dtype in _HALF else n
            for n, a in zip(names, out_avals)]

  def _fold(self, primitive, ins, out_avals, params):
    """Runs the primitive in JAX when all its operands are known constants."""
    if not self.export.fold or not all(t.const is not None for t in ins):
      return None
    if not all(is_static(a.shape) for a in out_avals):
      return None
    out_size = sum(math.prod(a.shape) for a in out_avals)
    in_size = sum(t.const.size for t in ins)
    if out_size > max(FOLD_MIN_ELEMENTS, in_size):
      return None
    keys = [_compat.has_physical(a.dtype) for a in [t.aval for t in ins] + out_avals]
    fast = None if any(keys) else _NUMPY_FOLDS.get(primitive)
    # JAX runs typed keys and complex numbers as such; the trace holds their data.
    consts = [_compat.to_logical(t.const, t.aval.dtype) for t in ins]
    try:
      result = fast(*consts, **params) if fast else None
      if result is None:
        result = primitive.bind(*consts, **params)
    except Exception:   # noqa: BLE001 - anything JAX can't run eagerly stays a node
      return None
    results = result if primitive.multiple_results else [result]
    return [OnnxTracer(self, a, None, _compat.to_physical(r, a.dtype))
            for a, r in zip(out_avals, results)]

  def _on_key_data(self, primitive, ins, out_avals, params):
    """A primitive that moves typed keys around (slice, gather, select_n,
    concatenate, ...) is applied to their uint32 data, vmapped over the
    trailing key-data axes: what JAX's lowering of such ops does."""
    phys = [OnnxTracer(self, _compat.physical_aval(t.aval), t.value, t.const, t.origin)
            for t in ins]
    fn = lambda *xs: primitive.bind(*xs, **params)
    ndim = len(_compat.physical_aval(out_avals[0]).shape) - len(out_avals[0].shape)
    for _ in range(ndim):
      fn = jax.vmap(fn, in_axes=[-1 if _compat.has_physical(t.aval.dtype) else None
                                 for t in ins], out_axes=-1)
    with _compat.set_current_trace(self):
      outs = fn(*phys)
    outs = [self.lift(o) for o in (outs if primitive.multiple_results else [outs])]
    return [OnnxTracer(self, a, o.value, o.const) for a, o in zip(out_avals, outs)]

  def _on_complex(self, primitive, ins, out_avals, params):
    """A primitive on complex values (held as [re, im] pairs): one that moves
    data or is linear per part (COMPLEX_BY_PART) runs on the pairs like keys do;
    one with complex arithmetic has a rule in COMPLEX_RULES (rules/complex.py)
    that sees the pairs (ctx avals are the physical ones)."""
    if primitive.name in COMPLEX_BY_PART:
      return self._on_key_data(primitive, ins, out_avals, params)
    rule = COMPLEX_RULES.get(primitive)
    if rule is None:
      source = _compat.current_source(self.export.call_site).line()
      self.export.missing.setdefault(primitive.name, []).append(source)
      self.export.reasons.setdefault(primitive.name, (
          "no rule for it on complex numbers (carried as [re, im] pairs: ONNX Runtime "
          "has no complex tensors)"))
      return [OnnxTracer(self, a, MISSING) for a in out_avals]
    self.builder.source = _compat.current_source(self.export.call_site)
    args = [self.materialize(t) for t in ins]
    phys = [OnnxTracer(self, _compat.physical_aval(t.aval), n, t.const)
            for t, n in zip(ins, args)]
    ctx = ComplexContext(self, primitive, phys, [_compat.physical_aval(a) for a in out_avals])
    ctx.logical_in, ctx.logical_out = [t.aval for t in ins], out_avals
    result = rule(ctx, *args, **params)
    self.builder.source = None
    return self.typed_outputs(result if primitive.multiple_results else [result], out_avals)

  # -- calls -----------------------------------------------------------------
  def call_jax(self, fn: Callable, *args):
    """Runs a JAX function on this trace (from inside a rule)."""
    with _compat.set_current_trace(self):
      return fn(*args)

  def eval_jaxpr(self, closed_jaxpr, args: Sequence) -> list:
    """Splices a (closed) jaxpr into this graph."""
    with _compat.set_current_trace(self):
      return _compat.eval_jaxpr(closed_jaxpr.jaxpr, closed_jaxpr.consts, *args)

  def process_call(self, call_primitive, f, tracers, params, /):
    del call_primitive, params
    with _compat.set_current_trace(self):
      return f.call_wrapped(*tracers)

  def process_custom_jvp_call(self, primitive, fun, jvp, tracers, /, *, symbolic_zeros):
    del primitive, jvp, symbolic_zeros   # inference only needs the primal
    with _compat.set_current_trace(self):
      return fun.call_wrapped(*tracers)

  def process_custom_vjp_call(self, primitive, fun, fwd, bwd, tracers, /, *,
                              out_trees, symbolic_zeros):
    del primitive, fwd, bwd, out_trees, symbolic_zeros
    with _compat.set_current_trace(self):
      return fun.call_wrapped(*tracers)


@contextlib.contextmanager
def tracing(trace: OnnxTrace):
  """Makes `trace` the current JAX trace; invalidates it afterwards."""
  try:
    with _compat.set_current_trace(trace):
      yield trace
  finally:
    trace.invalidate()


def trace_subgraph(parent: OnnxTrace, name: str, fn: Callable, in_avals: Sequence):
  """Traces `fn(sub_trace, *inputs)` into a new ONNX graph nested in
  `parent`'s (a Loop/If body or a local function), with `sub_trace` current.
  Returns (graph, output avals). Values of enclosing graphs that `fn` uses are
  read by name (ONNX outer scope); constants are root initializers. Every
  output is produced inside the graph, as ONNX requires."""
  export = parent.export
  builder = export.subgraph_builder(name, parent.builder.graph)
  graph = builder.graph
  trace = OnnxTrace(export, builder)
  inputs = []
  for aval in in_avals:
    iname = export.namer(f"{name}_in")
    phys = _compat.physical_aval(aval)   # key arrays: their uint32 data
    graph.inputs.append((iname, phys.dtype, onnx_dims(phys.shape)))
    inputs.append(trace.new_input(iname, aval))
  with tracing(trace):
    outs = [trace.lift(o) for o in fn(trace, *inputs)]
    if export.missing:
      return graph, [o.aval for o in outs]
    produced = {o for node in graph.nodes for o in node.outputs}
    for o in outs:
      value = trace.materialize(o)
      if value not in produced or any(value == n for n, _, _ in graph.outputs):
        value = builder.op("Identity", value)
      phys = _compat.physical_aval(o.aval)
      graph.outputs.append((value, phys.dtype, onnx_dims(phys.shape)))
  return graph, [o.aval for o in outs]
