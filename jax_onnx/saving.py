"""Writing a model to disk: atomically, with weights as external data when
asked or when they would not fit in a protobuf (2 GiB)."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from jax_onnx.errors import JaxOnnxError

AUTO_EXTERNAL_BYTES = 3 << 29   # 1.5 GiB: under protobuf's 2 GiB limit, with margin
_PAGE = 4096                    # large tensors start on a page: ONNX Runtime can mmap them


def external_layout(initializers: dict[str, np.ndarray], location: str,
                    size_threshold: int) -> dict[str, tuple[str, int]]:
  """{name: (location, offset)} for the initializers of at least
  `size_threshold` bytes, laid out one after another in file order."""
  layout, offset = {}, 0
  for name, array in initializers.items():
    if array.nbytes < size_threshold:
      continue
    align = _PAGE if array.nbytes >= 1 << 16 else 64
    offset = -(-offset // align) * align
    layout[name] = (location, offset)
    offset += array.nbytes
  return layout


def save(exported, path, external_data: bool | None, size_threshold: int) -> None:
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise JaxOnnxError(f"cannot save to {path!r}: directory {directory!r} does not exist")
  initializers = exported.graph.initializers
  if external_data is None:
    external_data = sum(a.nbytes for a in initializers.values()) > AUTO_EXTERNAL_BYTES
  data_name = os.path.basename(path) + ".data"
  layout = external_layout(initializers, data_name, size_threshold) if external_data else {}
  model = exported.model_proto(external=layout)   # weights are referenced, not copied
  written = []
  try:
    if layout:
      tmp_data = _write_temp(directory, ".data",
                             lambda f: _write_tensors(f, initializers, layout))
      written.append(tmp_data)
    tmp_model = _write_temp(directory, ".onnx", lambda f: f.write(model.SerializeToString()))
    written.append(tmp_model)
    # The data file first: a model file never points at missing or stale data.
    if layout:
      os.replace(tmp_data, os.path.join(directory, data_name))
    os.replace(tmp_model, path)
    written.clear()
  except OSError as e:
    raise JaxOnnxError(f"cannot save the model to {path!r}: {e}") from e
  finally:
    for f in written:
      if os.path.exists(f):
        os.unlink(f)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _write_temp(directory: str, suffix: str, write) -> str:
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".jax_onnx_", suffix=suffix)
  try:
    os.fchmod(fd, 0o666 & ~_umask())   # mkstemp's 0600 would stick after the rename
    with os.fdopen(fd, "wb") as f:
      write(f)
  except BaseException:
    os.unlink(tmp)
    raise
  return tmp


def _write_tensors(f, initializers, layout) -> None:
  for name, (_, offset) in layout.items():
    array = np.asarray(initializers[name], order="C")
    f.seek(offset)
    f.write(memoryview(array.reshape(-1).view(np.uint8)))
