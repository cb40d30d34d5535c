"""jax_onnx.transform: export a JAX function (or Flax NNX module) to ONNX."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import os
import sys
import threading
import time
from typing import Callable, Sequence

import jax
import numpy as np
import onnx

from jax_onnx import _compat, passes, runtime, saving, specs as _specs
from jax_onnx.components import core as components
from jax_onnx.errors import (ConcreteValueError, InputMismatchError, JaxOnnxError, SpecError,
                             SymbolicDimError, TracerLeakError,
                             UnsupportedPrimitiveError)
from jax_onnx.functions import all_functions
from jax_onnx.graph import model_proto
from jax_onnx.registry import _load_rules
from jax_onnx.shapes import onnx_dims
from jax_onnx.trace import ExportState, OnnxTrace, tracing

DEFAULT_OPSET = 23       # Attention, RMSNormalization; ONNX Runtime >= 1.23 runs it
MIN_OPSET = 18
MAX_OPSET = 25       # the newest opset checked against the pinned ONNX Runtime


@dataclasses.dataclass(frozen=True)
class ExportOptions:
  opset: int = DEFAULT_OPSET
  input_names: tuple[str, ...] | None = None
  output_names: tuple[str, ...] | None = None
  shape_info: bool = True
  pre_transpose: tuple | None = None
  post_transpose: tuple | None = None
  constant_folding: bool = True
  optimize: bool = True
  named_jits: str = "inline"     # or "function": named jax.jit -> ONNX local function
  verify: bool = False           # verify against JAX on random inputs after export
  components: bool = True        # jax.nn / flax.nnx components -> fused ONNX ops
  report: str | None = None      # path: write the export report (Markdown) there

  def __post_init__(self):
    if self.named_jits not in ("inline", "function"):
      raise ValueError(f"named_jits must be 'inline' or 'function', not {self.named_jits!r}")
    if not MIN_OPSET <= self.opset <= MAX_OPSET:
      raise ValueError(f"opset {self.opset} is outside the supported range "
                       f"[{MIN_OPSET}, {MAX_OPSET}] (the upper bound is the newest "
                       "opset the pinned ONNX Runtime runs).")


def transform(fn: Callable, *, opset: int = DEFAULT_OPSET,
              input_names: Sequence[str] | None = None,
              output_names: Sequence[str] | None = None,
              shape_info: bool = True,
              pre_transpose: Sequence | None = None,
              post_transpose: Sequence | None = None,
              constant_folding: bool = True,
              optimize: bool = True,
              named_jits: str = "inline",
              verify: bool = False,
              components: bool = True,
              report: str | os.PathLike | None = None) -> "OnnxFunction":
  """Returns `fn` as an ONNX function: calling it exports `fn` (once per input
  signature, like jax.jit) and runs the model in ONNX Runtime; `.lower(*specs)`
  exports for given (possibly symbolic) shapes.

  components=True routes jax.nn activations and Flax NNX layers (LayerNorm,
  BatchNorm, attention...) to single ONNX ops where the opset has them."""
  options = ExportOptions(
      opset=opset,
      input_names=tuple(input_names) if input_names is not None else None,
      output_names=tuple(output_names) if output_names is not None else None,
      shape_info=shape_info,
      pre_transpose=_perms(pre_transpose), post_transpose=_perms(post_transpose),
      constant_folding=constant_folding, optimize=optimize, named_jits=named_jits,
      verify=verify, components=components,
      report=os.fspath(report) if report is not None else None)
  return OnnxFunction(fn, options)


def _perms(p):
  return None if p is None else tuple(None if x is None else tuple(x) for x in p)


class OnnxFunction:
  """The result of jax_onnx.transform(fn)."""

  def __init__(self, fn: Callable, options: ExportOptions):
    self.fn = fn
    self.options = options
    self._cache: dict = {}
    self._lock = threading.Lock()
    self._traced_fn = _nnx_aware(fn)
    functools.update_wrapper(self, fn, updated=())

  def __call__(self, *args):
    leaves, tree = jax.tree_util.tree_flatten(args)
    for leaf in leaves:
      if isinstance(leaf, _compat.Tracer):
        raise TracerLeakError(
            "a jax_onnx-transformed function was called on a traced value "
            f"({type(leaf).__name__}): it runs ONNX Runtime, which needs concrete "
            "arrays, so it cannot be used inside jax.jit/vmap/grad. Call it outside, "
            "or transform the whole computation.")
    arrays = [_as_array(x) for x in leaves]
    key = (tree, tuple((a.shape, a.dtype) for a in arrays))
    with self._lock:
      exported = self._cache.get(key)
      if exported is None:
        exported = self._cache[key] = self.lower(*jax.tree_util.tree_unflatten(tree, arrays))
    return exported(*args)

  def lower(self, *specs) -> "Exported":
    """Exports for input specs: ShapeDtypeStructs, shape tuples such as
    ('B', 30) (float32), or arrays; pytrees of those. String dims are symbolic."""
    leaves, in_tree = jax.tree_util.tree_flatten(specs, is_leaf=_specs.is_spec_leaf)
    avals = _specs.to_avals(leaves)
    exported = export_avals(self._traced_fn, avals, in_tree, self.options)
    exported.fn = self._traced_fn
    if self.options.verify:
      exported.verification = exported.verify()
    if self.options.report is not None:   # written before a failed verification raises
      from jax_onnx import report
      report.write_report(exported, self.options.report)
    if self.options.verify and not exported.verification:
      raise JaxOnnxError(f"the exported model does not match JAX:\n{exported.verification}")
    return exported


def _nnx_aware(fn: Callable) -> Callable:
  """A Flax NNX module is split into (graph, state) and merged again inside the
  trace, as nnx.jit does: its Variables then belong to the ONNX trace, so NNX
  transforms inside the model (nnx.scan over a layer stack, nnx.vmap, ...) see
  one trace level. The state's arrays become the model's initializers."""
  if "flax.nnx" not in sys.modules:   # then fn cannot be an NNX module
    return fn
  from flax import nnx
  if not isinstance(fn, nnx.Module):
    return fn
  graphdef, state = nnx.split(fn)

  def call(*args):
    from jax_onnx.trace import OnnxTrace
    trace = _compat.current_trace()
    if isinstance(trace, OnnxTrace):   # the state's arrays as constants of this trace
      model = nnx.merge(graphdef, jax.tree.map(trace.lift, state))
      if components.routing_active():
        components.route_module_attributes(model)
      return model(*args)
    return nnx.merge(graphdef, state)(*args)
  return call


def _as_array(x):
  if isinstance(x, (np.ndarray, jax.Array)):
    return x
  aval = jax.typeof(x)
  return np.asarray(x, dtype=aval.dtype)


@contextlib.contextmanager
def _gc_paused():
  """No cyclic garbage collection while exporting (restored after, as it was).
  An export allocates millions of small objects that stay alive until it
  ends; each full collection walks them all, so with collections on, a 50k
  primitive export spends 15-25% of its time in the collector (measured by
  benchmarks/bench_export.py), and its peak memory is no higher without."""
  was_enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if was_enabled:
      gc.enable()


def export_avals(fn: Callable, avals: list, in_tree, options: ExportOptions) -> "Exported":
  with _gc_paused():
    return _export_avals(fn, avals, in_tree, options)


def _export_avals(fn: Callable, avals: list, in_tree, options: ExportOptions) -> "Exported":
  _load_rules()
  t0 = time.perf_counter()
  export = ExportState(options.opset, options)
  trace = OnnxTrace(export, export.root_builder)
  root = export.root
  names = _io_names(options.input_names, len(avals), "input")
  graph_avals = _permuted(avals, options.pre_transpose, inverse=True)
  for name, aval in zip(names, graph_avals):
    root.inputs.append((name, aval.dtype, onnx_dims(aval.shape)))
    export.dims.add_input(name, aval.shape)
  export.dims.check_solvable([a.shape for a in avals])
  in_tracers = []
  for i, (name, aval) in enumerate(zip(names, avals)):
    perm = _perm_at(options.pre_transpose, i)
    value = name
    if perm is not None:
      value = export.root_builder.op("Transpose", name, perm=list(perm))
    in_tracers.append(trace.new_input(value, aval))
  args = jax.tree_util.tree_unflatten(in_tree, in_tracers)
  try:
    with components.routing(options.components), tracing(trace):
      result = fn(*args)
      out_leaves, out_tree = jax.tree_util.tree_flatten(result)
      outs = [trace.lift(o) for o in out_leaves]
  except (jax.errors.ConcretizationTypeError, jax.errors.NonConcreteBooleanIndexError) as e:
    first = str(e).strip().splitlines()
    raise ConcreteValueError(
        "the function needs the value of an array while it is exported: an output "
        "whose shape depends on the data (jnp.nonzero, jnp.unique, boolean masks "
        "x[x > 0]) or Python control flow on array values (if/while/int()). An ONNX "
        "graph is traced once, for every input: give such functions a static size "
        "(jnp.nonzero(x, size=N, fill_value=0)), use jnp.where instead of a boolean "
        "mask, and lax.cond/lax.while_loop instead of Python control flow.\n"
        f"(JAX said: {' '.join(first[:2])})") from None
  except _compat.InconclusiveDimensionOperation as e:
    raise SymbolicDimError(
        f"the function needs a concrete value of a symbolic dimension: {e}\n"
        "Python control flow (if/for/int()) on a symbolic dimension cannot be "
        "exported. Use jnp/lax operations (jnp.where, lax.cond), or export with "
        "a static size for that dimension.") from None
  if export.missing:
    from jax_onnx.registry import NOT_YET_IMPLEMENTED
    reasons = {n: export.reasons.get(n) or NOT_YET_IMPLEMENTED.get(n, "")
               for n in export.missing}
    raise UnsupportedPrimitiveError(export.missing, reasons)
  if any(_compat.is_key_dtype(o.aval.dtype) for o in outs):
    raise SpecError("the function returns a PRNG key array, and ONNX has no key "
                    "type: return jax.random.key_data(key) (its uint32 words) instead.")
  if any(_compat.is_complex_dtype(o.aval.dtype) for o in outs):
    raise SpecError("the function returns a complex array, and ONNX Runtime has no "
                    "complex tensors: return jnp.real(x) and jnp.imag(x) instead.")
  if not out_leaves:
    raise SpecError("the function returns no arrays, and an ONNX model needs at "
                    "least one output: return the values the model should compute.")
  t_trace = time.perf_counter()

  out_names = _io_names(options.output_names, len(outs), "output")
  out_avals = [o.aval for o in outs]
  graph_out_avals = _permuted(out_avals, options.post_transpose, inverse=False)
  for i, (name, o, gaval) in enumerate(zip(out_names, outs, graph_out_avals)):
    value = trace.materialize(o)
    perm = _perm_at(options.post_transpose, i)
    if perm is not None:
      value = export.root_builder.op("Transpose", value, perm=list(perm))
    root.nodes.append(_identity(value, name))
    root.outputs.append((name, gaval.dtype, onnx_dims(gaval.shape)))
  functions = all_functions(export)
  fuse_opset = options.opset if options.components else None
  stats = (passes.run_default_passes(root, functions, export.namer, fuse_opset)
           if options.optimize else {})
  t_end = time.perf_counter()
  stats.update(components={f"{title} ({how})": n for (title, how), n in
                           sorted(export.components.items())},
               primitives=export.primitive_count,
               trace_seconds=t_trace - t0, passes_seconds=t_end - t_trace)
  return Exported(root, options, avals, in_tree, out_avals, out_tree,
                  names, out_names, stats, functions)


def _identity(src: str, dst: str):
  from jax_onnx.graph import Node
  return Node("Identity", [src], [dst], {})


def _io_names(given, n: int, prefix: str) -> list[str]:
  if given is None:
    return [f"{prefix}_{i}" if n > 1 else prefix for i in range(n)]
  if len(given) != n or len(set(given)) != n:
    raise SpecError(f"{prefix}_names has {len(given)} distinct-checked names "
                    f"{list(given)}, but the function has {n} {prefix}s")
  return list(given)


def _perm_at(perms, i):
  return perms[i] if perms is not None and i < len(perms) else None


def _permuted(avals, perms, inverse: bool):
  """Avals as the ONNX graph sees them under pre/post transposes."""
  if perms is None:
    return avals
  out = []
  for i, a in enumerate(avals):
    p = _perm_at(perms, i)
    if p is None:
      out.append(a)
      continue
    if sorted(p) != list(range(len(a.shape))):
      raise SpecError(f"transpose {p} is not a permutation of the {len(a.shape)} "
                      f"axes of value {i} (shape {a.shape})")
    # pre: graph input x_g with x_g.transpose(p) == x, so x_g.shape[p[k]] = x.shape[k]
    shape = ([a.shape[p.index(k)] for k in range(len(p))] if inverse
             else [a.shape[k] for k in p])
    out.append(_compat.ShapedArray(tuple(shape), a.dtype))
  return out


class Exported:
  """An exported model: `.model` (onnx.ModelProto), `.save(path)`, and
  callable: runs in ONNX Runtime, taking and returning the function's pytrees."""

  def __init__(self, graph, options, in_avals, in_tree, out_avals, out_tree,
               input_names, output_names, stats, functions=()):
    self.graph = graph
    self.functions = list(functions)
    self.options = options
    self.in_avals = in_avals
    self.in_tree = in_tree
    self.out_avals = out_avals
    self.out_tree = out_tree
    self.input_names = input_names
    self.output_names = output_names
    self.stats = stats
    self.fn = None        # the JAX function, for verify()
    self.verification = None
    self._model = None
    self._session = None
    self._lock = threading.Lock()

  @property
  def opset(self) -> int:
    return self.options.opset

  def verify(self, *inputs, rtol: float = 1e-5, atol: float = 1e-5):
    """Checks the model: onnx.checker (full), then ONNX Runtime with and without
    its graph optimisations against JAX, on `inputs` (the function's arguments)
    or, if none are given, on random inputs drawn for the specs (symbolic dims
    at two sizes). Returns a VerifyResult (truthy when everything passed), with
    the max absolute and relative error per output."""
    from jax_onnx import verify as _verify
    if self.fn is None:
      raise JaxOnnxError("this Exported does not know its JAX function; verify needs it")
    return _verify.verify(self, self.fn, inputs, rtol, atol)

  def report(self, verify: bool = False) -> str:
    """The export report (Markdown): versions, signature, op histogram, sizes,
    components, timings, source lines, verification (run first with `verify`)."""
    from jax_onnx import report
    return report.report(self, verify=verify)

  @property
  def weight_bytes(self) -> int:
    return sum(a.nbytes for a in self.graph.initializers.values())

  @property
  def model(self) -> onnx.ModelProto:
    """The model with its weights inside (use .save() for models over 1.5 GiB)."""
    if self._model is None:
      if self.weight_bytes > saving.AUTO_EXTERNAL_BYTES:
        raise JaxOnnxError(
            f"the model has {self.weight_bytes / 2**30:.2f} GiB of weights: more than a "
            "protobuf can hold. Use exported.save(path) (weights go to path + '.data') "
            "or exported.model_proto(external=...).")
      self._model = self.model_proto()
    return self._model

  def model_proto(self, external: dict[str, tuple[str, int]] | None = None) -> onnx.ModelProto:
    """A new ModelProto; initializers named in `external` ({name: (file,
    offset)}) are written as external-data references instead of bytes."""
    from jax_onnx import __version__
    return model_proto(self.graph, self.options.opset, self.options.shape_info,
                       __version__, self.functions, external)

  def save(self, path: str | os.PathLike, *, external_data: bool | None = None,
           size_threshold: int = 1024) -> None:
    """Writes the model atomically. With `external_data` True, or by default when
    the weights exceed 1.5 GiB, tensors of `size_threshold` bytes or more go to
    `<file>.data` beside it (written first, then both files renamed in place)."""
    saving.save(self, path, external_data, size_threshold)

  # -- running ---------------------------------------------------------------
  def session(self):
    """The ONNX Runtime InferenceSession (CPU), created on first use."""
    with self._lock:
      if self._session is None:
        self._session = runtime.create_session(self)
    return self._session

  def __call__(self, *args):
    outs = self.run_feeds(self.check_inputs(args))
    return jax.tree_util.tree_unflatten(self.out_tree, outs)

  def run_feeds(self, feeds: dict[str, np.ndarray], session=None) -> list[np.ndarray]:
    """Flat outputs, in the function's layout, for checked feeds (check_inputs)."""
    outs = runtime.run(self, feeds, self._graph_out_avals(), session=session)
    return [_unpermute(o, _perm_at(self.options.post_transpose, i))
            for i, o in enumerate(outs)]

  def _graph_out_avals(self):
    return _permuted(self.out_avals, self.options.post_transpose, inverse=False)

  def check_inputs(self, args) -> dict[str, np.ndarray]:
    """Validates runtime inputs against the specs; returns the ORT feeds."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    if tree != self.in_tree:
      raise InputMismatchError(f"the inputs have structure {tree}, but the model "
                               f"was exported for {self.in_tree}")
    env: dict[str, int] = {}
    feeds = {}
    for i, (x, aval, name) in enumerate(zip(leaves, self.in_avals, self.input_names)):
      x = np.asarray(x) if not isinstance(x, np.ndarray) else x
      if isinstance(leaves[i], (int, float, bool)) and x.dtype != aval.dtype:
        x = np.asarray(x, dtype=aval.dtype)   # Python scalars are weakly typed
      if x.dtype != aval.dtype:
        raise InputMismatchError(f"input {i} ('{name}') has dtype {x.dtype}, but "
                                 f"the model was exported for {aval.dtype}")
      if x.ndim != len(aval.shape):
        raise InputMismatchError(f"input {i} ('{name}') has shape {x.shape}, but "
                                 f"the model expects rank {len(aval.shape)}: {aval.str_short()}")
      for d, n in zip(aval.shape, x.shape):
        var = d._to_var() if _compat.is_symbolic_dim(d) else None
        if var is not None:
          if env.setdefault(var, n) != n:
            raise InputMismatchError(
                f"input {i} ('{name}') has shape {x.shape}: dimension '{var}' is "
                f"{n} here but {env[var]} in an earlier input")
      for d, n in zip(aval.shape, x.shape):
        want = (d._evaluate(env) if _compat.is_symbolic_dim(d) else d)
        if int(want) != n:
          raise InputMismatchError(
              f"input {i} ('{name}') has shape {x.shape}, but the model expects "
              f"{aval.str_short()} (dimension {d} = {int(want)})")
      perm = _perm_at(self.options.pre_transpose, i)
      if perm is not None:
        x = np.transpose(x, np.argsort(perm))
      feeds[name] = np.asarray(x, order="C")
    return feeds


def _unpermute(x, perm):
  return x if perm is None else np.transpose(x, np.argsort(perm))


def save_onnx(fn: Callable, input_shapes: Sequence, model_file_name: str, *,
              input_dtypes: Sequence | None = None, **transform_kwargs) -> Exported:
  """One-liner: export `fn` for `input_shapes` (tuples with symbolic names such
  as ('B', 30); float32 unless `input_dtypes` says otherwise) and save it."""
  dtypes = input_dtypes or [np.float32] * len(input_shapes)
  specs = [jax.ShapeDtypeStruct(tuple(s), d) for s, d in zip(input_shapes, dtypes)]
  exported = transform(fn, **transform_kwargs).lower(*specs)
  exported.save(model_file_name)
  return exported
