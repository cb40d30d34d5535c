"""The README's primitive coverage table is up to date with the rule table.

Runs under pytest and as `python tests/test_readme.py` (absltest).
"""
import difflib
import os
import tempfile

from absl.testing import absltest

from jax_onnx import saving
from jax_onnx import support as coverage

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "README.md")


class ReadmeTest(absltest.TestCase):

  def test_coverage_table_is_current(self):
    with open(README, encoding="utf-8") as f:
      text = f.read()
    self.assertIn(coverage.START_MARKER, text)
    self.assertIn(coverage.END_MARKER, text)
    updated = coverage.replace_tables(text)
    if updated != text:
      diff = difflib.unified_diff(text.splitlines(), updated.splitlines(),
                                  "README.md", "expected", n=0, lineterm="")
      self.fail(f"README.md's generated tables are stale: run `{coverage.WRITE_COMMAND}`"
                "\n" + "\n".join(list(diff)[:40]))

  def test_replace_table(self):
    text = f"intro\n{coverage.START_MARKER}\nold\n{coverage.END_MARKER}\noutro\n"
    self.assertEqual(coverage.replace_table(text, "| new |"),
                     f"intro\n{coverage.START_MARKER}\n| new |\n{coverage.END_MARKER}\noutro\n")
    with self.assertRaises(ValueError):
      coverage.replace_table("no markers here", "| new |")

  def test_check_cli(self):
    # (tempfile, not self.create_tempfile: absl flags are unparsed under pytest)
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "README.md")
      with open(path, "w", encoding="utf-8") as f:
        f.write(f"{coverage.START_MARKER}\nstale\n{coverage.END_MARKER}\n")
      self.assertEqual(coverage._main(["--check", path]), 1)
      self.assertEqual(coverage._main(["--write", path]), 0)
      self.assertEqual(coverage._main(["--check", path]), 0)


class ReadmeUsageTest(absltest.TestCase):

  def test_usage_snippet_runs_verbatim(self):
    """The README's Usage example is executed as written (in a temp dir)."""
    with open(README, encoding="utf-8") as f:
      text = f.read()
    start = text.index("```python", text.index("## Usage")) + len("```python")
    snippet = text[start:text.index("```", start)]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
      os.chdir(d)
      try:
        exec(compile(snippet, "README.md (Usage)", "exec"), {"__name__": "readme"})  # noqa: S102
        self.assertTrue(os.path.exists("model.onnx"))
        self.assertEqual(os.stat("model.onnx").st_mode & 0o777, 0o666 & ~saving._umask())
      finally:
        os.chdir(cwd)


if __name__ == "__main__":
  absltest.main()
