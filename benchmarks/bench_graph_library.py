"""Cost per node of building and serializing an ONNX graph, three ways.

    python benchmarks/bench_graph_library.py                 # 50k nodes, best of 3
    python benchmarks/bench_graph_library.py --nodes 20000 --repeat 5

The graph is a chain x -> Tanh -> Mul(c1) -> Add(c2) -> Tanh -> ... with
shape info (value_info) for every intermediate value, as jax_onnx writes it
with shape_info=True. Each library builds its in-memory graph, then produces
serialized ModelProto bytes:

  onnx_ir        ir.Value / ir.Node / ir.Graph / ir.Model, ir.serde.serialize_model
  jax_onnx.graph Graph / Node records, graph.model_proto(...)
  onnx.helper    make_node / make_graph / make_model (protobuf objects directly)

Timed: build, to-ModelProto, SerializeToString, each best of --repeat.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

SHAPE = (8, 16)
OPSET = 21
OPS = ("Tanh", "Mul", "Add")


def _consts():
  return np.asarray(1.01, np.float32), np.asarray(0.1, np.float32)


# -- onnx_ir -------------------------------------------------------------------

def build_onnx_ir(n: int):
  import onnx_ir as ir
  c1, c2 = _consts()
  ftype = ir.TensorType(ir.DataType.FLOAT)
  x = ir.Value(name="x", shape=ir.Shape(SHAPE), type=ftype)
  k1 = ir.Value(name="c1", shape=ir.Shape(()), type=ftype, const_value=ir.Tensor(c1, name="c1"))
  k2 = ir.Value(name="c2", shape=ir.Shape(()), type=ftype, const_value=ir.Tensor(c2, name="c2"))
  nodes = []
  v = x
  for i in range(n):
    op = OPS[i % 3]
    ins = [v] if op == "Tanh" else [v, k1 if op == "Mul" else k2]
    node = ir.Node("", op, ins, num_outputs=1)
    out = node.outputs[0]
    out.name = f"v{i}"
    out.shape = ir.Shape(SHAPE)
    out.type = ftype
    nodes.append(node)
    v = out
  graph = ir.Graph([x], [v], nodes=nodes, initializers=[k1, k2],
                   opset_imports={"": OPSET}, name="chain")
  return ir.Model(graph, ir_version=10, producer_name="bench")


def proto_onnx_ir(model) -> onnx.ModelProto:
  import onnx_ir as ir
  return ir.serde.serialize_model(model)


# -- jax_onnx.graph ------------------------------------------------------------

def build_jax_onnx(n: int):
  from jax_onnx.graph import Graph, Node
  c1, c2 = _consts()
  g = Graph("chain")
  g.inputs.append(("x", np.dtype(np.float32), SHAPE))
  g.initializers["c1"] = c1
  g.initializers["c2"] = c2
  f32 = np.dtype(np.float32)
  v = "x"
  for i in range(n):
    op = OPS[i % 3]
    ins = [v] if op == "Tanh" else [v, "c1" if op == "Mul" else "c2"]
    out = f"v{i}"
    g.nodes.append(Node(op, ins, [out], {}))
    g.value_types[out] = (f32, SHAPE)
    v = out
  g.outputs.append((v, f32, SHAPE))
  return g


def proto_jax_onnx(graph) -> onnx.ModelProto:
  from jax_onnx.graph import model_proto
  return model_proto(graph, OPSET, True, "bench")


# -- onnx.helper ---------------------------------------------------------------

def build_helper(n: int):
  c1, c2 = _consts()
  nodes, infos = [], []
  v = "x"
  for i in range(n):
    op = OPS[i % 3]
    ins = [v] if op == "Tanh" else [v, "c1" if op == "Mul" else "c2"]
    out = f"v{i}"
    nodes.append(helper.make_node(op, ins, [out]))
    if i < n - 1:
      infos.append(helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, SHAPE))
    v = out
  graph = helper.make_graph(
      nodes, "chain",
      [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, SHAPE)],
      [helper.make_tensor_value_info(v, onnx.TensorProto.FLOAT, SHAPE)],
      initializer=[numpy_helper.from_array(c1, "c1"), numpy_helper.from_array(c2, "c2")],
      value_info=infos)
  return graph


def proto_helper(graph) -> onnx.ModelProto:
  return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                           ir_version=10, producer_name="bench")


LIBRARIES = {
    "onnx_ir": (build_onnx_ir, proto_onnx_ir),
    "jax_onnx.graph": (build_jax_onnx, proto_jax_onnx),
    "onnx.helper": (build_helper, proto_helper),
}


def measure(name: str, n: int, repeat: int) -> dict:
  build, to_proto = LIBRARIES[name]
  best = dict(build=float("inf"), proto=float("inf"), serialize=float("inf"))
  size = 0
  for _ in range(repeat):
    gc.collect()
    t0 = time.perf_counter()
    g = build(n)
    t1 = time.perf_counter()
    m = to_proto(g)
    t2 = time.perf_counter()
    data = m.SerializeToString()
    t3 = time.perf_counter()
    best["build"] = min(best["build"], t1 - t0)
    best["proto"] = min(best["proto"], t2 - t1)
    best["serialize"] = min(best["serialize"], t3 - t2)
    size = len(data)
    del g, m, data
  best["total"] = best["build"] + best["proto"] + best["serialize"]
  best["bytes"] = size
  return best


def check_models(n: int = 30) -> None:
  """All three produce the same valid model (sanity, small size)."""
  import onnxruntime as ort
  x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
  results = {}
  for name, (build, to_proto) in LIBRARIES.items():
    m = to_proto(build(n))
    onnx.checker.check_model(m, full_check=True)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    results[name] = sess.run(None, {"x": x})[0]
  ref = next(iter(results.values()))
  for name, r in results.items():
    np.testing.assert_allclose(r, ref, rtol=1e-6, err_msg=name)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--nodes", type=int, default=50_000)
  ap.add_argument("--repeat", type=int, default=3)
  args = ap.parse_args(argv)
  check_models()
  print(f"# {args.nodes}-node chain, best of {args.repeat}; python "
        f"{platform.python_version()}, onnx {onnx.__version__}, {os.cpu_count()} CPUs")
  header = (f"{'library':16} {'build us/node':>13} {'proto us/node':>13} "
            f"{'serialize us/node':>17} {'total us/node':>13} {'MiB':>6}")
  print(header)
  print("-" * len(header))
  for name in LIBRARIES:
    r = measure(name, args.nodes, args.repeat)
    per = {k: 1e6 * r[k] / args.nodes for k in ("build", "proto", "serialize", "total")}
    print(f"{name:16} {per['build']:>13.2f} {per['proto']:>13.2f} "
          f"{per['serialize']:>17.2f} {per['total']:>13.2f} {r['bytes'] / 2**20:>6.1f}",
          flush=True)


if __name__ == "__main__":
  main()
