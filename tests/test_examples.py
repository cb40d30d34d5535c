"""The examples export with a dynamic batch and match JAX in ONNX Runtime.

Runs under pytest and as `python tests/test_examples.py` (absltest).
"""
import importlib.util
import os
import tempfile

import numpy as np
import onnx
from absl.testing import absltest, parameterized

import jax_onnx
from jax_onnx import testing

EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")
EXAMPLES = ("mlp", "transformer_block", "mlp_batchnorm", "transformer_mlp", "gpt", "vit_patches",
            "vit_conv", "patch_embedding", "mnist_cnn", "cnn_layernorm", "conv_token_embedding",
            "resnet")
BATCHES = (2, 5)


def load_example(name: str):
  """Imports examples/<name>.py by path (examples/ is not a package)."""
  path = os.path.join(EXAMPLES_DIR, f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"jax_onnx_example_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _params():
  for name in EXAMPLES:
    for shape_info in (True, False):
      yield {"testcase_name": f"_{name}_{'shapes' if shape_info else 'noshapes'}",
             "name": name, "shape_info": shape_info}


class ExamplesTest(parameterized.TestCase):

  @parameterized.named_parameters(*_params())
  def test_example(self, name, shape_info):
    module = load_example(name)
    model = module.make_model()
    spec = module.INPUT_SPEC
    self.assertEqual(spec.shape[0], "B", "examples export with a symbolic batch 'B'")
    exported = jax_onnx.transform(model, shape_info=shape_info).lower(spec)
    onnx.checker.check_model(exported.model, full_check=True)
    batch_dim = exported.model.graph.input[0].type.tensor_type.shape.dim[0]
    self.assertEqual(batch_dim.dim_param, "B")
    rng = np.random.default_rng(0)
    for batch in BATCHES:
      # (integer inputs, such as token ids, are drawn in [0, INPUT_HIGH))
      x = module._common.make_input(rng, spec, batch, getattr(module, "INPUT_HIGH", None))
      testing.check_exported(exported, model, [x], rtol=1e-4, atol=1e-4,
                             where=f"{name} batch={batch} shape_info={shape_info}")

  @parameterized.named_parameters((f"_{name}", name) for name in EXAMPLES)
  def test_table_metadata(self, name):
    module = load_example(name)
    self.assertIsInstance(module.DESCRIPTION, str)
    self.assertTrue(module.DESCRIPTION.endswith("."), name)
    self.assertIsInstance(module.COMPONENTS, tuple)
    self.assertTrue(module.COMPONENTS and all(isinstance(c, str) for c in module.COMPONENTS))

  def test_main_lists_every_example(self):
    main = load_example("main")
    self.assertEqual(set(main.EXAMPLES), set(EXAMPLES))

  def test_main_saves(self):
    module = load_example("mlp")
    # (tempfile, not self.create_tempdir: absl flags are unparsed under pytest)
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "mlp.onnx")
      summary = module.main(path, verbose=False)
      self.assertTrue(os.path.exists(path))
    self.assertGreater(summary["nodes"], 0)
    self.assertEqual(set(summary["max_abs_error"]), {2, 7})


if __name__ == "__main__":
  absltest.main()
