"""Which JAX primitives and components have ONNX rules, and the examples: the
data behind the README's generated tables."""
from __future__ import annotations

import importlib.util
import os

import jax.extend.core.primitives as _prims
from jax.extend.core import Primitive

from jax_onnx import _compat
from jax_onnx.registry import (HANDLED_BY_TRACE, NOT_YET_IMPLEMENTED, Lazy, all_cases,
                               all_rules)


def jax_primitives() -> list[Primitive]:
  """Every primitive that jax.extend.core.primitives exposes, plus the few that
  jnp binds without listing them there (stack, tile, ...), by name."""
  seen = dict(_compat.extra_primitives())
  for value in vars(_prims).values():
    if isinstance(value, Primitive):
      seen.setdefault(value.name, value)
  return [seen[k] for k in sorted(seen)]


def coverage() -> list[dict]:
  """One row per JAX primitive: name, status, family, ONNX ops, test cases, reason."""
  rules = {p.name: r for p, r in all_rules().items()}
  cases = all_cases()
  rows = []
  for prim in jax_primitives():
    rule = rules.get(prim.name)
    n_cases = sum(1 for c in cases.values() if c.covers == prim.name)
    if rule is not None:
      rows.append(dict(primitive=prim.name, status="supported", family=rule.family,
                       onnx_ops=", ".join(rule.onnx_ops), cases=n_cases, reason=""))
    elif prim.name in HANDLED_BY_TRACE:
      rows.append(dict(primitive=prim.name, status="supported", family="calls",
                       onnx_ops="(traced through)", cases=n_cases,
                       reason=HANDLED_BY_TRACE[prim.name]))
    else:
      rows.append(dict(primitive=prim.name, status="not yet", family="",
                       onnx_ops="", cases=0,
                       reason=NOT_YET_IMPLEMENTED.get(prim.name, "")))
  return rows


def markdown_table() -> str:
  rows = coverage()
  done = sum(r["status"] == "supported" for r in rows)
  lines = [f"{done} of {len(rows)} primitives in `jax.extend.core.primitives` have a rule.",
           "", "| primitive | status | ONNX ops | test cases | notes |",
           "|---|---|---|---|---|"]
  for r in rows:
    mark = "yes" if r["status"] == "supported" else "no"
    lines.append(f"| `{r['primitive']}` | {mark} | {r['onnx_ops']} | {r['cases']} | "
                 f"{r['reason']} |")
  return "\n".join(lines)


# ---------------------------------------------------------------------------
# Components: the composites with a fused ONNX op, and the layers/functions whose
# primitives export as the idiomatic op already (their test cases say which).

_ROUTED_VIA = {
    "flax.nnx.MultiHeadAttention": "calls jax.nn.dot_product_attention (no attention dropout)",
    "flax.nnx.Linear": "MatMul + Add fused into Gemm for 2-D inputs",
    "flax.nnx.Dropout": "deterministic: no node at all",
}


def component_rows() -> list[dict]:
  from jax_onnx.components.core import COMPONENTS
  by_title = {c.title: c for c in COMPONENTS.values()}
  cases: dict[str, list] = {}
  for c in all_cases().values():
    if c.covers.startswith(("jax.nn.", "flax.nnx.")):
      cases.setdefault(c.covers, []).append(c)
  rows = []
  for title in sorted(set(by_title) | set(cases)):
    component = by_title.get(title)
    tested = cases.get(title, [])
    if component is not None:
      ops = ", ".join(component.onnx_ops)
      at = f"opset >= {component.min_opset}" if component.min_opset > 1 else "any opset"
      how = f"fused ({at}); the exact decomposition otherwise"
      notes = component.notes
    else:
      ops = ", ".join(dict.fromkeys(op for c in tested for op in c.expect_ops))
      how, notes = "its primitives' rules", _ROUTED_VIA.get(title, "")
    rows.append(dict(component=title, onnx_ops=ops, how=how, notes=notes, cases=len(tested),
                     opsets=sorted({c.opset for c in tested if c.opset}),
                     histogram=_first_case_histogram(tested)))
  from jax_onnx.fusions import PATTERNS
  for covers, pattern in PATTERNS.items():
    tested = [c for c in all_cases().values() if c.covers == covers]
    rows.append(dict(pattern, component=pattern["title"], pattern=True, cases=len(tested),
                     opsets=sorted({c.opset for c in tested if c.opset}),
                     histogram=_first_case_histogram(tested)))
  return rows


def _first_case_histogram(cases) -> str:
  """The op histogram of the export of a component's first test case that
  expects its ops (dynamic batch): what the component turns into, measured."""
  import collections

  import jax_onnx
  from jax_onnx import testing
  for case in sorted(cases, key=lambda c: c.name):
    if not case.expect_ops or case.options:
      continue
    fn = case.fn.resolve() if isinstance(case.fn, Lazy) else case.fn
    kw = {"opset": case.opset} if case.opset else {}
    exported = jax_onnx.transform(fn, **kw).lower(*testing.case_specs(case, dynamic=True))
    counts = collections.Counter(testing.op_types(exported.model))
    at = f" (opset {case.opset})" if case.opset else ""
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items(),
                                                        key=lambda kv: (-kv[1], kv[0]))) + at
  return ""


def components_table() -> str:
  lines = ["| component | ONNX ops | exported as | export of its first case | test cases | "
           "notes |", "|---|---|---|---|---|---|"]
  for r in component_rows():
    name = r["component"] if r.get("pattern") else f"`{r['component']}`"
    lines.append(f"| {name} | {r['onnx_ops']} | {r['how']} | {r['histogram']} | "
                 f"{r['cases']} | {r['notes']} |")
  lines.append("")
  lines.append("Every test case runs with a static and a dynamic batch dimension, each with "
               "intermediate shape annotations on and off (4 variants), against JAX in "
               "ONNX Runtime.")
  return "\n".join(lines)


# ---------------------------------------------------------------------------
# Examples: examples/*.py in a source checkout (DESCRIPTION, COMPONENTS).

def examples_dir() -> str:
  return os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def example_rows() -> list[dict] | None:
  folder = examples_dir()
  if not os.path.isdir(folder):
    return None
  rows = []
  for file in sorted(os.listdir(folder)):
    if not file.endswith(".py") or file.startswith("_") or file == "main.py":
      continue
    name = file[:-3]
    spec = importlib.util.spec_from_file_location(f"jax_onnx_example_{name}",
                                                  os.path.join(folder, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "DESCRIPTION"):
      continue
    rows.append(dict(example=name, description=module.DESCRIPTION,
                     components=tuple(getattr(module, "COMPONENTS", ())),
                     input=module.INPUT_SPEC))
  return rows


def examples_table() -> str | None:
  rows = example_rows()
  if rows is None:
    return None
  lines = ["| example | description | components | input | test cases |",
           "|---|---|---|---|---|"]
  for r in rows:
    spec = r["input"]
    shape = "(" + ", ".join(str(d) for d in spec.shape) + f") {spec.dtype}"
    lines.append(f"| `examples/{r['example']}.py` | {r['description']} | "
                 f"{', '.join(f'`{c}`' for c in r['components'])} | {shape} | 2: shape info "
                 "on/off, each at batch 2 and 5 |")
  return "\n".join(lines)


# ---------------------------------------------------------------------------
# README tables: `python -m jax_onnx.support --write README.md` / `--check README.md`.

TABLES = {"coverage": markdown_table, "components": components_table,
          "examples": examples_table}
START_MARKER = "<!-- coverage:start -->"
END_MARKER = "<!-- coverage:end -->"
WRITE_COMMAND = "python -m jax_onnx.support --write README.md"


def _markers(name: str) -> tuple[str, str]:
  return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_table(text: str, table: str | None = None, name: str = "coverage") -> str:
  """`text` with the part between the markers of table `name` replaced."""
  start_marker, end_marker = _markers(name)
  start, end = text.find(start_marker), text.find(end_marker)
  if start < 0 or end < 0 or end < start:
    raise ValueError(f"the markers {start_marker!r} and {end_marker!r} (in this "
                     "order) are missing")
  table = TABLES[name]() if table is None else table
  if table is None:
    return text
  return (text[:start + len(start_marker)] + "\n" + table.rstrip("\n") + "\n" +
          text[end:])


def replace_tables(text: str) -> str:
  """Every generated table whose markers `text` has (the coverage table's are
  required)."""
  text = replace_table(text)
  for name in TABLES:
    if name != "coverage" and _markers(name)[0] in text:
      text = replace_table(text, name=name)
  return text


def _main(argv=None) -> int:
  import argparse
  parser = argparse.ArgumentParser(
      prog="python -m jax_onnx.support",
      description="Prints the primitive coverage table, or writes/checks the generated "
                  "tables (coverage, components, examples) between their "
                  "<!-- NAME:start --> and <!-- NAME:end --> markers in a Markdown file.")
  group = parser.add_mutually_exclusive_group()
  group.add_argument("--write", metavar="FILE", help="replace the tables in FILE")
  group.add_argument("--check", metavar="FILE", help="exit 1 if a table in FILE is stale")
  args = parser.parse_args(argv)
  if not (args.write or args.check):
    print(markdown_table())
    return 0
  path = args.write or args.check
  with open(path, encoding="utf-8") as f:
    text = f.read()
  try:
    updated = replace_tables(text)
  except ValueError as e:
    print(f"{path}: {e}")
    return 2
  if args.check:
    if updated != text:
      print(f"{path}: a generated table is stale; run `{WRITE_COMMAND}`")
      return 1
    print(f"{path}: the generated tables are up to date")
    return 0
  if updated != text:
    with open(path, "w", encoding="utf-8") as f:
      f.write(updated)
    print(f"{path}: tables updated")
  else:
    print(f"{path}: tables already up to date")
  return 0


if __name__ == "__main__":
  raise SystemExit(_main())
