"""The export report (Exported.report(), transform(report=path)): versions,
signature, op histogram, parameters, components, timings, source lines,
verification.

Runs under pytest and as `python tests/test_report.py` (absltest).
"""
import os
import re
import tempfile
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort
from absl.testing import absltest, parameterized
from flax import nnx
from jax import lax

import jax_onnx
from jax_onnx import report as report_lib
from jax_onnx.verify import OutputError, VerifyResult

THIS_FILE = os.path.basename(__file__)


class Net(nnx.Module):

  def __init__(self, rngs):
    self.fc1 = nnx.Linear(6, 8, rngs=rngs)
    self.fc2 = nnx.Linear(8, 3, rngs=rngs)

  def __call__(self, x):
    return self.fc2(jax.nn.gelu(self.fc1(x)))


def _section(text: str, title: str) -> str:
  start = text.index(f"## {title}")
  end = text.find("\n## ", start + 1)
  return text[start:] if end < 0 else text[start:end]


class ReportTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.net = Net(nnx.Rngs(0))
    cls.exported = jax_onnx.transform(cls.net).lower(
        jax.ShapeDtypeStruct(("B", 6), jnp.float32))
    cls.text = cls.exported.report()

  def test_versions(self):
    versions = _section(self.text, "Versions")
    for name, version in (("JAX", jax.__version__), ("jax_onnx", jax_onnx.__version__),
                          ("ONNX", onnx.__version__), ("ONNX Runtime", ort.__version__)):
      self.assertIn(f"| {name} | {version} |", versions)

  def test_model_signature_and_dims(self):
    self.assertIn(f"ONNX opset {jax_onnx.DEFAULT_OPSET}, IR version "
                  f"{self.exported.model.ir_version}", self.text)
    io = _section(self.text, "Inputs and outputs")
    self.assertIn("| input | `input` | float32 | [B, 6] |", io)
    self.assertIn("| output | `output` | float32 | [B, 3] |", io)
    self.assertIn("Symbolic dimensions: `B`.", io)

  def test_histogram_and_parameters(self):
    hist = _section(self.text, "ONNX op histogram")
    self.assertIn("| Gemm | 2 |", hist)
    self.assertIn("| Gelu | 1 |", hist)
    inits = self.exported.graph.initializers.values()
    values = sum(a.size for a in inits)
    nbytes = sum(a.nbytes for a in inits)
    self.assertGreaterEqual(values, 6 * 8 + 8 + 8 * 3 + 3)
    self.assertIn(f"{values:,} values in {len(inits)} tensors, {nbytes:,} bytes", self.text)

  def test_components_fused_and_decomposed(self):
    self.assertIn("| `jax.nn.gelu` | fused | 1 |", _section(self.text, "Components"))
    # ONNX Gelu needs opset 20: at 18 the component is decomposed.
    old = jax_onnx.transform(self.net, opset=18).lower(jax.ShapeDtypeStruct(("B", 6),
                                                                            jnp.float32))
    text = old.report()
    self.assertIn("| `jax.nn.gelu` | decomposed | 1 |", _section(text, "Components"))
    self.assertNotIn("| Gelu |", text)
    self.assertIn("| Tanh | 1 |", _section(text, "ONNX op histogram"))   # approximate gelu

  def test_no_components(self):
    exported = jax_onnx.transform(lambda x: jnp.sin(x) * 2).lower(("N", 3))
    self.assertIn("No jax.nn / flax.nnx components", exported.report())

  def test_times_and_pass_counters(self):
    times = _section(self.text, "Export time")
    self.assertRegex(times, r"\| tracing \| \d+\.\d{3} \| \d+ primitives \|")
    self.assertRegex(times, r"\| optimisation passes \| \d+\.\d{3} \| \d+ -> \d+ nodes \|")
    self.assertRegex(times, r"\| serialisation \| \d+\.\d{3} \|")
    self.assertIn("gemm_fused 2", times)

  def test_source_lines(self):
    def f(x):
      y = jnp.tanh(x)
      return jnp.sin(y) + jnp.cos(y)
    text = jax_onnx.transform(f).lower(("N", 4)).report()
    sources = _section(text, "Source locations")
    match = re.search(r"(\d+) of (\d+) nodes carry", sources)
    self.assertIsNotNone(match, sources)
    self.assertEqual(match.group(1), match.group(2))
    self.assertIn(f"`{THIS_FILE}:", sources.replace("tests/", ""))
    self.assertIn("(ReportTest.test_source_lines.<locals>.f)` | ", sources)

  def test_subgraph_nodes_are_counted(self):
    def f(x):
      return lax.cond(x.sum() > 0, lambda v: jnp.tanh(v) * 2, lambda v: v - 1, x)
    exported = jax_onnx.transform(f).lower(("N", 3))
    text = exported.report()
    located = dict(report_lib.op_histogram(exported.model))
    self.assertIn("If", located)
    self.assertIn("Tanh", located)          # inside the then-branch
    self.assertIn(f"| Tanh | {located['Tanh']} |", text)
    self.assertRegex(text, r"[1-9]\d* in control-flow subgraphs")

  def test_verification_section(self):
    self.assertIn("Not run", _section(self.text, "Verification"))
    exported = jax_onnx.transform(self.net).lower(jax.ShapeDtypeStruct(("B", 6),
                                                                       jnp.float32))
    text = exported.report(verify=True)
    self.assertIsNotNone(exported.verification)
    verification = _section(text, "Verification")
    self.assertIn("onnx.checker (full check, strict shape inference): ok", verification)
    self.assertIn("| ort-optimized, random inputs, dims=2 | `output` |", verification)
    self.assertIn("| ort-unoptimized, random inputs, dims=5 | `output` |", verification)
    self.assertIn("Verification passed.", verification)

  def test_transform_writes_the_report(self):
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "r.md")
      fn = jax_onnx.transform(lambda x: jax.nn.relu(x) + 1, verify=True, report=path)
      fn.lower(("N", 5))
      with open(path) as f:
        text = f.read()
      self.assertIn("| `jax.nn.relu` | fused | 1 |", text)
      self.assertIn("Verification passed.", text)

  def test_report_written_before_a_failed_verification_raises(self):
    failed = VerifyResult("ok", [OutputError("ort-optimized", "output", 1.0, 1.0, False)])
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "r.md")
      fn = jax_onnx.transform(jnp.tanh, verify=True, report=path)
      with (mock.patch.object(jax_onnx.Exported, "verify", return_value=failed),
            self.assertRaisesRegex(jax_onnx.JaxOnnxError, "does not match JAX")):
        fn.lower(("N", 5))
      with open(path) as f:
        text = f.read()
      self.assertIn("| ort-optimized | `output` | 1 | 1 | **NO** |", text)
      self.assertIn("Verification **FAILED**.", text)

  def test_initializer_stats_of_external_data(self):
    exported = jax_onnx.transform(lambda x: x @ np.ones((64, 32), np.float32)).lower(("N", 64))
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "m.onnx")
      exported.save(path, external_data=True)
      stats = report_lib.initializer_stats(onnx.load(path, load_external_data=False))
    self.assertEqual(stats["external_files"], {"m.onnx.data": 1})
    self.assertEqual(stats["bytes"], exported.weight_bytes)


if __name__ == "__main__":
  absltest.main()
