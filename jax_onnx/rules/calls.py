"""Call-like primitives: evaluated compositionally, their bodies spliced in place."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr
from jax.extend.core import primitives as P

from jax_onnx.functions import call_as_function
from jax_onnx.registry import Spec, case, register_rule


@register_rule(P.jit_p, family="calls", higher_order=True, onnx_ops=["(spliced)", "local function"])
def _jit(trace, tracers, *, jaxpr, name, inline=False, **params):
  # jnp's own wrappers are inline jits and always spliced. A user's named jit is
  # spliced too, or becomes an ONNX local function with named_jits="function".
  del params
  if not inline and trace.export.options.named_jits == "function":
    return call_as_function(trace, name, jaxpr, tracers)
  return trace.eval_jaxpr(jaxpr, tracers)


@register_rule(P.remat_p, family="calls", higher_order=True)
def _remat(trace, tracers, *, jaxpr, **params):
  # jax.checkpoint only changes what autodiff saves: inference splices the body.
  del params
  return trace.eval_jaxpr(ClosedJaxpr(jaxpr, ()), tracers)


@jax.jit
def _residual_block(x, w):
  return x + jnp.tanh(x @ w) * (x.shape[0] / 4.0)


_W = np.random.default_rng(2).standard_normal((4, 4)).astype(np.float32)


def _named_jit(x):
  inner = jax.jit(lambda a, b: jnp.tanh(a) + b)
  return inner(x, 1.0) * inner(x, x)


def _two_blocks(x):
  return _residual_block(_residual_block(x, _W), _W * 0.5)


def _closed_call(x):
  # closed_call eqns (from custom_derivatives' closure conversion) bind through
  # OnnxTrace.process_call.
  body = jax.make_jaxpr(lambda y: jnp.cos(y) + y)(jax.ShapeDtypeStruct(x.shape, x.dtype))
  (out,) = P.closed_call_p.bind(x, **P.closed_call_p.get_bind_params({"call_jaxpr": body}))
  return out


@jax.custom_vjp
def _clip_gradient(x):
  return jnp.sin(x)


_clip_gradient.defvjp(lambda x: (jnp.sin(x), x),
                      lambda x, g: (jnp.clip(g * jnp.cos(x), -1.0, 1.0),))


def _nested_jit(x):
  return jax.jit(lambda y: jax.jit(lambda z: z * 3.0)(y) - 1.0)(x)


case("jit_named", _named_jit, ("B", 4), covers="jit")
case("jit_nested", _nested_jit, ("B", 3), covers="jit")
case("jit_as_local_function", _two_blocks, ("B", 4), covers="jit",
     options={"named_jits": "function"}, expect_ops=("_residual_block",))
case("jit_as_local_function_nested", lambda x: jax.jit(_two_blocks)(x), ("B", 4), covers="jit",
     options={"named_jits": "function"}, expect_ops=("_residual_block", "_two_blocks"))
case("closed_call", _closed_call, ("B", 3), covers="closed_call")
case("custom_jvp_relu", lambda x: jax.nn.relu(x) + jax.nn.softplus(x), ("B", 3),
     covers="custom_jvp_call")
case("custom_vjp_user", lambda x: _clip_gradient(x) * 2.0, ("B", 3), covers="custom_vjp_call")
case("remat_checkpoint", jax.checkpoint(lambda x: jnp.sin(x) * 2.0), ("B", 5),
     covers="remat2")


@register_rule(P.linear_solve_p, family="calls", higher_order=True, onnx_ops=["(spliced)"])
def _custom_linear_solve(trace, tracers, *, const_lengths, jaxprs):
  # lax.custom_linear_solve only tells autodiff how to differentiate a solve:
  # its value is the `solve` function applied to b, spliced in place.
  ends = np.cumsum([0, *const_lengths])
  solve_consts = list(tracers[ends[2]:ends[3]])   # (matvec, vecmat, solve, transpose_solve)
  return trace.eval_jaxpr(jaxprs.solve, solve_consts + list(tracers[ends[-1]:]))


def _cg_solve(a_diag, b):
  # A symmetric positive definite system, solved by conjugate gradients with a
  # fixed number of iterations (jax.scipy.sparse.linalg.cg binds custom_linear_solve).
  import jax.scipy.sparse.linalg as sla

  def matvec(v):
    return (a_diag + 1.0) * v + 0.1 * (jnp.roll(v, 1, axis=-1) + jnp.roll(v, -1, axis=-1))
  x, _ = sla.cg(matvec, b, maxiter=12, tol=0.0)
  return x


case("custom_linear_solve_cg", jax.vmap(_cg_solve), Spec(("B", 6), "float32", "positive"),
     ("B", 6), covers="custom_linear_solve", atol=1e-4)
