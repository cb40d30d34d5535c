"""Which JAX primitives have ONNX rules: the data behind the README table."""
from __future__ import annotations

import jax.extend.core.primitives as _prims
from jax.extend.core import Primitive

from jax_onnx.registry import NOT_YET_IMPLEMENTED, all_cases, all_rules


def jax_primitives() -> list[Primitive]:
  """Every primitive that jax.extend.core.primitives exposes, by name."""
  seen = {}
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
