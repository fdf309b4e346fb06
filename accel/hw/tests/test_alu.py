"""cocotb: the ALU (vdla_alu) against the simulator's ALU on one iteration: every operation,
immediate and vector operands, edge values, every shift range, reset."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import Timer

from accel.hw.model.reference import alu_iteration, config_from_env, pack, unpack
from accel.isa.encoding import AluOp


class Driver:
    def __init__(self, dut) -> None:
        self.dut = dut

    async def apply(self, op, a, s, use_imm, imm, reset) -> None:
        d = self.dut
        d.op.value, d.use_imm.value, d.reset.value = int(op), int(use_imm), int(reset)
        d.imm.value = imm & 0xFFFF
        d.a.value, d.s.value = pack(a), pack(s)
        await Timer(1, "ns")


class Monitor:
    def __init__(self, dut, cfg) -> None:
        self.dut, self.cfg = dut, cfg

    def sample(self) -> np.ndarray:
        return unpack(self.cfg, "acc", int(self.dut.y.value))


class Checker:
    def __init__(self, cfg) -> None:
        self.cfg, self.checked = cfg, 0

    def check(self, stim, got) -> None:
        want = alu_iteration(self.cfg, *stim)  # the model: the simulator's ALU
        op, a, s, use_imm, imm, reset = stim
        assert np.array_equal(got, want), (
            f"ALU {AluOp(op).name} use_imm={use_imm} imm={imm} reset={reset}:\n a={a}\n s={s}\n"
            f" got={got}\n want={want}")
        self.checked += 1


def stimuli(cfg, rng: np.random.Generator, per_op: int):
    n = cfg.acc_width
    lo, hi = -(1 << (n - 1)), (1 << (n - 1)) - 1
    shape = cfg.elem_shape("acc")
    edges = np.array([lo, lo + 1, -(1 << (n // 2)), -2, -1, 0, 1, 2, 1 << (n // 2), hi - 1, hi])
    shifts = np.arange(-n - 3, n + 4)

    def lanes(kind):
        if kind == "edge":
            v = rng.choice(edges, shape)
        elif kind == "shift":
            v = rng.choice(shifts, shape)
        else:
            v = rng.integers(lo, hi + 1, shape)
        return v.astype(cfg.lane_dtype("acc"))
    for op in AluOp:
        for k in range(per_op):
            a = lanes(("rand", "edge")[k % 2])
            reset = k == per_op - 1
            if op == AluOp.MULSHR:
                yield op, a, lanes(("rand", "edge")[k % 3 % 2]), False, int(k % (2 * n - 1)), reset
                continue
            if k % 2:
                if op in (AluOp.SHR, AluOp.RSHR):
                    imm = int(shifts[k % len(shifts)])
                else:
                    imm = int(rng.choice([-32768, 32767, -1, 0, 1,
                                          int(rng.integers(-32768, 32768))]))
                yield op, a, lanes("rand"), True, imm, reset
            else:
                kind = "shift" if op in (AluOp.SHR, AluOp.RSHR) and k % 4 == 0 else "edge"
                yield op, a, lanes(kind), False, int(rng.integers(-32768, 32768)), reset


@cocotb.test()
async def alu_matches_simulator(dut):
    cfg = config_from_env()
    rng = np.random.default_rng(random.getrandbits(32))
    drv, mon, chk = Driver(dut), Monitor(dut, cfg), Checker(cfg)
    for stim in stimuli(cfg, rng, 4 * cfg.acc_width + 8):
        await drv.apply(*stim)
        chk.check(stim, mon.sample())
    dut._log.info("ALU: %d iterations checked", chk.checked)
