"""Shared cocotb pieces for the DMA-engine testbenches: clock/reset, and a Driver that acts as
the bus arbiter (grants a pending request after a chosen delay) and the DRAM (accel.hw.model
.dram.DramModel), one cycle at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from accel.hw.model.dram import DramModel


async def start_clock_and_reset(dut) -> None:
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.start.value = 0
    dut.gnt.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


@dataclass
class Events:
    """What the monitor saw during one instruction (cycles relative to its start S = 0)."""

    R: int | None = None
    G: int | None = None
    X: int | None = None
    beats: list[tuple[int, bool, int, int]] = field(default_factory=list)
    pads: int = 0


class EngineDriver:
    """Runs one instruction on a DMA engine: start pulse, arbitration, DRAM, monitoring."""

    def __init__(self, dut, dram: DramModel, *, write_port: bool) -> None:
        self.dut, self.dram, self.write_port = dut, dram, write_port
        self.cycle = 0

    async def run(self, word: int, grant_delay: int, limit: int = 100000) -> Events:
        dut, ev = self.dut, Events()
        waited = 0
        for t in range(limit):
            await FallingEdge(dut.clk)
            dut.start.value = int(t == 0)
            dut.insn.value = word
            rsp = self.dram.response()
            if self.write_port:
                dut.wack_valid.value = int(rsp is not None and rsp[0] == "ack")
            else:
                dut.rsp_valid.value = int(rsp is not None and rsp[0] == "read")
                dut.rsp_tag.value = 0
                dut.rsp_data.value = rsp[1] if rsp is not None and rsp[0] == "read" else 0
            dut.gnt.value = 0
            await Timer(1, "ns")
            req = bool(dut.req.value)
            if req and ev.R is None:
                ev.R = t
            gnt = req and waited >= grant_delay
            waited += req
            dut.gnt.value = int(gnt)
            await Timer(1, "ns")
            if gnt:
                ev.G = t
            beat = None
            if bool(dut.beat_valid.value):
                data = int(dut.beat_data.value) if self.write_port else 0
                beat = (self.write_port, int(dut.beat_addr.value), int(dut.beat_nbytes.value),
                        data)
                ev.beats.append((t, *beat[:3]))
            if not self.write_port and bool(dut.pad_we.value):
                ev.pads += 1
            last = bool(dut.last.value)
            self.dram.step(self.cycle, beat)
            self.cycle += 1
            await RisingEdge(dut.clk)
            if last:
                ev.X = t
                # nothing is in flight any more: idle the response inputs
                if self.write_port:
                    dut.wack_valid.value = 0
                else:
                    dut.rsp_valid.value = 0
                return ev
        raise AssertionError(f"the instruction did not finish within {limit} cycles")
