"""The model subcommands of ``vdla``: compile an ONNX model, run a compiled module, show one.

    vdla compile MODEL.onnx -o MODEL.vdla [--config CFG.json] [--target cpu|vdla]
                 [--calib SAMPLES.npy]   (int8 post-training quantization first)
                 [--input-shape NAME:D1,D2,...] [--min-cycles N] [--report REPORT.json]
                 [--json] [--quiet]
    vdla run MODEL.vdla --input X.npy | --input NAME=X.npy ... | --input INPUTS.npz
             [--backend sim|rtl|cpu] [--profile] [--trace OUT.json] [--json]
             [--output Y.npy] [--repeat N]
    vdla info MODEL.vdla [--json]

Progress goes to stderr (``compile``: one line per node; ``run``: kernel building);
results to stdout; ``--json`` prints one JSON object as the last line of stdout. Exit status
as for every ``vdla`` command: 2 for user and input errors (a missing, truncated or corrupted
file, an unsupported model, a dynamic input dimension, a wrong input shape, a version
mismatch), 1 when the accelerator program fails or a tool is missing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _errors():
    from .cli import SimError, UserError

    return UserError, SimError


class _Progress:
    """Lines on stderr; ``every`` > 0 prints at most one line per ``every`` seconds (and the
    last one), for long runs of small steps."""

    def __init__(self, prefix: str, quiet: bool = False, every: float = 0.0) -> None:
        self.prefix, self.quiet, self.every = prefix, quiet, every
        self._last = 0.0
        self._pending: str | None = None

    def __call__(self, msg: str) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if self.every and now - self._last < self.every:
            self._pending = msg
            return
        self._last, self._pending = now, None
        print(f"{self.prefix}{msg}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        if self._pending is not None and not self.quiet:
            print(f"{self.prefix}{self._pending}", file=sys.stderr, flush=True)
        self._pending = None


def _atomic(path: str, data: bytes) -> None:
    from accel.isa.config import atomic_write

    UserError, _ = _errors()
    try:
        atomic_write(Path(path), data)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


# ---------------------------------------------------------------------- compile
def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    UserError, _ = _errors()
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs or []:
        name, sep, dims = spec.rpartition(":")
        try:
            if not sep or not name:
                raise ValueError
            shape = tuple(int(d) for d in dims.split(","))
            if any(d < 1 for d in shape):
                raise ValueError
        except ValueError:
            raise UserError(f"--input-shape {spec!r}: expected NAME:D1,D2,... with positive "
                            f"integer dimensions, e.g. data:1,3,224,224") from None
        shapes[name] = shape
    return shapes


def cmd_compile(args: argparse.Namespace) -> int:
    from accel.isa.config import HardwareConfig

    from .module import compile_model

    UserError, _ = _errors()
    if not Path(args.model).exists():
        raise UserError(f"model file '{args.model}' does not exist")
    cfg = HardwareConfig.load(args.config) if args.config else None
    if args.min_cycles is not None and args.min_cycles < 0:
        raise UserError(f"--min-cycles {args.min_cycles} must be >= 0")
    out = args.output or str(Path(args.model).with_suffix(".vdla"))
    progress = _Progress("vdla compile: ", args.quiet)
    start = time.perf_counter()
    calib = _load_array(args.calib) if args.calib else None
    mod = compile_model(args.model, target=args.target, config=cfg,
                        input_shapes=parse_input_shapes(args.input_shape),
                        min_cycles=args.min_cycles, calibration=calib, progress=progress)
    progress(f"writing {out}")
    try:
        mod.save(out, objects=not args.no_objects)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    seconds = time.perf_counter() - start
    size = os.path.getsize(out)
    if args.report:
        _atomic(args.report, json.dumps(mod.report.to_dict(), indent=1).encode())
    sys.stdout.write(mod.report.format(max_rows=None if args.verbose else 40) + "\n")
    sys.stdout.write(f"wrote {out} ({size:,} bytes) in {seconds:.2f} s\n")
    if args.json:
        doc = {"output": out, "bytes": size, "target": mod.target,
               "compile_seconds": seconds, "summary": mod.report.summary()}
        sys.stdout.write(json.dumps(doc, default=_jsonable) + "\n")
    return 0


# ---------------------------------------------------------------------- run
def _load_array(path: str) -> np.ndarray | dict[str, np.ndarray]:
    UserError, _ = _errors()
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"input file '{path}' does not exist") from None
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"cannot read '{path}' as a .npy/.npz array: {e}") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            return {k: data[k] for k in data.files}
    return data


def gather_inputs(specs: list[str], names: list[str]) -> dict[str, np.ndarray]:
    """``--input`` values: ``X.npy`` (the only input), ``NAME=X.npy``, or ``X.npz``."""
    UserError, _ = _errors()
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and name and not Path(spec).exists():
            arr = _load_array(path)
            if isinstance(arr, dict):
                raise UserError(f"--input {spec}: NAME=FILE takes a .npy file, not an .npz")
            feeds[name] = arr
            continue
        arr = _load_array(spec)
        if isinstance(arr, dict):
            feeds.update(arr)
        elif len(names) == 1:
            feeds[names[0]] = arr
        else:
            raise UserError(f"--input {spec}: the module has {len(names)} inputs "
                            f"({', '.join(names)}); pass each as --input NAME=FILE.npy")
    return feeds


def _top(a: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    row = a.reshape(a.shape[0], -1)[0] if a.ndim >= 2 else a.reshape(-1)
    idx = np.argsort(-row.astype(np.float64), kind="stable")[:k]
    return [(int(i), float(row[i])) for i in idx]


def cmd_run(args: argparse.Namespace) -> int:
    from .module import load_module

    UserError, SimError = _errors()
    if args.repeat < 1:
        raise UserError(f"--repeat {args.repeat} must be >= 1")
    mod = load_module(args.module)
    names = [v.name for v in mod.inputs]
    if not args.input:
        raise UserError(f"give the model's input(s) with --input ({', '.join(names)})")
    feeds = gather_inputs(args.input, names)
    progress = _Progress("vdla run: ", every=0.5)
    progress(f"building kernels for {len(mod.all_nodes())} nodes (backend '{args.backend}')")
    ex = mod.executor(args.backend, progress=progress)
    progress.flush()
    ex.check_inputs(feeds)
    tool_errors: tuple = ()
    if args.backend == "rtl":
        try:
            from accel.hw.runner import RtlError
            from accel.hw.toolchain import ToolchainError
        except ImportError as e:
            raise SimError(f"the RTL runner (accel.hw) is not available: {e}") from None
        tool_errors = (RtlError, ToolchainError)
    runs = []
    try:
        for _ in range(args.repeat):
            outputs, prof = ex.run_profiled(feeds)
            runs.append(prof.wall_seconds)
    except tool_errors as e:
        raise SimError(str(e)) from None
    wall = float(np.median(runs))
    for name, a in outputs.items():
        line = f"output '{name}': {a.dtype}{list(a.shape)}"
        if a.size and a.dtype.kind in "fiu":
            line += "  top-5: " + ", ".join(f"{i} ({v:.6g})" for i, v in _top(a))
        sys.stdout.write(line + "\n")
    if args.output:
        buf = io.BytesIO()
        if len(outputs) == 1:
            np.save(buf, next(iter(outputs.values())), allow_pickle=False)
        else:
            np.savez(buf, **outputs)
        _atomic(args.output, buf.getvalue())
    if args.trace:
        doc = {"traceEvents": prof.trace_events(), "displayTimeUnit": "ms",
               "otherData": {"model": args.module, "backend": args.backend}}
        _atomic(args.trace, json.dumps(doc, default=_jsonable).encode())
    if args.profile:
        sys.stdout.write(prof.format() + "\n")
    cycles = prof.total_cycles
    summary = f"{args.backend}: {wall * 1e3:.3f} ms wall"
    if args.repeat > 1:
        summary += f" (median of {args.repeat} runs)"
    if cycles is not None:
        hw = cycles / (mod.config.clock_mhz * 1e6)
        summary += f"; accelerator {cycles:,} cycles ({hw * 1e3:.3f} ms at " \
                   f"{mod.config.clock_mhz} MHz)"
    sys.stdout.write(summary + "\n")
    if args.json:
        first = next(iter(outputs.values()))
        doc = {"model": args.module, "backend": args.backend, "output": args.output,
               "outputs": {k: {"shape": list(a.shape), "dtype": a.dtype.name}
                           for k, a in outputs.items()},
               "top1": _top(first, 1)[0][0] if first.size else None,
               "cycles": cycles, "wall_seconds": wall, "runs": len(runs)}
        if args.profile:
            doc["profile"] = prof.to_dict()
        sys.stdout.write(json.dumps(doc, default=_jsonable, allow_nan=False) + "\n")
    return 0


# ---------------------------------------------------------------------- info
def format_info(path: str, info: dict[str, Any], report_text: str) -> str:
    src = info.get("source") or {}
    lines = [
        f"module        {path}",
        f"format        vdla module version {info['format_version']}, compiled by vdla "
        f"{info['vdla_version']}",
        f"model         {src.get('model', '?')} (compiled in "
        f"{src.get('compile_seconds', '?')} s)",
        f"target        {info['target']}",
        f"config        {info['config_summary']}",
    ]
    for kind in ("inputs", "outputs"):
        for v in info[kind]:
            lines.append(f"{kind[:-1]:<13} '{v['name']}': {v['dtype']}{v['shape']}")
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(info["cpu_kernel_kinds"].items()))
    lines += [f"nodes         {info['nodes']} ({info['top_level_nodes']} at the top level)",
              f"constants     {info['constants_bytes']:,} bytes",
              f"cpu kernels   {kinds or 'none'}; {info['objects']} object file(s) stored"]
    for r in info["regions"]:
        progs = ", ".join(f"{p['node']} ({p['op']}, {p['instructions']} insns)"
                          for p in r["programs"])
        lines.append(f"region {r['id']:<6} {r['node']}: {r['nodes']} nodes, {r['macs']:,} "
                     f"MACs; programs: {progs}")
    return "\n".join(lines) + "\n\n" + report_text


def cmd_info(args: argparse.Namespace) -> int:
    from .module import load_module

    mod = load_module(args.module)
    info = mod.info()
    sys.stdout.write(format_info(args.module, info, mod.report.format()) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(info, default=_jsonable) + "\n")
    return 0


# ---------------------------------------------------------------------- parsers
def add_parsers(sub) -> None:
    p = sub.add_parser("compile", help="compile an ONNX model into a module file",
                       description="Import an ONNX model, optimize it, partition it between "
                                   "the accelerator and the CPU (--target vdla) or put "
                                   "everything on the CPU (--target cpu), compile the "
                                   "accelerator programs and the CPU kernels, and write one "
                                   "module file. Progress goes to stderr; the partition "
                                   "report (where each node runs and why) to stdout.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("-o", "--output", metavar="MODEL.vdla",
                   help="output module (default: MODEL with the suffix .vdla); written "
                        "atomically")
    p.add_argument("--config", metavar="CFG.json",
                   help="accelerator configuration (default: the default config)")
    p.add_argument("--target", choices=("vdla", "cpu"), default="vdla",
                   help="vdla: offload what the accelerator supports (int8 operators), the "
                        "rest on the CPU; cpu: everything on the CPU (default: vdla)")
    p.add_argument("--input-shape", action="append", metavar="NAME:D1,D2,...",
                   help="fix the shape of an input whose dimensions the model leaves open "
                        "(repeat for several inputs)")
    p.add_argument("--min-cycles", type=int, metavar="N",
                   help="offload an accelerator region only if its GEMM work takes at least "
                        "N cycles of the GEMM core (default 256)")
    p.add_argument("--calib", metavar="SAMPLES.npy",
                   help="quantize to int8 first, calibrating on these float samples "
                        "(shape (K, C, H, W) for an input (N, C, H, W); .npz: one per input)")
    p.add_argument("--report", metavar="REPORT.json",
                   help="also write the partition report as JSON")
    p.add_argument("--no-objects", action="store_true",
                   help="do not store the CPU kernels' object code (they are recompiled "
                        "from the graph when the module is loaded)")
    p.add_argument("--verbose", action="store_true",
                   help="print the whole partition report (default: its first 40 rows)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true",
                   help="print one JSON summary object as the last line")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run a compiled module",
                       description="Run a module on the accelerator simulator (sim, the "
                                   "default), the RTL (rtl) or entirely on the CPU (cpu). "
                                   "Inputs are .npy files: --input X.npy for a single-input "
                                   "model, --input NAME=X.npy (repeated) or an .npz of all.")
    p.add_argument("module", metavar="MODEL.vdla")
    p.add_argument("--input", action="append", metavar="[NAME=]X.npy",
                   help="an input array (.npy), NAME=X.npy, or an .npz holding every input")
    p.add_argument("--backend", choices=("sim", "rtl", "cpu"), default="sim",
                   help="where accelerator regions run (default: sim); cpu runs every node "
                        "on the CPU")
    p.add_argument("--profile", action="store_true",
                   help="print the per-layer profile (wall time; cycles and GEMM "
                        "utilization of accelerator layers)")
    p.add_argument("--trace", metavar="OUT.json",
                   help="write a Chrome/Perfetto trace of the layers")
    p.add_argument("--output", metavar="Y.npy",
                   help="save the output (.npy; several outputs: an .npz archive)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run N times and report the median wall time (default 1)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object as the last line: output path, top-1 index, "
                        "total cycles, wall seconds")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("info", help="describe a compiled module",
                       description="Show a module's versions, target, config, inputs and "
                                   "outputs, accelerator regions and their programs, CPU "
                                   "kernels, and the partition report.")
    p.add_argument("module", metavar="MODEL.vdla")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with everything as the last line")
    p.set_defaults(func=cmd_info)


__all__ = ["add_parsers", "cmd_compile", "cmd_info", "cmd_run", "gather_inputs",
           "parse_input_shapes"]
