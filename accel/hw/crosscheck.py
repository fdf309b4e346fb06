"""Cross-check the RTL against the simulator: same DRAM, cycles, counters and timeline.

``crosscheck(cfg, n_random=..., seed=...)`` runs the fixed programs of
:mod:`accel.hw.programs` (the GEMM workload in both variants and hand-written programs) and
``n_random`` programs of :func:`accel.isa.randprog.random_program` (2 to 120 instructions,
serial and overlapping dependency styles alternately) on both ``accel.sim.simulate`` and the
RTL (one testbench process for all of them). Every program must give the identical final DRAM
image, the identical report (total cycles, every per-module counter, bytes, MACs, FETCH
stalls) and the identical per-instruction cycles F, Q, S, R, G, X, P. A mismatch names the
first diverging instruction (the one whose earliest differing event happens first) with both
values.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from accel.isa.encoding import AluOp, MemType, Opcode
from accel.isa.randprog import random_program
from accel.sim import simulate

from .programs import fixed_programs
from .runner import EVENTS, run_rtl_many

EVENT_NAMES = {"F": "dispatch F", "Q": "dequeue Q", "S": "start S", "R": "bus request R",
               "G": "bus grant G", "X": "last execution cycle X", "P": "push P"}


@dataclass
class Mismatch:
    program: str
    message: str

    def to_dict(self) -> dict:
        return {"program": self.program, "message": self.message}


@dataclass
class CrosscheckResult:
    config: HardwareConfig
    programs: int = 0
    random: int = 0
    fixed: int = 0
    cycles: int = 0
    instructions: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    sim_seconds: float = 0.0
    rtl_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "programs": self.programs,
                "fixed": self.fixed, "random": self.random, "instructions": self.instructions,
                "cycles": self.cycles, "ok": self.ok,
                "mismatches": [m.to_dict() for m in self.mismatches],
                "sim_seconds": self.sim_seconds, "rtl_seconds": self.rtl_seconds}

    def format(self) -> str:
        head = (f"crosscheck {self.config.name}: {self.programs} programs ({self.fixed} fixed, "
                f"{self.random} random), {self.instructions:,} instructions, "
                f"{self.cycles:,} cycles: ")
        if self.ok:
            return head + "RTL and simulator agree on DRAM, cycles, counters and timelines"
        lines = [head + f"{len(self.mismatches)} MISMATCH(ES)"]
        for m in self.mismatches:
            lines.append(f"  {m.program}: {m.message}")
        return "\n".join(lines)


def describe(ins: np.void) -> str:
    op = Opcode(int(ins["opcode"]))
    if op in (Opcode.LOAD, Opcode.STORE):
        return f"{op.name} {MemType(int(ins['mem_type'])).name}"
    if op == Opcode.ALU:
        return f"ALU {AluOp(int(ins['alu_op'])).name}"
    return op.name


def compare(name: str, bundle: Bundle, sim, rtl) -> str | None:
    """None if the two results agree, else a message naming the first difference."""
    if isinstance(sim, Exception) or isinstance(rtl, Exception):
        if type(sim) is type(rtl):
            return None
        return f"simulator: {sim!r}; RTL: {rtl!r}"
    tl_s, tl_r = sim.timeline, rtl.timeline
    first = None  # (time, index, event)
    for e in EVENTS:
        a, b = getattr(tl_s, e), getattr(tl_r, e)
        diff = np.flatnonzero(a != b)
        if len(diff):
            t = np.minimum(np.where(a[diff] < 0, 1 << 62, a[diff]),
                           np.where(b[diff] < 0, 1 << 62, b[diff]))
            j = int(np.argmin(t))
            cand = (int(t[j]), int(diff[j]), e)
            first = cand if first is None or cand < first else first
    if first is not None:
        _, i, e = first
        return (f"first diverging instruction {i} ({describe(bundle.insns[i])}): "
                f"{EVENT_NAMES[e]} = {int(getattr(tl_s, e)[i])} on the simulator, "
                f"{int(getattr(tl_r, e)[i])} on the RTL")
    rs, rr = sim.report.to_dict(), rtl.report.to_dict()
    for k in rs:
        if rs[k] != rr[k]:
            return f"report field {k}: simulator {rs[k]}, RTL {rr[k]}"
    diff = np.flatnonzero(np.asarray(sim.dram) != np.asarray(rtl.dram))
    if len(diff):
        i = int(diff[0])
        where = next((f"region {r.name!r} byte {i - r.offset}" for r in bundle.regions
                      if r.offset <= i < r.offset + r.size), "outside every region")
        return (f"{len(diff)} DRAM bytes differ; first at byte {i} ({where}): simulator "
                f"{int(sim.dram[i])}, RTL {int(rtl.dram[i])}")
    return None


def random_programs(cfg: HardwareConfig, n: int, seed: int) -> list[tuple[str, Bundle]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        child = int(rng.integers(0, 2**63))
        n_insns = int(rng.integers(2, 121))
        overlap = k % 2 == 1
        b = random_program(np.random.default_rng(child), cfg, n_insns=n_insns, overlap=overlap)
        out.append((f"random #{k} (seed {child}, n_insns {n_insns}, "
                    f"overlap {overlap})", b))
    return out


def crosscheck(cfg: HardwareConfig, *, n_random: int = 100, seed: int = 0,
               fixed: bool = True, progress: Callable[[str], None] | None = None
               ) -> CrosscheckResult:
    say = progress or (lambda msg: None)
    progs = fixed_programs(cfg) if fixed else []
    n_fixed = len(progs)
    progs += random_programs(cfg, n_random, seed)
    res = CrosscheckResult(cfg, programs=len(progs), random=n_random, fixed=n_fixed)
    bundles = [b for _, b in progs]

    t0 = time.perf_counter()
    step = max(1, len(progs) // 10)
    sims: list = []
    for k, b in enumerate(bundles):
        try:
            sims.append(simulate(b))
        except Exception as exc:  # compared with the RTL's outcome below
            sims.append(exc)
        if (k + 1) % step == 0 or k + 1 == len(bundles):
            say(f"simulator: {k + 1}/{len(bundles)} programs")
    res.sim_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    done = [0]

    def on_result(_: int) -> None:
        done[0] += 1
        if done[0] % step == 0 or done[0] == len(bundles):
            say(f"RTL: {done[0]}/{len(bundles)} programs")

    rtls = run_rtl_many(bundles, progress=say, on_result=on_result)
    res.rtl_seconds = time.perf_counter() - t0

    for (name, b), s, r in zip(progs, sims, rtls):
        res.instructions += len(b.insns)
        if not isinstance(s, Exception):
            res.cycles += s.report.cycles
        msg = compare(name, b, s, r)
        if msg is not None:
            res.mismatches.append(Mismatch(name, msg))
    return res


def stderr_progress(prefix: str) -> Callable[[str], None]:
    def say(msg: str) -> None:
        print(f"{prefix}{msg}", file=sys.stderr, flush=True)
    return say
