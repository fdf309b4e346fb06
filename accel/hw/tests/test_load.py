"""cocotb: the LOAD engine (vdla_ldeng with INP and WGT memories) on every padding case.

Checks the memories against the simulator's LOAD (accel.hw.model.reference.load) and the
timing of SPEC.md 6.3/6.4: R = S + PAD, B beats from G on (row by row, ceil(x_size*E/BUS)
beats per row, at the row addresses), X = G + B - 1 + L, or X = S + max(PAD, 1) - 1 without
a transfer.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, Timer

from accel.hw.model import reference as ref
from accel.hw.model.dram import DramModel
from accel.hw.tests._bench import EngineDriver, start_clock_and_reset
from accel.isa.encoding import MemType, Opcode

PAD_CASES = (  # (y_size, x_size, stride delta, (top, bottom, left, right))
    (1, 1, 0, (0, 0, 0, 0)), (2, 3, 0, (1, 0, 0, 0)), (2, 3, 2, (0, 1, 0, 0)),
    (3, 2, 0, (0, 0, 1, 0)), (1, 4, 0, (0, 0, 0, 1)), (2, 2, 1, (2, 3, 1, 2)),
    (1, 1, 0, (15, 0, 0, 15)), (1, 2, 0, (0, 15, 15, 0)), (3, 2, -1, (1, 1, 1, 1)),
    (2, 0, 0, (1, 1, 1, 1)), (0, 3, 0, (1, 2, 0, 0)), (0, 0, 0, (0, 0, 0, 0)),
    (2, 0, 0, (0, 0, 0, 0)), (0, 1, 0, (0, 0, 2, 0)), (4, 1, -1, (0, 0, 0, 0)),
    (2, 5, 0, (0, 0, 3, 0)), (3, 1, -1, (0, 2, 0, 2)), (1, 3, 0, (1, 1, 0, 0)),
)


class Monitor:
    """Reads every element of a memory range back through the test read ports."""

    def __init__(self, dut, cfg) -> None:
        self.dut, self.cfg = dut, cfg

    async def read(self, mem: str, lo: int, hi: int) -> np.ndarray:
        port, data = (self.dut.inp_idx, self.dut.inp_data) if mem == "inp" else (
            self.dut.wgt_idx, self.dut.wgt_data)
        out = []
        await FallingEdge(self.dut.clk)
        for i in range(lo, hi):
            port.value = i
            await Timer(1, "ns")
            out.append(ref.unpack(self.cfg, mem, int(data.value)))
        return np.array(out)


def cases(cfg, rng):
    for mem in ("inp", "wgt"):
        for ys, xs, dstride, pads in PAD_CASES:
            h, w = pads[0] + ys + pads[1], pads[2] + xs + pads[3]
            if h * w + 2 > cfg.depth(mem):
                continue
            base = int(rng.integers(1, cfg.depth(mem) - h * w))
            yield mem, ys, xs, max(xs + dstride, 0), pads, base


@cocotb.test()
async def load_every_padding_case(dut):
    cfg = ref.config_from_env()
    rng = np.random.default_rng(random.getrandbits(32))
    L = cfg.dram_latency
    dram_img = rng.integers(0, 256, 64 * cfg.elem_bytes("wgt"), dtype=np.uint8)
    dram = DramModel(dram_img, L, cfg.dram_bus_bytes)
    await start_clock_and_reset(dut)
    drv, mon = EngineDriver(dut, dram, write_port=False), Monitor(dut, cfg)
    state = {m: np.zeros((cfg.depth(m), *cfg.elem_shape(m)), cfg.lane_dtype(m))
             for m in ("uop", "inp", "wgt", "acc")}
    n = 0
    for mem, ys, xs, stride, pads, base in cases(cfg, rng):
        e = cfg.elem_bytes(mem)
        max_el = len(dram_img) // e
        span = (ys - 1) * stride + xs if ys else 0
        dbase = int(rng.integers(0, max(max_el - span, 1)))
        ins = ref.insn(opcode=Opcode.LOAD, mem_type=MemType[mem.upper()], sram_base=base,
                       dram_base=dbase, y_size=ys, x_size=xs, x_stride=stride,
                       y_pad_0=pads[0], y_pad_1=pads[1], x_pad_0=pads[2], x_pad_1=pads[3])
        delay = int(rng.integers(0, 4))
        ev = await drv.run(ref.insn_word(cfg, ins), grant_delay=delay)
        # Model: the simulator's LOAD; Checker: memories and SPEC.md 6.4 timing
        state = ref.load(cfg, dram_img, ins, state)
        h, w = pads[0] + ys + pads[1], pads[2] + xs + pads[3]
        pad = h * w - ys * xs
        got = await mon.read(mem, base - 1, base + h * w + 1)
        want = state[mem][base - 1:base + h * w + 1]
        bad = [i for i in range(len(got)) if not np.array_equal(got[i], want[i])]
        assert not bad, (f"{mem} case {ys, xs, stride, pads} at {base}: elements {bad} differ:"
                         f" got {got[bad[0]]}, want {want[bad[0]]}")
        assert ev.pads == pad, f"{pad} padding elements expected, {ev.pads} written"
        if ys * xs:
            bpr = -(-xs * e // cfg.dram_bus_bytes)
            assert ev.R == pad, f"R = S + PAD = {pad} expected, got {ev.R}"
            assert ev.G == pad + delay
            assert [b[0] for b in ev.beats] == list(range(ev.G, ev.G + ys * bpr))
            addrs = [(dbase + y * stride) * e + k * cfg.dram_bus_bytes
                     for y in range(ys) for k in range(bpr)]
            assert [b[2] for b in ev.beats] == addrs
            assert ev.X == ev.G + ys * bpr - 1 + L
        else:
            assert ev.R is None and not ev.beats
            assert ev.X == max(pad, 1) - 1
        n += 1
    dut._log.info("LOAD engine: %d cases checked", n)
