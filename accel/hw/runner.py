"""Run whole programs on the RTL: ``run_rtl(bundle)`` and ``run_rtl_many(bundles)``.

The RTL runs in the Verilator testbench binary of :mod:`accel.hw.toolchain` (built once per
configuration, then cached), which loads the encoded instruction stream and the DRAM image from
files, runs to completion with no Python per clock cycle, and writes back the final DRAM image,
the counters of SPEC.md 6.6 and the cycles F, Q, S, R, G, X, P of every instruction.
``run_rtl_many`` runs many programs in one process of that binary.

The result has the interface of the simulator's ``SimResult``: ``.dram``, ``.read(name)``,
``.report`` (an ``accel.sim.report.Report`` filled from the RTL's own counters, so its text and
JSON forms are the simulator's), ``.timeline`` and ``.wall_seconds``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from accel.isa.encoding import Opcode, encode_insns
from accel.isa.errors import DeadlockError, VdlaError
from accel.isa.validate import MODULE_NAMES, TOKEN_QUEUES, module_of, token_masks, validate
from accel.sim.report import COUNTERS, Report, write_trace
from accel.sim.timing import Timeline, instruction_costs

from .toolchain import build_model

#: index of each value in the testbench's counter dump (vdla_core's `sel` read port)
MODULE_COUNTERS = (*COUNTERS, "instructions")
MACHINE_COUNTERS = ("fetch_stall_full", "dram_bytes_read", "dram_bytes_written", "bus_busy",
                    "macs")
STATUS = ("phase_load", "phase_compute", "phase_store", "tag_load", "tag_compute", "tag_store",
          "tokens_l2c", "tokens_c2l", "tokens_c2s", "tokens_s2c", "pc", "queue_valid",
          "fetch_target", "fetch_pending")
EVENTS = ("F", "Q", "S", "R", "G", "X", "P")


class RtlError(VdlaError):
    """The RTL run failed for a reason other than a deadlock (watchdog, bad DRAM access)."""


@dataclass
class RtlResult:
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


def run_rtl(bundle: Bundle, *, vcd: str | Path | None = None, trace: str | Path | None = None,
            max_cycles: int = 0) -> RtlResult:
    """Run ``bundle`` on the RTL. Raises IllegalInstructionError for a program that breaks a
    static rule of SPEC.md section 7 (nothing runs), DeadlockError when the modules block each
    other forever, RtlError if the watchdog (``max_cycles``, 0 = none) fires.
    ``vcd`` writes a waveform (a separately built, traced model); ``trace`` a Chrome trace as
    ``vdla sim --trace`` does."""
    res = run_rtl_many([bundle], vcd=vcd, max_cycles=max_cycles)[0]
    if isinstance(res, Exception):
        raise res
    if trace is not None:
        write_trace(trace, bundle.config, bundle.insns, res.timeline)
    return res


def run_rtl_many(bundles: Sequence[Bundle], *, vcd: str | Path | None = None,
                 max_cycles: int = 0, progress: Callable[[str], None] | None = None,
                 on_result: Callable[[int], None] | None = None
                 ) -> list[RtlResult | Exception]:
    """Run every bundle; one testbench process per configuration. Each entry of the result is
    an RtlResult or the exception that program raised (illegal, deadlock, watchdog)."""
    out: list[RtlResult | Exception | None] = [None] * len(bundles)
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(bundles):
        try:
            validate(b)
        except VdlaError as exc:
            out[i] = exc
            continue
        groups.setdefault(_structural(b.config), []).append(i)
    for idx in groups.values():
        binary = build_model(bundles[idx[0]].config, trace=vcd is not None, progress=progress)
        with tempfile.TemporaryDirectory(prefix="vdla-rtl-") as d:
            d = Path(d)
            lines = []
            for i in idx:
                b = bundles[i]
                (d / f"{i}.insns").write_bytes(encode_insns(b.config, b.insns))
                (d / f"{i}.dram").write_bytes(np.ascontiguousarray(b.dram, np.uint8).tobytes())
                fields = [str(d / f"{i}.insns"), str(d / f"{i}.dram"), str(d / f"out{i}"),
                          str(b.config.dram_latency), str(int(max_cycles))]
                if vcd is not None:
                    fields.append(str(Path(vcd).resolve()))
                lines.append(" ".join(fields))
            (d / "jobs").write_text("\n".join(lines) + "\n")
            t0 = time.perf_counter()
            last = t0
            proc = subprocess.Popen([str(binary), "--batch", str(d / "jobs")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            walls = {}
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("done "):
                    i = int(Path(line.split()[1]).name[3:])
                    now = time.perf_counter()
                    walls[i] = now - last
                    last = now
                    if on_result:
                        on_result(i)
            err = proc.stderr.read() if proc.stderr else ""
            if proc.wait() != 0:
                raise RtlError(f"the RTL testbench {binary} failed (exit {proc.returncode}): "
                               f"{err.strip()}")
            for i in idx:
                out[i] = _parse(bundles[i], d / f"out{i}", walls.get(i, 0.0))
    return out  # type: ignore[return-value]


def _structural(cfg: HardwareConfig) -> tuple:
    d = cfg.to_dict()
    return tuple(sorted((k, v) for k, v in d.items() if k not in ("DRAM_LATENCY", "CLOCK_MHZ",
                                                                  "NAME")))


def _parse(bundle: Bundle, prefix: Path, wall: float) -> RtlResult | Exception:
    cfg, insns = bundle.config, bundle.insns
    doc = json.loads(prefix.with_suffix(".json").read_text())
    vals = doc["counters"]
    n_mod = len(MODULE_COUNTERS)
    machine = dict(zip(MACHINE_COUNTERS, vals[3 * n_mod:3 * n_mod + len(MACHINE_COUNTERS)]))
    status = dict(zip(STATUS, vals[3 * n_mod + len(MACHINE_COUNTERS):]))
    cycles = int(doc["cycles"])
    if doc["status"] == "deadlock":
        return _deadlock(bundle, status, cycles)
    if doc["status"] != "ok":
        return RtlError(f"RTL run stopped at cycle {cycles}: {doc['status']} {doc['detail']}")
    modules = {}
    for m, name in enumerate(MODULE_NAMES):
        modules[name] = {c: int(vals[m * n_mod + k]) for k, c in enumerate(MODULE_COUNTERS)}
    op = insns["opcode"]
    report = Report(cfg, cycles, len(insns), int(machine["macs"]),
                    int(machine["dram_bytes_read"]), int(machine["dram_bytes_written"]),
                    int(machine["bus_busy"]), int(machine["fetch_stall_full"]), modules,
                    {o.name: int((op == o).sum()) for o in Opcode})
    t = np.fromfile(prefix.with_suffix(".timeline"), dtype=np.int64).reshape(-1, len(EVENTS))
    has_transfer, _, beats, nbytes, _ = instruction_costs(cfg, insns)
    timeline = Timeline(module=module_of(insns), beats=np.where(has_transfer, beats, 0),
                        nbytes=nbytes, total_cycles=cycles,
                        **{e: t[:, k].copy() for k, e in enumerate(EVENTS)})
    dram = np.fromfile(prefix.with_suffix(".dram"), dtype=np.uint8)
    return RtlResult(bundle, dram, report, timeline, wall)


def _deadlock(bundle: Bundle, st: dict, cycle: int) -> DeadlockError:
    insns = bundle.insns
    module = module_of(insns)
    pops, pushes = token_masks(insns, module)
    tokens = [st[f"tokens_{q}"] for q in TOKEN_QUEUES]
    blocked: dict[str, str] = {}
    for name in MODULE_NAMES:
        phase, i = st[f"phase_{name}"], st[f"tag_{name}"]
        if i >= len(insns):
            continue
        opname = Opcode(int(insns["opcode"][i])).name
        if phase == 1:
            qs = [TOKEN_QUEUES[q] for q in np.flatnonzero(pops[i]) if tokens[q] == 0]
            blocked[name] = f"instruction {i} ({opname}) waits to pop " + ", ".join(qs)
        elif phase == 3:
            qs = [f"{TOKEN_QUEUES[q]} (full: {tokens[q]} tokens)" for q in np.flatnonzero(pushes[i])
                  if tokens[q] >= bundle.config.token_queue_depth]
            blocked[name] = f"instruction {i} ({opname}) waits to push into " + ", ".join(qs)
    if st["fetch_pending"]:
        blocked["fetch"] = (f"instruction {st['pc']} waits for a free slot in the "
                            f"{MODULE_NAMES[st['fetch_target']]} command queue "
                            f"(depth {bundle.config.cmd_queue_depth})")
    return DeadlockError("no module can make progress (RTL)", blocked, cycle)
