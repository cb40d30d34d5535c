"""A/B: the examples exported by this checkout vs. by another git revision,
both timed in ONNX Runtime in one process.

    python benchmarks/bench_ab.py --baseline a5d7561
    python benchmarks/bench_ab.py --baseline HEAD~1 --examples vit_patches gpt --batches 32

On a shared machine the absolute latency of a model drifts by tens of percent
between runs; two sessions timed in alternating rounds in the same process see
the same load, so their ratio is what a graph change bought. For each example:
the baseline's model is exported by a subprocess importing jax_onnx from a
clone of the repository at --baseline (same venv, same ONNX Runtime), this
checkout's in-process; both must agree on random inputs (rtol = atol = 1e-4),
then the median latency of each, and new / baseline (median of per-round
ratios), plus both node counts.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import (  # noqa: E402
    EXAMPLES, all_calls, load_example, make_input, round_ratio, time_in_rounds)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_EXPORT = """
import importlib.util, os, sys
import jax_onnx
examples, out = sys.argv[1], sys.argv[2]
for name in sys.argv[3:]:
    spec = importlib.util.spec_from_file_location(name, os.path.join(examples, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = jax_onnx.transform(module.make_model()).lower(module.INPUT_SPEC)
    with open(os.path.join(out, name + ".onnx"), "wb") as f:
        f.write(exported.model.SerializeToString())
"""


def export_with(tree: str, examples: list[str], out: str) -> None:
  """Exports the examples with the jax_onnx (and examples/) of source tree `tree`."""
  env = dict(os.environ, PYTHONPATH=tree)
  subprocess.run([sys.executable, "-c", _EXPORT, os.path.join(tree, "examples"), out,
                  *examples], check=True, env=env, cwd=tree)


def session(path: str):
  import onnxruntime as ort
  opts = ort.SessionOptions()
  opts.log_severity_level = 3
  return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--baseline", required=True, help="git revision to compare against")
  ap.add_argument("--examples", nargs="+", default=EXAMPLES)
  ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
  ap.add_argument("--reps", type=int, default=1000)
  ap.add_argument("--rounds", type=int, default=40)
  args = ap.parse_args(argv)

  import onnx
  with tempfile.TemporaryDirectory() as tmp:
    base_tree = os.path.join(tmp, "baseline")
    subprocess.run(["git", "clone", "-q", REPO, base_tree], check=True)
    subprocess.run(["git", "-C", base_tree, "checkout", "-q", args.baseline], check=True)
    rev = subprocess.run(["git", "-C", base_tree, "rev-parse", "--short", "HEAD"],
                         check=True, capture_output=True, text=True).stdout.strip()
    for side in ("base", "new"):
      os.makedirs(os.path.join(tmp, side))
    export_with(base_tree, args.examples, os.path.join(tmp, "base"))
    export_with(REPO, args.examples, os.path.join(tmp, "new"))
    print(f"# baseline {args.baseline} ({rev}) vs this checkout; {args.reps} calls each "
          f"in {args.rounds} alternating rounds; microseconds")
    header = (f"{'example':20} {'batch':>5} {'nodes base':>10} {'nodes new':>9} "
              f"{'base us':>9} {'new us':>9} {'new/base':>8}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name in args.examples:
      module = load_example(name)
      paths = [os.path.join(tmp, side, f"{name}.onnx") for side in ("base", "new")]
      nodes = [len(onnx.load(p, load_external_data=False).graph.node) for p in paths]
      base, new = (session(p) for p in paths)
      (input_name,) = [i.name for i in new.get_inputs()]
      for batch in args.batches:
        feeds = {input_name: make_input(module, rng, batch)}
        np.testing.assert_allclose(new.run(None, feeds)[0], base.run(None, feeds)[0],
                                   rtol=1e-4, atol=1e-4, err_msg=f"{name} at batch {batch}")
        for _ in range(50):
          base.run(None, feeds)
          new.run(None, feeds)
        timed = time_in_rounds([lambda: base.run(None, feeds), lambda: new.run(None, feeds)],
                               args.reps, args.rounds)
        base_us, new_us = (np.median(all_calls(t)) / 1e3 for t in timed)
        ratio = round_ratio(timed[1], timed[0])
        print(f"{name:20} {batch:>5} {nodes[0]:>10} {nodes[1]:>9} {base_us:>9.1f} "
              f"{new_us:>9.1f} {ratio:>8.2f}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
