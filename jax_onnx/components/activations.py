"""jax.nn activations (also flax.nnx's, the same functions) as single ONNX ops.

Each is routed through a composite while an export traces; its rule emits the
ONNX op, and the jax.nn function itself is the fallback.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax_onnx.components.core import register_component, route_function, routed_function
from jax_onnx.registry import Lazy, Spec, case

# The modules that re-export the jax.nn functions (the same objects).
_MODULES = ("jax.nn", "flax.nnx", "flax.nnx.nn.activations", "flax.linen",
            "flax.linen.activation")


def _activation(attr: str, onnx_op: str, *, min_opset: int = 1, attributes=None,
                onnx_attrs=None, notes: str = ""):
  """jax.nn.<attr> -> one ONNX op; `attributes(*args, **kw)` picks the composite
  attributes from the call (None: not routable), `onnx_attrs(**attrs)` the op's."""
  name = f"jax_onnx.{attr}"
  title = f"jax.nn.{attr}"
  attributes = attributes or (lambda x: {})

  @register_component(name, title=title, onnx_ops=[onnx_op], min_opset=min_opset, notes=notes)
  def rule(ctx, x, **attrs):
    return ctx.op(onnx_op, x, **(onnx_attrs(**attrs) if onnx_attrs else {}))

  route_function(title, name, _MODULES, attr, routed_function(name, attributes))
  return rule


_activation("relu", "Relu")
_activation("gelu", "Gelu", min_opset=20,
            attributes=lambda x, approximate=True: {"approximate": bool(approximate)},
            onnx_attrs=lambda approximate: {"approximate": "tanh" if approximate else "none"},
            notes="exact (erf) and tanh forms; opset >= 20")
_activation("elu", "Elu",
            attributes=lambda x, alpha=1.0: (
                {"alpha": float(alpha)} if isinstance(alpha, (int, float)) else None),
            onnx_attrs=lambda alpha: {"alpha": alpha})
_activation("leaky_relu", "LeakyRelu",
            attributes=lambda x, negative_slope=0.01: (
                {"alpha": float(negative_slope)}
                if isinstance(negative_slope, (int, float)) else None),
            onnx_attrs=lambda alpha: {"alpha": alpha})
_activation("softplus", "Softplus")


def _single_axis(x, axis=-1, where=None, **kw):
  if where is not None or kw:
    return None
  if isinstance(axis, (tuple, list)):
    if len(axis) != 1:
      return None
    axis = axis[0]
  ndim = np.ndim(x)
  if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
    return None
  return {"axis": int(axis) - ndim if axis >= 0 else int(axis)}   # vmap-proof: from the end


_activation("softmax", "Softmax", attributes=_single_axis,
            onnx_attrs=lambda axis: {"axis": axis}, notes="one axis, no `where`")
_activation("log_softmax", "LogSoftmax", attributes=_single_axis,
            onnx_attrs=lambda axis: {"axis": axis}, notes="one axis, no `where`")


# ---------------------------------------------------------------------------
# Test cases: each activation over normal values and edge values, fused at the
# default opset, decomposed at an older one where the op is newer.

def _edges(rng, shape):
  x = rng.standard_normal(shape).astype(np.float32) * 4
  flat = x.reshape(-1)
  flat[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 30.0, -30.0, 1e-6][: flat.size]
  return x


_X = ("B", 3, 8)
_ACTIVATIONS = {   # case name: (function, component, ONNX op)
    "relu": (lambda x: jax.nn.relu(x), "relu", "Relu"),
    "gelu_tanh": (lambda x: jax.nn.gelu(x), "gelu", "Gelu"),
    "gelu_exact": (lambda x: jax.nn.gelu(x, approximate=False), "gelu", "Gelu"),
    "elu": (lambda x: jax.nn.elu(x), "elu", "Elu"),
    "elu_alpha": (lambda x: jax.nn.elu(x, 0.5), "elu", "Elu"),
    "leaky_relu": (lambda x: jax.nn.leaky_relu(x), "leaky_relu", "LeakyRelu"),
    "leaky_relu_slope": (lambda x: jax.nn.leaky_relu(x, 0.2), "leaky_relu", "LeakyRelu"),
    "softplus": (lambda x: jax.nn.softplus(x), "softplus", "Softplus"),
    "softmax": (lambda x: jax.nn.softmax(x), "softmax", "Softmax"),
    "softmax_axis1": (lambda x: jax.nn.softmax(x, axis=1), "softmax", "Softmax"),
    "log_softmax": (lambda x: jax.nn.log_softmax(x), "log_softmax", "LogSoftmax"),
    "log_softmax_axis0": (lambda x: jax.nn.log_softmax(x, axis=0), "log_softmax", "LogSoftmax"),
}
_WITH_EDGES = ("relu", "gelu_tanh", "gelu_exact", "elu", "leaky_relu", "softplus", "softmax",
               "log_softmax")
for _name, (_fn, _component, _op) in _ACTIVATIONS.items():
  case(f"component_{_name}", _fn, _X, covers=f"jax.nn.{_component}", expect_ops=(_op,),
       rtol=1e-5, atol=1e-6)
  if _name in _WITH_EDGES:
    case(f"component_{_name}_edges", _fn, Spec(_X, "float32", _edges),
         covers=f"jax.nn.{_component}", expect_ops=(_op,), rtol=1e-5, atol=1e-6)
case("component_gelu_opset18_decomposed", lambda x: jax.nn.gelu(x), _X, covers="jax.nn.gelu",
     opset=18, forbid_ops=("Gelu",))
case("component_softmax_where_decomposed",
     lambda x: jax.nn.softmax(x, where=x > -1.0), _X, covers="jax.nn.softmax",
     forbid_ops=("Softmax",))
case("component_softmax_two_axes_decomposed", lambda x: jax.nn.softmax(x, axis=(1, 2)), _X,
     covers="jax.nn.softmax", forbid_ops=("Softmax",))
case("component_bf16_gelu_decomposed", lambda x: jax.nn.gelu(x), Spec(_X, "bfloat16"),
     covers="jax.nn.gelu", forbid_ops=("Gelu",), rtol=1e-2, atol=1e-2)
case("component_gelu_in_jit", jax.jit(lambda x: jax.nn.gelu(x) * 2.0), _X,
     covers="jax.nn.gelu", expect_ops=("Gelu",))
case("component_gelu_under_vmap", jax.vmap(lambda x: jax.nn.gelu(jnp.sin(x))), _X,
     covers="jax.nn.gelu")
case("component_grad_through_softmax",
     jax.grad(lambda x: jnp.sum(jax.nn.softmax(x) * jnp.arange(8.0))), _X,
     covers="jax.nn.softmax")
case("component_user_composite_unknown_name",
     lambda x: lax.composite(lambda y: jnp.tanh(y) * 2.0, name="my.double_tanh")(x), _X,
     covers="composite")
case("component_user_composite_known_name",
     lambda x: lax.composite(lambda y: jax.nn.relu(y), name="jax_onnx.relu")(x), _X,
     covers="composite", expect_ops=("Relu",))


def _stored_activation_model():
  """An NNX model holding jax.nn functions as attributes, stored before the export."""
  from flax import nnx

  class Block(nnx.Module):
    def __init__(self, rngs):
      self.linear = nnx.Linear(8, 8, rngs=rngs)
      self.act = nnx.gelu
      self.acts = [jax.nn.relu, jax.nn.softplus]

    def __call__(self, x):
      y = self.act(self.linear(x))
      for act in self.acts:
        y = act(y)
      return y
  return Block(nnx.Rngs(0))


case("component_nnx_stored_activations", Lazy(_stored_activation_model), _X,
     covers="jax.nn.gelu", expect_ops=("Gelu", "Relu", "Softplus"))
