"""Running an exported model in ONNX Runtime (CPU)."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx

from jax_onnx import saving
from jax_onnx.errors import RuntimeVersionError
from jax_onnx.saving import external_layout

BF16 = np.dtype(ml_dtypes.bfloat16)
F32_SUFFIX = "__as_float32"

# Above this many weight bytes, weights reach ONNX Runtime as OrtValues made
# from the numpy arrays instead of through a serialised protobuf copy.
_IN_MEMORY_WEIGHTS_BYTES = 64 << 20


def create_session(exported, optimize: bool = True):
  """An InferenceSession on the CPU; `optimize=False` disables ORT's graph
  optimisations (verification runs both)."""
  import onnxruntime as ort
  opts = ort.SessionOptions()
  opts.log_severity_level = 3
  if not optimize:
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
  initializers = exported.graph.initializers
  values = []
  if exported.weight_bytes > min(_IN_MEMORY_WEIGHTS_BYTES, saving.AUTO_EXTERNAL_BYTES):
    layout = external_layout(initializers, "jax_onnx_in_memory.data", 1024)
    names = list(layout)
    # ORT keeps raw pointers to these until the session has copied them in.
    values = [_ort_value(initializers[n]) for n in names]
    opts.add_external_initializers(names, values)
    model = exported.model_proto(external=layout)
  else:
    model = exported.model
  session = inference_session(_with_float32_boundary(model), opts)
  del values
  return session


def inference_session(model: onnx.ModelProto, opts=None):
  """ort.InferenceSession on the CPU, with a clear error when this ONNX Runtime
  is too old for the model's opset or IR version."""
  import onnxruntime as ort
  try:
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
  except Exception as e:   # noqa: BLE001 - ORT raises its own pybind types
    text = str(e)
    if "opset" in text.lower() or "ir version" in text.lower():
      opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
      raise RuntimeVersionError(
          f"onnxruntime {ort.__version__} cannot load this model (opsets: {opsets}; IR "
          f"version {model.ir_version}): it is too old for them. Upgrade onnxruntime, or "
          "export again with a lower `opset=`.\n(ONNX Runtime said: "
          f"{text.splitlines()[-1][:300]})") from None
    raise


def _ort_value(array: np.ndarray):
  import onnxruntime as ort
  array = np.asarray(array, order="C")
  if array.dtype == BF16:
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
        array.view(np.uint16), onnx.TensorProto.BFLOAT16)
  return ort.OrtValue.ortvalue_from_numpy(array)


def _with_float32_boundary(model: onnx.ModelProto) -> onnx.ModelProto:
  """The model ONNX Runtime's Python API can feed: it has no numpy bfloat16, so
  bfloat16 inputs/outputs travel as float32 with exact Casts at the boundary.
  The exported model itself keeps its bfloat16 signature."""
  bf16 = onnx.TensorProto.BFLOAT16
  boundary = [v for v in list(model.graph.input) + list(model.graph.output)
              if v.type.tensor_type.elem_type == bf16]
  if not boundary:
    return model
  m = onnx.ModelProto()
  m.CopyFrom(model)
  g = m.graph
  casts_in, casts_out = [], []
  for v in g.input:
    if v.type.tensor_type.elem_type == bf16:
      casts_in.append(onnx.helper.make_node("Cast", [v.name + F32_SUFFIX], [v.name], to=bf16))
      v.name += F32_SUFFIX
      v.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
  for v in g.output:
    if v.type.tensor_type.elem_type == bf16:
      casts_out.append(onnx.helper.make_node("Cast", [v.name], [v.name + F32_SUFFIX],
                                             to=onnx.TensorProto.FLOAT))
      v.name += F32_SUFFIX
      v.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
  nodes = casts_in + list(g.node) + casts_out
  del g.node[:]
  g.node.extend(nodes)
  return m


def run(exported, feeds: dict[str, np.ndarray], out_avals, session=None) -> list[np.ndarray]:
  """Runs with bfloat16 values carried as float32 across the Python boundary."""
  feeds = {(k + F32_SUFFIX if v.dtype == BF16 else k):
           (v.astype(np.float32) if v.dtype == BF16 else v) for k, v in feeds.items()}
  fetch = [n + F32_SUFFIX if a.dtype == BF16 else n
           for n, a in zip(exported.output_names, out_avals)]
  outs = (session or exported.session()).run(fetch, feeds)
  return [o.astype(BF16) if a.dtype == BF16 else o for o, a in zip(outs, out_avals)]
