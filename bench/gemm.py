"""Benchmark: the blocked int8 GEMM, serial vs. overlapped, on the cycle-accurate simulator.

    python bench/gemm.py [--json] [--m M --n N --k K] [--config CFG.json] [--repeat R]

Builds both program variants, simulates each R times (quoting the median wall time), checks
every result against numpy exactly (exit status 1 if any output differs) and prints a table
per variant. With ``--json`` the last line of stdout is one JSON object with every number,
plus the machine it ran on. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# The simulator's speed is quoted for one core: keep BLAS single-threaded (set before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from accel.isa.config import HardwareConfig  # noqa: E402
from accel.isa.errors import VdlaError  # noqa: E402
from accel.isa.workloads import GemmResultError, build_gemm  # noqa: E402
from accel.sim import simulate  # noqa: E402

VARIANTS = ("serial", "overlap")


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine_info() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "cpu_count": os.cpu_count(),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}


def run_variant(cfg: HardwareConfig, m: int, n: int, k: int, variant: str, repeat: int,
                seed: int) -> dict[str, Any]:
    progress(f"[{variant}] building {m}x{n}x{k} ...")
    t0 = time.perf_counter()
    wl = build_gemm(cfg, m, n, k, variant=variant, seed=seed)
    build_s = time.perf_counter() - t0
    progress(f"[{variant}] {wl.describe()}: {len(wl.bundle.insns):,} instructions, "
             f"built in {build_s:.2f} s")
    walls, report = [], None
    for i in range(repeat):
        t0 = time.perf_counter()
        result = simulate(wl.bundle)
        walls.append(time.perf_counter() - t0)
        wl.check(result)  # raises GemmResultError on any difference
        if report is not None and result.report.cycles != report.cycles:
            raise GemmResultError(f"{wl.describe()}: run {i + 1} took {result.report.cycles} "
                                  f"cycles, run 1 took {report.cycles} (timing must be "
                                  "deterministic)")
        report = result.report
        progress(f"[{variant}] run {i + 1}/{repeat}: {walls[-1]:.3f} s, "
                 f"{report.cycles:,} cycles, output matches numpy")
    assert report is not None
    wall = statistics.median(walls)
    return {
        "tile": wl.tiling.to_dict(cfg),
        "shift": wl.shift,
        "cycles": report.cycles,
        "predicted_cycles": wl.predicted_cycles(),
        "gemm_utilization": report.gemm_utilization,
        "macs": report.macs,
        "dram_bytes_read": report.dram_bytes_read,
        "dram_bytes_written": report.dram_bytes_written,
        "instructions": report.instructions,
        "build_seconds": build_s,
        "wall_seconds": wall,
        "wall_seconds_runs": walls,
        "sim_cycles_per_second": report.cycles / wall,
        "instructions_per_second": report.instructions / wall,
        "correct": True,
    }


ROWS = (
    ("simulated cycles", "cycles", "{:,}"),
    ("hand-model cycles", "predicted_cycles", "{:,}"),
    ("GEMM utilization", "gemm_utilization", "{:.2%}"),
    ("DRAM bytes read", "dram_bytes_read", "{:,}"),
    ("DRAM bytes written", "dram_bytes_written", "{:,}"),
    ("instructions", "instructions", "{:,}"),
    ("wall seconds (median)", "wall_seconds", "{:.3f}"),
    ("sim cycles / wall s", "sim_cycles_per_second", "{:,.0f}"),
    ("instructions / wall s", "instructions_per_second", "{:,.0f}"),
)


def format_table(res: dict[str, dict[str, Any]]) -> str:
    width = 16
    lines = [f"{'':<24}" + "".join(f"{v:>{width}}" for v in res)]
    for label, key, fmt in ROWS:
        lines.append(f"{label:<24}" + "".join(f"{fmt.format(r[key]):>{width}}"
                                              for r in res.values()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=1024, help="rows of A and C (default 1024)")
    ap.add_argument("--n", type=int, default=1024, help="rows of W, columns of C (default 1024)")
    ap.add_argument("--k", type=int, default=1024, help="reduction length (default 1024)")
    ap.add_argument("--config", type=Path, help="hardware configuration JSON (default: built-in)")
    ap.add_argument("--repeat", type=int, default=3, help="simulations per variant (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    ap.add_argument("--json", action="store_true", help="end stdout with one JSON line")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    try:
        cfg = HardwareConfig.load(args.config) if args.config else HardwareConfig()
        res = {v: run_variant(cfg, args.m, args.n, args.k, v, args.repeat, args.seed)
               for v in VARIANTS}
    except GemmResultError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except VdlaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    speedup = res["serial"]["cycles"] / res["overlap"]["cycles"]
    print(f"GEMM {args.m}x{args.n}x{args.k}, {cfg.summary}")
    print(f"tile {res['overlap']['tile']}, shift {res['overlap']['shift']}, "
          f"{args.repeat} run(s) per variant; every output equals numpy exactly")
    print(format_table(res))
    print(f"overlap speedup over serial: {speedup:.3f}x (simulated cycles)")
    if args.json:
        doc = {"benchmark": "gemm", "m": args.m, "n": args.n, "k": args.k,
               "repeat": args.repeat, "seed": args.seed, "config": cfg.to_dict(),
               "variants": res, "speedup_overlap_vs_serial": speedup,
               "machine": machine_info()}
        print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
