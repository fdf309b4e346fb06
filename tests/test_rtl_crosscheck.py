"""The RTL agrees with the simulator bit for bit and cycle for cycle (accel/hw/crosscheck.py).

Every program runs on both; DRAM images, reports (cycles and every counter) and the
per-instruction cycles F, Q, S, R, G, X, P must be identical. The Verilator models are built on
first use and cached (accel/hw/toolchain.py).
"""

import numpy as np
import pytest
from rtl_configs import RTL_CONFIGS

from accel.hw.crosscheck import crosscheck
from accel.hw.runner import run_rtl
from accel.isa.workloads import build_gemm
from accel.sim import simulate

#: random programs per configuration in `make test` (the issue asks for >= 200 on three)
FAST = {"default": 200, "small8x8": 200, "batch2": 200, "narrow": 100, "widebus": 100}


@pytest.mark.parametrize("name", list(RTL_CONFIGS))
def test_crosscheck_fixed_and_random(name):
    res = crosscheck(RTL_CONFIGS[name], n_random=FAST[name], seed=1)
    assert res.fixed >= 6 and res.random == FAST[name]
    assert res.ok, res.format()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RTL_CONFIGS))
def test_crosscheck_many_random(name):
    res = crosscheck(RTL_CONFIGS[name], n_random=2000, seed=1000, fixed=False)
    assert res.ok, res.format()


def _same(workload):
    sim = simulate(workload.bundle)
    rtl = run_rtl(workload.bundle)
    assert rtl.report.cycles == sim.report.cycles
    assert rtl.report.to_dict() == sim.report.to_dict()
    for e in "FQSRGXP":
        assert np.array_equal(getattr(rtl.timeline, e), getattr(sim.timeline, e)), e
    workload.check(rtl)  # equals numpy
    assert np.array_equal(rtl.dram, sim.dram)
    return rtl


def test_gemm_benchmark_same_cycles():
    """The GEMM benchmark program (1024^3, overlap, over 4 million cycles): the same cycles,
    counters, timeline and output on both."""
    rtl = _same(build_gemm(RTL_CONFIGS["default"], 1024, 1024, 1024, variant="overlap"))
    assert rtl.report.cycles > 4_000_000


@pytest.mark.slow
def test_gemm_benchmark_serial_same_cycles():
    _same(build_gemm(RTL_CONFIGS["default"], 1024, 1024, 1024, variant="serial"))


@pytest.mark.parametrize("name", ["small8x8", "batch2", "narrow"])
def test_gemm_other_configs(name):
    cfg = RTL_CONFIGS[name]
    _same(build_gemm(cfg, 16 * cfg.batch, 8 * cfg.block_out, 8 * cfg.block_in,
                     variant="overlap"))
