"""High-level components: `jax.lax.composite` calls that become one idiomatic
ONNX op (LayerNormalization, Gelu, Attention...), with the composite's own
decomposition as the exact fallback.

Two ways in:
* a user marks a function with `jax.lax.composite(fn, name="jax_onnx.gelu")`:
  the composite primitive reaches the trace with its name, attributes and the
  decomposition as a jaxpr;
* while an export traces, `routing()` routes the known library functions and
  Flax NNX layers (jax.nn.gelu, nnx.LayerNorm, ...) through such composites,
  and restores them afterwards.

A component rule is `rule(ctx, *operands, **attributes)` like a primitive rule;
it returns None to decline (unsupported parameters, dtype, symbolic sizes it
cannot express), and the decomposition is spliced instead. So is an unknown
composite name, or a target opset older than the component's ONNX op.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import sys
import threading
from typing import Callable, Iterator, Sequence

import jax
import numpy as np

from jax_onnx import _compat
from jax_onnx import dtypes as _dt
from jax_onnx.context import RuleContext
from jax_onnx.registry import register_rule

PREFIX = "jax_onnx."


@dataclasses.dataclass(frozen=True)
class Component:
  name: str                      # composite name, e.g. "jax_onnx.layer_norm"
  title: str                     # what users call, e.g. "flax.nnx.LayerNorm"
  rule: Callable
  onnx_ops: tuple[str, ...]
  min_opset: int
  dtypes: tuple[str, ...]        # operand dtypes the fused op is exact for
  notes: str


COMPONENTS: dict[str, Component] = {}

# Where the library components are routed from: (title, patch) pairs, each
# patch a callable that installs the routing and returns an undo callable.
_PATCHES: list[tuple[str, Callable[[], Callable[[], None]]]] = []


def register_component(name: str, *, title: str, onnx_ops: Sequence[str], min_opset: int = 1,
                       dtypes: Sequence[str] = ("float32",), notes: str = ""):
  """Decorator: `fn(ctx, *operands, **attributes)` becomes the ONNX rule of the
  composite called `name` (by convention "jax_onnx.<component>")."""
  def decorate(fn):
    COMPONENTS[name] = Component(name, title, fn, tuple(onnx_ops), min_opset,
                                 tuple(np.dtype(d).name for d in dtypes), notes)
    return fn
  return decorate


def composite(name: str, decomposition: Callable) -> Callable:
  """`decomposition` marked as the component `name`: positional arguments are
  operands, keyword arguments attributes (hashable, static)."""
  return jax.lax.composite(decomposition, name=name)


# ---------------------------------------------------------------------------
# The composite primitive's rule.

def _attributes(attributes) -> dict:
  out = {}
  for key, leaves, treedef in attributes:
    leaves = [np.asarray(v) if isinstance(v, _compat.HashableArray) else v for v in leaves]
    out[key] = jax.tree_util.tree_unflatten(treedef, leaves)
  return out


@register_rule(_compat.composite_p, family="calls", higher_order=True,
               onnx_ops=["(component op)", "(decomposition spliced)"])
def _composite(trace, tracers, *, name, attributes, version, jaxpr):
  del version
  used = trace.export.components
  component = COMPONENTS.get(name)
  if component is not None and _fusable(trace, component, tracers):
    outs = _apply_component(trace, component, tracers, jaxpr.out_avals, _attributes(attributes))
    if outs is not None:
      used[(component.title, "fused")] += 1
      return outs
  used[(component.title if component else name, "decomposed")] += 1
  return trace.eval_jaxpr(jaxpr, tracers)


def _fusable(trace, component: Component, tracers) -> bool:
  options = trace.export.options
  return (getattr(options, "components", True) and trace.export.opset >= component.min_opset
          and all(np.dtype(t.aval.dtype).name in component.dtypes for t in tracers
                  if _dt.is_float(t.aval.dtype)))


def _apply_component(trace, component: Component, tracers, out_avals, attributes):
  builder = trace.builder
  builder.source = _compat.current_source(trace.export.call_site)
  try:
    ctx = RuleContext(trace, _compat.composite_p, tracers, list(out_avals))
    names = component.rule(ctx, *[trace.materialize(t) for t in tracers], **attributes)
  finally:
    builder.source = None
  if names is None:
    return None
  return trace.typed_outputs(names if isinstance(names, list) else [names], list(out_avals))


# ---------------------------------------------------------------------------
# Routing library functions and NNX layers through composites while tracing.

def route_function(title: str, name: str, module_names: Sequence[str], attr: str,
                   wrap: Callable[[Callable], Callable]) -> None:
  """Routes the function `<module>.<attr>` (the same object in every listed
  module that is imported) through `wrap(original)` while an export traces."""
  def install():
    modules = [sys.modules[m] for m in module_names if m in sys.modules]
    if not modules:
      return lambda: None
    original = getattr(modules[0], attr)
    routed = wrap(original)
    patched = [m for m in modules if getattr(m, attr, None) is original]
    for module in patched:
      setattr(module, attr, routed)
    _ROUTED[id(original)] = (original, routed)

    def undo():
      for module in patched:
        setattr(module, attr, original)
      _ROUTED.pop(id(original), None)
    return undo
  _PATCHES.append((title, install))


def route_method(title: str, module_name: str, class_name: str, method: str,
                 wrap: Callable[[Callable], Callable]) -> None:
  """Routes `<module>.<class>.<method>` through `wrap(original)` while tracing."""
  def install():
    module = sys.modules.get(module_name)
    if module is None:
      return lambda: None
    cls = getattr(module, class_name)
    original = cls.__dict__[method]
    setattr(cls, method, wrap(original))
    return lambda: setattr(cls, method, original)
  _PATCHES.append((title, install))


# id(original function) -> (original, routed) while routing is installed.
_ROUTED: dict[int, tuple[Callable, Callable]] = {}


def route_module_attributes(module) -> None:
  """Routes the functions an NNX module graph holds as attributes (e.g.
  `self.act = nnx.gelu`, stored before the export started). `module` must be a
  fresh copy (nnx.merge inside the trace): it is changed in place."""
  from flax import nnx

  def routed(value):
    if isinstance(value, functools.partial):   # e.g. partial(nnx.avg_pool, window_shape=...)
      func = routed(value.func)
      return value if func is value.func else functools.partial(func, *value.args,
                                                                 **value.keywords)
    hit = _ROUTED.get(id(value))
    return hit[1] if hit is not None and hit[0] is value else value

  for _, node in nnx.iter_graph(module):
    if not isinstance(node, nnx.Module):
      continue
    for attr, value in list(vars(node).items()):
      if callable(value) and not isinstance(value, nnx.Module):
        new = routed(value)
        if new is not value:
          vars(node)[attr] = new
      elif isinstance(value, list):
        value[:] = [routed(v) if callable(v) else v for v in value]


_routing_lock = threading.RLock()
_routing_depth = 0
_routing_undo: list[Callable[[], None]] = []


@contextlib.contextmanager
def routing(enabled: bool = True) -> Iterator[None]:
  """Routes the known components through composites for the duration (nested
  exports share one installation; everything is restored on exit, also after
  an error)."""
  global _routing_depth
  if not enabled:
    yield
    return
  with _routing_lock:
    if _routing_depth == 0:
      for module in ("flax.nnx",):    # load the NNX layers only if the user has flax.nnx
        if module in sys.modules:
          importlib.import_module(module)
      _routing_undo[:] = [_compat.install_composite_transforms()]
      _routing_undo.extend(install() for _, install in _PATCHES)
    _routing_depth += 1
  try:
    yield
  finally:
    with _routing_lock:
      _routing_depth -= 1
      if _routing_depth == 0:
        for undo in reversed(_routing_undo):
          undo()
        _routing_undo.clear()


def routing_active() -> bool:
  return _routing_depth > 0


def should_route() -> bool:
  """Route through a composite only where it reaches the ONNX trace as one:
  directly on it, or staged into a jaxpr (jit, scan bodies) that it evaluates."""
  from jax_onnx.trace import OnnxTrace
  trace = _compat.current_trace()
  return isinstance(trace, OnnxTrace) or _compat.is_staging_trace(trace)


def routed_function(name: str, attributes: Callable[..., dict | None]):
  """A wrapper factory for `route_function`: calls `original(x, *args, **kw)` as
  the composite `name` with `attributes(*args, **kw)` (None: call it plainly)."""
  def wrap(original):
    @functools.wraps(original)
    def routed(*args, **kwargs):
      attrs = attributes(*args, **kwargs) if should_route() else None
      if attrs is None:
        return original(*args, **kwargs)
      operands = attrs.pop("_operands", args[:1])
      decomposition = lambda *ops, **_: original(*ops, *args[len(ops):], **kwargs)
      return composite(name, decomposition)(*operands, **attrs)
    return routed
  return wrap
