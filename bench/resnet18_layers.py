"""Benchmark: every convolution of ResNet-18 (224x224, batch 1) on the accelerator simulator.

    python bench/resnet18_layers.py [--json] [--layers C2,C6] [--seed S] [--config CFG.json]

Layers C1..C12 are the conv2d table of the TVM paper (C1 is the 7x7 stride-2 first layer, run
im2col-style so its 3 input channels fill the GEMM). Each layer is conv2d + RSHR
requantization + ReLU with the library's default schedule, built twice: with two virtual
threads (latency hiding) and serial (one thread; its own default tiling). Every output is
checked against numpy exactly (exit status 1 otherwise).

Columns: MACs of the layer; cycles and GEMM utilization (the simulator's: MACs executed per
peak MAC-cycle); DRAM bytes moved; the roofline bound max(compute = MACs / 256, DRAM = bytes /
8) for the default configuration's 256 MACs and 8 bytes per cycle; the fraction of that bound
reached; the serial cycles and the speedup of latency hiding. The JSON (last line with
``--json``) has one row per layer, the totals, and the checks of issue 5: latency hiding lifts
every layer, compute-bound layers reach >= 90% GEMM utilization, and C2..C12 together take at
most 7,729,601 cycles (VTA's published RTL cycle count for the same convolutions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# One core, like the other benchmarks: keep BLAS single-threaded (before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from accel.isa.config import HardwareConfig  # noqa: E402
from accel.isa.errors import VdlaError  # noqa: E402
from compiler.codegen.vdla.target import target  # noqa: E402
from compiler.ops import vdla  # noqa: E402
from compiler.ops.vdla.resnet import RESNET18_CONV_LAYERS, VTA_C2_C12_CYCLES  # noqa: E402

LAYERS = RESNET18_CONV_LAYERS
SHIFT = 10


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def reference(x: np.ndarray, w: np.ndarray, s: int, p: int, shift: int) -> np.ndarray:
    """conv2d, RSHR (round half up), ReLU, saturation to int8 — plain numpy int64."""
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    o, _, k, _ = w.shape
    oh = (xp.shape[2] - k) // s + 1
    acc = np.zeros((1, o, oh, oh), np.int64)
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, :, dy:dy + s * (oh - 1) + 1:s, dx:dx + s * (oh - 1) + 1:s]
            acc += np.einsum("nchw,oc->nohw", patch, w[:, :, dy, dx].astype(np.int64),
                             optimize=True)
    return np.clip(np.maximum((acc + (1 << (shift - 1))) >> shift, 0), -128, 127)


def run_layer(name: str, cfg: HardwareConfig, seed: int) -> dict[str, Any]:
    hw, c, o, k, s, p = LAYERS[name]
    rng = np.random.default_rng(seed + int(name[1:]))
    x = rng.integers(-128, 128, (1, c, hw, hw)).astype(np.int8)
    w = rng.integers(-128, 128, (o, c, k, k)).astype(np.int8)
    want = reference(x, w, s, p, SHIFT)
    tgt = target(cfg)
    row: dict[str, Any] = {"layer": name, "shape": {"hw": hw, "c": c, "o": o, "k": k,
                                                     "stride": s, "padding": p}}
    for key, vt in (("vt", 2), ("serial", 1)):
        t0 = time.perf_counter()
        op = vdla.conv2d(x.shape, w.shape, s, p, shift=SHIFT, relu=True, vthreads=vt,
                         tgt=tgt)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        got, rep = op(x, w)
        run_s = time.perf_counter() - t0
        if not np.array_equal(got, want):
            bad = int((got != want).sum())
            raise AssertionError(f"{name} ({key}): {bad} of {got.size} outputs differ from "
                                 f"numpy")
        row[key] = {"cycles": rep.cycles, "gemm_utilization": rep.gemm_utilization,
                    "macs_executed": rep.macs,
                    "dram_bytes": rep.dram_bytes_read + rep.dram_bytes_written,
                    "instructions": rep.instructions, "tiling": op.tiling.to_dict(),
                    "im2col": op.attrs["im2col"], "build_seconds": build_s,
                    "sim_seconds": run_s}
        progress(f"{name} {key}: {rep.cycles:,} cycles, {rep.gemm_utilization:.2%} "
                 f"GEMM utilization, {op.tiling} ({build_s:.2f} s build, {run_s:.2f} s sim)")
    oh = (hw + 2 * p - k) // s + 1
    macs = o * c * k * k * oh * oh
    v = row["vt"]
    compute = macs / cfg.macs_per_cycle
    dram = v["dram_bytes"] / cfg.dram_bus_bytes
    row.update(macs=macs, cycles=v["cycles"], gemm_utilization=v["gemm_utilization"],
               dram_bytes=v["dram_bytes"], compute_cycles=compute, dram_cycles=dram,
               roofline_cycles=max(compute, dram), bound="compute" if compute > dram
               else "memory", roofline_fraction=max(compute, dram) / v["cycles"],
               serial_cycles=row["serial"]["cycles"],
               speedup=row["serial"]["cycles"] / v["cycles"])
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'layer':<6}{'MACs':>14}{'cycles':>12}{'GEMM util':>11}{'DRAM bytes':>13}"
            f"{'roofline':>11}{'bound':>9}{'of roof':>9}{'serial':>12}{'speedup':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['layer']:<6}{r['macs']:>14,}{r['cycles']:>12,}"
                     f"{r['gemm_utilization']:>11.2%}{r['dram_bytes']:>13,}"
                     f"{r['roofline_cycles']:>11,.0f}{r['bound']:>9}"
                     f"{r['roofline_fraction']:>9.1%}{r['serial_cycles']:>12,}"
                     f"{r['speedup']:>8.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default=",".join(LAYERS),
                    help="comma-separated layer names (default: C1..C12)")
    ap.add_argument("--config", type=Path, help="hardware configuration JSON (default: built-in)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    ap.add_argument("--json", action="store_true", help="end stdout with one JSON line")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.layers.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        ap.error(f"unknown layer(s) {', '.join(unknown)}; choose from {', '.join(LAYERS)}")
    try:
        cfg = HardwareConfig.load(args.config) if args.config else HardwareConfig()
        rows = [run_layer(n, cfg, args.seed) for n in names]
    except AssertionError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    except VdlaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    body = [r for r in rows if r["layer"] != "C1"]
    totals = {
        "cycles": sum(r["cycles"] for r in rows),
        "serial_cycles": sum(r["serial_cycles"] for r in rows),
        "macs": sum(r["macs"] for r in rows),
        "dram_bytes": sum(r["dram_bytes"] for r in rows),
        "roofline_cycles": sum(r["roofline_cycles"] for r in rows),
        "c2_c12_cycles": sum(r["cycles"] for r in body),
        "c2_c12_serial_cycles": sum(r["serial_cycles"] for r in body),
    }
    totals["speedup"] = totals["serial_cycles"] / totals["cycles"]
    compute_bound = [r for r in rows if r["bound"] == "compute"]
    checks = {
        "latency_hiding_lifts_every_layer": all(r["speedup"] > 1 for r in rows),
        "compute_bound_layers_reach_90pct": all(r["gemm_utilization"] >= 0.9
                                                for r in compute_bound),
        "c2_c12_within_vta_cycles": (totals["c2_c12_cycles"] <= VTA_C2_C12_CYCLES
                                     if len(body) == len(LAYERS) - 1 else None),
    }
    print(f"ResNet-18 convolutions (224x224, batch 1), conv2d + RSHR {SHIFT} + ReLU; "
          f"{cfg.summary}")
    print("every output equals numpy exactly; roofline = max(MACs / "
          f"{cfg.macs_per_cycle}, DRAM bytes / {cfg.dram_bus_bytes})")
    print(format_table(rows))
    print(f"total: {totals['cycles']:,} cycles with latency hiding, "
          f"{totals['serial_cycles']:,} serial ({totals['speedup']:.2f}x)")
    if len(body) == len(LAYERS) - 1:
        print(f"C2..C12: {totals['c2_c12_cycles']:,} cycles (VTA RTL: "
              f"{VTA_C2_C12_CYCLES:,}; {VTA_C2_C12_CYCLES / totals['c2_c12_cycles']:.2f}x "
              f"fewer)")
    print("checks: " + ", ".join(f"{k} = {v}" for k, v in checks.items()))
    if args.json:
        doc = {"benchmark": "resnet18_layers", "shift": SHIFT, "seed": args.seed,
               "config": cfg.to_dict(), "layers": rows, "totals": totals, "checks": checks,
               "vta_c2_c12_cycles": VTA_C2_C12_CYCLES,
               "machine": {"platform": platform.platform(), "python":
                           platform.python_version(), "numpy": np.__version__,
                           "cpu_count": os.cpu_count()}}
        print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
