"""The errors jax_onnx raises: each says what went wrong and what to do."""
from __future__ import annotations


class JaxOnnxError(Exception):
  """Base class of every error that jax_onnx raises on purpose."""


class UnsupportedPrimitiveError(JaxOnnxError, NotImplementedError):
  """One or more JAX primitives in the function have no ONNX rule."""

  def __init__(self, missing: dict[str, list[str]], reasons: dict[str, str] | None = None):
    self.missing = missing
    lines = [f"jax_onnx cannot export this function: {len(missing)} JAX "
             f"primitive(s) have no ONNX rule:"]
    for name, sources in missing.items():
      shown = sources[:3]
      more = f" (+{len(sources) - 3} more)" if len(sources) > 3 else ""
      lines.append(f"  - '{name}' at {'; '.join(shown)}{more}")
      if reasons and reasons.get(name):
        lines.append(f"    ({reasons[name]})")
    lines.append(
        "To add one, register a rule:\n"
        "    @jax_onnx.register_rule(<the Primitive object>)\n"
        "    def my_rule(ctx, *args, **params):\n"
        "        return ctx.op('OnnxOp', *args)\n"
        "(see docs/writing_rules.md). Primitives that cannot be expressed in "
        "ONNX are listed with a reason by `jax_onnx.coverage()`.")
    super().__init__("\n".join(lines))


class UnsupportedDtypeError(JaxOnnxError, TypeError):
  pass


class SpecError(JaxOnnxError, ValueError):
  """An input spec (shape/dtype) is malformed or inconsistent."""


class InputMismatchError(JaxOnnxError, ValueError):
  """A runtime input does not fit the specs the model was exported for."""


class SymbolicDimError(JaxOnnxError):
  """The function needs a concrete value of a symbolic dimension."""


class TracerLeakError(JaxOnnxError):
  """A tracer of another JAX transformation reached the ONNX trace."""


class RuntimeVersionError(JaxOnnxError, RuntimeError):
  """The installed ONNX Runtime is too old for the model's opset or IR version."""


class UnsupportedParameters(Exception):
  """Raised by a rule for parameters it cannot export exactly; the export then
  reports the primitive as unsupported, with this message as the reason."""


class ConcreteValueError(JaxOnnxError):
  """The function needs the value of a traced array while it is being traced:
  a data-dependent output shape, or Python control flow on array values."""
