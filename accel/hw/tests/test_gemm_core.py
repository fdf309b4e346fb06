"""cocotb: the GEMM core (vdla_gemm_core) against the simulator's GEMM on one iteration."""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import Timer

from accel.hw.model.reference import config_from_env, gemm_iteration, pack, unpack


class Driver:
    def __init__(self, dut) -> None:
        self.dut = dut

    async def apply(self, acc, inp, wgt, reset: bool) -> None:
        self.dut.acc.value = pack(acc)
        self.dut.inp.value = pack(inp)
        self.dut.wgt.value = pack(wgt)
        self.dut.reset.value = int(reset)
        await Timer(1, "ns")


class Monitor:
    def __init__(self, dut, cfg) -> None:
        self.dut, self.cfg = dut, cfg

    def sample(self) -> np.ndarray:
        return unpack(self.cfg, "acc", int(self.dut.acc_out.value))


class Checker:
    def __init__(self, cfg) -> None:
        self.cfg, self.checked = cfg, 0

    def check(self, stim, got: np.ndarray) -> None:
        want = gemm_iteration(self.cfg, *stim)  # the model: the simulator's GEMM
        assert np.array_equal(got, want), f"GEMM core: got {got}, want {want} for {stim}"
        self.checked += 1


def stimuli(cfg, rng: np.random.Generator, n: int):
    def lanes(mem, mode):
        bits = cfg.elem_bits(mem)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        shape = cfg.elem_shape(mem)
        if mode == "min":
            return np.full(shape, lo, cfg.lane_dtype(mem))
        if mode == "max":
            return np.full(shape, hi, cfg.lane_dtype(mem))
        return rng.integers(lo, hi + 1, shape).astype(cfg.lane_dtype(mem))
    modes = ["min", "max", "rand"]
    for k in range(n):
        m = [modes[(k // 3**j) % 3] for j in range(3)] if k < 27 else ["rand"] * 3
        yield lanes("acc", m[0]), lanes("inp", m[1]), lanes("wgt", m[2]), k % 11 == 10


@cocotb.test()
async def gemm_core_matches_simulator(dut):
    cfg = config_from_env()
    rng = np.random.default_rng(random.getrandbits(32))
    drv, mon, chk = Driver(dut), Monitor(dut, cfg), Checker(cfg)
    for stim in stimuli(cfg, rng, 150):
        await drv.apply(*stim)
        chk.check(stim, mon.sample())
    dut._log.info("GEMM core: %d iterations checked", chk.checked)
