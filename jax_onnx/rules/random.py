"""Random numbers: threefry2x32 and the key primitives, exactly as JAX computes them.

A typed key array (dtype key<fry>) is held in the ONNX graph as its uint32 key
data, of shape aval.shape + (2,); ops that only move keys (slice, gather,
select_n, ...) run on that data (trace.OnnxTrace._on_key_data). random_wrap and
random_unwrap are then identities, and random_seed/bits/split/fold_in trace
JAX's own implementation of the key's PRNG on that data, which ends in the
threefry2x32 block cipher: the only new arithmetic, written here in uint32 ONNX
ops (ONNX Runtime's uint32 Add wraps modulo 2**32, as XLA's does). The bits
follow whatever jax_threefry_partitionable says while the function is traced.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import primitives as P

from jax_onnx import _compat
from jax_onnx.registry import Spec, case, register_rule

_EXTRA = _compat.extra_primitives()
_PRNG = _compat.prng_module()
_U32 = np.uint32

# Threefry-2x32 with 20 rounds (Salmon et al. 2011): the rotation distances of
# the even and odd groups of four rounds, and the key schedule's parity constant.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


@register_rule(P.threefry2x32_p, family="random",
               onnx_ops=["Add", "BitShift", "BitwiseOr", "BitwiseXor"])
def _threefry2x32(ctx, k0, k1, x0, x1):
  # Operands broadcast like numpy (JAX passes scalar keys with array counts).
  u32 = lambda v: ctx.scalar(v, _U32)
  add = lambda a, b: ctx.op("Add", a, b)
  xor = lambda a, b: ctx.op("BitwiseXor", a, b)

  def rotl(v, r):
    return ctx.op("BitwiseOr", ctx.op("BitShift", v, u32(r), direction="LEFT"),
                  ctx.op("BitShift", v, u32(32 - r), direction="RIGHT"))

  ks = [k0, k1, xor(xor(k0, k1), u32(_PARITY))]
  x = [add(x0, ks[0]), add(x1, ks[1])]
  for i in range(5):
    for r in _ROTATIONS[i % 2]:
      x[0] = add(x[0], x[1])
      x[1] = xor(x[0], rotl(x[1], r))
    # key injection i+1: the schedule rotates through ks, plus a round counter
    x = [add(x[0], ks[(i + 1) % 3]), add(add(x[1], ks[(i + 2) % 3]), u32(i + 1))]
  return x


@register_rule(_EXTRA["iota_2x32_shape"], family="random",
               onnx_ops=["Range", "BitwiseAnd", "Div", "Cast"])
def _iota_2x32_shape(ctx, *, shape):
  # The row-major index of each element as a uint64, split in (high, low) words.
  i64 = np.int64
  size = ctx.op("ReduceProd", ctx.shape(shape), keepdims=0)
  index = ctx.reshape(ctx.op("Range", ctx.scalar(0, i64), size, ctx.scalar(1, i64)), shape)
  lo = ctx.op("BitwiseAnd", index, ctx.scalar(0xFFFFFFFF, i64))
  hi = ctx.op("Div", index, ctx.scalar(1 << 32, i64))
  return [ctx.cast(hi, _U32), ctx.cast(lo, _U32)]


# -- the key primitives ------------------------------------------------------

@register_rule(_EXTRA["random_wrap"], family="random", onnx_ops=["(none)"])
def _random_wrap(ctx, data, *, impl):
  del ctx, impl   # a key array is its key data
  return data


@register_rule(_EXTRA["random_unwrap"], family="random", onnx_ops=["(none)"])
def _random_unwrap(ctx, keys):
  del ctx
  return keys


@register_rule(_EXTRA["random_clone"], family="random", onnx_ops=["(none)"])
def _random_clone(ctx, keys):
  del ctx   # a copy, for jax.experimental.key_reuse
  return keys


def _key_data(ctx, i: int = 0):
  """Operand i (a key array) as a tracer of its uint32 data."""
  t = ctx.tracers_in[i]
  return type(t)(ctx.trace, _compat.physical_aval(t.aval), t.value, t.const)


def _impl(ctx):
  return ctx.avals_in[0].dtype._impl


@register_rule(P.random_seed_p, family="random", onnx_ops=["(decomposed)"])
def _random_seed(ctx, seeds, *, impl):
  del seeds
  return ctx.decompose(lambda s: _PRNG.random_seed_impl_base(s, impl=impl))


@register_rule(P.random_bits_p, family="random", onnx_ops=["(decomposed)"])
def _random_bits(ctx, keys, *, bit_width, shape):
  del keys
  ndim = len(ctx.avals_in[0].shape)
  return ctx.decompose(lambda k: _PRNG.random_bits_impl_base(
      _impl(ctx), k, ndim, bit_width=bit_width, shape=shape), _key_data(ctx))


@register_rule(P.random_split_p, family="random", onnx_ops=["(decomposed)"])
def _random_split(ctx, keys, *, shape):
  del keys
  ndim = len(ctx.avals_in[0].shape)
  return ctx.decompose(lambda k: _PRNG.random_split_impl_base(
      _impl(ctx), k, ndim, shape=shape), _key_data(ctx))


@register_rule(P.random_fold_in_p, family="random", onnx_ops=["(decomposed)"])
def _random_fold_in(ctx, keys, msgs):
  del keys, msgs
  shape = ctx.avals_in[0].shape
  return ctx.decompose(lambda k, m: _PRNG.random_fold_in_impl_base(
      _impl(ctx), k, m, shape), _key_data(ctx), ctx.tracers_in[1])


@register_rule(P.random_gamma_p, family="random", onnx_ops=["(decomposed)", "Loop"])
def _random_gamma(ctx, keys, a, *, log_space):
  # Marsaglia-Tsang rejection sampling, one while loop vmapped over the elements:
  # JAX's own lowering, traced on the (typed) keys.
  del keys, a
  gamma = _compat.random_gamma_impl()
  return ctx.decompose(lambda k, alpha: gamma(k, alpha, log_space=log_space, use_vmap=True))


# -- test cases ----------------------------------------------------------------
# Keys come in as uint32 key data (a typed key cannot be an ONNX input) and are
# rebuilt with wrap_key_data; shapes follow x's symbolic batch, so nothing folds.
# Bits, integers and uniform floats must equal JAX's exactly.

def _u32(rng, shape):   # full-range uint32, with the extremes
  v = rng.integers(0, 2**32, shape, dtype=np.uint64)
  return np.where(rng.random(shape) < 0.2, rng.choice([0, 2**32 - 1], shape), v)


def _i32_edges(rng, shape):   # scalars: the int32 extremes, 0, -1, others
  return rng.choice([-2**31, 2**31 - 1, 0, -1, 7, -123456789], shape)


def _prob(rng, shape):
  return rng.choice([0.0, 1.0, 0.3, 0.5, 0.999], shape)


_KEY = Spec((2,), "uint32", _u32)
_X = ("B", 4)
_wrap = jax.random.wrap_key_data


def _tf(k0, k1, x0, x1):
  return P.threefry2x32_p.bind(k0, k1, x0, x1)


case("random_threefry2x32", _tf, Spec((), "uint32", _u32), Spec((), "uint32", _u32),
     Spec(("B", 5), "uint32", _u32), Spec(("B", 5), "uint32", _u32), covers="threefry2x32",
     expect_ops=["BitShift", "BitwiseXor"])
case("random_threefry2x32_keys_per_element", _tf, *[Spec(("B", 3), "uint32", _u32)] * 4,
     covers="threefry2x32")
case("random_iota_2x32_shape",
     lambda x: _EXTRA["iota_2x32_shape"].bind(shape=(*x.shape, 3)), ("B", 2),
     covers="iota_2x32_shape")

case("random_bits",   # every bit width: uint32 words, and uint8/16 ones cut from them
     lambda x, k: (jax.random.bits(_wrap(k), x.shape),
                   jax.random.bits(_wrap(k), x.shape, jnp.uint8),
                   jax.random.bits(_wrap(k), (x.shape[0], 3), jnp.uint16),
                   jax.random.bits(_wrap(k), (5,), jnp.uint8), jax.random.bits(_wrap(k), ())),
     _X, _KEY, covers="random_bits", expect_ops=["BitShift", "BitwiseXor"])
case("random_uniform", lambda x, k: x + jax.random.uniform(_wrap(k), x.shape),
     _X, _KEY, covers="random_wrap", atol=0, rtol=0)
case("random_uniform_range",   # (XLA fuses the scaling's mul and add: 1 ulp apart)
     lambda x, k: jax.random.uniform(_wrap(k), x.shape, minval=-2.0, maxval=3.0),
     _X, _KEY, covers="random_bits", atol=5e-7, rtol=0)
_CLOSED_KEY = jax.random.key(42)
case("random_constant_keys",   # a literal seed, a typed key array constant: fold where static
     lambda x: (x + jax.random.uniform(jax.random.key(0), x.shape),
                x * jax.random.uniform(jax.random.split(_CLOSED_KEY)[1], x.shape)),
     _X, covers="random_seed", atol=0, rtol=0)
case("random_key_from_seed_input",
     lambda x, s: (jax.random.key_data(jax.random.split(jax.random.key(s), 3)),
                   jax.random.bits(jax.random.key(s), x.shape, jnp.uint8)),
     _X, Spec((), "int32", _i32_edges), covers="random_seed")
case("random_legacy_prngkey",   # uint32[2] keys: random_wrap/unwrap around each use
     lambda x, s: (jax.random.PRNGKey(s), jax.random.split(jax.random.PRNGKey(s)),
                   jax.random.uniform(jax.random.split(jax.random.PRNGKey(s))[0], x.shape)),
     _X, Spec((), "int32", _i32_edges), covers="random_unwrap", atol=0, rtol=0)


def _split_chain(x, k, d):
  k1, k2 = jax.random.split(_wrap(k))
  k3, k4, k5 = jax.random.split(k2, 3)
  k6 = jax.random.fold_in(k5, 7)
  return (jax.random.uniform(k1, x.shape), jax.random.bits(k4, x.shape),
          jax.random.key_data(jax.random.split(k6, (2, 2))), jax.random.key_data(k3),
          jax.random.bits(jax.random.fold_in(k3, d), x.shape))


case("random_split_fold_in_chain", _split_chain, _X, _KEY, Spec((), "int32", _i32_edges),
     covers="random_split", atol=0, rtol=0)
case("random_split_chain_as_functions",   # key arrays through ONNX local functions
     _split_chain, _X, _KEY, Spec((), "int32", _i32_edges), covers="random_fold_in",
     atol=0, rtol=0, options={"named_jits": "function"})
case("random_randint",
     lambda x, k, lo, hi: (jax.random.randint(_wrap(k), x.shape, lo, hi),
                           jax.random.randint(_wrap(k), (x.shape[0],), -2**31, 2**31 - 1),
                           jax.random.randint(_wrap(k), (x.shape[0], 2), 0, 3, jnp.uint8)),
     _X, _KEY, Spec((), "int32", _i32_edges), Spec((), "int32", _i32_edges),
     covers="random_bits")
case("random_bernoulli", lambda x, k, p: jax.random.bernoulli(_wrap(k), p, x.shape),
     _X, _KEY, Spec((), "float32", _prob), covers="random_bits")


def _not_partitionable(x, k):
  # The other bit layout (jax_threefry_partitionable=False): the trace follows the config.
  with jax.threefry_partitionable(False):
    keys = jax.random.split(_wrap(k), 3)
    return (jax.random.bits(keys[1], x.shape), jax.random.bits(_wrap(k), x.shape, jnp.uint8),
            jax.random.uniform(jax.random.fold_in(_wrap(k), 3), x.shape))


case("random_threefry_not_partitionable", _not_partitionable, _X, _KEY,
     covers="random_bits", atol=0, rtol=0)
case("random_vmap_over_keys",   # bits/split/fold_in on a batch of B keys
     lambda x, ks, d: (jax.vmap(lambda k: jax.random.uniform(k, (3,)))(_wrap(ks)),
                       jax.random.key_data(jax.vmap(jax.random.split)(_wrap(ks))),
                       jax.random.key_data(jax.vmap(jax.random.fold_in)(_wrap(ks), d))),
     _X, Spec(("B", 2), "uint32", _u32), Spec(("B",), "int32", "int"),
     covers="random_bits", atol=0, rtol=0)


def _moved_keys(x, k, i):
  # Key arrays sliced, gathered, transposed, concatenated, broadcast, selected.
  ks = jax.random.split(_wrap(k), 6).reshape(2, 3)
  moved = (ks.T[::-1], jnp.concatenate([ks[0], ks[1, :1]]), jnp.broadcast_to(_wrap(k), (2, 3)),
           ks[jnp.array([1, 0])], jnp.stack([_wrap(k), ks[0, 0]]),
           jax.lax.dynamic_slice(ks[1], (i,), (2,)), jax.lax.select(i > 0, ks[0], ks[1]))
  return [jax.random.key_data(m) for m in moved] + [jax.random.uniform(ks[1, i], x.shape)]


case("random_moved_key_arrays", _moved_keys, _X, _KEY, Spec((), "int32", "index", high=3),
     covers="random_split", atol=0, rtol=0)


def _control_flow_keys(x, k, i):
  def body(_, carry):
    key, acc = carry
    key, sub = jax.random.split(key)
    return key, acc + jax.random.uniform(sub, x.shape)
  key, acc = jax.lax.fori_loop(0, 3, body, (_wrap(k), x))
  acc, words = jax.lax.scan(lambda c, kk: (c + jax.random.uniform(kk, x.shape),
                                           jax.random.key_data(kk)),
                            acc, jax.random.split(key, 2))
  chosen = jax.lax.cond(i > 0, lambda: key, lambda: jax.random.fold_in(key, 3))
  return acc, words, jax.random.key_data(chosen)


case("random_keys_through_control_flow", _control_flow_keys, _X, _KEY,
     Spec((), "int32", "int"), covers="random_split")
case("random_normal", lambda x, k: x + jax.random.normal(_wrap(k), x.shape), _X, _KEY,
     covers="random_bits", rtol=1e-5, atol=1e-5)   # erf_inv: a float approximation
case("random_distributions",   # log/exp/erf_inv of uniforms: float tolerance
     lambda x, k: (jax.random.gumbel(_wrap(k), x.shape), jax.random.exponential(_wrap(k), x.shape),
                   jax.random.truncated_normal(_wrap(k), -1.0, 2.0, x.shape),
                   jax.random.laplace(_wrap(k), x.shape), jax.random.rademacher(_wrap(k), x.shape),
                   jax.random.categorical(_wrap(k), x, axis=-1)),
     _X, _KEY, covers="random_bits", rtol=1e-5, atol=1e-5)
case("random_permutation",   # sort-based (JAX cannot permute along a symbolic axis)
     lambda x, k: (jax.random.permutation(_wrap(k), x, axis=1),
                   jax.random.permutation(_wrap(k), 6),
                   jax.random.choice(_wrap(k), 10, (3,), replace=False)),
     _X, _KEY, covers="random_bits")


def _dropout(x, k):
  # An nnx.Rngs stream made in the function: from a key input, and from a seed.
  from flax import nnx
  drop = nnx.Dropout(0.3, deterministic=False)
  return (drop(x, rngs=nnx.Rngs(dropout=_wrap(k))),
          nnx.Dropout(0.5, deterministic=False, rngs=nnx.Rngs(dropout=0))(x))


case("random_nnx_dropout", _dropout, _X, _KEY, covers="random_bits")
case("random_gamma",   # rejection sampling in a while loop per element: float tolerance
     lambda a, k: (jax.random.gamma(_wrap(k), a), jax.random.loggamma(_wrap(k), a)),
     Spec(("B", 2), "float32", "positive"), _KEY, covers="random_gamma", rtol=1e-4, atol=1e-6)
case("random_clone", lambda x, k: jax.random.uniform(jax.random.clone(_wrap(k)), x.shape),
     _X, _KEY, covers="random_clone", atol=0, rtol=0)
