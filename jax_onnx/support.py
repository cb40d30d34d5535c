"""Which JAX primitives have ONNX rules: the data behind the README table."""
from __future__ import annotations

import jax.extend.core.primitives as _prims
from jax.extend.core import Primitive

from jax_onnx import _compat
from jax_onnx.registry import (HANDLED_BY_TRACE, NOT_YET_IMPLEMENTED, all_cases,
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
# README table: `python -m jax_onnx.support --write README.md` / `--check README.md`.

START_MARKER = "<!-- coverage:start -->"
END_MARKER = "<!-- coverage:end -->"
WRITE_COMMAND = "python -m jax_onnx.support --write README.md"


def replace_table(text: str, table: str | None = None) -> str:
  """`text` with the part between the coverage markers replaced by the table."""
  start, end = text.find(START_MARKER), text.find(END_MARKER)
  if start < 0 or end < 0 or end < start:
    raise ValueError(f"the markers {START_MARKER!r} and {END_MARKER!r} (in this "
                     "order) are missing")
  table = markdown_table() if table is None else table
  return (text[:start + len(START_MARKER)] + "\n" + table.rstrip("\n") + "\n" +
          text[end:])


def _main(argv=None) -> int:
  import argparse
  parser = argparse.ArgumentParser(
      prog="python -m jax_onnx.support",
      description="Prints the primitive coverage table, or writes/checks it between "
                  f"the {START_MARKER} and {END_MARKER} markers of a Markdown file.")
  group = parser.add_mutually_exclusive_group()
  group.add_argument("--write", metavar="FILE", help="replace the table in FILE")
  group.add_argument("--check", metavar="FILE", help="exit 1 if the table in FILE is stale")
  args = parser.parse_args(argv)
  if not (args.write or args.check):
    print(markdown_table())
    return 0
  path = args.write or args.check
  with open(path, encoding="utf-8") as f:
    text = f.read()
  try:
    updated = replace_table(text)
  except ValueError as e:
    print(f"{path}: {e}")
    return 2
  if args.check:
    if updated != text:
      print(f"{path}: the coverage table is stale; run `{WRITE_COMMAND}`")
      return 1
    print(f"{path}: the coverage table is up to date")
    return 0
  if updated != text:
    with open(path, "w", encoding="utf-8") as f:
      f.write(updated)
    print(f"{path}: coverage table updated")
  else:
    print(f"{path}: coverage table already up to date")
  return 0


if __name__ == "__main__":
  raise SystemExit(_main())
