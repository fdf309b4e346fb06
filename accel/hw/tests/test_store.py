"""cocotb: the STORE engine (vdla_steng reading an accumulator memory): strided, single-row
and zero-size stores of values inside, at and beyond the OUT_WIDTH saturation limits, checked
against the simulator's STORE and the timing of SPEC.md 6.3/6.4 (R = S, X = G + B - 1 + L,
X = S without a transfer)."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from accel.hw.model import reference as ref
from accel.hw.model.dram import DramModel
from accel.hw.tests._bench import EngineDriver, start_clock_and_reset
from accel.isa.encoding import MemType, Opcode

SHAPES = ((1, 1, 1), (3, 2, 5), (1, 7, 0), (2, 1, 1), (0, 3, 3), (2, 0, 9), (4, 4, 4),
          (2, 3, 40), (1, 16, 16), (5, 3, 3))


async def fill_acc(dut, cfg, acc: np.ndarray, n: int) -> None:
    """Driver: write the first n accumulator elements through the element write port."""
    for i in range(n):
        await FallingEdge(dut.clk)
        dut.ew_en.value, dut.ew_idx.value, dut.ew_data.value = 1, i, ref.pack(acc[i])
    await FallingEdge(dut.clk)
    dut.ew_en.value = 0
    await RisingEdge(dut.clk)


@cocotb.test()
async def store_shapes_and_saturation(dut):
    cfg = ref.config_from_env()
    rng = np.random.default_rng(random.getrandbits(32))
    L, eo = cfg.dram_latency, cfg.elem_bytes("out")
    n = min(32, cfg.depth("acc"))
    bits, lim = cfg.acc_width, 1 << (cfg.out_width - 1)
    acc = np.zeros((cfg.depth("acc"), *cfg.elem_shape("acc")), cfg.lane_dtype("acc"))
    lanes = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (n, *cfg.elem_shape("acc")))
    edge = rng.choice([-lim - 1, -lim, -lim + 1, -1, 0, 1, lim - 1, lim], lanes.shape)
    acc[:n] = np.where(rng.integers(0, 2, lanes.shape) == 1, lanes, edge).astype(acc.dtype)
    dut.ew_en.value = 0
    dut.wack_valid.value = 0
    await start_clock_and_reset(dut)
    await fill_acc(dut, cfg, acc, n)
    dram_img = np.zeros(256 * eo, np.uint8)
    dram = DramModel(dram_img, L, cfg.dram_bus_bytes)
    drv = EngineDriver(dut, dram, write_port=True)
    checked = 0
    for ys, xs, stride in SHAPES:
        if ys * xs > n:
            continue
        base = int(rng.integers(0, n - ys * xs + 1))
        dbase = int(rng.integers(0, 256 - max(ys - 1, 0) * stride - xs))
        ins = ref.insn(opcode=Opcode.STORE, mem_type=MemType.OUT, sram_base=base,
                       dram_base=dbase, y_size=ys, x_size=xs, x_stride=stride)
        delay = int(rng.integers(0, 4))
        ev = await drv.run(ref.insn_word(cfg, ins), grant_delay=delay)
        want = ref.store(cfg, dram_img, acc, ins)  # the model: the simulator's STORE
        # a write lands when issued; wait for every beat's acknowledgement before comparing
        assert np.array_equal(dram.mem, want), f"store {ys, xs, stride}: DRAM differs"
        dram_img = want
        if ys * xs:
            bpr = -(-xs * eo // cfg.dram_bus_bytes)
            assert ev.R == 0 and ev.G == delay
            assert [b[0] for b in ev.beats] == list(range(delay, delay + ys * bpr))
            assert ev.X == ev.G + ys * bpr - 1 + L
        else:
            assert ev.R is None and not ev.beats and ev.X == 0
        checked += 1
    dut._log.info("STORE engine: %d stores checked", checked)
