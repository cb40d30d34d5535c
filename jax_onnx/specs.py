"""Input specs -> JAX avals, with all symbolic dimensions in one scope."""
from __future__ import annotations

import re
from typing import Any, Sequence

import jax
import numpy as np

from jax_onnx import _compat
from jax_onnx.errors import SpecError, UnsupportedDtypeError
from jax_onnx.dtypes import onnx_dtype

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_shape_tuple(x) -> bool:
  return (isinstance(x, tuple) and
          all(isinstance(d, (int, np.integer, str)) or _compat.is_symbolic_dim(d)
              for d in x))


def is_spec_leaf(x) -> bool:
  return isinstance(x, jax.ShapeDtypeStruct) or is_shape_tuple(x)


def _check_dtype(dtype) -> np.dtype:
  if _is_key(dtype):
    raise SpecError(
        f"an input is a PRNG key ({dtype}): ONNX has no key type. Pass "
        "jax.random.key_data(key) (uint32 words) and rebuild the key inside the "
        "function with jax.random.wrap_key_data(...).")
  try:
    dt = np.dtype(dtype)
  except TypeError:
    raise SpecError(f"unknown dtype {dtype!r} in an input spec; use a numpy/JAX "
                    "dtype such as jnp.float32 or 'int32'.") from None
  if dt.kind == "c":
    raise SpecError(
        f"an input is complex ({dt}), which has no ONNX equivalent (ONNX Runtime has "
        "no complex tensors). Pass the real and imaginary parts as two inputs and "
        "rebuild the value inside the function with lax.complex(re, im) (Casting it "
        "to float would drop the imaginary part).")
  if dt == np.float64 and not _compat.is_x64_enabled():
    raise SpecError("float64 inputs need 64-bit mode: JAX would compute in "
                    "float32. Enable it with jax.config.update('jax_enable_x64', "
                    "True), or use float32.")
  if dt == np.int64 and not _compat.is_x64_enabled():
    raise SpecError("int64 inputs need 64-bit mode (jax_enable_x64); without "
                    "it JAX computes in int32. Use int32, or enable x64.")
  try:
    onnx_dtype(dt)
  except UnsupportedDtypeError as e:
    raise SpecError(str(e)) from None
  return dt


def _is_key(dtype) -> bool:
  try:
    return bool(jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key))
  except TypeError:   # not a dtype at all: reported below
    return False


def to_avals(leaves: Sequence[Any]) -> list:
  """One ShapedArray per spec leaf. String dims ('B', '2*B') are parsed into
  jax.export symbolic dims sharing one SymbolicScope (the scope of any
  symbolic dims the user passed, so names mean the same thing everywhere)."""
  scopes = {id(d.scope): d.scope for leaf in leaves
            for d in _shape_of(leaf) if _compat.is_symbolic_dim(d)}
  if len(scopes) > 1:
    raise SpecError("the input specs use symbolic dimensions from different "
                    "jax.export.SymbolicScope objects; create all of them in one "
                    "scope (or use plain strings such as 'B').")
  scope = next(iter(scopes.values())) if scopes else _compat.SymbolicScope()
  avals = []
  for i, leaf in enumerate(leaves):
    shape, dtype = _shape_of(leaf), _dtype_of(leaf)
    dims = []
    for d in shape:
      if isinstance(d, str):
        if not d.strip():
          raise SpecError(f"input {i}: empty dimension name in shape {shape}")
        try:
          (parsed,) = _compat.symbolic_shape(d, scope=scope)
        except Exception as e:   # noqa: BLE001 - JAX's parser raises several types
          raise SpecError(f"input {i}: cannot parse dimension {d!r} of shape "
                          f"{shape}: {e}. Use names like 'B' or expressions "
                          "like '2*B'.") from None
        dims.append(parsed)
      elif _compat.is_symbolic_dim(d):
        dims.append(d)
      else:
        try:
          n = int(d)
        except (TypeError, ValueError):
          raise SpecError(f"input {i}: dimension {d!r} of shape {shape} is "
                          "neither an int nor a symbolic name") from None
        if n < 0:
          raise SpecError(f"input {i}: negative dimension {n} in shape {shape}")
        dims.append(n)
    avals.append(_compat.ShapedArray(tuple(dims), _check_dtype(dtype)))
  return avals


def _shape_of(leaf):
  if isinstance(leaf, jax.ShapeDtypeStruct):
    return tuple(leaf.shape)
  if is_shape_tuple(leaf):
    return leaf
  if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
    return tuple(leaf.shape)
  raise SpecError(f"cannot use {leaf!r} as an input spec: pass a "
                  "jax.ShapeDtypeStruct, a shape tuple such as ('B', 30), or an array.")


def _dtype_of(leaf):
  if is_shape_tuple(leaf):
    return np.float32
  return leaf.dtype
