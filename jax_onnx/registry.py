"""The rule table: {Primitive: rule}, the test cases next to the rules, and
what is not supported (with the reason).

A rule reads like a JAX lowering rule: ``rule(ctx, *args, **params)`` where the
args are ONNX value names and ``ctx`` (a RuleContext) gives the avals, the
constant inputs and the node builder. It returns one value name, or a list for
primitives with multiple results. A *higher-order* rule (nested jit, control
flow) instead gets the trace and the tracers, and returns tracers.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from jax.extend.core import Primitive


@dataclasses.dataclass(frozen=True)
class Rule:
  primitive: Primitive
  fn: Callable
  family: str
  higher_order: bool = False
  onnx_ops: tuple[str, ...] = ()


_RULES: dict[Primitive, Rule] = {}

# Primitives known to JAX that have no rule yet, with the reason.
NOT_YET_IMPLEMENTED: dict[str, str] = {}

# Call-like primitives that bind through a Trace method instead of
# process_primitive, with the method that handles them.
HANDLED_BY_TRACE: dict[str, str] = {
    "call": "OnnxTrace.process_call (body traced in place)",
    "closed_call": "OnnxTrace.process_call (body traced in place)",
    "custom_jvp_call": "OnnxTrace.process_custom_jvp_call (primal traced)",
    "custom_vjp_call": "OnnxTrace.process_custom_vjp_call (primal traced)",
}


def register_rule(primitive: Primitive, *, family: str = "user",
                  higher_order: bool = False, onnx_ops: Sequence[str] = ()):
  """Decorator: make `fn` the ONNX rule of `primitive` (replacing any other).

      @jax_onnx.register_rule(my_prim, onnx_ops=["Relu"])
      def _my_prim(ctx, x, *, some_param):
          return ctx.op("Relu", x)
  """
  if not isinstance(primitive, Primitive):
    raise TypeError(f"register_rule expects a jax.extend.core.Primitive, got {primitive!r}")

  def decorate(fn):
    _RULES[primitive] = Rule(primitive, fn, family, higher_order, tuple(onnx_ops))
    return fn
  return decorate


def get_rule(primitive: Primitive) -> Rule | None:
  return _RULES.get(primitive)


def all_rules() -> dict[Primitive, Rule]:
  _load_rules()
  return dict(_RULES)


def not_implemented(reasons: dict[str, str]) -> None:
  NOT_YET_IMPLEMENTED.update(reasons)


# ---------------------------------------------------------------------------
# Test cases: declared next to the rules, run by tests/test_primitives.py.

@dataclasses.dataclass(frozen=True)
class Spec:
  """One input of a test case. 'B' in the shape is the batch dimension.

  values: 'normal' | 'positive' | 'unit' (in (-1, 1)) | 'int' (small ints of
  both signs) | 'index' (0..high-1) | 'bool' | a callable (rng, shape) -> array.
  """
  shape: tuple
  dtype: Any = "float32"
  values: Any = "normal"
  high: int = 8


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  fn: Callable
  inputs: tuple[Spec, ...]
  covers: str                         # the primitive (or component) it tests
  rtol: float = 1e-5
  atol: float = 1e-5
  expect_ops: tuple[str, ...] = ()    # op types that must appear in the model
  forbid_ops: tuple[str, ...] = ()    # op types that must not
  skip: str | None = None             # known failure: the reason
  opset: int | None = None
  options: dict = dataclasses.field(default_factory=dict)   # transform() keywords


class Lazy:
  """A test-case function built on first use, outside the export: an NNX model,
  say (so that importing jax_onnx does not import flax, and the model exists
  before the export starts, as a user's would)."""

  def __init__(self, factory: Callable[[], Callable]):
    self.factory = factory
    self._fn = None

  def resolve(self) -> Callable:
    if self._fn is None:
      self._fn = self.factory()
    return self._fn


TEST_CASES: dict[str, Case] = {}


def _as_spec(s) -> Spec:
  if isinstance(s, Spec):
    return s
  if isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], tuple):
    return Spec(s[0], s[1])
  return Spec(tuple(s))


def case(name: str, fn: Callable, *inputs, covers: str, **kw) -> None:
  """Registers a test case: run static and dynamic batch, shape info on/off."""
  if name in TEST_CASES:
    raise ValueError(f"duplicate test case name {name!r}")
  TEST_CASES[name] = Case(name, fn, tuple(_as_spec(s) for s in inputs), covers, **kw)


def all_cases() -> dict[str, Case]:
  _load_rules()
  return dict(TEST_CASES)


def _load_rules() -> None:
  import jax_onnx.components
  import jax_onnx.fusions
  import jax_onnx.rules  # noqa: F401
