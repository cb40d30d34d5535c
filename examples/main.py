"""The main job: export every example, run it in ONNX Runtime at several batch
sizes, compare with JAX, print one summary table. Exits 1 on any mismatch.

    python examples/main.py [output_dir]
"""
from __future__ import annotations

import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnn_layernorm
import conv_token_embedding
import gpt
import mlp
import mlp_batchnorm
import mnist_cnn
import patch_embedding
import resnet
import transformer_block
import transformer_mlp
import vit_conv
import vit_patches

# name -> module with INPUT_SPEC, DESCRIPTION, COMPONENTS, make_model() and main(path)
EXAMPLES = {m.__name__: m for m in (
    mlp, mlp_batchnorm, transformer_block, transformer_mlp, gpt, patch_embedding, vit_patches,
    vit_conv, mnist_cnn, cnn_layernorm, conv_token_embedding, resnet)}


def main(argv: list[str]) -> int:
  out_dir = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="jax_onnx_examples_")
  os.makedirs(out_dir, exist_ok=True)
  rows, failures = [], []
  for name, module in EXAMPLES.items():
    path = os.path.join(out_dir, f"{name}.onnx")
    try:
      rows.append(module.main(path))
    except Exception:   # noqa: BLE001 - report every example, then fail
      traceback.print_exc()
      failures.append(name)
    print()

  header = ("example", "nodes", "op types", "param bytes", "export s", "max abs error")
  table = [header]
  for r in rows:
    errors = ", ".join(f"B={b}: {e:.2g}" for b, e in r["max_abs_error"].items())
    table.append((r["name"], str(r["nodes"]), str(len(r["ops"])), f"{r['param_bytes']:,}",
                  f"{r['export_seconds']:.3f}", errors))
  for name in failures:
    table.append((name, "-", "-", "-", "-", "FAILED"))
  widths = [max(len(row[i]) for row in table) for i in range(len(header))]
  for i, row in enumerate(table):
    print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if i == 0:
      print("  ".join("-" * w for w in widths))
  print(f"\nmodels saved in {out_dir}")
  if failures:
    print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
    return 1
  print("all examples match JAX")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
