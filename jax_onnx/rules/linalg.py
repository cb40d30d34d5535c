"""dot_general as MatMul: any contracting and batch dimension numbers."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx.registry import Spec, case, register_rule


def _prod(dims):
  out = 1
  for d in dims:
    out = out * d
  return out


@register_rule(P.dot_general_p, family="linalg", onnx_ops=["MatMul", "Transpose", "Reshape"])
def _dot_general(ctx, lhs, rhs, *, dimension_numbers, preferred_element_type=None,
                 **params):
  """lhs -> (batch, M, K), rhs -> (batch, K, N), MatMul, reshape to JAX's
  (batch..., lhs free..., rhs free...). Transposes and reshapes are emitted
  only where the layout differs (x @ W of a Linear layer is one MatMul)."""
  del params, preferred_element_type   # precision; the out dtype is avals_out's
  (lc, rc), (lb, rb) = dimension_numbers
  ls, rs = ctx.avals_in[0].shape, ctx.avals_in[1].shape
  lf = [i for i in range(len(ls)) if i not in lc and i not in lb]
  rf = [i for i in range(len(rs)) if i not in rc and i not in rb]
  out_dtype = ctx.aval_out.dtype
  if ctx.avals_in[0].dtype != out_dtype:
    lhs = ctx.cast(lhs, out_dtype)
  if ctx.avals_in[1].dtype != out_dtype:
    rhs = ctx.cast(rhs, out_dtype)

  lhs = _permute(ctx, lhs, list(lb) + lf + list(lc))
  rhs = _permute(ctx, rhs, list(rb) + list(rc) + rf)
  batch = [ls[i] for i in lb]
  l_free, r_free = [ls[i] for i in lf], [rs[i] for i in rf]
  k = [ls[i] for i in lc]
  if len(lc) == 1 and (not batch and len(rf) <= 1 or len(lf) == 1 and len(rf) == 1):
    # Already (..., M, K) @ (..., K, N), or x (..., K) @ W (K[, N]) where MatMul
    # broadcasts the leading dims itself (numpy matmul semantics, 1-D included).
    return ctx.op_as(out_dtype, "MatMul", lhs, rhs)
  lhs3 = ctx.reshape(lhs, batch + [_prod(l_free), _prod(k)])
  rhs3 = ctx.reshape(rhs, batch + [_prod(k), _prod(r_free)])
  out = ctx.op_as(out_dtype, "MatMul", lhs3, rhs3)
  return ctx.reshape(out, batch + l_free + r_free)


def _permute(ctx, x, perm):
  if perm == list(range(len(perm))):
    return x
  return ctx.op("Transpose", x, perm=perm)


_W = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
case("dot_linear", lambda x: x @ _W, ("B", 8), covers="dot_general")
case("dot_linear_3d", lambda x: x @ _W, ("B", 3, 8), covers="dot_general")
case("dot_vector", lambda x: x @ _W[:, 0], ("B", 8), covers="dot_general")
case("dot_matvec_batch", lambda x, v: jnp.einsum("bij,bj->bi", x, v), ("B", 4, 8), ("B", 8),
     covers="dot_general")
case("dot_batched_attention", lambda q, k: jnp.einsum("bhqd,bhkd->bhqk", q, k),
     ("B", 2, 5, 4), ("B", 2, 6, 4), covers="dot_general")
case("dot_contract_two_dims", lambda x, y: jnp.einsum("bij,ijk->bk", x, y),
     ("B", 3, 4), Spec((3, 4, 5)), covers="dot_general")
case("dot_transposed_rhs", lambda x, y: lax.dot_general(x, y, (((1,), (1,)), ((), ()))),
     ("B", 8), Spec((6, 8)), covers="dot_general")
case("dot_batch_not_leading", lambda x, y: lax.dot_general(x, y, (((2,), (0,)), ((1,), (1,)))),
     ("B", 3, 4), Spec((4, 3, 2)), covers="dot_general")
case("dot_int32", lambda x, y: x @ y, Spec(("B", 4), "int32", "int"), Spec((4, 3), "int32", "int"),
     covers="dot_general", atol=0)
case("dot_preferred_f32_from_bf16",
     lambda x: lax.dot_general(x.astype(jnp.bfloat16), _W.astype(jnp.bfloat16),
                               (((1,), (0,)), ((), ())), preferred_element_type=jnp.float32),
     ("B", 8), covers="dot_general", rtol=2e-2, atol=2e-2)
