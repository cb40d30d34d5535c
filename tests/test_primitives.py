"""Every registered test case, static and dynamic batch, shape info on and off.

Runs under pytest and as `python tests/test_primitives.py` (absltest).
"""
from absl.testing import absltest, parameterized

from jax_onnx import registry, testing

CASES = registry.all_cases()


def _params():
  for name, case in sorted(CASES.items()):
    for dynamic in (False, True):
      for shape_info in (True, False):
        variant = f"{'dynamic' if dynamic else 'static'}_{'shapes' if shape_info else 'noshapes'}"
        yield dict(testcase_name=f"_{name}_{variant}", name=name, dynamic=dynamic,
                   shape_info=shape_info)


class PrimitiveCasesTest(parameterized.TestCase):

  @parameterized.named_parameters(*_params())
  def test_case(self, name, dynamic, shape_info):
    case = CASES[name]
    if case.skip:
      self.skipTest(case.skip)
    testing.check_case(case, dynamic=dynamic, shape_info=shape_info)


if __name__ == "__main__":
  absltest.main()
