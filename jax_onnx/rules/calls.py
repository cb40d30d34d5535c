"""Call-like primitives: evaluated compositionally, their bodies spliced in place."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr
from jax.extend.core import primitives as P

from jax_onnx.registry import case, register_rule


@register_rule(P.jit_p, family="calls", higher_order=True)
def _jit(trace, tracers, *, jaxpr, **params):
  # inline and named jits alike are spliced: ONNX Runtime sees one flat graph.
  del params
  return trace.eval_jaxpr(jaxpr, tracers)


@register_rule(P.closed_call_p, family="calls", higher_order=True)
def _closed_call(trace, tracers, *, call_jaxpr, **params):
  del params
  return trace.eval_jaxpr(call_jaxpr, tracers)


@register_rule(P.remat_p, family="calls", higher_order=True)
def _remat(trace, tracers, *, jaxpr, **params):
  # jax.checkpoint only changes what autodiff saves: inference splices the body.
  del params
  return trace.eval_jaxpr(ClosedJaxpr(jaxpr, ()), tracers)


def _named_jit(x):
  inner = jax.jit(lambda a, b: jnp.tanh(a) + b)
  return inner(x, 1.0) * inner(x, x)


def _nested_jit(x):
  return jax.jit(lambda y: jax.jit(lambda z: z * 3.0)(y) - 1.0)(x)


case("jit_named", _named_jit, ("B", 4), covers="jit")
case("jit_nested", _nested_jit, ("B", 3), covers="jit")
case("remat_checkpoint", jax.checkpoint(lambda x: jnp.sin(x) * 2.0), ("B", 5),
     covers="remat2")
