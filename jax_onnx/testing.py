"""Checking an export against JAX: shared by the test suite, examples and benchmarks."""
from __future__ import annotations

import zlib
from typing import Callable, Sequence

import jax
import ml_dtypes
import numpy as np
import onnx

import jax_onnx
from jax_onnx.registry import Case, Lazy, Spec
from jax_onnx.verify import DYNAMIC_SIZES as DYNAMIC_BATCHES

STATIC_BATCH = 3


def op_types(model: onnx.ModelProto) -> list[str]:
  """Every node's op type, subgraphs and local function bodies included."""
  out = []

  def walk(graph):
    for node in graph.node:
      out.append(node.op_type)
      for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
          walk(attr.g)
        for g in attr.graphs:
          walk(g)
  walk(model.graph)
  for f in model.functions:
    walk(f)
  return out


def make_value(rng: np.random.Generator, spec: Spec, shape: tuple) -> np.ndarray:
  dtype = np.dtype(spec.dtype)
  kind = spec.values
  if callable(kind):
    return np.asarray(kind(rng, shape), dtype=dtype)
  if kind == "bool" or dtype == np.bool_:
    return rng.random(shape) < 0.5
  if kind == "index":
    return rng.integers(0, spec.high, shape).astype(dtype)
  if kind == "int" or np.issubdtype(dtype, np.integer):
    lo = 0 if np.issubdtype(dtype, np.unsignedinteger) else -spec.high
    return rng.integers(lo, spec.high + 1, shape).astype(dtype)
  x = rng.standard_normal(shape)
  if kind == "positive":
    x = np.abs(x) + 0.1
  elif kind == "unit":
    x = np.tanh(x) * 0.99
  return x.astype(dtype)


def concrete_shape(shape: tuple, batch: int) -> tuple:
  return tuple(batch if d == "B" else d for d in shape)


def case_inputs(case: Case, batch: int) -> list[np.ndarray]:
  rng = np.random.default_rng(zlib.crc32(f"{case.name}/{batch}".encode()))
  return [make_value(rng, s, concrete_shape(s.shape, batch)) for s in case.inputs]


def case_specs(case: Case, dynamic: bool) -> list[jax.ShapeDtypeStruct]:
  return [jax.ShapeDtypeStruct(s.shape if dynamic else concrete_shape(s.shape, STATIC_BATCH),
                               np.dtype(s.dtype)) for s in case.inputs]


def assert_close(actual, expected, rtol: float, atol: float, where: str = "") -> None:
  """Exact for ints and bools, within rtol/atol for floats (NaNs must match)."""
  a_leaves = jax.tree_util.tree_leaves(actual)
  e_leaves = jax.tree_util.tree_leaves(expected)
  assert len(a_leaves) == len(e_leaves), (
      f"{where}: {len(a_leaves)} outputs, JAX has {len(e_leaves)}")
  for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
    a, e = np.asarray(a), np.asarray(e)
    assert a.dtype == e.dtype, f"{where} output {i}: dtype {a.dtype}, JAX gives {e.dtype}"
    assert a.shape == e.shape, f"{where} output {i}: shape {a.shape}, JAX gives {e.shape}"
    if np.issubdtype(e.dtype, np.inexact) or e.dtype in (ml_dtypes.bfloat16,):
      np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol,
                                 atol=atol, equal_nan=True, err_msg=f"{where} output {i}")
    else:
      np.testing.assert_array_equal(a, e, err_msg=f"{where} output {i}")


def check_exported(exported, fn: Callable, inputs: Sequence, rtol: float, atol: float,
                   where: str = "") -> None:
  expected = jax.jit(fn)(*inputs)
  actual = exported(*inputs)
  assert_close(actual, expected, rtol, atol, where)


_DIM_FUNCS = {"floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
              "max": max, "min": min}


def check_value_info_against_runtime(exported, inputs: Sequence, env: dict[str, int]) -> None:
  """Every intermediate value's annotated shape (value_info) must be the shape
  ONNX Runtime computes: the model is re-run with all of them as outputs."""
  import onnxruntime as ort
  model = onnx.ModelProto()
  model.CopyFrom(exported.model)
  # (ORT's Python API cannot hand out bfloat16 arrays: those are not fetched.)
  annotated = {vi.name: vi for vi in model.graph.value_info
               if vi.type.tensor_type.elem_type != onnx.TensorProto.BFLOAT16}
  if not annotated:
    return
  model.graph.output.extend(annotated.values())
  sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
  feeds = exported.check_inputs(tuple(inputs))
  names = list(annotated)
  for name, value in zip(names, sess.run(names, feeds)):
    dims = annotated[name].type.tensor_type.shape.dim
    want = tuple(d.dim_value if d.HasField("dim_value")
                 else eval(d.dim_param, {"__builtins__": {}}, {**_DIM_FUNCS, **env})  # noqa: S307
                 for d in dims)
    assert tuple(np.shape(value)) == want, (
        f"value '{name}': annotated shape {want}, ONNX Runtime computes {np.shape(value)}")


def check_case(case: Case, dynamic: bool, shape_info: bool) -> jax_onnx.Exported:
  """Export, full ONNX check, expected ops, ORT vs JAX at one or two batch sizes."""
  kw = dict(case.options)
  if case.opset:
    kw["opset"] = case.opset
  fn = case.fn.resolve() if isinstance(case.fn, Lazy) else case.fn
  exported = jax_onnx.transform(fn, shape_info=shape_info, **kw).lower(
      *case_specs(case, dynamic))
  model = exported.model
  onnx.checker.check_model(model, full_check=True)
  ops = set(op_types(model))
  missing = [op for op in case.expect_ops if op not in ops]
  assert not missing, f"expected ONNX ops {missing} in the model; it has {sorted(ops)}"
  forbidden = [op for op in case.forbid_ops if op in ops]
  assert not forbidden, f"ONNX ops {forbidden} must not appear; the model has {sorted(ops)}"
  batches = DYNAMIC_BATCHES if dynamic else (STATIC_BATCH,)
  if not any("B" in s.shape for s in case.inputs):
    batches = (STATIC_BATCH,)
  for batch in batches:
    inputs = case_inputs(case, batch)
    check_exported(exported, fn, inputs, case.rtol, case.atol,
                   where=f"{case.name} batch={batch}")
    if dynamic and shape_info and not any(   # (bf16 inputs can't be fed from numpy)
        np.dtype(s.dtype) == ml_dtypes.bfloat16 for s in case.inputs):
      check_value_info_against_runtime(exported, inputs, {"B": batch})
  return exported
