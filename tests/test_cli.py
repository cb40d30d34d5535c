"""The `jax-onnx` command line, run as a subprocess: export (model, report,
verification), the exit codes and one-line errors, inspect, coverage.

Runs under pytest and as `python tests/test_cli.py` (absltest).
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import onnxruntime as ort
from absl.testing import absltest, parameterized

from jax_onnx.api import DEFAULT_OPSET

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
MLP = os.path.join(ROOT, "examples", "mlp.py")
SCRIPT = os.path.join(os.path.dirname(sys.executable), "jax-onnx")   # after pip install -e

HELPERS = {
    "bad_import.py": """
        raise RuntimeError("boom while importing\\nsecond line")
        """,
    "unsupported.py": """
        import jax.numpy as jnp
        from jax import core
        from jax.extend.core import Primitive

        my_p = Primitive("cli_test_unsupported")
        my_p.def_abstract_eval(lambda x: core.ShapedArray(x.shape, x.dtype))
        my_p.def_impl(lambda x: x)

        def f(x):
          return my_p.bind(jnp.sin(x))

        def g(x):
          return jnp.tanh(x) * 2
        """,
}


def _command(script):
  return [script] if script else [sys.executable, "-m", "jax_onnx.cli"]


def run_cli(*argv, cwd=None, script=None):
  return subprocess.run(_command(script) + list(argv), capture_output=True, text=True,
                        cwd=cwd, timeout=300, check=False)


def start_cli(*argv):
  return subprocess.Popen(_command(None) + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def load_mlp():
  spec = importlib.util.spec_from_file_location("jax_onnx_cli_test_mlp", MLP)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class CliTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = tempfile.mkdtemp(prefix="jax_onnx_cli_")
    for name, text in HELPERS.items():
      with open(os.path.join(cls.dir, name), "w") as f:
        f.write(textwrap.dedent(text))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.dir, ignore_errors=True)
    super().tearDownClass()

  def path(self, name):
    return os.path.join(self.dir, name)

  def assert_no_output_files(self):
    left = [f for f in os.listdir(self.dir) if f not in HELPERS and f != "__pycache__"]
    self.assertEqual(left, [], "a failed export left files behind")

  def test_export_mlp_with_verify_and_report(self):
    model_path, report_path = self.path("mlp.onnx"), self.path("mlp.md")
    proc = start_cli("export", f"{MLP}:make_model", "--input", "B,30:float32",
                     "-o", model_path, "--verify", "--report", report_path)
    try:
      # JAX's outputs, computed while the CLI exports (the same weights: Rngs(0)).
      model = load_mlp().make_model()
      xs = [np.random.default_rng(b).standard_normal((b, 30)).astype(np.float32)
            for b in (1, 6)]
      expected = [np.asarray(model(x)) for x in xs]
      stdout, stderr = proc.communicate(timeout=300)
      self.assertEqual(proc.returncode, 0, stderr)
      for stage in ("tracing", "saving", "verifying", "verification passed"):
        self.assertIn(stage, stderr)
      self.assertEqual(stdout, "")

      # The written model runs in ONNX Runtime and matches JAX at two batch sizes.
      sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
      for x, want in zip(xs, expected):
        (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

      with open(report_path) as f:
        text = f.read()
      self.assertIn("## ONNX op histogram", text)
      self.assertIn("| Gemm | 3 |", text)
      self.assertIn("| `jax.nn.gelu` | fused | 1 |", text)
      self.assertIn("| `jax.nn.relu` | fused | 1 |", text)
      self.assertIn("| input | `input` | float32 | [B, 30] |", text)
      self.assertIn("| saving |", text)
      self.assertIn("Verification passed.", text)

      # inspect, through the installed script when there is one.
      r = run_cli("inspect", model_path, script=SCRIPT if os.path.exists(SCRIPT) else None)
      self.assertEqual(r.returncode, 0, r.stderr)
      for line in ("input: float32[B, 30]", "output: float32[B, 10]",
                   f"opset ai.onnx {DEFAULT_OPSET}", "nodes: 5", "initializers: 5 tensors, 6,730 values, 26,920 bytes",
                   "external data: none", "Gemm  3"):
        self.assertIn(line, r.stdout)
    finally:
      if proc.poll() is None:
        proc.kill()
        proc.communicate()
      for p in (model_path, report_path):
        if os.path.exists(p):
          os.unlink(p)

  @parameterized.named_parameters(
      ("bad_dimension", "{mlp}:make_model", "B,x-28:float32",
       "--input 'B,x-28:float32': dimension 'x-28'"),
      ("missing_callable", "{dir}/unsupported.py:nope", "B,30",
       "has no attribute 'nope'"),
      ("import_error", "{dir}/bad_import.py:f", "B,30",
       "cannot import '{dir}/bad_import.py': RuntimeError: boom while importing"),
  )
  def test_usage_error(self, target, spec, message):
    target = target.format(mlp=MLP, dir=self.dir)
    r = run_cli("export", target, "--input", spec, "-o", self.path("bad.onnx"))
    self.assertEqual(r.returncode, 2, r.stderr)
    self.assertNotIn("Traceback", r.stderr)
    self.assertLen(r.stderr.strip().splitlines(), 1, r.stderr)
    self.assertIn(message.format(dir=self.dir), r.stderr)
    self.assert_no_output_files()

  @parameterized.named_parameters(("module", False), ("installed_script_quiet", True))
  def test_unsupported_primitive_exits_3_and_leaves_no_file(self, installed):
    if installed and not os.path.exists(SCRIPT):
      self.skipTest("the jax-onnx script is not installed (pip install -e .)")
    r = run_cli("export", "unsupported.py:f", "--input", "B,4", "-o", "out.onnx",
                "--report", "out.md", *(["-q"] if installed else []), cwd=self.dir,
                script=SCRIPT if installed else None)
    self.assertEqual(r.returncode, 3, r.stderr)
    self.assertNotIn("Traceback", r.stderr)
    self.assertIn("export failed: UnsupportedPrimitiveError", r.stderr)
    self.assertIn("'cli_test_unsupported'", r.stderr)
    self.assertEqual("tracing" in r.stderr, not installed, "progress is shown unless -q")
    self.assert_no_output_files()

  def test_coverage(self):
    r = run_cli("coverage", "--components")
    self.assertEqual(r.returncode, 0, r.stderr)
    self.assertIn("| primitive | status | ONNX ops |", r.stdout)
    self.assertIn("| `tanh` | yes |", r.stdout)
    self.assertIn("| component | ONNX ops |", r.stdout)
    self.assertIn("`jax.nn.gelu`", r.stdout)

  def test_failed_verification_exits_1_and_keeps_the_files(self):
    """In process, with Exported.verify mocked to fail (main() returns the code)."""
    import contextlib
    import io
    from unittest import mock

    import jax_onnx
    from jax_onnx import cli
    from jax_onnx.verify import OutputError, VerifyResult
    failed = VerifyResult("ok", [OutputError("ort-optimized", "output", 0.5, 0.1, False)])
    model_path, report_path = self.path("v.onnx"), self.path("v.md")
    stderr = io.StringIO()
    try:
      with (mock.patch.object(jax_onnx.Exported, "verify", return_value=failed),
            contextlib.redirect_stderr(stderr)):
        code = cli.main(["export", self.path("unsupported.py") + ":g", "-i", "N,3",
                         "-o", model_path, "--verify", "--report", report_path, "-q"])
      self.assertEqual(code, cli.EXIT_VERIFY_FAILED, stderr.getvalue())
      self.assertIn("verification FAILED", stderr.getvalue())
      self.assertTrue(os.path.exists(model_path))
      with open(report_path) as f:
        self.assertIn("Verification **FAILED**.", f.read())
    finally:
      for p in (model_path, report_path):
        if os.path.exists(p):
          os.unlink(p)


class SpecParsingTest(parameterized.TestCase):
  """The --input grammar, in process (no subprocess needed)."""

  @parameterized.parameters(
      ("B,28,28,1:float32", ("B", 28, 28, 1), "float32"),
      ("B,30", ("B", 30), "float32"),
      ("3, T :int32", (3, "T"), "int32"),
      (":bool", (), "bool"),
      ("B,4:bfloat16", ("B", 4), "bfloat16"),
  )
  def test_valid(self, text, dims, dtype):
    from jax_onnx import cli
    got_dims, got_dtype = cli.parse_input_spec(text)
    self.assertEqual(got_dims, dims)
    self.assertEqual(got_dtype.name, dtype)

  @parameterized.parameters(
      ("B,,3", "empty dimension"),
      ("B,-1", "dimension '-1'"),
      ("2.5", "dimension '2.5'"),
      ("B,3:float33", "unknown dtype 'float33'"),
      ("B,3:int64", "JAX_ENABLE_X64=1"),
      ("", "empty spec"),
  )
  def test_invalid(self, text, message):
    from jax_onnx import cli
    with self.assertRaisesRegex(cli.UsageError, message):
      cli.parse_input_spec(text)

  def test_symbolic_names_are_shared(self):
    from jax_onnx import cli
    a, b = cli.input_specs(["B,3", "B,4:int32"])
    self.assertEqual(str(a.shape[0]), "B")
    self.assertIs(a.shape[0].scope, b.shape[0].scope)


class ResolveCallableTest(absltest.TestCase):
  """Which object gets exported: a function, a module, or a factory's result."""

  def test_function_with_arguments_is_used_as_is(self):
    from jax_onnx import cli
    def f(x):
      return x
    self.assertIs(cli.resolve_callable(f, "f"), f)

  def test_factory_returning_a_function(self):
    from jax_onnx import cli
    def g(x):
      return x
    self.assertIs(cli.resolve_callable(lambda: g, "make"), g)

  def test_module_and_factory_of_a_module(self):
    from flax import nnx

    from jax_onnx import cli
    layer = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    self.assertIs(cli.resolve_callable(layer, "layer"), layer)
    self.assertIs(cli.resolve_callable(lambda: layer, "make"), layer)

  def test_failing_factory_and_non_callable(self):
    from jax_onnx import cli
    def make():
      raise ValueError("no weights here")
    with self.assertRaisesRegex(cli.UsageError, r"make\(\) .* ValueError: no weights here"):
      cli.resolve_callable(make, "make")
    with self.assertRaisesRegex(cli.UsageError, r"is not a function.*\(it is a int object\)"):
      cli.resolve_callable(3, "three")


if __name__ == "__main__":
  absltest.main()
