"""The ``vdla`` command: compile and run models; assemble, disassemble and simulate bundles.

    vdla compile MODEL.onnx -o MODEL.vdla [--config CFG.json] [--target cpu|vdla]
                 [--input-shape NAME:D1,D2,...]            (runtime/cli_model.py)
    vdla run MODEL.vdla --input X.npy [--backend sim|rtl|cpu] [--profile] [--trace OUT.json]
             [--json] [--output Y.npy]
    vdla info MODEL.vdla [--json]
    vdla asm PROG.s -o PROG.bundle [--config CFG.json]
    vdla disasm PROG.bundle [-o PROG.s] [--no-data]
    vdla sim PROG.bundle [--config CFG.json] [--trace OUT.json] [--json]
    vdla rtl PROG.bundle [--config CFG.json] [--trace OUT.json] [--vcd OUT.vcd] [--json]
    vdla crosscheck [--random N] [--seed S] [--config CFG.json] [--no-fixed] [--json]

Exit status: 0 on success; 1 when the program itself fails in the simulator or the RTL (an
illegal instruction, a deadlock), the simulator or Verilator is unavailable, or the cross-check
finds a mismatch; 2 for every usage or input error (bad arguments, a missing or malformed file,
an assembly error, an invalid or incompatible config, an unsupported model, a module of
another version, inputs of the wrong shape).
Errors print ``vdla: error: MESSAGE`` on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Single-threaded BLAS for the simulator's small matrix products: BLAS threads spinning against
# other work make them many times slower. Must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from accel.isa.asm import assemble, disassemble  # noqa: E402
from accel.isa.bundle import Bundle  # noqa: E402
from accel.isa.config import HardwareConfig, atomic_write  # noqa: E402
from accel.isa.errors import IllegalInstructionError, VdlaError  # noqa: E402

#: knobs that only change timing or reporting: ``vdla sim --config`` may change these
TIMING_KNOBS = ("DRAM_BUS_BYTES", "DRAM_LATENCY", "CMD_QUEUE_DEPTH", "TOKEN_QUEUE_DEPTH",
                "CLOCK_MHZ")

EXIT_SIM_ERROR = 1
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with the command line or the input files (exit status 2)."""


class SimError(Exception):
    """The program failed in the simulator, or the simulator is missing (exit status 1)."""


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("vdla")
    except PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            import tomllib
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 text file ({exc.reason} at byte "
                        f"{exc.start})") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _write(path: str, data: bytes) -> None:
    try:
        atomic_write(Path(path), data)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def _save_bundle(bundle: Bundle, path: str) -> None:
    try:
        bundle.save(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def _with_timing_config(bundle: Bundle, path: str) -> Bundle:
    """``bundle`` with the timing knobs of config file ``path``; other knobs must match."""
    cfg = HardwareConfig.load(path)
    old, new = bundle.config.to_dict(), cfg.to_dict()
    differ = [k for k in old if k != "NAME" and k not in TIMING_KNOBS and old[k] != new[k]]
    if differ:
        raise UserError(
            f"{path}: the config differs from the bundle's in "
            + ", ".join(f"{k} ({new[k]} vs the bundle's {old[k]})" for k in differ)
            + "; --config may change only the timing knobs " + ", ".join(TIMING_KNOBS)
            + " (re-assemble or re-compile the program for a different machine)")
    return Bundle(cfg, bundle.insns, bundle.dram, bundle.regions)


# ------------------------------------------------------------------ subcommands
def cmd_asm(args: argparse.Namespace) -> int:
    cfg = HardwareConfig.load(args.config) if args.config else None
    bundle = assemble(_read_text(args.file), cfg, source=args.file)
    out = args.output or str(Path(args.file).with_suffix(".bundle"))
    _save_bundle(bundle, out)
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    text = disassemble(Bundle.load(args.file), data=not args.no_data)
    if args.output:
        _write(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def cmd_sim(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.file)
    if args.config:
        bundle = _with_timing_config(bundle, args.config)
    try:
        from accel.sim import simulate
    except ImportError as exc:
        raise SimError(f"the simulator (accel.sim) is not available: {exc}") from None
    start = time.perf_counter()
    try:
        result = simulate(bundle, trace=args.trace)
    except OSError as exc:
        raise UserError(f"cannot write trace {args.trace}: {exc.strerror}") from None
    wall = getattr(result, "wall_seconds", None)
    wall = time.perf_counter() - start if wall is None else float(wall)
    sys.stdout.write(result.report.format().rstrip("\n") + "\n")
    if args.json:
        doc = dict(result.report.to_dict())
        doc["wall_seconds"] = wall
        doc["sim_cycles_per_second"] = doc["cycles"] / wall if wall > 0 else None
        sys.stdout.write(json.dumps(doc, default=_jsonable) + "\n")
    return 0


def cmd_rtl(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.file)
    if args.config:
        bundle = _with_timing_config(bundle, args.config)
    try:
        from accel.hw.runner import RtlError, run_rtl
        from accel.hw.toolchain import ToolchainError
    except ImportError as exc:
        raise SimError(f"the RTL runner (accel.hw) is not available: {exc}") from None
    start = time.perf_counter()
    try:
        result = run_rtl(bundle, vcd=args.vcd, trace=args.trace)
    except (ToolchainError, RtlError) as exc:
        raise SimError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename}: {exc.strerror}") from None
    total = time.perf_counter() - start
    sys.stdout.write(result.report.format().rstrip("\n") + "\n")
    if args.json:
        doc = dict(result.report.to_dict())
        doc["backend"] = "rtl"
        doc["wall_seconds"] = result.wall_seconds
        doc["total_seconds"] = total  # including the build (first use) and file transfer
        doc["sim_cycles_per_second"] = (doc["cycles"] / result.wall_seconds
                                        if result.wall_seconds > 0 else None)
        sys.stdout.write(json.dumps(doc, default=_jsonable) + "\n")
    return 0


def cmd_crosscheck(args: argparse.Namespace) -> int:
    cfg = HardwareConfig.load(args.config) if args.config else HardwareConfig()
    if args.random < 0:
        raise UserError(f"--random {args.random}: the number of random programs must be >= 0")
    try:
        from accel.hw.crosscheck import crosscheck, stderr_progress
        from accel.hw.toolchain import ToolchainError
    except ImportError as exc:
        raise SimError(f"the RTL runner (accel.hw) is not available: {exc}") from None
    try:
        res = crosscheck(cfg, n_random=args.random, seed=args.seed, fixed=not args.no_fixed,
                         progress=stderr_progress("vdla crosscheck: "))
    except ToolchainError as exc:
        raise SimError(str(exc)) from None
    sys.stdout.write(res.format() + "\n")
    if args.json:
        sys.stdout.write(json.dumps(res.to_dict(), default=_jsonable) + "\n")
    return 0 if res.ok else EXIT_SIM_ERROR


# ----------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vdla", description="Compile and run models on the VDLA accelerator and the CPU; "
                                 "assemble, disassemble and simulate program bundles.",
        epilog="Exit status: 0 success; 1 the program failed in the simulator or the RTL "
               "(illegal instruction, deadlock), a tool is unavailable or the cross-check "
               "found a mismatch; 2 usage or input "
               "error (missing or malformed file, assembly error, bad config).")
    parser.add_argument("--version", action="version", version=f"vdla {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("asm", help="assemble a .s file into a program bundle",
                       description="Assemble FILE (grammar: accel/isa/asm.py) into a bundle. "
                                   ".config directives in FILE override --config.")
    p.add_argument("file", metavar="FILE.s")
    p.add_argument("-o", "--output", metavar="FILE.bundle",
                   help="output bundle (default: FILE with the suffix .bundle); written "
                        "atomically")
    p.add_argument("--config", metavar="CFG.json",
                   help="hardware configuration to start from (default: the default config)")
    p.set_defaults(func=cmd_asm)

    p = sub.add_parser("disasm", help="print a bundle as assembly text",
                       description="Disassemble a bundle; the output assembles back to an "
                                   "identical bundle (unless --no-data).")
    p.add_argument("file", metavar="FILE.bundle")
    p.add_argument("-o", "--output", metavar="OUT.s", help="output file (default: stdout)")
    p.add_argument("--no-data", action="store_true",
                   help="leave out .data lines (raw DRAM contents); .uop blocks are kept")
    p.set_defaults(func=cmd_disasm)

    p = sub.add_parser("sim", help="run a bundle on the cycle-accurate simulator",
                       description="Simulate a bundle and print its cycle report.")
    p.add_argument("file", metavar="FILE.bundle")
    p.add_argument("--config", metavar="CFG.json",
                   help="run with this config's timing knobs (" + ", ".join(TIMING_KNOBS)
                        + "); every other knob must equal the bundle's, since it changes the "
                          "instruction layout or the memories")
    p.add_argument("--trace", metavar="OUT.json", help="write a per-instruction trace")
    p.add_argument("--json", action="store_true",
                   help="after the report, print one JSON object with the counters, "
                        "wall_seconds and sim_cycles_per_second as the last line")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("rtl", help="run a bundle on the RTL (Verilog under Verilator)",
                       description="Run a bundle on the accelerator's RTL and print the same "
                                   "cycle report as `vdla sim`. The Verilator model is built "
                                   "on first use for each configuration and cached "
                                   "($VDLA_CACHE, default ~/.cache/vdla).")
    p.add_argument("file", metavar="FILE.bundle")
    p.add_argument("--config", metavar="CFG.json",
                   help="run with this config's timing knobs (as for `vdla sim`)")
    p.add_argument("--trace", metavar="OUT.json", help="write a per-instruction trace")
    p.add_argument("--vcd", metavar="OUT.vcd", help="write a waveform of the whole run")
    p.add_argument("--json", action="store_true",
                   help="after the report, print one JSON object with the counters, "
                        "wall_seconds and sim_cycles_per_second as the last line")
    p.set_defaults(func=cmd_rtl)

    p = sub.add_parser("crosscheck", help="check that the RTL and the simulator agree",
                       description="Run the fixed test programs and N random legal programs "
                                   "on the simulator and on the RTL; require identical DRAM, "
                                   "cycles, counters and per-instruction cycles. Progress goes "
                                   "to stderr; exit status 1 on a mismatch.")
    p.add_argument("--random", type=int, default=100, metavar="N",
                   help="number of random programs (default 100)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--config", metavar="CFG.json",
                   help="hardware configuration (default: the default config)")
    p.add_argument("--no-fixed", action="store_true", help="random programs only")
    p.add_argument("--json", action="store_true",
                   help="print one JSON summary object as the last line")
    p.set_defaults(func=cmd_crosscheck)

    from .cli_model import add_parsers

    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``vdla`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit
    status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    try:
        return args.func(args)
    except (IllegalInstructionError, SimError) as exc:
        print(f"vdla: error: {exc}", file=sys.stderr)
        return EXIT_SIM_ERROR
    except (VdlaError, UserError) as exc:
        print(f"vdla: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # for example `vdla disasm x.bundle | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
