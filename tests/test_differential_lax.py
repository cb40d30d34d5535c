"""Property-based differential tests for the newer rule families, ONNX Runtime vs JAX.

Covers jax_onnx/rules/bits.py (rem, shifts, population_count, clz, nextafter,
is_finite, reduce_precision), sorting.py (sort, argsort, top_k), scatter.py
(x.at[].set/add/mul/min/max, dynamic_update_slice), pad and rev,
windows.py (reduce_window_sum/max/min, the cumulative reductions),
convolution.py (conv_general_dilated), special.py and random.py (random_bits,
uniform), in the style of tests/test_differential.py (whose strategies and
comparison this file reuses): hypothesis draws shapes (size-0 and size-1 dims
included), parameters (out-of-range ones included) and values (NaN, +-inf,
-0.0, denormals, int min/max); each example is exported with
`jax_onnx.transform(fn).lower(...)` (some with a symbolic leading dim 'B'), run
in ONNX Runtime and compared with `jax.jit(fn)`: ints and bools exactly,
floats within a tolerance derived from the dtype (and, for the special
functions, from the function's own sensitivity: the spread of JAX's results
over inputs a few ulps away).

One test per (primitive or family, dtype); the special functions and random
draw the dtype inside one test per function. Deterministic
(derandomize=True). Bugs found are listed in KNOWN_BUGS (whole tests skipped)
or rejected per example by known_bug(...) (counted in the report), each with
a minimal repro in KNOWN_BUG_REPROS, skipped while it reproduces.

Environment:
  JAX_ONNX_HYPOTHESIS_EXAMPLES  examples per test (default 2 here: the file must
                                run in < 60 s on 2 cores; 50+ for a long run)
  JAX_ONNX_HYPOTHESIS_REPORT    file that gets the per-primitive example counts
                                (appended, one "primitive<TAB>dtype<TAB>count" line each)

Runs under pytest and as `python tests/test_differential_lax.py` (absltest).
"""
from __future__ import annotations

import atexit
import collections
import math
import os
import sys

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import test_differential as td  # strategies and comparison (tests/ is on sys.path)
from absl.testing import absltest, parameterized
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax import lax
from jax._src.core import InconclusiveDimensionOperation

import jax_onnx
from jax_onnx.errors import SymbolicDimError

EXAMPLES = int(os.environ.get("JAX_ONNX_HYPOTHESIS_EXAMPLES", "2"))
REPORT = os.environ.get("JAX_ONNX_HYPOTHESIS_REPORT")

SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                    print_blob=False, suppress_health_check=list(HealthCheck))

BF16, F16, F32 = td.BF16, td.F16, td.F32
FLOATS = td.FLOATS
SINTS = td.SINTS
INTS = ("int8", "int16", "int32", "uint8", "uint16", "uint32")
NUMERIC = FLOATS + INTS
ALL = NUMERIC + ("bool",)

# Bugs this file found. Fixed ones keep their minimal repro as a regression
# test (FIXED_BUG_REPROS); open ones are rejected in the property tests and
# their repro is skipped while it reproduces (KNOWN_BUG_REPROS).
#
# Not a jax_onnx bug but XLA:CPU being inconsistent with itself (a 1-D conv
# skips padding holes, a 2-D one multiplies 0 * inf): non-finite kernel weights
# with padding or lhs dilation are documented as unsupported in the README.
BUG_CONV_PAD_NONFINITE = (
    "conv_general_dilated with positive padding or lhs_dilation and an inf/NaN kernel weight: "
    "XLA:CPU leaves padding and dilation holes out of the sums (x=[1,2], w=[inf,1], padding "
    "(1,1) -> [1, inf, inf, inf]), the export multiplies their zeros (0*inf = NaN -> [nan, inf, "
    "inf, inf]; also with lhs_dilation 2 and stride 2, where the input is dilated explicitly)")
KNOWN_BUGS: dict[tuple[str, str], str] = {}
REJECTED_BUGS: collections.Counter = collections.Counter()   # (primitive, bug) -> examples


def known_bug(prim, condition, reason):
  """Rejects (and counts) the examples a known value-level bug would fail."""
  if condition:
    REJECTED_BUGS[(prim, reason)] += 1
    reject()

# ---------------------------------------------------------------------------
# Example counting (same report format as test_differential.py).

COUNTS: collections.Counter = collections.Counter()   # (primitive, dtype) -> examples
REJECTED: collections.Counter = collections.Counter()   # (kind, reason) -> examples


def _write_report():
  if not COUNTS:
    return
  per_prim = collections.Counter()
  for (prim, _), n in COUNTS.items():
    per_prim[prim] += n
  lines = [f"{p}\t{n}" for p, n in sorted(per_prim.items())]
  lines += [f"(rejected, {k}) {r}\t{n}" for (k, r), n in sorted(REJECTED.items())]
  lines += [f"(rejected, known bug) {p}: {r[:70]}...\t{n}"
            for (p, r), n in sorted(REJECTED_BUGS.items())]
  sys.stdout.write("\nhypothesis examples per primitive (test_differential_lax, this process):\n  "
                   + "\n  ".join(lines) + "\n")
  if REPORT:
    with open(REPORT, "a") as f:
      for (prim, dtype), n in sorted(COUNTS.items()):
        f.write(f"{prim}\t{dtype}\t{n}\n")
      for (k, r), n in sorted(REJECTED.items()):
        f.write(f"rejected:{k}\t{r}\t{n}\n")
      for (p, r), n in sorted(REJECTED_BUGS.items()):
        f.write(f"rejected:{p}\t{r}\t{n}\n")
  COUNTS.clear()
  REJECTED.clear()
  REJECTED_BUGS.clear()


atexit.register(_write_report)

# ---------------------------------------------------------------------------
# Strategies (on top of test_differential's).

_np_dtype = td._np_dtype
_is_float = td._is_float
_eps = td._eps


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
  return td.shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def _float_pool(dtype):
  fi = ml_dtypes.finfo(dtype)
  return [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5,
          float(fi.smallest_subnormal), float(fi.smallest_normal), -float(fi.max)]


def elements(dtype, kind="any"):
  """td.elements plus: tame (specials and |x| <= 100: no overflow by a few
  additions), mag (specials, 0 and 1/4 <= |x| <= 4: products neither overflow
  nor underflow), ties (a small pool, many equal values)."""
  dtype = np.dtype(dtype)
  if kind not in ("tame", "mag", "ties") or dtype == np.bool_:
    return td.elements(dtype, kind)
  if dtype.kind in "iu":
    info = np.iinfo(dtype)
    if kind == "ties":
      return st.sampled_from(sorted({info.min, info.max, 0, 1, min(info.max, 2),
                                     max(info.min, -1)}))
    return td.elements(dtype, "small" if kind == "mag" else "any")
  width = 16 if dtype == F16 else 32
  specials = [np.nan, np.inf, -np.inf, 0.0, -0.0]
  if kind == "ties":
    return st.sampled_from(_float_pool(dtype))
  if kind == "tame":
    fi = ml_dtypes.finfo(dtype)
    return st.one_of(st.sampled_from(specials + [1.0, -1.0, float(fi.smallest_subnormal)]),
                     st.floats(-100, 100, width=width))
  return st.one_of(st.sampled_from(specials + [1.0, -1.0, 0.25, 4.0]),
                   st.floats(0.25, 4, width=width),
                   st.floats(-4, -0.25, width=width))


def arrays(dtype, shape, kind="any"):
  dtype = _np_dtype(dtype) if isinstance(dtype, str) else np.dtype(dtype)
  if dtype == BF16:
    return hnp.arrays(F32, shape, elements=elements(BF16, kind)).map(lambda a: a.astype(BF16))
  return hnp.arrays(dtype, shape, elements=elements(dtype, kind))


def _maybe_dynamic(data, shape):
  return len(shape) >= 1 and shape[0] >= 1 and data.draw(st.booleans(), label="dynamic")


# ---------------------------------------------------------------------------
# Running and comparing.

_JITS: dict = {}


def _jitted(key, fn, xs):
  """jax.jit(fn), reused for every fn with this key and input dtypes (the key
  says everything fn's behaviour depends on): XLA compiles dominate the run."""
  return _JITS.setdefault((key, tuple(str(x.dtype) for x in xs)), jax.jit(fn))


class _JaxRejects(Exception):
  pass


def run(fn, xs, *, dynamic=False, key=None):
  """(ONNX outputs, JAX outputs, description). dynamic: bool, or one per input
  (a symbolic leading dim 'B' for those). If JAX itself rejects the example
  (invalid parameters), the example is rejected."""
  dyn = list(dynamic) if isinstance(dynamic, (list, tuple)) else [dynamic] * len(xs)
  specs = [jax.ShapeDtypeStruct(("B",) + x.shape[1:] if d else x.shape, x.dtype)
           for x, d in zip(xs, dyn)]
  jfn = _jitted(key, fn, xs) if key is not None else jax.jit(fn)
  try:
    expected = jfn(*xs)
  except (TypeError, ValueError, IndexError) as e:   # JAX's own shape / parameter checks
    raise _JaxRejects(str(e)) from e
  where = f"{'dynamic ' if any(dyn) else ''}inputs: {td._describe(xs)}"
  try:
    exported = jax_onnx.transform(fn).lower(*specs)
  except (SymbolicDimError, InconclusiveDimensionOperation) as e:
    if not any(dyn):
      raise
    # JAX cannot do this shape arithmetic on 'B' (or jax_onnx refuses, saying
    # so): not a silent error. Counted in the report.
    REJECTED[("symbolic", str(e).splitlines()[0][:90])] += 1
    raise _JaxRejects(str(e)) from e
  return exported(*xs), expected, where


def check(prims, dtype, fn, xs, *, tol="exact", atol=None, dynamic=False, signed_zeros=False,
          ftz=True, key=None):
  """Exports and compares fn(*xs); counts one example for each of `prims`.
  ftz: flush denormal inputs (XLA:CPU treats them as zero in arithmetic) and
  allow denormal results to differ from zero. tol/atol/signed_zeros: one for
  all outputs, or a list with one per output."""
  prims = (prims,) if isinstance(prims, str) else tuple(prims)
  xs = [td.flush_denormals(x) if ftz else np.asarray(x) for x in xs]
  try:
    actual, expected, where = run(fn, xs, dynamic=dynamic, key=key)
  except _JaxRejects:
    reject()
  for p in prims:
    COUNTS[(p, str(dtype))] += 1
  where = f"{'/'.join(prims)}[{dtype}] {where}"
  a_leaves = jax.tree_util.tree_leaves(actual)
  e_leaves = jax.tree_util.tree_leaves(expected)
  assert len(a_leaves) == len(e_leaves), f"{where}: {len(a_leaves)} vs {len(e_leaves)} outputs"
  per = lambda v: v if isinstance(v, list) else [v] * len(e_leaves)
  for i, (a, e, t, at, sz) in enumerate(zip(a_leaves, e_leaves, per(tol), per(atol),
                                            per(signed_zeros))):
    if callable(at):
      at = at(xs)
    td.assert_matches(a, e, tol=t, atol=at, signed_zeros=sz, where=f"{where} [output {i}]",
                      ftz=ftz)


class _Base(parameterized.TestCase):

  def run_examples(self, name, dtype, body, weight=1):
    reason = KNOWN_BUGS.get((name, dtype))
    if reason:
      self.skipTest(f"known bug: {reason}")

    @settings(SETTINGS, max_examples=max(1, round(EXAMPLES * weight)))
    @given(data=st.data())
    def inner(data):
      body(data)
    inner()

  @classmethod
  def tearDownClass(cls):
    super().tearDownClass()
    _write_report()


def _params(name, dtypes):
  return [{"testcase_name": f"_{name}_{d}", "name": name, "dtype": d} for d in dtypes]


def _nbits(dtype) -> int:
  return np.dtype(dtype).itemsize * 8


def _abs64(x):
  x = np.asarray(x).astype(np.float64)
  return np.where(np.isfinite(x), np.abs(x), 0.0)


# ---------------------------------------------------------------------------
# bits.py

class BitsTest(_Base):

  @parameterized.named_parameters(*_params("rem", NUMERIC))
  def test_rem(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      x = data.draw(arrays(dtype, shape), label="x")
      ykind = data.draw(st.sampled_from(["any", "small"]), label="y_kind")
      y = data.draw(arrays(dtype, shape, ykind), label="y")
      # fmod is exact: the float result is compared to the last bit, -0.0 included.
      check(name, dtype, lax.rem, [x, y], key=name, tol=0, signed_zeros=True,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("shifts", INTS))
  def test_shifts(self, name, dtype):
    bits = _nbits(dtype)
    lo = -3 if np.iinfo(dtype).min else 0
    fn = lambda x, s: (lax.shift_left(x, s), lax.shift_right_logical(x, s),
                       lax.shift_right_arithmetic(x, s))

    def body(data):
      shape = data.draw(shapes(), label="shape")
      x = data.draw(arrays(dtype, shape), label="x")
      amounts = st.one_of(st.integers(lo, bits + 2), elements(dtype))   # incl. >= width, < 0
      s = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=amounts), label="s")
      const = data.draw(st.booleans(), label="constant_amounts")
      if const:   # known amounts: the rule's in-range shortcut when they all fit
        check(("shift_left", "shift_right_logical", "shift_right_arithmetic"), dtype,
              lambda x: fn(x, s), [x])
      else:
        check(("shift_left", "shift_right_logical", "shift_right_arithmetic"), dtype, fn,
              [x, s], key=name, dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("popcount_clz", INTS))
  def test_population_count_clz(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      x = data.draw(arrays(dtype, shape), label="x")
      check(("population_count", "clz"), dtype,
            lambda x: (lax.population_count(x), lax.clz(x)), [x], key=name,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("nextafter", FLOATS))
  def test_nextafter(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      x = data.draw(arrays(dtype, shape), label="x")
      if data.draw(st.booleans(), label="y_from_x"):   # x == y, and +-0 pairs
        y = data.draw(arrays(dtype, shape).map(lambda y: np.where(
            np.arange(y.size).reshape(y.shape) % 2 == 0, x, y).astype(x.dtype)), label="y")
      else:
        y = data.draw(arrays(dtype, shape), label="y")
      # Bit-exact, denormals included (the rule models XLA's DAZ comparison).
      check(name, dtype, lax.nextafter, [x, y], key=name, tol=0, signed_zeros=True,
            ftz=False, dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("is_finite", FLOATS))
  def test_is_finite(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      x = data.draw(arrays(dtype, shape), label="x")
      check(name, dtype, lax.is_finite, [x], key=name, ftz=False,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("reduce_precision", FLOATS))
  def test_reduce_precision(self, name, dtype):
    fi = ml_dtypes.finfo(_np_dtype(dtype))
    ebits, mbits = _nbits(_np_dtype(dtype)) - 1 - fi.nmant, fi.nmant

    def body(data):
      shape = data.draw(shapes(), label="shape")
      e = data.draw(st.integers(1, ebits + 2), label="exponent_bits")
      m = data.draw(st.integers(0, mbits + 2), label="mantissa_bits")
      x = data.draw(arrays(dtype, shape), label="x")
      check(name, dtype, lambda x: lax.reduce_precision(x, e, m), [x], key=(name, e, m),
            tol=0, signed_zeros=True, ftz=False, dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)


# ---------------------------------------------------------------------------
# sorting.py

class SortingTest(_Base):

  @parameterized.named_parameters(*_params("sort", ALL))
  def test_sort(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(min_dims=1), label="shape")
      dim = data.draw(st.integers(0, len(shape) - 1), label="dimension")
      kind = data.draw(st.sampled_from(["any", "ties"]), label="kind")
      x = data.draw(arrays(dtype, shape, kind), label="x")
      stable = data.draw(st.booleans(), label="is_stable")
      # -0.0 and 0.0 tie: an unstable sort may put either first. Denormal inputs
      # are flushed (ftz): XLA:CPU compares them as zeros (DAZ), the export by value.
      check(name, dtype, lambda x: lax.sort(x, dimension=dim, is_stable=stable), [x],
            key=(name, dim, stable), signed_zeros=stable,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  def test_sort_operands(self):
    """Several operands of mixed dtypes, num_keys of them keys, stable."""
    def body(data):
      shape = data.draw(shapes(min_dims=1), label="shape")
      dim = data.draw(st.integers(0, len(shape) - 1), label="dimension")
      n = data.draw(st.integers(2, 4), label="n_operands")
      num_keys = data.draw(st.integers(1, n), label="num_keys")
      dtypes = [data.draw(st.sampled_from(ALL), label="dtype") for _ in range(n)]
      xs = [data.draw(arrays(d, shape, "ties" if i < num_keys else "any"), label=f"x{i}")
            for i, d in enumerate(dtypes)]
      check("sort", "+".join(dtypes), lambda *xs: lax.sort(xs, dimension=dim, is_stable=True,
                                                              num_keys=num_keys), xs,
            signed_zeros=True, dynamic=_maybe_dynamic(data, shape))
    self.run_examples("sort_operands", "mixed", body, weight=4)

  @parameterized.named_parameters(*_params("argsort", NUMERIC + ("bool",)))
  def test_argsort(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(min_dims=1), label="shape")
      axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
      desc = data.draw(st.booleans(), label="descending")
      x = data.draw(arrays(dtype, shape, data.draw(st.sampled_from(["any", "ties"]),
                                                   label="kind")), label="x")
      check("sort", dtype, lambda x: jnp.argsort(x, axis=axis, stable=True, descending=desc),
            [x], key=(name, axis, desc), dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("top_k", ALL))
  def test_top_k(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(min_dims=1), label="shape")
      axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
      k = data.draw(st.integers(0, shape[axis]), label="k")
      x = data.draw(arrays(dtype, shape, data.draw(st.sampled_from(["any", "ties"]),
                                                   label="kind")), label="x")
      check(name, dtype, lambda x: lax.top_k(x, k, axis=axis), [x], key=(name, k, axis),
            signed_zeros=True,
            dynamic=axis != 0 and _maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)


# ---------------------------------------------------------------------------
# scatter.py

_AT_PRIM = {"set": "scatter", "add": "scatter-add", "mul": "scatter-mul", "min": "scatter-min",
            "max": "scatter-max"}
# values: add sums at most a few duplicates (tame: no overflow on the way), mul
# multiplies them (mag: no overflow or underflow on the way) in an order and a
# precision that may differ (half floats run in float32 in the export).
_AT_KIND = {"set": "any", "add": "tame", "mul": "mag", "min": "any", "max": "any"}


def _targets(form, op_shape, idx, mode):
  """The operand positions (per index element) the .at[] indices write, and
  which are kept, as JAX resolves them: negatives count from the end, then
  drop or clip."""
  axes = {"lead": [0], "second": [1], "pair": [0, 1]}[form]
  cols = np.broadcast_arrays(*[np.asarray(i).astype(np.int64) for i in idx])
  cols = [np.where(c < 0, c + op_shape[a], c) for c, a in zip(cols, axes)]
  if mode == "clip":
    cols = [np.clip(c, 0, max(op_shape[a] - 1, 0)) for c, a in zip(cols, axes)]
    keep = np.ones(cols[0].shape, bool) if all(op_shape[a] for a in axes) else np.zeros(
        cols[0].shape, bool)
  else:
    keep = np.logical_and.reduce([(c >= 0) & (c < op_shape[a]) for c, a in zip(cols, axes)])
  return np.stack([c.reshape(-1) for c in cols], -1), keep.reshape(-1)


@st.composite
def _at_problem(draw, dtype, op):
  form = draw(st.sampled_from(["lead", "second", "pair"]), label="form")
  min_rank = 1 if form == "lead" else 2
  op_shape = draw(shapes(min_dims=min_rank, max_dims=3), label="operand_shape")
  n_idx = 2 if form == "pair" else 1
  batch = draw(shapes(max_dims=2, max_side=3), label="index_shape")
  idtype = draw(st.sampled_from(["int32", "int8", "uint8", "int16"]), label="index_dtype")
  info = np.iinfo(idtype)
  axes = {"lead": [0], "second": [1], "pair": [0, 1]}[form]
  idx = []
  for a in axes[:n_idx]:
    n = op_shape[a]
    vals = st.integers(max(info.min, -n - 3), min(info.max, n + 3))
    idx.append(draw(hnp.arrays(np.dtype(idtype), batch, elements=vals), label="indices"))
  mode = draw(st.sampled_from([None, "drop", "clip"]), label="mode")
  x = draw(arrays(dtype, op_shape, _AT_KIND[op]), label="operand")
  pos, keep = _targets(form, op_shape, idx, mode)
  kept = pos[keep]
  dups = len({tuple(p) for p in kept}) < len(kept)
  if form == "lead":
    upd_shape = batch + op_shape[1:]
  elif form == "second":
    upd_shape = op_shape[:1] + batch + op_shape[2:]
  else:
    upd_shape = batch + op_shape[2:]
  # set with duplicate targets: XLA leaves the winner unspecified, so they get one value.
  scalar = (op == "set" and dups) or draw(st.booleans(), label="scalar_update")
  u = draw(arrays(dtype, () if scalar else upd_shape, _AT_KIND[op]), label="updates")
  multiplicity = max(collections.Counter(map(tuple, kept)).values(), default=1)
  return form, x, idx, u, mode, multiplicity, math.prod(upd_shape)


def _at(form, op, mode):
  def fn(x, u, *idx):
    ref = {"lead": lambda: x.at[idx[0]], "second": lambda: x.at[:, idx[0]],
           "pair": lambda: x.at[idx[0], idx[1]]}[form]()
    return getattr(ref, op)(u, mode=mode)
  return fn


class ScatterTest(_Base):

  @parameterized.named_parameters(
      *[{"testcase_name": f"_{op}_{d}", "op": op, "dtype": d}
        for op in ("set", "add", "mul", "min", "max")
        for d in (ALL if op in ("set", "min", "max") else NUMERIC)])
  def test_at(self, op, dtype):
    name = f"at_{op}"
    prim = _AT_PRIM[op]

    def body(data):
      form, x, idx, u, mode, mult, n_upd = data.draw(_at_problem(dtype, op), label="problem")
      signed_zeros = op != "add"
      fn = _at(form, op, mode)
      tol, atol = "exact", None
      if _is_float(_np_dtype(dtype)) and op in ("add", "mul"):
        # up to `mult` roundings of the running result, each <= 1/2 ulp
        tol = 2 * (mult + 1)
        if op == "add":
          bound = (float(np.max(_abs64(x), initial=0)) + mult * float(np.max(_abs64(u),
                                                                               initial=0)))
          atol = 2 * (mult + 1) * _eps(_np_dtype(dtype)) * bound
      if data.draw(st.booleans(), label="constant_indices"):
        check(prim, dtype, lambda x, u: fn(x, u, *idx), [x, u], tol=tol, atol=atol,
              signed_zeros=signed_zeros, ftz=op != "set")
      else:
        check(prim, dtype, fn, [x, u, *idx], key=(name, form, mode, len(idx)), tol=tol,
              atol=atol, signed_zeros=signed_zeros, ftz=op != "set")
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("dynamic_update_slice", ALL))
  def test_dynamic_update_slice(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      ushape = tuple(data.draw(st.integers(0, d), label="update_size") for d in shape)
      sdtype = data.draw(st.sampled_from(["int32", "int8", "uint8", "uint32", "int16"]),
                         label="start_dtype")
      info = np.iinfo(sdtype)
      near = st.integers(max(info.min, -3), min(info.max, 6))
      starts = [data.draw(hnp.arrays(np.dtype(sdtype), (), elements=st.one_of(
          near, elements(sdtype))), label="start") for _ in shape]
      x = data.draw(arrays(dtype, shape), label="x")
      u = data.draw(arrays(dtype, ushape), label="update")
      dyn = [bool(shape) and shape[0] >= 1 and ushape[0] == shape[0] and
             data.draw(st.booleans(), label="dynamic")] * 2 + [False] * len(starts)
      check(name, dtype, lambda x, u, *s: lax.dynamic_update_slice(x, u, s), [x, u] + starts,
            key=(name, len(shape)), signed_zeros=True, ftz=False, dynamic=dyn)
    self.run_examples(name, dtype, body)


# ---------------------------------------------------------------------------
# structural.py: pad, rev

class PadRevTest(_Base):

  @parameterized.named_parameters(*_params("pad", ALL))
  def test_pad(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      config = []
      for n in shape:
        interior = data.draw(st.integers(0, 2), label="interior")
        size = n + max(n - 1, 0) * interior
        lo = data.draw(st.integers(-size - 1, 3), label="low")
        hi = data.draw(st.integers(-size - 1 - min(lo, 0), 3), label="high")
        if size + lo + hi < 0:
          reject()
        config.append((lo, hi, interior))
      config = tuple(config)
      x = data.draw(arrays(dtype, shape), label="x")
      v = data.draw(arrays(dtype, ()), label="padding_value")
      # symbolic leading dim: only where JAX can prove the padded size >= 0
      dynamic = bool(shape) and config[0][0] + config[0][1] >= 0 and _maybe_dynamic(data, shape)
      if data.draw(st.booleans(), label="constant_value"):
        check(name, dtype, lambda x: lax.pad(x, v, config), [x], signed_zeros=True, ftz=False,
              dynamic=dynamic)
      else:
        check(name, dtype, lambda x, v: lax.pad(x, v, config), [x, v], key=(name, config),
              signed_zeros=True, ftz=False, dynamic=[dynamic, False])
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("rev", ALL))
  def test_rev(self, name, dtype):
    def body(data):
      shape = data.draw(shapes(), label="shape")
      dims = td.subset_axes(len(shape))
      dims = data.draw(dims, label="dimensions")
      x = data.draw(arrays(dtype, shape), label="x")
      check(name, dtype, lambda x: lax.rev(x, dims), [x], key=(name, dims), signed_zeros=True,
            ftz=False, dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)


# ---------------------------------------------------------------------------
# windows.py

_WINDOW_INIT = {"sum": lambda d: np.zeros((), d), "max": lambda d: _lowest(d),
                "min": lambda d: _highest(d)}


def _lowest(dtype):
  dtype = np.dtype(dtype)
  if dtype == np.bool_:
    return np.asarray(False)
  if dtype.kind in "iu":
    return np.asarray(np.iinfo(dtype).min, dtype)
  return np.asarray(-np.inf, dtype)


def _highest(dtype):
  dtype = np.dtype(dtype)
  if dtype == np.bool_:
    return np.asarray(True)
  if dtype.kind in "iu":
    return np.asarray(np.iinfo(dtype).max, dtype)
  return np.asarray(np.inf, dtype)


@st.composite
def _window_params(draw, rank):
  ints = lambda lo, hi, label: tuple(draw(st.integers(lo, hi), label=label) for _ in range(rank))
  dims = ints(1, 4, "window")
  strides = ints(1, 3, "stride")
  padding = tuple((draw(st.integers(-1, 2), label="pad_lo"), draw(st.integers(-1, 2),
                                                                   label="pad_hi"))
                  for _ in range(rank))
  base = ints(1, 2, "base_dilation")
  wdil = ints(1, 2, "window_dilation")
  return dims, strides, padding, base, wdil


class WindowsTest(_Base):

  @parameterized.named_parameters(
      *[{"testcase_name": f"_{k}_{d}", "kind": k, "dtype": d}
        for k in ("sum", "max", "min") for d in (NUMERIC if k == "sum" else ALL)])
  def test_reduce_window(self, kind, dtype):
    name = f"reduce_window_{kind}"
    op = {"sum": lax.add, "max": lax.max, "min": lax.min}[kind]
    d = _np_dtype(dtype)

    def body(data):
      shape = data.draw(shapes(min_dims=1), label="shape")
      params = data.draw(_window_params(len(shape)), label="params")
      vkind = "tame" if kind == "sum" else "any"
      x = data.draw(arrays(dtype, shape, vkind), label="x")
      init = _WINDOW_INIT[kind](d)
      fn = lambda x: lax.reduce_window(x, init, op, *params)
      tol, atol = "exact", None
      if kind == "sum" and _is_float(d):
        w = math.prod(params[0])   # |error| <= w eps sum|x| over a window
        tol, atol = 0.0, 2 * w * w * _eps(d) * float(np.max(_abs64(x), initial=0))
      check(name, dtype, fn, [x], key=(name, params), tol=tol, atol=atol,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)

  @parameterized.named_parameters(*_params("cumulative", NUMERIC))
  def test_cumulative(self, name, dtype):
    d = _np_dtype(dtype)
    is_float = _is_float(d)
    fns = {"cumsum": lax.cumsum, "cumprod": lax.cumprod, "cummax": lax.cummax,
           "cummin": lax.cummin}
    if is_float:
      fns["cumlogsumexp"] = lax.cumlogsumexp

    def body(data):
      shape = data.draw(shapes(min_dims=1, max_side=6), label="shape")
      axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
      reverse = data.draw(st.booleans(), label="reverse")
      x = data.draw(arrays(dtype, shape, "tame"), label="x")
      xm = data.draw(arrays(dtype, shape, "mag"), label="x_for_cumprod")
      n = shape[axis]
      fn = lambda x, xm: tuple(f(xm if k == "cumprod" else x, axis, reverse)
                               for k, f in fns.items())
      tols, atols = ["exact"] * len(fns), [None] * len(fns)
      if is_float:
        eps = _eps(d)
        cum_abs = np.cumsum(np.flip(_abs64(x), axis) if reverse else _abs64(x), axis)
        cum_abs = np.flip(cum_abs, axis) if reverse else cum_abs
        tols[0], atols[0] = 0.0, 2 * (n + 1) * eps * cum_abs
        tols[1] = 2 * (n + 1)
        tols[4] = 2 * (n + 1) + (1e-5 / eps if d == F32 else 2)
        atols[4] = (n + 1) * 4 * eps * max(1.0, float(np.max(_abs64(x), initial=0)))
      check(tuple(fns), dtype, fn, [x, xm], key=(name, axis, reverse), tol=tols, atol=atols,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, dtype, body)


# ---------------------------------------------------------------------------
# convolution.py

_LAYOUTS = {1: [("NCH", "OIH", "NCH"), ("NHC", "HIO", "NHC"), ("NCH", "HIO", "NHC")],
            2: [("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC"), ("NCHW", "HWIO", "NHWC"),
                ("NHWC", "OIHW", "NCHW"), ("NWHC", "IOWH", "CNHW")]}


@st.composite
def _conv_problem(draw, dtype):
  nsp = draw(st.integers(1, 2), label="spatial_dims")
  lhs_spec, rhs_spec, out_spec = draw(st.sampled_from(_LAYOUTS[nsp]), label="layout")
  groups = draw(st.integers(1, 2), label="feature_group_count")
  cin, cout = draw(st.integers(1, 2), label="cin"), draw(st.integers(1, 2), label="cout")
  n = draw(st.integers(0, 2), label="batch")
  sizes = [draw(st.integers(1, 5), label="spatial") for _ in range(nsp)]
  ksizes = [draw(st.integers(1, 3), label="kernel") for _ in range(nsp)]
  strides = tuple(draw(st.integers(1, 2), label="stride") for _ in range(nsp))
  padding = tuple((draw(st.integers(-1, 2), label="pad_lo"), draw(st.integers(-1, 2),
                                                                   label="pad_hi"))
                  for _ in range(nsp))
  lhs_dil = tuple(draw(st.integers(1, 2), label="lhs_dilation") for _ in range(nsp))
  rhs_dil = tuple(draw(st.integers(1, 2), label="rhs_dilation") for _ in range(nsp))
  logical_lhs = {"N": n, "C": groups * cin, "H": sizes[0], "W": sizes[-1]}
  logical_rhs = {"O": groups * cout, "I": cin, "H": ksizes[0], "W": ksizes[-1]}
  lshape = tuple(logical_lhs[c] for c in lhs_spec)
  rshape = tuple(logical_rhs[c] for c in rhs_spec)
  kind = draw(st.sampled_from(["moderate", "tame"] if _is_float(_np_dtype(dtype))
                              else ["small", "any"]), label="kind")
  x = draw(arrays(dtype, lshape, kind), label="lhs")
  w = draw(arrays(dtype, rshape, kind), label="rhs")
  params = {"window_strides": strides, "padding": padding, "lhs_dilation": lhs_dil,
                "rhs_dilation": rhs_dil, "dimension_numbers": (lhs_spec, rhs_spec, out_spec),
                "feature_group_count": groups}
  return x, w, params, cin * math.prod(ksizes)


class ConvolutionTest(_Base):

  @parameterized.named_parameters(*_params("conv_general_dilated",
                                           FLOATS + ("int8", "int16", "int32", "uint8")))
  def test_conv(self, name, dtype):
    def body(data):
      x, w, params, k = data.draw(_conv_problem(dtype), label="conv")
      holes = (any(lo > 0 or hi > 0 for lo, hi in params["padding"]) or
               any(d > 1 for d in params["lhs_dilation"]))
      known_bug(name, _is_float(x.dtype) and holes and not np.all(np.isfinite(
          w.astype(np.float32))), BUG_CONV_PAD_NONFINITE)
      fn = lambda x, w: lax.conv_general_dilated(x, w, **params)
      tol, atol = "exact", None
      if _is_float(_np_dtype(dtype)):
        eps = _eps(_np_dtype(dtype))
        tol = 0.0

        def atol(xs, _params=params, _k=k, _eps=eps):
          bound = lax.conv_general_dilated(_abs64(xs[0]).astype(np.float32),
                                           _abs64(xs[1]).astype(np.float32), **_params)
          return 2 * (_k + 1) * _eps * np.asarray(bound, np.float64) + 1e-30
      key = (name, tuple((p, str(v)) for p, v in sorted(params.items())))
      check(name, dtype, fn, [x, w], key=key, tol=tol, atol=atol,
            dynamic=[x.shape[0] >= 1 and params["dimension_numbers"][0][0] == "N" and
                     data.draw(st.booleans(), label="dynamic"), False])
    self.run_examples(name, dtype, body)


# ---------------------------------------------------------------------------
# special.py. Each argument draws from the function's domain (with its edges)
# or from every float. The tolerance follows the function's sensitivity: the
# result may be anywhere JAX's results for inputs within a few ulps reach.

def _floats(lo, hi, edges=()):
  return ("range", lo, hi, tuple(edges))


_UNIT = _floats(-1, 1, [-1.0, 1.0, 0.0, -0.0, 0.5, -0.5])
_WIDE = _floats(-100, 100, [0.0, -0.0, 1.0, -1.0, 88.5, -88.5, 1e-7])
_POS = _floats(0, 30, [0.0, 1.0, 2.0, 0.5, 1e-3])
_GAMMA = _floats(-20, 30, [0.0, -0.0, -1.0, -2.0, 1.0, 2.0, 0.5, -0.5, -2.457])
_SMALL_N = ("ints", 0, 4)

SPECIAL = {
    # name: (fn, per-argument domain)
    "tan": (lax.tan, [_WIDE]),
    "asin": (lax.asin, [_UNIT]),
    "acos": (lax.acos, [_UNIT]),
    "atan": (lax.atan, [_WIDE]),
    "atan2": (lax.atan2, [_WIDE, _WIDE]),
    "sinh": (lax.sinh, [_WIDE]),
    "cosh": (lax.cosh, [_WIDE]),
    "asinh": (lax.asinh, [_WIDE]),
    "acosh": (lax.acosh, [_floats(1, 100, [1.0, 2.0])]),
    "atanh": (lax.atanh, [_UNIT]),
    "cbrt": (lax.cbrt, [_WIDE]),
    "exp2": (lax.exp2, [_floats(-150, 130, [0.0, -0.0, 127.5, -126.0, 128.0])]),
    "erfc": (lax.erfc, [_floats(-10, 12, [0.0, -0.0, 1.0])]),
    "erf_inv": (lax.erf_inv, [_UNIT]),
    "lgamma": (lax.lgamma, [_GAMMA]),
    "digamma": (lax.digamma, [_GAMMA]),
    "bessel_i0e": (lax.bessel_i0e, [_WIDE]),
    "bessel_i1e": (lax.bessel_i1e, [_WIDE]),
    "zeta": (lax.zeta, [_floats(1, 12, [1.0, 2.0]), _floats(-5, 20, [0.0, 1.0, -1.0, 0.5])]),
    "polygamma": (lax.polygamma, [_SMALL_N, _floats(-6, 20, [0.5, 1.0, 0.0, -1.5])]),
    "igamma": (lax.igamma, [_POS, _POS]),
    "igammac": (lax.igammac, [_POS, _POS]),
    "igamma_grad_a": (lax.igamma_grad_a, [_floats(0.1, 8), _floats(0, 10)]),
    "regularized_incomplete_beta": (lax.betainc, [_floats(0.2, 8, [1.0]), _floats(0.2, 8, [1.0]),
                                                  _floats(0, 1, [0.0, 1.0, 0.5])]),
}


def _domain_elements(domain):
  if domain[0] == "ints":
    return st.integers(domain[1], domain[2]).map(float)
  _, lo, hi, edges = domain
  in_range = st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32)
  return st.one_of(st.sampled_from(list(edges) + [lo, hi]) if edges else st.just(lo), in_range,
                   in_range)


def _special_arrays(data, dtype, domain, shape, label):
  d = _np_dtype(dtype)
  if data.draw(st.integers(0, 3), label=f"{label}_everywhere") == 0:
    return data.draw(arrays(dtype, shape, "any"), label=label)   # NaN, inf, huge, tiny
  x = data.draw(hnp.arrays(F32, shape, elements=_domain_elements(domain)), label=label)
  return x.astype(d)


def _sensitivity(fn, xs, k):
  """Per output element: how far JAX's result moves when an input moves by up
  to k ulps (of its dtype), one input at a time. inf where it can cross to
  inf or NaN (the comparison's inf/NaN positions stay exact)."""
  jfn = jax.jit(fn)
  # Half floats: JAX's float32 results (the export computes in float32 too;
  # the comparison's rtol covers the final rounding).
  xs = [x.astype(F32) if x.dtype in (F16, BF16) else x for x in xs]
  base = np.asarray(jfn(*xs), np.float64)
  spread = np.zeros(base.shape)
  for i, x in enumerate(xs):
    eps = _eps(x.dtype)
    for s in (1 - k * eps, 1 + k * eps):
      moved = list(xs)
      moved[i] = (x.astype(np.float64) * s).astype(x.dtype)
      with np.errstate(invalid="ignore"):
        d = np.abs(np.asarray(jfn(*moved), np.float64) - base)
      spread = np.maximum(spread, np.where(np.isnan(d), 0.0, d))
  return spread


class SpecialTest(_Base):
  """One test per function, the dtype drawn (float16 and bfloat16 are computed
  in float32 on both sides, then rounded)."""

  @parameterized.named_parameters(
      *[{"testcase_name": f"_{f}", "name": f} for f in sorted(SPECIAL)])
  def test_special(self, name):
    fn, domains = SPECIAL[name]

    def body(data):
      dt = data.draw(st.sampled_from(FLOATS), label="dtype")
      d = _np_dtype(dt)
      shape = data.draw(shapes(max_side=5), label="shape")
      xs = [_special_arrays(data, dt, dom, shape, f"x{i}") for i, dom in enumerate(domains)]
      xs = [td.flush_denormals(x) for x in xs]
      # XLA:CPU also flushes denormal *intermediates* to zero (igamma_grad_a(1.2e-38, 1)
      # is -0.0 in JAX, -0.219 in the limit and in ONNX Runtime): not comparable.
      tiny = any(np.any((_abs64(x) > 0) & (_abs64(x) < 2.0 ** -120)) for x in xs)
      if tiny:
        REJECTED[("XLA flushes denormal intermediates", f"{name}: 0 < |x| < 2**-120")] += 1
        reject()
      rtol = td.TRANSCENDENTAL_RTOL[d]
      base_atol = td.TRANSCENDENTAL_ATOL[d]
      atol = lambda xs: base_atol + 2 * _sensitivity(fn, xs, 4)
      check(name, dt, fn, xs, key=name, tol=rtol / _eps(d), atol=atol,
            dynamic=_maybe_dynamic(data, shape))
    self.run_examples(name, "any", body, weight=1.5)


# ---------------------------------------------------------------------------
# random.py: bits and uniform floats, exact.

def _key_data(shape=(2,)):
  word = st.one_of(st.sampled_from([0, 1, 2**32 - 1, 2**31]), st.integers(0, 2**32 - 1))
  return hnp.arrays(np.dtype(np.uint32), shape, elements=word)


class RandomTest(_Base):

  def test_random_bits(self):
    def body(data):
      dtype = data.draw(st.sampled_from(["uint32", "uint8", "uint16"]), label="dtype")
      shape = data.draw(shapes(), label="shape")
      n_keys = data.draw(st.sampled_from([None, 1, 3]), label="key_batch")
      k = data.draw(_key_data((2,) if n_keys is None else (n_keys, 2)), label="key_data")
      partitionable = data.draw(st.booleans(), label="threefry_partitionable")
      x = np.zeros(shape, np.float32)   # carries the (maybe symbolic) output shape

      def fn(x, k):
        with jax.threefry_partitionable(partitionable):
          if k.ndim == 1:
            return jax.random.bits(jax.random.wrap_key_data(k), x.shape, dtype)
          return jax.vmap(lambda kk: jax.random.bits(kk, x.shape, dtype))(
              jax.random.wrap_key_data(k))
      check("random_bits", dtype, fn, [x, k], ftz=False,
            dynamic=[_maybe_dynamic(data, shape), False])
    self.run_examples("random_bits", "any", body, weight=3)

  def test_random_uniform(self):
    def body(data):
      dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
      d = _np_dtype(dtype)
      shape = data.draw(shapes(), label="shape")
      k = data.draw(_key_data(), label="key_data")
      x = np.zeros(shape, d)
      scaled = data.draw(st.booleans(), label="minval_maxval")
      lo, hi = (-2.0, 3.0) if scaled else (0.0, 1.0)
      fn = lambda x, k: jax.random.uniform(jax.random.wrap_key_data(k), x.shape, d, lo, hi)
      # default range: exact; a scaled one: XLA fuses the multiply-add (1 ulp)
      check("random_bits", dtype, fn, [x, k], tol=0 if not scaled else 2, ftz=False,
            atol=0 if not scaled else 5 * _eps(d), dynamic=[_maybe_dynamic(data, shape), False])
    self.run_examples("random_uniform", "any", body, weight=3)


# ---------------------------------------------------------------------------
# Minimal repros of the bugs this file found: (reason, fn, inputs, check kwargs).

KNOWN_BUG_REPROS = {
    "conv_pad_inf_kernel": (
        BUG_CONV_PAD_NONFINITE, lambda x, w: lax.conv_general_dilated(x, w, (1,), ((1, 1),)),
        [np.array([[[1.0, 2.0]]], np.float32), np.array([[[np.inf, 1.0]]], np.float32)], {}),
    "conv_lhs_dilation_nan_kernel": (
        BUG_CONV_PAD_NONFINITE, lambda x, w: lax.conv_general_dilated(
            x, w, (2,), ((-1, 0),), lhs_dilation=(2,)),
        [np.array([[[1.0, 2.0]]], np.float32), np.array([[[np.nan]]], np.float32)], {}),
}

# Fixed: exp2 on half floats (log(2) and the product rounded to the half dtype,
# as XLA does), scatter with mode='clip' into an empty operand (ONNX Runtime
# rejected it), scatter-min's -0.0 (lost through ONNX Runtime's Where).
FIXED_BUG_REPROS = {
    "exp2_bfloat16": (lax.exp2, [np.array([8.0, 128.0, 16.0], BF16)], {}),
    "exp2_float16": (lax.exp2, [np.array([12.0], F16)],
                     {"tol": td.TRANSCENDENTAL_RTOL[F16] / _eps(F16)}),
    "scatter_add_clip_empty": (
        lambda x, i, u: x.at[i].add(u, mode="clip"),
        [np.zeros((0,), np.float32), np.array([0], np.int32), np.array([1.0], np.float32)], {}),
    "scatter_set_clip_empty": (
        lambda x, i, u: x.at[i].set(u, mode="clip"),
        [np.zeros((0, 3), np.int32), np.array([0], np.int32), np.array(7, np.int32)], {}),
    "scatter_min_neg_zero_untouched": (
        lambda x, i, u: x.at[i].min(u),
        [np.array([-0.0, 1.0], np.float32), np.array(1, np.int32), np.array(0.5, np.float32)],
        {"signed_zeros": True}),
    "scatter_min_neg_zero_update": (
        lambda x, i, u: x.at[i].min(u),
        [np.array([3.0, 1.0], np.float32), np.array(0, np.int32), np.array(-0.0, np.float32)],
        {"signed_zeros": True}),
}


class FixedBugsTest(parameterized.TestCase):

  @parameterized.named_parameters(*[(f"_{k}", k) for k in sorted(FIXED_BUG_REPROS)])
  def test_fixed_bug(self, key):
    fn, xs, kw = FIXED_BUG_REPROS[key]
    check(f"fixed_bug:{key}", str(np.asarray(xs[0]).dtype), fn, xs, **kw)


class KnownBugsTest(parameterized.TestCase):
  """Skipped while the bug reproduces; fails once it is fixed (then drop the
  KNOWN_BUGS entry, so the property test runs again)."""

  @parameterized.named_parameters(*[(f"_{k}", k) for k in sorted(KNOWN_BUG_REPROS)])
  def test_known_bug(self, key):
    reason, fn, xs, kw = KNOWN_BUG_REPROS[key]
    try:
      check(f"known_bug:{key}", str(np.asarray(xs[0]).dtype), fn, xs, **kw)
    except Exception as e:  # noqa: BLE001  (a wrong value, or ONNX Runtime failing)
      self.skipTest(f"known bug: {reason} [{type(e).__name__}: {str(e)[:300]}]")
    self.fail(f"fixed? {key} now matches JAX: remove it from KNOWN_BUGS")


if __name__ == "__main__":
  absltest.main()
