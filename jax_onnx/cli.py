"""The `jax-onnx` command line (docs/cli.md):

    jax-onnx export MODULE:CALLABLE --input 'B,28,28,1:float32' -o model.onnx
    jax-onnx inspect model.onnx
    jax-onnx coverage [--components]

Exit codes: 0 ok, 1 verification failed, 2 usage error (bad spec, missing
callable, module that fails to import), 3 export failed.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import re
import sys
import time

from jax_onnx.api import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_USAGE = 2
EXIT_EXPORT_FAILED = 3

_DIM = re.compile(r"^(\d+|[A-Za-z_][A-Za-z0-9_]*)$")


class UsageError(Exception):
  """Exit 2 with a one-line message."""


class ExportFailed(Exception):
  """Exit 3 with the message of the exporter's exception."""


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


# ---------------------------------------------------------------------------
# --input specs: 'B,28,28,1:float32' -> (('B', 28, 28, 1), float32)

def parse_input_spec(text: str):
  """(dims, numpy dtype) of a spec 'DIM,DIM,...[:DTYPE]': each DIM an integer or a
  symbolic name; DTYPE float32 when omitted; ':DTYPE' alone is a scalar."""
  import ml_dtypes  # noqa: F401 - registers bfloat16 & co. with numpy
  import numpy as np

  from jax_onnx import specs
  from jax_onnx.errors import SpecError
  if not text.strip():
    raise UsageError(f"--input {text!r}: empty spec (a scalar is ':float32')")
  shape_text, colon, dtype_text = text.rpartition(":")
  if not colon:
    shape_text, dtype_text = text, "float32"
  dims = []
  if shape_text.strip():
    for d in shape_text.split(","):
      d = d.strip()
      if not d:
        raise UsageError(f"--input {text!r}: empty dimension (a doubled or trailing comma?)")
      if not _DIM.match(d):
        raise UsageError(f"--input {text!r}: dimension {d!r} is neither a non-negative "
                         "integer nor a symbolic name (letters, digits and _, not "
                         "starting with a digit)")
      dims.append(int(d) if d.isdigit() else d)
  dtype_text = dtype_text.strip() or "float32"
  try:
    dtype = np.dtype(dtype_text)
  except TypeError:
    raise UsageError(f"--input {text!r}: unknown dtype {dtype_text!r} (use float32, "
                     "float16, bfloat16, int32, uint8, bool, ...)") from None
  try:
    specs._check_dtype(dtype)
  except SpecError as e:
    hint = " Set JAX_ENABLE_X64=1 for 64-bit mode." if dtype.itemsize == 8 else ""
    raise UsageError(f"--input {text!r}: {str(e).splitlines()[0]}{hint}") from None
  return tuple(dims), dtype


def input_specs(texts):
  """jax.ShapeDtypeStructs for the --input specs, symbolic names shared."""
  import jax
  from jax import export
  parsed = [parse_input_spec(t) for t in texts]
  scope = export.SymbolicScope()
  out = []
  for dims, dtype in parsed:
    shape = (export.symbolic_shape(",".join(map(str, dims)), scope=scope)
             if any(isinstance(d, str) for d in dims) else dims)
    out.append(jax.ShapeDtypeStruct(tuple(shape), dtype))
  return out


# ---------------------------------------------------------------------------
# MODULE:CALLABLE -> the function or module to export

def load_target(target: str):
  """The object named by 'MODULE:ATTR' (MODULE dotted or a .py path, ATTR dotted)."""
  module_name, colon, attr = target.rpartition(":")
  if not colon or not module_name or not attr:
    raise UsageError(f"{target!r}: expected MODULE:CALLABLE, e.g. examples/mlp.py:make_model "
                     "or my_package.models:make_model")
  module = _import(module_name)
  obj = module
  for part in attr.split("."):
    if not hasattr(obj, part):
      names = sorted(n for n, v in vars(module).items()
                     if not n.startswith("_") and callable(v)
                     and getattr(v, "__module__", module.__name__) == module.__name__)
      known = f"; it defines: {', '.join(names[:12])}" if names else ""
      raise UsageError(f"{module_name!r} has no attribute {attr!r}{known}")
    obj = getattr(obj, part)
  return obj


def _import(name: str):
  is_path = name.endswith(".py") or os.sep in name or "/" in name
  try:
    if is_path:
      path = os.path.abspath(name)
      if not os.path.isfile(path):
        raise UsageError(f"no such file: {name!r}")
      mod_name = os.path.splitext(os.path.basename(path))[0]
      if mod_name in sys.modules:   # never replace an imported module (a file named jax.py)
        mod_name = f"_jax_onnx_cli_{mod_name}"
      sys.path.insert(0, os.path.dirname(path))   # its sibling modules import
      spec = importlib.util.spec_from_file_location(mod_name, path)
      module = importlib.util.module_from_spec(spec)
      sys.modules[mod_name] = module
      spec.loader.exec_module(module)
      return module
    sys.path.insert(0, os.getcwd())   # as `python -m` does
    return importlib.import_module(name)
  except UsageError:
    raise
  except (Exception, SystemExit) as e:   # noqa: BLE001 - whatever the user's module raises
    raise UsageError(f"cannot import {name!r}: {_first_line(e)}") from None


def _is_nnx_module(obj) -> bool:
  if "flax.nnx" not in sys.modules:
    return False
  from flax import nnx
  return isinstance(obj, nnx.Module)


def resolve_callable(obj, name: str):
  """A function or nnx.Module to export: `obj` itself, or what it returns when
  called without arguments (a factory) if that is a function or module."""
  if _is_nnx_module(obj):
    return obj
  if not callable(obj):
    raise UsageError(f"{name} is not a function, an nnx.Module or a factory returning one "
                     f"(it is a {type(obj).__name__} object)")
  try:
    params = inspect.signature(obj).parameters.values()
  except (TypeError, ValueError):
    return obj
  required = [p for p in params if p.default is p.empty
              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  if required:
    return obj
  try:
    made = obj()
  except Exception as e:   # noqa: BLE001 - a factory's own error, in one line
    if not params:   # nothing but a factory takes no parameters at all
      raise UsageError(f"{name}() (a factory: it takes no arguments) failed: "
                       f"{_first_line(e)}") from None
    return obj
  return made if _is_nnx_module(made) or callable(made) else obj


def _check_arity(fn, n: int, name: str) -> None:
  try:
    inspect.signature(fn).bind(*range(n))
  except TypeError as e:
    raise UsageError(f"{name} cannot take {n} input(s) (--input given {n} time(s)): "
                     f"{e}") from None
  except ValueError:   # no signature: let the export tell
    pass


# ---------------------------------------------------------------------------
# Commands

class _Progress:

  def __init__(self, quiet: bool):
    self.quiet = quiet

  def __call__(self, message: str) -> None:
    if not self.quiet:
      print(message, file=sys.stderr, flush=True)


def cmd_export(args) -> int:
  progress = _Progress(args.quiet)
  specs = input_specs(args.input or [])      # bad specs fail before any import
  out_dir = os.path.dirname(os.path.abspath(args.output))
  if not os.path.isdir(out_dir):
    raise UsageError(f"-o {args.output!r}: directory {out_dir!r} does not exist")
  if os.path.isdir(args.output):
    raise UsageError(f"-o {args.output!r} is a directory")
  if args.report and os.path.isdir(args.report):
    raise UsageError(f"--report {args.report!r} is a directory")

  import jax_onnx
  from jax_onnx import report
  try:
    jax_onnx.ExportOptions(opset=args.opset)
  except ValueError as e:
    raise UsageError(f"--opset {args.opset}: {e}") from None
  fn = resolve_callable(load_target(args.target), args.target)
  _check_arity(fn, len(specs), args.target)

  shown = ", ".join(str(s.dtype) + "[" + ", ".join(map(str, s.shape)) + "]" for s in specs)
  progress(f"jax-onnx: exporting {args.target} for ({shown}), opset {args.opset}")
  progress("tracing and optimising...")
  try:
    exported = jax_onnx.transform(fn, opset=args.opset).lower(*specs)
  except Exception as e:   # noqa: BLE001 - the exporter's message, no traceback
    raise ExportFailed(f"{type(e).__name__}: {e}") from None
  st = exported.stats
  progress(f"  traced in {st['trace_seconds']:.2f} s ({st.get('primitives', '?')} primitives), "
           f"optimised in {st['passes_seconds']:.2f} s "
           f"({st.get('nodes_before', '?')} -> {st.get('nodes_after', '?')} nodes)")

  progress(f"saving {args.output}...")
  t0 = time.perf_counter()
  try:
    exported.save(args.output)
  except Exception as e:   # noqa: BLE001
    raise ExportFailed(f"{type(e).__name__}: {e}") from None
  st["save_seconds"] = time.perf_counter() - t0
  size = os.path.getsize(args.output)
  progress(f"  saved in {st['save_seconds']:.2f} s ({report.human_bytes(size)})")

  status = EXIT_OK
  if args.verify:
    progress("verifying (onnx.checker, then ONNX Runtime with and without its "
             "optimisations against JAX)...")
    t0 = time.perf_counter()
    try:
      result = exported.verify(rtol=args.rtol, atol=args.atol)
    except Exception as e:   # noqa: BLE001
      print(f"jax-onnx: verification could not run: {_first_line(e)}", file=sys.stderr)
      return EXIT_VERIFY_FAILED
    exported.verification = result
    worst = max((o.max_abs for o in result.outputs), default=0.0)
    if result:
      progress(f"  verification passed in {time.perf_counter() - t0:.2f} s "
               f"(max abs error {worst:.3g})")
    else:
      print(f"jax-onnx: verification FAILED (the model is saved at {args.output} for "
            f"inspection):\n{result}", file=sys.stderr)
      status = EXIT_VERIFY_FAILED
  if args.report:
    report.write_report(exported, args.report)
    progress(f"wrote the report to {args.report}")
  progress(f"done: {args.output}")
  return status


def cmd_inspect(args) -> int:
  import onnx

  from jax_onnx import report
  path = args.model
  if not os.path.isfile(path):
    raise UsageError(f"no such file: {path!r}")
  try:
    model = onnx.load(path, load_external_data=False)
  except Exception as e:   # noqa: BLE001
    raise UsageError(f"{path!r} is not an ONNX model: {_first_line(e)}") from None
  opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
  lines = [(f"{path}: {report.human_bytes(os.path.getsize(path))}, IR version "
           f"{model.ir_version}, opset {opsets}")]
  if model.producer_name:
    lines.append(f"producer: {model.producer_name} {model.producer_version}".rstrip())
  for title, values in (("inputs", model.graph.input), ("outputs", model.graph.output)):
    init_names = {t.name for t in model.graph.initializer}
    lines.append(f"{title}:")
    for vi in values:
      if vi.name in init_names:
        continue
      name, dtype, dims = report.value_signature(vi)
      lines.append(f"  {name}: {report.format_type(dtype, dims)}")
  hist = report.op_histogram(model)
  places = {}
  for where, _ in report.walk_nodes(model):
    places[where] = places.get(where, 0) + 1
  detail = ", ".join(f"{n} in {w}s" if w != "graph" else f"{n} in the main graph"
                     for w, n in places.items())
  lines.append(f"nodes: {sum(places.values())} ({detail or 'none'})")
  if model.functions:
    lines.append(f"local functions: {', '.join(f.name for f in model.functions)}")
  inits = report.initializer_stats(model)
  lines.append(f"initializers: {inits['count']} tensors, {inits['values']:,} values, "
               f"{inits['bytes']:,} bytes ({report.human_bytes(inits['bytes'])})")
  if inits["external_files"]:
    folder = os.path.dirname(os.path.abspath(path))
    for loc, n in inits["external_files"].items():
      full = os.path.join(folder, loc)
      size = (report.human_bytes(os.path.getsize(full)) if os.path.isfile(full)
              else "MISSING")
      lines.append(f"external data: {loc} ({n} tensors, {size})")
  else:
    lines.append("external data: none")
  lines.append("op histogram:")
  width = max((len(op) for op, _ in hist), default=0)
  lines += [f"  {op:<{width}}  {n}" for op, n in hist]
  print("\n".join(lines))
  return EXIT_OK


def cmd_coverage(args) -> int:
  from jax_onnx import support
  print(support.markdown_table())
  if args.components:
    print("\n## Components\n")
    print(support.components_table())
  return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="jax-onnx", description="Export JAX functions and Flax NNX modules to ONNX.",
      epilog="Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 export failed.")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

  p = sub.add_parser("export", help="export a function or nnx.Module to an ONNX file",
                     description="Export MODULE:CALLABLE (a function, an nnx.Module, or a "
                                 "factory taking no arguments that returns one).")
  p.add_argument("target", metavar="MODULE:CALLABLE",
                 help="MODULE is a dotted module name or a path to a .py file")
  p.add_argument("--input", "-i", action="append", metavar="SPEC",
                 help="one per argument: comma-separated dims (integers or symbolic names), "
                      "':', dtype (default float32), e.g. 'B,28,28,1:float32'")
  p.add_argument("-o", "--output", required=True, metavar="FILE", help="the .onnx file")
  p.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                 help=f"target ONNX opset (default {DEFAULT_OPSET}; "
                      f"{MIN_OPSET}..{MAX_OPSET})")
  p.add_argument("--verify", action="store_true",
                 help="check the model against JAX on random inputs (exit 1 on a mismatch)")
  p.add_argument("--rtol", type=float, default=1e-5, help="for --verify (default 1e-5)")
  p.add_argument("--atol", type=float, default=1e-5, help="for --verify (default 1e-5)")
  p.add_argument("--report", metavar="FILE", help="write the export report (Markdown)")
  p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
  p.set_defaults(func=cmd_export)

  p = sub.add_parser("inspect", help="summarise an ONNX file")
  p.add_argument("model", metavar="MODEL.onnx")
  p.set_defaults(func=cmd_inspect)

  p = sub.add_parser("coverage", help="print the table of supported JAX primitives")
  p.add_argument("--components", action="store_true",
                 help="also print the table of components (fused ONNX ops)")
  p.set_defaults(func=cmd_coverage)
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)   # exits 2 on a usage error
  try:
    return args.func(args)
  except UsageError as e:
    print(f"jax-onnx: error: {e}", file=sys.stderr)
    return EXIT_USAGE
  except ExportFailed as e:
    print(f"jax-onnx: export failed: {e}", file=sys.stderr)
    return EXIT_EXPORT_FAILED
  except BrokenPipeError:   # `jax-onnx coverage | head`: not an error
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
