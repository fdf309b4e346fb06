"""``simulate(bundle)``: validate, time and execute a program bundle (SPEC.md sections 5-7)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.validate import validate

from .functional import FunctionalEngine, MachineState
from .report import Report, build_report, write_trace
from .timing import Timeline, compute_timeline


@dataclass
class SimResult:
    bundle: Bundle
    dram: np.ndarray
    report: Report
    timeline: Timeline
    wall_seconds: float

    def read(self, name: str) -> np.ndarray:
        """Region ``name`` of the final DRAM image, as its dtype and shape."""
        return self.bundle.read(name, self.dram)

    @property
    def cycles_per_second(self) -> float:
        return self.report.cycles / self.wall_seconds if self.wall_seconds else float("inf")


def simulate(bundle: Bundle, *, trace: str | Path | None = None) -> SimResult:
    """Run ``bundle`` on the cycle-accurate simulator.

    Raises IllegalInstructionError for an illegal program (SPEC.md section 7) and DeadlockError
    when the modules block each other forever.
    """
    t0 = time.perf_counter()
    cfg, insns = bundle.config, bundle.insns
    validate(bundle)
    tl = compute_timeline(cfg, insns)
    state = MachineState(cfg, bundle.dram)
    engine = FunctionalEngine(cfg, state)
    # Apply effects in start-cycle order (ties by module): a valid linearization of every
    # token-ordered pair, which is all a race-free program's results depend on.
    order = np.lexsort((np.arange(len(insns)), tl.module, tl.S))
    names = insns.dtype.names
    rows = insns.tolist()  # plain ints: field access on numpy records is slow
    for i in order.tolist():
        engine.execute(i, dict(zip(names, rows[i])))
    report = build_report(cfg, insns, tl, state.macs)
    wall = time.perf_counter() - t0
    if trace is not None:
        write_trace(trace, cfg, insns, tl)
    return SimResult(bundle, state.dram, report, tl, wall)
