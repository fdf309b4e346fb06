"""Benchmark: the RTL (Verilator) beside the simulator on the 1024^3 GEMM benchmark program.

    python bench/rtl_gemm.py [--json] [--variant overlap|serial] [--m M --n N --k K]
                             [--repeat R] [--rebuild]

Builds the RTL model for the default configuration (timing the build: ``--rebuild`` builds it
in a fresh cache directory so the cold build time is measured), runs the program R times on
the RTL and on the simulator, checks that both give the same cycles, counters and DRAM image
and that the output equals numpy, and reports simulated cycles per wall second for both
(median of R runs). The RTL wall time is the testbench process's own run (loading the program,
simulating every cycle, writing the results), as ``vdla rtl --json`` reports it. With ``--json``
the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from accel.hw.crosscheck import compare  # noqa: E402
from accel.hw.runner import run_rtl  # noqa: E402
from accel.hw.toolchain import build_model, find_verilator  # noqa: E402
from accel.isa.config import HardwareConfig  # noqa: E402
from accel.isa.workloads import build_gemm  # noqa: E402
from accel.sim import simulate  # noqa: E402


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="overlap", choices=("overlap", "serial"))
    ap.add_argument("--m", type=int, default=1024)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true",
                    help="build the RTL model in a fresh cache to time a cold build")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cfg = HardwareConfig()

    tmp = None
    if args.rebuild:
        tmp = tempfile.TemporaryDirectory(prefix="vdla-bench-cache-")
        os.environ["VDLA_CACHE"] = tmp.name
    t0 = time.perf_counter()
    binary = build_model(cfg, progress=progress)
    build_s = time.perf_counter() - t0
    recorded = binary.parent / "build_seconds"
    cold_build_s = float(recorded.read_text()) if recorded.exists() else None

    wl = build_gemm(cfg, args.m, args.n, args.k, variant=args.variant)
    progress(f"{wl.describe()}: {len(wl.bundle.insns):,} instructions")
    rtl_walls, rtl_totals, sim_walls = [], [], []
    for r in range(args.repeat):
        t0 = time.perf_counter()
        rtl = run_rtl(wl.bundle)
        rtl_totals.append(time.perf_counter() - t0)
        rtl_walls.append(rtl.wall_seconds)
        t0 = time.perf_counter()
        sim = simulate(wl.bundle)
        sim_walls.append(time.perf_counter() - t0)
        progress(f"run {r + 1}/{args.repeat}: RTL {rtl_walls[-1]:.3f} s "
                 f"({rtl_totals[-1]:.3f} s with file transfer), simulator {sim_walls[-1]:.3f} s")
    mismatch = compare("gemm", wl.bundle, sim, rtl)
    wl.check(rtl)
    wl.check(sim)
    cycles = rtl.report.cycles
    rtl_wall, sim_wall = statistics.median(rtl_walls), statistics.median(sim_walls)
    doc = {
        "benchmark": "rtl_gemm", "m": args.m, "n": args.n, "k": args.k,
        "variant": args.variant, "instructions": len(wl.bundle.insns), "cycles": cycles,
        "sim_cycles": sim.report.cycles, "identical": mismatch is None,
        "rtl_build_seconds": cold_build_s, "rtl_build_or_cache_seconds": build_s,
        "rtl_wall_seconds": rtl_wall, "rtl_total_seconds": statistics.median(rtl_totals),
        "rtl_cycles_per_second": cycles / rtl_wall,
        "sim_wall_seconds": sim_wall, "sim_cycles_per_second": cycles / sim_wall,
        "rtl_wall_seconds_runs": rtl_walls, "sim_wall_seconds_runs": sim_walls,
        "verilator": find_verilator().version,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count()},
    }
    print(f"{wl.describe()}: {cycles:,} cycles on the RTL, {sim.report.cycles:,} on the "
          f"simulator ({'identical cycles, counters and DRAM' if mismatch is None else mismatch})")
    print(f"RTL       {rtl_wall:.3f} s  {cycles / rtl_wall / 1e6:.2f} M simulated cycles/s  "
          f"(model build {cold_build_s if cold_build_s is not None else float('nan'):.1f} s)")
    print(f"simulator {sim_wall:.3f} s  {cycles / sim_wall / 1e6:.2f} M simulated cycles/s")
    if args.json:
        print(json.dumps(doc))
    if tmp is not None:
        tmp.cleanup()
    return 0 if mismatch is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
