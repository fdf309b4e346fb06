"""InsnStream: automatic dependency tokens make concurrent execution equal program order."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.isa.config import HardwareConfig
from accel.isa.validate import validate
from accel.sim import simulate
from accel.sim.functional import FunctionalEngine, MachineState
from compiler.codegen.vdla.stream import InsnStream, StreamError, UopKernel

CFG = HardwareConfig()
WIN = 48  # SRAM window: small, so that random instructions conflict often


def program_order_dram(bundle):
    """Independent of tokens and timing: apply every instruction in program order."""
    state = MachineState(bundle.config, bundle.dram)
    eng = FunctionalEngine(bundle.config, state)
    names = bundle.insns.dtype.names
    for i, row in enumerate(bundle.insns.tolist()):
        eng.execute(i, dict(zip(names, row)))
    return state.dram


def random_stream(seed: int, n: int, auto_deps: bool = True) -> InsnStream:
    rng = np.random.default_rng(seed)
    s = InsnStream(CFG, auto_deps=auto_deps)
    x = s.alloc("x", rng.integers(-128, 128, (64, 16), dtype=np.int8))
    w = s.alloc("w", rng.integers(-128, 128, (8, 16, 16), dtype=np.int8))
    b = s.alloc("b", rng.integers(-2**20, 2**20, (32, 16), dtype=np.int32))
    o = s.alloc("o", shape=(64, 16), dtype="int8")   # written by stores, read back by loads
    xb, wb, bb, ob = x.elem_index(16), w.elem_index(256), b.elem_index(64), o.elem_index(16)

    def win(k):  # a random window [base, base + k) inside the first WIN elements
        base = int(rng.integers(0, WIN - k + 1))
        return base

    for _ in range(n):
        kind = rng.choice(["inp", "inp_o", "wgt", "acc", "gemm", "alu", "store"],
                          p=[.15, .1, .1, .1, .25, .15, .15])
        y, xs = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        if kind in ("inp", "inp_o"):
            pad = tuple(int(v) for v in rng.integers(0, 2, 4))
            h, wd = pad[0] + y + pad[1], pad[2] + xs + pad[3]
            src = xb if kind == "inp" else ob
            s.load("inp", win(h * wd), src + int(rng.integers(0, 64 - 4 * 8)), y, xs,
                   stride=xs + int(rng.integers(0, 3)), pad=pad)
        elif kind == "wgt":
            s.load("wgt", win(y * xs), wb, 1, min(8, y * xs))
        elif kind == "acc":
            s.load("acc", win(y * xs), bb + int(rng.integers(0, 16)), y, xs)
        elif kind in ("gemm", "alu"):
            nu = int(rng.integers(1, 4))
            io, ii = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            fo, fi = int(rng.integers(0, 4)), int(rng.integers(0, 3))
            span = (io - 1) * fo + (ii - 1) * fi
            k = UopKernel.of(rng.integers(0, WIN - span, nu), rng.integers(0, WIN - span, nu),
                             rng.integers(0, 8 - min(span, 7), nu) if kind == "gemm" else 0)
            if kind == "gemm":
                s.gemm(k, io, ii, dst=(fo, fi), src=(fo, fi), wgt=(0, 0),
                       reset=bool(rng.random() < 0.2))
            else:
                op = str(rng.choice(["add", "max", "shr", "mul"]))
                imm = int(rng.integers(-3, 4)) if rng.random() < 0.5 else None
                s.alu(op, k, io, ii, dst=(fo, fi), src=(fo, fi), imm=imm)
        else:
            s.store(win(y * xs), ob + int(rng.integers(0, 64 - 16)), y, xs)
    return s


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 60))
def test_concurrent_execution_equals_program_order(seed, n):
    s = random_stream(seed, n)
    bundle = s.finish()
    validate(bundle)
    result = simulate(bundle)           # would raise DeadlockError on a bad token pattern
    np.testing.assert_array_equal(result.dram, program_order_dram(bundle))


def test_without_tokens_the_same_programs_race():
    """The property above is not vacuous: without tokens, concurrent results differ."""
    differ = 0
    for seed in range(30):
        bundle = random_stream(seed, 40, auto_deps=False).finish()
        differ += not np.array_equal(simulate(bundle).dram, program_order_dram(bundle))
    assert differ >= 10


def test_load_after_store_goes_through_a_compute_bridge():
    s = InsnStream(CFG)
    o = s.alloc("o", shape=(4, 16), dtype="int8")
    r = s.alloc("r", shape=(4, 16), dtype="int8")
    k = UopKernel.of([0, 1, 2, 3], 0)
    s.load("acc", 0, s.alloc("b", np.arange(64, dtype=np.int32).reshape(4, 16)).elem_index(64),
           1, 4)
    s.store(0, o.elem_index(16), 1, 4)
    s.load("inp", 0, o.elem_index(16), 1, 4)            # reads what the store wrote
    s.gemm(k, reset=True)
    s.alu("add", UopKernel.of([0, 1, 2, 3], [0, 1, 2, 3]), imm=1)
    s.store(0, r.elem_index(16), 1, 4)
    bundle = s.finish()
    assert s.bridges == 1
    res = simulate(bundle)
    np.testing.assert_array_equal(res.dram, program_order_dram(bundle))
    np.testing.assert_array_equal(res.read("o").ravel(), np.arange(64, dtype=np.int8))


def test_micro_op_kernels_are_deduplicated_and_cached():
    s = InsnStream(CFG)
    k1, k2 = UopKernel.of([0, 1], [0, 1], 0), UopKernel.of([2], [2], 0)
    for _ in range(5):
        s.gemm(k1)
        s.gemm(k2)
    s.gemm(UopKernel.of([0, 1], [0, 1], 0))           # equal content: same kernel
    assert s.uop_loads == 2
    bundle = s.finish()
    assert bundle.region("uops").size == 3 * 4         # each kernel stored once


def test_micro_op_buffer_overflow_reloads():
    cfg = HardwareConfig(log_uop_buff_size=8)          # 64 micro-ops
    s = InsnStream(cfg)
    big = [UopKernel.of(list(range(i, i + 30)), 0, 0) for i in range(3)]
    for k in big + big:
        s.gemm(k)
    assert s.uop_loads == 6                            # 30 + 30 fit; the third evicts
    simulate(s.finish())


def test_double_buffering_overlaps_load_and_compute():
    """Two virtual threads on disjoint buffer halves: loads hide behind GEMMs."""
    def run(threads: int) -> int:
        s = InsnStream(CFG)
        rng = np.random.default_rng(0)
        x = s.alloc("x", rng.integers(-8, 8, (16, 256, 16), dtype=np.int8))
        for t in range(16):
            half = (t % threads) * 256
            s.load("inp", half, x.elem_index(16) + 256 * t, 1, 256)
            s.gemm(UopKernel.of(0, [half + j for j in range(16)], 0), 16, 1, src=(16, 0),
                   dst=(1, 0))
        return simulate(s.finish()).report.cycles

    one, two = run(1), run(2)
    assert two < one * 0.8


def test_token_queue_overflow_is_reported():
    cfg = HardwareConfig(token_queue_depth=2)
    s = InsnStream(cfg)
    x = s.alloc("x", np.zeros((8, 16), np.int8))
    for i in range(4):                                   # four loads ahead of their users
        s.load("inp", i, x.elem_index(16) + i, 1, 1)
    with pytest.raises(StreamError, match="token queue l2c would hold 3 tokens"):
        for i in range(4):
            s.gemm(UopKernel.of(0, i, 0))
