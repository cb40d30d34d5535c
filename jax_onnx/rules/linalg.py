"""Linear algebra: dot_general as MatMul (any contracting and batch dimension
numbers); cholesky and triangular_solve unrolled over a static matrix size."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import primitives as P

from jax_onnx.registry import Spec, case, register_rule
from jax_onnx.shapes import is_static_dim


@register_rule(P.dot_general_p, family="linalg", onnx_ops=["MatMul", "Transpose", "Reshape"])
def _dot_general(ctx, lhs, rhs, *, dimension_numbers, preferred_element_type=None,
                 **params):
  """lhs -> (batch, M, K), rhs -> (batch, K, N), MatMul, reshape to JAX's
  (batch..., lhs free..., rhs free...). Without batch dims, lhs keeps its free
  dims (MatMul broadcasts them: x @ W of a Linear layer is one MatMul, and so
  is a (b, t, h, d) x (h, d, n) projection after one Reshape each side).
  Transposes and reshapes are emitted only where the layout differs; those
  of a constant operand are done on the constant."""
  del params, preferred_element_type   # precision; the out dtype is avals_out's
  (lc, rc), (lb, rb) = dimension_numbers
  ls, rs = ctx.avals_in[0].shape, ctx.avals_in[1].shape
  lf = [i for i in range(len(ls)) if i not in lc and i not in lb]
  rf = [i for i in range(len(rs)) if i not in rc and i not in rb]
  out_dtype = ctx.aval_out.dtype
  batch = [ls[i] for i in lb]
  l_free, r_free = [ls[i] for i in lf], [rs[i] for i in rf]
  k = [ls[i] for i in lc]
  if not batch:
    # x (l_free..., K) @ W (K, N): 1-D K or N as numpy's matmul has them.
    lhs2 = _arranged(ctx, 0, lhs, lf + list(lc), l_free + [math.prod(k)], out_dtype)
    rhs2 = _arranged(ctx, 1, rhs, list(rc) + rf,
                     [math.prod(k)] + ([math.prod(r_free)] if rf else []), out_dtype)
    out = ctx.op_as(out_dtype, "MatMul", lhs2, rhs2)
    if len(rf) <= 1:
      return out
    return ctx.reshape(out, l_free + r_free, in_shape=l_free + [math.prod(r_free)],
                       dtype=out_dtype)
  lhs3 = _arranged(ctx, 0, lhs, list(lb) + lf + list(lc),
                   batch + [math.prod(l_free), math.prod(k)], out_dtype)
  rhs3 = _arranged(ctx, 1, rhs, list(rb) + list(rc) + rf,
                   batch + [math.prod(k), math.prod(r_free)], out_dtype)
  out = ctx.op_as(out_dtype, "MatMul", lhs3, rhs3)
  if len(lf) == 1 and len(rf) == 1:
    return out
  return ctx.reshape(out, batch + l_free + r_free,
                     in_shape=batch + [math.prod(l_free), math.prod(r_free)], dtype=out_dtype)


def _arranged(ctx, i, x, perm, dims, dtype):
  """Operand i cast to dtype, transposed by perm, reshaped to dims (each step
  only where needed); a constant operand is rearranged at export time."""
  aval = ctx.avals_in[i]
  shape = [aval.shape[p] for p in perm]
  identity = perm == list(range(len(perm)))
  if identity and list(dims) == shape and aval.dtype == dtype:
    return x
  const = ctx.consts_in[i]
  if const is not None:
    return ctx.const(np.asarray(const, dtype).transpose(perm).reshape(dims))
  if aval.dtype != dtype:
    x = ctx.cast(x, dtype)
  if not identity:
    x = ctx.op("Transpose", x, perm=perm)
  if list(dims) != shape:
    x = ctx.reshape(x, dims, in_shape=shape, dtype=dtype)
  return x


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
_HEADS_IN = np.random.default_rng(1).standard_normal((16, 4, 4)).astype(np.float32)
_HEADS_BIAS = np.random.default_rng(2).standard_normal((4, 4)).astype(np.float32)
case("dot_multi_head_projection",   # (b, t, d) x (d, h, k) + (h, k) bias, back to (b, t, h * k)
     lambda x: (jnp.einsum("btd,dhk->bthk", x, _HEADS_IN) + _HEADS_BIAS).reshape(
         x.shape[0], 5, 16), ("B", 5, 16), covers="dot_general", expect_ops=("MatMul", "Add"),
     forbid_ops=("Reshape", "Shape", "Concat", "Transpose"))
case("dot_multi_head_output", lambda y: jnp.einsum("bthk,hkd->btd", y, _HEADS_IN.T),
     ("B", 5, 4, 4), covers="dot_general", forbid_ops=("Shape", "Concat", "Transpose"))
_QKV = [np.random.default_rng(i).standard_normal(shape).astype(np.float32)
        for i, shape in enumerate([(16, 8), (16, 8), (16, 12), (8,), (8,), (12,)])]
case("dot_sibling_projections_merged",   # one MatMul + Add + Split (passes.merge_sibling_...)
     lambda x: tuple(x @ w + b for w, b in zip(_QKV[:3], _QKV[3:])), ("B", 5, 16),
     covers="dot_general", expect_ops=("Split",), forbid_ops=("Gemm",))
case("dot_sibling_projections_unbiased_kept",   # + 0.0 would turn -0.0 into +0.0
     lambda x: (x @ _QKV[0] + _QKV[3], x @ _QKV[1]), ("B", 5, 16), covers="dot_general",
     forbid_ops=("Split",))
case("dot_int32", lambda x, y: x @ y, Spec(("B", 4), "int32", "int"), Spec((4, 3), "int32", "int"),
     covers="dot_general", atol=0)
case("dot_preferred_f32_from_bf16",
     lambda x: lax.dot_general(x.astype(jnp.bfloat16), _W.astype(jnp.bfloat16),
                               (((1,), (0,)), ((), ())), preferred_element_type=jnp.float32),
     ("B", 8), covers="dot_general", rtol=2e-2, atol=2e-2)


# -- cholesky, triangular_solve -------------------------------------------------
# Unrolled over the (static) matrix size: one column (cholesky) or one row
# (substitution) at a time, each a MatMul against what is already solved, so
# the batch dims may be symbolic. The graph grows linearly with n.

def _static_size(ctx, d, what: str) -> int:
  if not is_static_dim(d):
    raise NotImplementedError(f"{what} needs a static matrix size, got {d}: the ONNX graph "
                              "is unrolled over it. Export with a static size for that dim.")
  return int(d)


def _block(ctx, x, rows, cols):
  """x[..., r0:r1, c0:c1]."""
  return ctx.op("Slice", x, ctx.ints([rows[0], cols[0]]), ctx.ints([rows[1], cols[1]]),
                ctx.ints([-2, -1]))


def _swap_last(ctx, x, rank):
  return ctx.op("Transpose", x, perm=list(range(rank - 2)) + [rank - 1, rank - 2])


@register_rule(P.cholesky_p, family="linalg", onnx_ops=["MatMul", "Sqrt", "Div", "Pad", "Where"])
def _cholesky(ctx, a):
  """Left-looking Cholesky (LAPACK potrf, lower): column j is
  (a[j:, j] - L[j:, :j] L[j, :j]^T) / sqrt(its first entry). Like LAPACK, the
  strict upper triangle keeps the input's values, and a matrix with a pivot
  <= 0 (not positive definite) becomes all NaN; NaN pivots do not fail, as in
  JAX on CPU, their NaNs spread."""
  shape, dtype = ctx.avals_in[0].shape, ctx.aval_out.dtype
  n, rank = _static_size(ctx, shape[-1], "cholesky"), len(shape)
  zero = ctx.scalar(0, dtype)
  cols, ok = [], None
  for j in range(n):
    s = _block(ctx, a, (j, n), (j, j + 1))                                  # (..., n-j, 1)
    if j:
      lower = ctx.op("Concat", *cols, axis=-1) if j > 1 else cols[0]       # (..., n, j)
      row = _swap_last(ctx, _block(ctx, lower, (j, j + 1), (0, j)), rank)   # (..., j, 1)
      s = ctx.op("Sub", s, ctx.op("MatMul", _block(ctx, lower, (j, n), (0, j)), row))
    pivot = _block(ctx, s, (0, 1), (0, 1))
    pos = ctx.op("Not", ctx.op("LessOrEqual", pivot, zero))   # a NaN pivot only spreads
    ok = pos if ok is None else ctx.op("And", ok, pos)
    diag = ctx.op("Sqrt", pivot)
    col = ctx.op("Concat", diag, ctx.op("Div", _block(ctx, s, (1, n - j), (0, 1)), diag),
                 axis=-2) if j < n - 1 else diag
    if j:
      col = ctx.op("Pad", col, ctx.ints([j, 0]), zero, ctx.ints([-2]))
    cols.append(col)
  if not cols:
    return a
  chol = ctx.op("Concat", *cols, axis=-1) if n > 1 else cols[0]
  out = ctx.op("Where", ctx.const(np.tril(np.ones((n, n), bool))), chol, a)
  return ctx.op("Where", ok, out, ctx.scalar(np.nan, dtype))


@register_rule(P.triangular_solve_p, family="linalg", onnx_ops=["MatMul", "Div", "Concat"])
def _triangular_solve(ctx, a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
  """Forward or back substitution, one row of X at a time. X op(A) = B is
  solved as op(A)^T X^T = B^T; A^T X = B as the opposite triangle of A^T."""
  del conjugate_a   # real matrices only (no complex tensors in ONNX Runtime)
  rank_a, rank_b = len(ctx.avals_in[0].shape), len(ctx.avals_in[1].shape)
  m = _static_size(ctx, ctx.avals_in[0].shape[-1], "triangular_solve")
  if m == 0:
    return b
  if not left_side:
    b, transpose_a = _swap_last(ctx, b, rank_b), not transpose_a
  if transpose_a:
    a, lower = _swap_last(ctx, a, rank_a), not lower
  x = None   # the solved rows: [0, i) going down (lower), [i+1, m) going up
  for i in (range(m) if lower else reversed(range(m))):
    row = ctx.op("Slice", b, ctx.ints([i]), ctx.ints([i + 1]), ctx.ints([-2]))   # (..., 1, n)
    if x is not None:
      known = (0, i) if lower else (i + 1, m)
      row = ctx.op("Sub", row, ctx.op("MatMul", _block(ctx, a, (i, i + 1), known), x))
    if not unit_diagonal:
      row = ctx.op("Div", row, _block(ctx, a, (i, i + 1), (i, i + 1)))
    x = row if x is None else ctx.op("Concat", *((x, row) if lower else (row, x)), axis=-2)
  return x if left_side else _swap_last(ctx, x, rank_b)


def _spd(rng, shape):
  """Symmetric positive definite matrices (well conditioned)."""
  m = rng.standard_normal(shape)
  return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _spd_some_not(rng, shape):
  """As _spd, but the first matrix is indefinite and the last has a NaN."""
  a = _spd(rng, shape)
  a[0] = -a[0]
  if shape[0] > 1:
    a[-1, 1, 1] = np.nan
  return a


def _triangular(rng, shape):
  """Well conditioned in both triangles (solves read only one of them)."""
  return rng.standard_normal(shape) * 0.3 + 2 * np.eye(shape[-1])


case("chol_jnp", jnp.linalg.cholesky, Spec(("B", 5, 5), values=_spd), covers="cholesky",
     rtol=1e-4, atol=1e-5)
case("chol_primitive_upper_kept", P.cholesky_p.bind, Spec(("B", 4, 4), values=_spd),
     covers="cholesky", rtol=1e-4, atol=1e-5)
case("chol_not_positive_definite", P.cholesky_p.bind, Spec(("B", 3, 3), values=_spd_some_not),
     covers="cholesky", rtol=1e-4, atol=1e-5)
case("chol_unbatched_1x1", jnp.linalg.cholesky, Spec((1, 1), values="positive"),
     covers="cholesky")
case("chol_16", jnp.linalg.cholesky, Spec((2, 16, 16), values=_spd), covers="cholesky",
     rtol=1e-4, atol=1e-5)
case("chol_cho_solve", lambda a, b: jax.scipy.linalg.cho_solve(
    (jnp.linalg.cholesky(a), True), b), Spec((4, 4), values=_spd), Spec((4, "B")),
     covers="cholesky", rtol=1e-4, atol=1e-5)
case("chol_cho_factor_upper_solve", lambda a, b: jax.scipy.linalg.cho_solve(
    jax.scipy.linalg.cho_factor(a, lower=False), b), Spec(("B", 4, 4), values=_spd),
     Spec(("B", 4, 2)), covers="cholesky", rtol=1e-4, atol=1e-5)

_TRI = Spec(("B", 4, 4), values=_triangular)
for _left in (True, False):
  for _lower in (True, False):
    for _trans in (False, True):
      case(f"trisolve_{'left' if _left else 'right'}_{'lower' if _lower else 'upper'}"
           f"{'_transposed' if _trans else ''}",
           functools.partial(lax.linalg.triangular_solve, left_side=_left, lower=_lower,
                             transpose_a=_trans),
           _TRI, Spec(("B", 4, 3) if _left else ("B", 3, 4)), covers="triangular_solve",
           rtol=1e-4, atol=1e-5)
case("trisolve_unit_diagonal", functools.partial(
    lax.linalg.triangular_solve, left_side=True, lower=True, unit_diagonal=True),
     _TRI, Spec(("B", 4, 2)), covers="triangular_solve", rtol=1e-4, atol=1e-5)
case("trisolve_scipy_vector", lambda a, b: jax.scipy.linalg.solve_triangular(a, b, lower=True),
     Spec((5, 5), values=_triangular), Spec((5,)), covers="triangular_solve", rtol=1e-4,
     atol=1e-5)
case("trisolve_scipy_batch_rhs", lambda a, b: jax.scipy.linalg.solve_triangular(
    a, b, trans="T", lower=False), Spec((5, 5), values=_triangular), Spec((5, "B")),
     covers="triangular_solve", rtol=1e-4, atol=1e-5)
case("trisolve_zero_pivot", lambda a, b: lax.linalg.triangular_solve(a, b, left_side=True,
                                                                        lower=True),
     Spec((3, 3), values=lambda rng, s: np.tril(np.ones(s)) - np.diag([0, 1, 1])),
     Spec((3, "B"), values=lambda rng, s: np.abs(rng.standard_normal(s)) + 1),
     covers="triangular_solve")
case("trisolve_float16", lambda a, b: lax.linalg.triangular_solve(
    a.astype(jnp.float16), b.astype(jnp.float16), left_side=True, lower=False),
     _TRI, Spec(("B", 4, 2)), covers="triangular_solve", rtol=1e-2, atol=1e-2)


# -- tridiagonal_solve ------------------------------------------------------------
# JAX on CPU calls LAPACK gtsv: Gaussian elimination with partial pivoting
# (rows i and i+1 swap where |A[i+1, i]| > |pivot|, which fills in a second
# superdiagonal), then back substitution. It is unrolled here over the (static)
# system size, both branches computed and one selected per system; a system
# with an exactly zero pivot (LAPACK's info > 0) is all NaN, as in JAX.

def _gtsv(dl, d, du, b):
  m = d.shape[-1]
  d = [d[..., i] for i in range(m)]
  up = [du[..., i] for i in range(m - 1)]          # A[i, i+1]
  low = [dl[..., i + 1] for i in range(m - 1)]     # A[i+1, i] (dl[0] is not read)
  up2 = [jnp.zeros_like(d[0])] * max(m - 2, 0)     # A[i, i+2], from the row swaps
  rows = [b[..., i, :] for i in range(m)]
  singular = jnp.zeros(d[0].shape, bool)           # (NaNs do not fail: they spread)
  for i in range(m - 1):
    swap = ~(jnp.abs(d[i]) >= jnp.abs(low[i]))     # as LAPACK, a NaN pivot swaps
    singular = singular | (~swap & (d[i] == 0))
    keep_f, swap_f = low[i] / d[i], d[i] / low[i]
    d[i], d[i + 1], up[i] = (jnp.where(swap, low[i], d[i]),
                             jnp.where(swap, up[i] - swap_f * d[i + 1], d[i + 1] - keep_f * up[i]),
                             jnp.where(swap, d[i + 1], up[i]))
    if i < m - 2:
      up2[i] = jnp.where(swap, up[i + 1], 0)
      up[i + 1] = jnp.where(swap, -swap_f * up[i + 1], up[i + 1])
    s = swap[..., None]
    rows[i], rows[i + 1] = (jnp.where(s, rows[i + 1], rows[i]),
                            jnp.where(s, rows[i] - swap_f[..., None] * rows[i + 1],
                                      rows[i + 1] - keep_f[..., None] * rows[i]))
  singular = singular | (d[-1] == 0)
  x = [None] * m
  for i in reversed(range(m)):
    r = rows[i]
    if i + 1 < m:
      r = r - up[i][..., None] * x[i + 1]
    if i + 2 < m:
      r = r - up2[i][..., None] * x[i + 2]
    x[i] = r / d[i][..., None]
  return jnp.where(singular[..., None, None], jnp.nan, jnp.stack(x, axis=-2))


@register_rule(P.tridiagonal_solve_p, family="linalg",
               onnx_ops=["Div", "Mul", "Sub", "Abs", "Where"])
def _tridiagonal_solve(ctx, dl, d, du, b, *, perturb_singular):
  if perturb_singular:
    raise NotImplementedError(
        "tridiagonal_solve(perturb_singular=True) perturbs LAPACK's tiny pivots by its own "
        "rule, which is not reproduced: export with perturb_singular=False")
  m = _static_size(ctx, ctx.avals_in[1].shape[-1], "tridiagonal_solve")
  if m == 0:
    return ctx.op("Identity", b)
  return ctx.decompose(_gtsv)


def _tridiagonal(dominant: bool):
  """(dl, d, du) stacked on the last axis but one: diagonally dominant (no row
  swaps), or with small diagonals so that most steps swap rows."""
  def values(rng, shape):
    x = rng.standard_normal(shape)
    x[..., 1, :] = (x[..., 1, :] + np.sign(x[..., 1, :]) * 4) if dominant else 0.1 * x[..., 1, :]
    return x
  return values


def _singular_second(rng, shape):
  """As _tridiagonal(True), but the second system is singular: its first pivot
  and the element below it are 0."""
  x = _tridiagonal(True)(rng, shape)
  if shape[0] > 1:
    x[1, 1, 0] = x[1, 0, 1] = 0.0
  return x


def _tri_solve(diags, b):
  return lax.linalg.tridiagonal_solve(diags[..., 0, :], diags[..., 1, :], diags[..., 2, :], b)


for _name, _dominant in (("dominant", True), ("pivoting", False)):
  case(f"tridiag_{_name}", _tri_solve, Spec(("B", 3, 6), values=_tridiagonal(_dominant)),
       Spec(("B", 6, 2)), covers="tridiagonal_solve", rtol=1e-4, atol=1e-4)
case("tridiag_singular_nan", _tri_solve, Spec(("B", 3, 5), values=_singular_second),
     Spec(("B", 5, 1)), covers="tridiagonal_solve", rtol=1e-4, atol=1e-4)
case("tridiag_unbatched_rhs_batch", _tri_solve, Spec((3, 7), values=_tridiagonal(False)),
     Spec((7, "B")), covers="tridiagonal_solve", rtol=1e-4, atol=1e-4)
case("tridiag_sizes_1_2", lambda d1, b1, d2, b2: (_tri_solve(d1, b1), _tri_solve(d2, b2)),
     Spec(("B", 3, 1), values=_tridiagonal(False)), Spec(("B", 1, 3)),
     Spec(("B", 3, 2), values=_tridiagonal(False)), Spec(("B", 2, 3)),
     covers="tridiagonal_solve", rtol=1e-4, atol=1e-4)


# jnp.linalg.norm: reductions over the batch's rows, vectors and matrices.
for _name, _kw in {"l2": {}, "l1": {"ord": 1}, "inf": {"ord": jnp.inf},
                   "neg_inf": {"ord": -jnp.inf}, "l0": {"ord": 0}, "l3": {"ord": 3}}.items():
  case(f"norm_vector_{_name}", lambda x, kw=_kw: jnp.linalg.norm(x, axis=-1, **kw), ("B", 6),
       covers="reduce_sum" if _name in ("l2", "l1", "l0", "l3") else "reduce_max")
for _name, _kw in {"fro": {"ord": "fro"}, "one": {"ord": 1}, "inf": {"ord": jnp.inf}}.items():
  case(f"norm_matrix_{_name}", lambda x, kw=_kw: jnp.linalg.norm(x, axis=(-2, -1), **kw),
       ("B", 3, 4), covers="reduce_sum" if _name == "fro" else "reduce_max")
case("norm_keepdims_normalize", lambda x: x / jnp.linalg.norm(x, axis=-1, keepdims=True),
     ("B", 5), covers="reduce_sum")
