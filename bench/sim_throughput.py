"""Benchmark: simulator speed on a stream of many small instructions.

    python bench/sim_throughput.py [--json] [--groups N] [--repeat R]

Compiled networks issue many short instructions (a tile load, a short GEMM, an ALU op, a
store), so per-instruction overhead matters as much as the per-tile numpy work that dominates
bench/gemm.py. This builds N groups of {LOAD INP, GEMM (64 iterations), ALU ADD (64), STORE},
synchronized with tokens, checks the result against numpy, and reports instructions and
simulated cycles per wall second (median of R runs). With ``--json`` the last line of stdout is
one JSON object.
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

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as for bench/gemm.py

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from accel.isa.config import HardwareConfig  # noqa: E402
from accel.isa.program import ProgramBuilder  # noqa: E402
from accel.sim import simulate  # noqa: E402


def build(groups: int, seed: int = 0):
    cfg = HardwareConfig()
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (groups, 64, 16), dtype=np.int8)  # 64 input rows per group
    w = rng.integers(-128, 128, (16, 16), dtype=np.int8)
    p = ProgramBuilder(cfg)
    xr = p.alloc("x", x)
    wr = p.alloc("w", w)
    out = p.alloc("out", shape=(groups, 64, 16), dtype="int8")
    # two kernels, one per input half: micro-ops 0..15 read rows 0.., 16..31 read rows 64..
    k = p.uops("k", dst=list(range(16)) * 2, src=list(range(16)) + list(range(64, 80)), wgt=0)
    p.load("uop", 0, k.elem_index(4), 1, 32)
    p.load("wgt", 0, wr.elem_index(256), 1, 1)
    for g in range(groups):
        half = (g % 2) * 64
        p.load("inp", half, xr.elem_index(16) + 64 * g, 1, 64, push_next=True,
               pop_next=g >= 2)
        p.gemm(0, 16, 1, 4, dst=(0, 16), src=(0, 16), reset=True, pop_next=g >= 1)
        u = 16 * (g % 2)
        p.gemm(u, u + 16, 1, 4, dst=(0, 16), src=(0, 16), pop_prev=True,
               push_prev=g + 2 < groups)
        p.alu("shr", 0, 16, 1, 4, dst=(0, 16), imm=7, push_next=True)
        p.store(0, out.elem_index(16) + 64 * g, 1, 64, pop_prev=True, push_prev=g + 1 < groups)
    p.finish()
    expect = ((x.astype(np.int64) @ w.T.astype(np.int64)) >> 7).astype(np.int8)
    return p.bundle(), expect


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    bundle, expect = build(args.groups)
    walls = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = simulate(bundle)
        walls.append(time.perf_counter() - t0)
    if not np.array_equal(res.read("out"), expect):
        print("FAILED: simulator output differs from numpy", file=sys.stderr)
        return 1
    wall = statistics.median(walls)
    n = len(bundle.insns)
    doc = {"benchmark": "sim_throughput", "groups": args.groups, "instructions": n,
           "cycles": res.report.cycles, "wall_seconds": wall, "wall_seconds_runs": walls,
           "instructions_per_second": n / wall, "sim_cycles_per_second": res.report.cycles / wall,
           "correct": True, "machine": {"platform": platform.platform(),
                                        "python": platform.python_version(),
                                        "numpy": np.__version__, "cpu_count": os.cpu_count()}}
    print(f"{n:,} instructions, {res.report.cycles:,} cycles; median {wall:.3f} s over "
          f"{args.repeat} runs: {n / wall:,.0f} instructions/s, "
          f"{res.report.cycles / wall:,.0f} simulated cycles/s (output equals numpy)")
    if args.json:
        print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
