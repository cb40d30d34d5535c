"""The rule table is complete and tested: every JAX primitive has a rule or a
stated reason why not, and every rule has at least one test case.

Runs under pytest and as `python tests/test_coverage.py` (absltest).
"""
import collections

from absl.testing import absltest

import jax_onnx
from jax_onnx import registry

from jax_onnx import support as coverage_module


class CoverageTest(absltest.TestCase):

  def test_every_primitive_has_rule_or_reason(self):
    rules = registry.all_rules()
    unexplained = []
    for prim in coverage_module.jax_primitives():
      if prim in rules:
        continue
      reason = (registry.NOT_YET_IMPLEMENTED.get(prim.name, "") or
                registry.HANDLED_BY_TRACE.get(prim.name, ""))
      if not reason.strip():
        unexplained.append(prim.name)
    if unexplained:
      print("primitives with neither a rule nor a NOT_YET_IMPLEMENTED reason:",
            unexplained)
    self.assertEqual(unexplained, [],
                     "add a rule, or a reason in jax_onnx/rules/unsupported.py")

  def test_rules_are_keyed_by_their_primitive(self):
    for prim, rule in registry.all_rules().items():
      self.assertIs(rule.primitive, prim)

  def test_no_primitive_both_supported_and_not_implemented(self):
    supported = {p.name for p in registry.all_rules()}
    both = sorted(supported & set(registry.NOT_YET_IMPLEMENTED))
    self.assertEqual(both, [], "primitives with a rule are still listed as not implemented")

  def test_every_rule_has_a_test_case(self):
    counts = collections.Counter(c.covers for c in registry.all_cases().values())
    untested = sorted(p.name for p, rule in registry.all_rules().items()
                      if rule.family != "user" and counts[p.name] == 0)
    if untested:
      print(f"{len(untested)} rule(s) without any test case (Case.covers == "
            f"primitive name): {untested}")
    self.assertEqual(untested, [], "declare a registry.case(...) next to each rule")

  def test_coverage_table_matches_registry(self):
    rows = jax_onnx.coverage()
    names = [r["primitive"] for r in rows]
    self.assertEqual(names, [p.name for p in coverage_module.jax_primitives()])
    for r in rows:
      if r["status"] != "supported":
        self.assertTrue(r["reason"], f"{r['primitive']} has no reason")


if __name__ == "__main__":
  absltest.main()
