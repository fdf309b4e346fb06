"""Cycle reports (SPEC.md section 6.6) and Chrome/Perfetto trace export."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accel.isa.config import HardwareConfig, atomic_write
from accel.isa.encoding import AluOp, MemType, Opcode
from accel.isa.validate import MODULE_NAMES

from .timing import Timeline

COUNTERS = ("busy", "wait_dram", "wait_token", "wait_push", "wait_cmd", "idle")


@dataclass
class Report:
    config: HardwareConfig
    cycles: int
    instructions: int
    macs: int
    dram_bytes_read: int
    dram_bytes_written: int
    bus_busy: int
    fetch_stall_full: int
    modules: dict[str, dict[str, int]] = field(default_factory=dict)
    opcode_counts: dict[str, int] = field(default_factory=dict)

    @property
    def gemm_utilization(self) -> float:
        peak = self.cycles * self.config.macs_per_cycle
        return self.macs / peak if peak else 0.0

    @property
    def bus_utilization(self) -> float:
        return self.bus_busy / self.cycles if self.cycles else 0.0

    @property
    def seconds(self) -> float:
        """Run time of the program on hardware clocked at CLOCK_MHZ."""
        return self.cycles / (self.config.clock_mhz * 1e6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "instructions": self.instructions,
            "macs": self.macs,
            "gemm_utilization": self.gemm_utilization,
            "dram_bytes_read": self.dram_bytes_read,
            "dram_bytes_written": self.dram_bytes_written,
            "bus_busy_cycles": self.bus_busy,
            "bus_utilization": self.bus_utilization,
            "fetch_stall_full": self.fetch_stall_full,
            "modules": self.modules,
            "opcodes": self.opcode_counts,
            "clock_mhz": self.config.clock_mhz,
            "hw_seconds": self.seconds,
            "config": self.config.to_dict(),
        }

    def format(self) -> str:
        cfg = self.config
        lines = [
            f"config        {cfg.summary}",
            f"cycles        {self.cycles:,}  ({self.seconds * 1e3:.3f} ms at {cfg.clock_mhz} MHz)",
            f"instructions  {self.instructions:,}  ("
            + ", ".join(f"{k} {v:,}" for k, v in self.opcode_counts.items() if v) + ")",
            f"MACs          {self.macs:,}",
            f"GEMM util.    {100 * self.gemm_utilization:.2f}%  "
            f"(peak {cfg.macs_per_cycle} MACs/cycle)",
            f"DRAM          read {self.dram_bytes_read:,} B, "
            f"written {self.dram_bytes_written:,} B; "
            f"bus busy {self.bus_busy:,} cycles ({100 * self.bus_utilization:.1f}%)",
            f"fetch         stalled {self.fetch_stall_full:,} cycles on a full command queue",
            "",
            f"{'module':<9}" + "".join(f"{c:>12}" for c in COUNTERS),
        ]
        for m, counters in self.modules.items():
            lines.append(f"{m:<9}" + "".join(f"{counters[c]:>12,}" for c in COUNTERS))
        return "\n".join(lines)


def build_report(cfg: HardwareConfig, insns: np.ndarray, tl: Timeline, macs: int) -> Report:
    T = tl.total_cycles
    op = insns["opcode"]
    xfer = tl.G >= 0
    wait_dram = np.where(xfer, tl.G - tl.R, 0)
    modules: dict[str, dict[str, int]] = {}
    for m, name in enumerate(MODULE_NAMES):
        sel = tl.module == m
        if not sel.any():
            modules[name] = {c: 0 for c in COUNTERS} | {"idle": T, "instructions": 0}
            continue
        idx = np.flatnonzero(sel)
        prev_n = np.r_[0, tl.P[idx[:-1]] + 1]
        c = {
            "busy": int((tl.X[idx] - tl.S[idx] + 1 - wait_dram[idx]).sum()),
            "wait_dram": int(wait_dram[idx].sum()),
            "wait_token": int((tl.S[idx] - tl.Q[idx]).sum()),
            "wait_push": int((tl.P[idx] - tl.X[idx]).sum()),
            "wait_cmd": int((tl.Q[idx] - prev_n).sum()),
        }
        c["idle"] = T - sum(c.values())
        c["instructions"] = len(idx)
        modules[name] = c
    is_load, is_store = op == Opcode.LOAD, op == Opcode.STORE
    counts = {o.name: int((op == o).sum()) for o in Opcode}
    fetch_stall = int((np.diff(np.r_[-1, tl.F]) - 1).sum()) if len(tl.F) else 0
    return Report(cfg, T, len(insns), macs, int(tl.nbytes[is_load].sum()),
                  int(tl.nbytes[is_store].sum()), int(tl.beats.sum()), fetch_stall, modules,
                  counts)


def _describe(ins: np.void) -> tuple[str, dict[str, Any]]:
    op = Opcode(int(ins["opcode"]))
    if op in (Opcode.LOAD, Opcode.STORE):
        mem = MemType(int(ins["mem_type"])).name
        name = f"{op.name} {mem}"
        args = {k: int(ins[k]) for k in ("sram_base", "dram_base", "y_size", "x_size", "x_stride",
                                         "y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
    elif op == Opcode.ALU:
        name = f"ALU {AluOp(int(ins['alu_op'])).name}"
        args = {k: int(ins[k]) for k in ("uop_bgn", "uop_end", "iter_out", "iter_in", "use_imm",
                                         "imm", "reset")}
    elif op == Opcode.GEMM:
        name = "GEMM reset" if ins["reset"] else "GEMM"
        args = {k: int(ins[k]) for k in ("uop_bgn", "uop_end", "iter_out", "iter_in")}
    else:
        name, args = "FINISH", {}
    flags = [f for f in ("pop_prev", "pop_next", "push_prev", "push_next") if ins[f]]
    if flags:
        args["deps"] = " ".join(flags)
    return name, args


def write_trace(path: str | Path, cfg: HardwareConfig, insns: np.ndarray, tl: Timeline) -> None:
    """Chrome trace-event JSON (open in ui.perfetto.dev): one track per module, 1 us = 1 cycle."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "vdla accelerator"}},
    ]
    tracks = {"fetch": 0, "load": 1, "compute": 2, "store": 3, "dram bus": 4}
    for name, tid in tracks.items():
        events.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_name",
                       "args": {"name": name}})
        events.append({"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index",
                       "args": {"sort_index": tid}})
    for i, ins in enumerate(insns):
        tid = int(tl.module[i]) + 1
        name, args = _describe(ins)
        args["index"] = i
        s, x = int(tl.S[i]), int(tl.X[i])
        if tl.S[i] > tl.Q[i]:
            events.append({"ph": "X", "pid": 1, "tid": tid, "name": "wait token",
                           "ts": int(tl.Q[i]), "dur": int(tl.S[i] - tl.Q[i]),
                           "args": {"index": i}})
        events.append({"ph": "X", "pid": 1, "tid": tid, "name": name, "ts": s,
                       "dur": x - s + 1, "args": args})
        if tl.P[i] > tl.X[i]:
            events.append({"ph": "X", "pid": 1, "tid": tid, "name": "wait push",
                           "ts": x + 1, "dur": int(tl.P[i] - tl.X[i]), "args": {"index": i}})
        if tl.G[i] >= 0:
            events.append({"ph": "X", "pid": 1, "tid": 4, "name": name, "ts": int(tl.G[i]),
                           "dur": int(tl.beats[i]), "args": {"index": i,
                                                            "bytes": int(tl.nbytes[i])}})
    doc = {"traceEvents": events, "displayTimeUnit": "ns",
           "otherData": {"time_unit": "1 us in this trace = 1 accelerator cycle",
                         "config": cfg.to_dict(), "cycles": tl.total_cycles}}
    atomic_write(Path(path), json.dumps(doc).encode())
