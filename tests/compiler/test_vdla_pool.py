"""Max pooling on the accelerator (compiler/ops/vdla/pool.py): the separable plan, bit-exact
results over kernels, strides, paddings, tilings and configurations, the in-place start of the
horizontal pass, the cycle count of ResNet-18's pooling layer, and the RTL agreeing with the
simulator on pooling programs."""

import numpy as np
import pytest
from test_vdla_reference import max_pool_ref

from accel.hw.crosscheck import compare
from accel.hw.runner import run_rtl
from accel.isa.config import HardwareConfig
from accel.sim import simulate
from compiler.codegen.vdla.target import target
from compiler.ops import vdla
from compiler.ops.vdla.pool import PoolTiling, plan_axis

CONFIGS = {
    "block8": HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                             log_wgt_buff_size=16, log_acc_buff_size=16, name="block8"),
    "batch2": HardwareConfig(log_batch=1, log_block_out=3, log_wgt_buff_size=17,
                             name="batch2"),
    "inp16": HardwareConfig(log_inp_width=4, name="inp16"),
    "acc16_tq1": HardwareConfig(log_batch=1, log_block_in=2, log_block_out=2, log_wgt_width=4,
                                log_acc_width=4, log_inp_buff_size=10, log_acc_buff_size=10,
                                token_queue_depth=1, dram_bus_bytes=4, dram_latency=3,
                                name="acc16_tq1"),
}


def i8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


def check(shape, k, s, p, seed=0, **kw):
    x = i8(np.random.default_rng(seed), shape)
    op = vdla.max_pool2d(shape, k, s, p, **kw)
    got, rep = op(x)
    kk = (k, k) if isinstance(k, int) else k
    ss = (s, s) if isinstance(s, int) else s
    pp = (p,) * 4 if isinstance(p, int) else p
    np.testing.assert_array_equal(got, max_pool_ref(x, kk, ss, pp))
    return op, rep


def test_plan_resnet_window():
    """3x3 / 2 / 1: the middle tap is always inside; the others read the odd positions."""
    p = plan_axis(3, 2, 1, 112, 56)
    assert (p.centre, p.g, p.off, p.first, p.m, p.n_lat, p.skip) == (1, 2, 1, -1, 2, 56, None)


def test_plan_stride_one_skips_the_centre():
    p = plan_axis(3, 1, 1, 9, 9)
    assert (p.centre, p.g, p.m, p.skip) == (1, 1, 3, 1)


def test_plan_without_a_tap_always_inside():
    """2x2 / 1 / pad 1 on both sides: the first output's window starts before the input and
    the last one's ends after it, so no tap is inside for every output."""
    p = plan_axis(2, 1, 1, 5, 6)
    assert p.centre is None and p.m == 2


@pytest.mark.parametrize("case", [
    ((1, 32, 16, 16), 3, 2, 1),                   # ResNet's window, small
    ((2, 16, 15, 13), 3, 2, 1),                   # odd sizes, batch 2
    ((1, 48, 12, 12), 2, 2, 0),                   # 2x2 / 2, no padding
    ((1, 16, 11, 9), 2, 2, 0),                    # odd sizes: the last row/column unused
    ((1, 16, 5, 6), 2, 1, (1, 1, 1, 1)),          # no tap inside for every output
    ((1, 16, 7, 7), 3, 1, 1),                     # stride 1: the centre is on the lattice
    ((1, 16, 9, 10), 3, 3, 0),                    # stride = kernel
    ((1, 16, 10, 9), 2, 3, 1),                    # stride > kernel: inputs skipped
    ((1, 16, 9, 9), (3, 1), (2, 1), (1, 0, 1, 0)),   # one-column kernel
    ((1, 16, 8, 11), (1, 3), (1, 2), (0, 1, 0, 1)),  # one-row kernel
    ((1, 16, 10, 10), (2, 3), (2, 1), (0, 2, 1, 0)),  # asymmetric everything
    ((1, 16, 6, 6), 1, 1, 0),                     # 1x1: a copy
    ((1, 16, 13, 13), 5, 3, 2),
    ((1, 16, 1, 1), 3, 2, 1),                     # one pixel: every other tap is padding
])
def test_max_pool_shapes(case):
    check(*case)


@pytest.mark.parametrize("tiling", [
    PoolTiling(1, 2, 2, "h", 0, False),
    PoolTiling(1, 2, 2, "h", 0, True),            # one LOAD per input row
    PoolTiling(1, 3, 2, "c", 4, True),            # 2D tiles: columns split too
    PoolTiling(2, 6, 1, "h", 4, False),           # 2D tiles, serial
    PoolTiling(1, 4, 2, "c", 3, False),           # tiles that do not divide the rows
])
def test_max_pool_tilings(tiling):
    op, _ = check((2, 32, 23, 24), 3, 2, 1, seed=3, tiling=tiling)
    assert op.tiling == tiling


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("case", [((2, 16, 9, 9), 3, 2, 1), ((1, 16, 8, 10), 2, 2, 0),
                                  ((1, 8, 7, 6), 3, 1, 1)])
def test_max_pool_configs(name, case):
    shape, k, s, p = case
    check(shape, k, s, p, seed=4, tgt=target(CONFIGS[name]))


def test_all_minimum_inputs():
    """Every input at the int8 minimum: padding never wins, the result is -128 everywhere."""
    op = vdla.max_pool2d((1, 16, 6, 6), 3, 2, 1)
    got, _ = op(np.full((1, 16, 6, 6), -128, np.int8))
    assert (got == -128).all()


def test_horizontal_pass_starts_in_place():
    """3x3 / 2 / 1: the pooled tile shares the storage of the vertical pass at the centre
    column (no copy), and the program holds no ALU add (copies) and no int32-minimum start."""
    op, _ = check((1, 16, 16, 16), 3, 2, 1)
    plan = op.program.plan
    by_name = {b.name: st for b, st in plan.storage.items()}
    assert by_name["pool"] is by_name["vm_c"]
    listing = op.program.listing()
    assert "alu add" not in listing and "alu shr" not in listing


def test_resnet18_max_pool_cycles():
    """ResNet-18's max pooling (64 x 112 x 112, 3x3 / 2 / 1) on the default configuration:
    283,132 cycles before the separable plan; the roofline bound is 125,486."""
    op, rep = check((1, 64, 112, 112), 3, 2, 1)
    assert rep.cycles < 195_000, (op.tiling, rep.cycles)


@pytest.mark.parametrize("case,tiling", [
    (((1, 32, 12, 12), 3, 2, 1), PoolTiling(1, 3, 2, "h", 0, True)),
    (((2, 16, 11, 10), 3, 2, 1), PoolTiling(1, 2, 2, "c", 2, False)),
    (((1, 16, 8, 8), 3, 1, 1), None),
    (((1, 16, 6, 7), 2, 1, (1, 1, 1, 1)), None),
])
def test_rtl_agrees_on_max_pool(case, tiling):
    """The pooling programs on the Verilog accelerator: the same DRAM image, report and
    per-instruction cycles as the simulator."""
    shape, k, s, p = case
    op = vdla.max_pool2d(shape, k, s, p, tiling=tiling)
    x = i8(np.random.default_rng(5), shape)
    bundle = op.program.bundle_with(*op.pack(x))
    sim, rtl = simulate(bundle), run_rtl(bundle)
    assert compare("max_pool2d", bundle, sim, rtl) is None
    assert rtl.report.cycles == sim.report.cycles
    got, _ = op(x, backend="rtl")
    np.testing.assert_array_equal(got, max_pool_ref(x, (k, k), (s, s),
                                                    p if isinstance(p, tuple) else (p,) * 4))
