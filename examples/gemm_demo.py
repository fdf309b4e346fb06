"""Demo: a 1024 x 1024 x 1024 int8 GEMM on the simulated accelerator, checked against numpy.

    python examples/gemm_demo.py [--trace OUT.json] [--variant serial|overlap]
                                 [--m M --n N --k K] [--config CFG.json]

Prints the simulator's cycle report and a one-line summary. ``--trace`` writes a Chrome/Perfetto
trace (open it in https://ui.perfetto.dev) showing LOAD, COMPUTE and STORE overlapping.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Single-threaded BLAS: the simulator's matmuls are small, and BLAS threads spinning against
# other work on the machine make them many times slower (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accel.isa.config import HardwareConfig  # noqa: E402
from accel.isa.errors import VdlaError  # noqa: E402
from accel.isa.workloads import GemmResultError, build_gemm  # noqa: E402
from accel.sim import simulate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, help="write a Perfetto/Chrome trace JSON here")
    ap.add_argument("--variant", choices=("serial", "overlap"), default="overlap")
    ap.add_argument("--m", type=int, default=1024)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--config", type=Path, help="hardware configuration JSON")
    args = ap.parse_args(argv)
    try:
        cfg = HardwareConfig.load(args.config) if args.config else HardwareConfig()
        wl = build_gemm(cfg, args.m, args.n, args.k, variant=args.variant)
        print(f"{wl.describe()}: {len(wl.bundle.insns):,} instructions", flush=True)
        t0 = time.perf_counter()
        result = simulate(wl.bundle, trace=args.trace)
        wall = time.perf_counter() - t0
        wl.check(result)
    except GemmResultError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except VdlaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rep = result.report
    print(rep.format())
    print()
    print(f"OK: {args.m}x{args.n}x{args.k} {args.variant} GEMM equals numpy exactly; "
          f"{rep.cycles:,} cycles, {100 * rep.gemm_utilization:.1f}% GEMM utilization, "
          f"simulated in {wall:.2f} s ({rep.cycles / wall:,.0f} cycles/s)")
    if args.trace:
        print(f"trace written to {args.trace} (open in https://ui.perfetto.dev)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
