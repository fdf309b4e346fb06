"""Unit tests of the accelerator lowering: DMA patterns -> LOAD/STORE fields, loop folding ->
GEMM iteration fields, ALU chains, storage planning, capacity errors, virtual threads."""

import numpy as np
import pytest

from accel.sim import simulate
from compiler import te
from compiler.codegen.vdla.alu import AluParser, materialize
from compiler.codegen.vdla.dma import DmaOp, plan_dma
from compiler.codegen.vdla.errors import VdlaCapacityError, VdlaPatternError
from compiler.codegen.vdla.evaluate import evaluate
from compiler.codegen.vdla.fold import Limits, fold, pieces
from compiler.codegen.vdla.pipeline import build
from compiler.codegen.vdla.target import target
from compiler.codegen.vdla.walk import stagger
from compiler.errors import ScopeCapacityError
from compiler.ops import vdla
from compiler.ops.vdla import Conv2dTiling
from compiler.ops.vdla.common import Requant
from compiler.ops.vdla.conv2d import conv2d_packed, schedule_conv2d
from compiler.tir import ir

T = target()


def insns(prog, opcode=None):
    """The program's instructions as dicts (opcode: 0 LOAD, 1 STORE, 2 GEMM, 4 ALU)."""
    names = prog.bundle.insns.dtype.names
    rows = [dict(zip(names, r)) for r in prog.bundle.insns.tolist()]
    return [r for r in rows if opcode is None or r["opcode"] == opcode]


# ------------------------------------------------------------------------------ DMA
def test_padded_input_tile_is_one_load():
    rows, cols = np.meshgrid(np.arange(6), np.arange(10), indexing="ij")
    s = rows * 10 + cols                              # dense SRAM tile, 10 wide
    d = 1000 + (rows - 1) * 8 + (cols - 1)            # an 8-wide image, one pad row/col
    m = (rows >= 1) & (cols >= 1) & (cols < 9)
    assert plan_dma(s, d, m, store=False) == [DmaOp(False, 0, 1000, 5, 8, 8, (1, 0, 1, 1))]


def test_contiguous_loops_merge_into_long_rows():
    co, k = np.meshgrid(np.arange(4), np.arange(9), indexing="ij")    # weights (4, 3x3)
    s = (co * 9 + k).reshape(4, 3, 3)
    d = (500 + co * 36 + k).reshape(4, 3, 3)
    ops = plan_dma(s, d, np.ones_like(s, bool), store=False)
    assert ops == [DmaOp(False, 0, 500, 4, 9, 36)]


def test_strided_columns_become_column_loads():
    r, c = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    s = r * 4 + c
    d = r * 100 + 2 * c                           # every other DRAM element: stride-2 pixels
    ops = plan_dma(s, d, np.ones_like(s, bool), store=False)
    assert ops == [DmaOp(False, 4 * i, 100 * i, 4, 1, 2) for i in range(3)]


def test_wide_padding_and_stores():
    s = np.arange(20)
    d = np.arange(20) - 17
    m = np.arange(20) >= 17                        # 17 zero elements: more than 15
    ops = plan_dma(s, d, m, store=False)
    assert sum(o.elements + sum(o.pad) for o in ops) == 20
    assert all(max(o.pad) <= 15 for o in ops)
    st = plan_dma(np.arange(12).reshape(3, 4), 40 + np.arange(12).reshape(3, 4) * 1,
                  np.ones((3, 4), bool), store=True)
    assert st == [DmaOp(True, 0, 40, 1, 12, 12)]


def test_dma_fields_from_a_convolution():
    op = vdla.conv2d((1, 32, 8, 8), (32, 32, 3, 3), 1, 1, shift=8, relu=True,
                     tiling=Conv2dTiling(4, 8, 1, 2, 2, "co"))
    loads = [r for r in insns(op.program, 0) if r["mem_type"] == 2]          # LOAD INP
    first = loads[0]
    assert (first["y_size"], first["x_size"], first["x_stride"]) == (5, 8, 8)
    assert (first["y_pad_0"], first["y_pad_1"], first["x_pad_0"], first["x_pad_1"]) \
        == (1, 0, 1, 1)
    wgt = [r for r in insns(op.program, 0) if r["mem_type"] == 1]
    assert (wgt[0]["y_size"], wgt[0]["x_size"]) == (1, 18)                # 2 ci x 3 x 3
    stores = insns(op.program, 1)
    assert (stores[0]["y_size"], stores[0]["x_size"]) == (1, 32)           # 4 rows x 8


# ------------------------------------------------------------------------------ folding
LIM = Limits(max_uops=1024, max_iter=(1 << 14) - 1,
             factor_bits={"dst": 11, "src": 11, "wgt": 10})


def test_fold_picks_the_two_longest_affine_loops():
    co, y, x, dy, dx = np.meshgrid(*(np.arange(n) for n in (2, 4, 8, 3, 3)), indexing="ij")
    arrays = {"dst": co * 32 + y * 8 + x, "src": (y + dy) * 10 + x + dx,
              "wgt": co * 9 + dy * 3 + dx}
    f = fold(arrays, LIM)
    assert f.iters == (4, 8)
    assert f.factors == {"dst": (8, 1), "src": (10, 1), "wgt": (0, 0)}
    assert len(f.uops["dst"]) == 2 * 3 * 3
    # every (i0, i1, u) reproduces the grid
    got = {(int(d + i0 * 8 + i1), int(s + i0 * 10 + i1), int(w))
           for i0 in range(4) for i1 in range(8)
           for d, s, w in zip(f.uops["dst"], f.uops["src"], f.uops["wgt"])}
    want = set(zip(arrays["dst"].ravel().tolist(), arrays["src"].ravel().tolist(),
                   arrays["wgt"].ravel().tolist()))
    assert got == want


def test_fold_skips_negative_and_non_affine_loops():
    a = np.arange(6)[:, None] * -3 + np.arange(5)[None, :]        # negative along axis 0
    f = fold({"dst": a + 100}, LIM)
    assert f.iters == (5, 1) and len(f.uops["dst"]) == 6
    b = (np.arange(6) ** 2)[:, None] + np.arange(4)[None, :] * 7    # non-affine axis 0
    f = fold({"dst": b}, LIM)
    assert f.iters == (4, 1) and f.factors["dst"] == (7, 0)


def test_pieces_peel_masked_and_oversized_grids():
    g = np.arange(64).reshape(8, 8)
    mask = np.ones((8, 8), bool)
    mask[5:, 3:] = False                           # a guard: not a box
    got = {int(d + i0 * f.factors["dst"][0] + i1 * f.factors["dst"][1])
           for f in pieces({"dst": g}, mask, LIM)
           for d in f.uops["dst"] for i0 in range(f.iters[0]) for i1 in range(f.iters[1])}
    assert got == set(g[mask].tolist())
    small = Limits(max_uops=2, max_iter=4, factor_bits={"dst": 11})
    parts = list(pieces({"dst": np.arange(4 * 4 * 4).reshape(4, 4, 4)}, None, small))
    assert sum(p.n_iter for p in parts) == 64 and all(len(p.uops["dst"]) <= 2 for p in parts)


def test_gemm_fields_from_a_convolution():
    op = vdla.conv2d((1, 32, 8, 8), (32, 32, 3, 3), 1, 1, shift=8, relu=True,
                     tiling=Conv2dTiling(4, 8, 1, 2, 2, "co"))
    gemms = [r for r in insns(op.program, 2) if not r["reset"]]
    g = gemms[0]
    assert (g["iter_out"], g["iter_in"]) == (4, 8)          # tile rows x columns
    assert (g["dst_factor_out"], g["dst_factor_in"]) == (8, 1)
    assert (g["src_factor_out"], g["src_factor_in"]) == (10, 1)   # padded input row pitch
    assert g["uop_end"] - g["uop_bgn"] == 2 * 3 * 3               # ci blocks x KH x KW
    alus = insns(op.program, 4)
    assert [a["alu_op"] for a in alus[:2]] == [5, 1]              # RSHR, MAX
    assert (alus[0]["use_imm"], alus[0]["imm"]) == (1, 8)


# ------------------------------------------------------------------------------ ALU
def _scope_of(buf):
    return buf.scope if buf.scope in ("acc", "inp") else None


def test_alu_chains_parse_to_steps():
    acc = ir.Buffer("a", (ir.IntImm(16),), "int32", "acc")
    m = ir.Buffer("m", (ir.IntImm(16),), "int32", "acc")
    r = ir.Buffer("r", (ir.IntImm(16),), "int8", "inp")
    i = ir.Var("i")
    x = ir.Load(acc, i)
    i64 = ir.Cast("int64", x)
    rs = ir.Cast("int32", ir.BinOp("floordiv", ir.BinOp("add", i64, ir.IntImm(64, "int64")),
                                   ir.IntImm(128, "int64")))
    e = ir.BinOp("max", ir.BinOp("add", rs, ir.Cast("int32", ir.Load(r, i))), ir.IntImm(0))
    c = AluParser("int32", _scope_of, "test").parse(e)
    assert c.base.load is x and [s.op for s in c.steps] == ["rshr", "gemm_add", "max"]
    assert c.steps[0].operand.value == 7
    prod = ir.BinOp("mul", i64, ir.Cast("int64", ir.Load(m, i)))
    ms = ir.Cast("int32", ir.BinOp("floordiv", ir.BinOp("add", prod, ir.IntImm(512, "int64")),
                                   ir.IntImm(1024, "int64")))
    c = AluParser("int32", _scope_of, "test").parse(ms)
    assert [(s.op, s.shift) for s in c.steps] == [("mulshr", 10)]
    with pytest.raises(VdlaPatternError, match="16-bit"):
        AluParser("int32", _scope_of, "t").parse(ir.BinOp("add", x, ir.IntImm(1 << 20)))
    with pytest.raises(VdlaPatternError, match="power of two"):
        AluParser("int32", _scope_of, "t").parse(ir.BinOp("floordiv", x, ir.IntImm(3)))
    bad = ir.Cast("int32", ir.BinOp("floordiv", ir.BinOp("add", i64, ir.IntImm(3, "int64")),
                                    ir.IntImm(128, "int64")))
    with pytest.raises(VdlaPatternError, match="rounds with 3"):
        AluParser("int32", _scope_of, "t").parse(bad)


@pytest.mark.parametrize("c", [0, 5, -32768, 32767, 40000, -2**31, 2**31 - 1, 123456789])
def test_constants_are_built_from_immediates(c):
    v = 0
    for op, imm in materialize(c, 32):
        v = v + imm if op == "add" else v << -imm
        v = ((v + 2**31) % 2**32) - 2**31
        assert -32768 <= imm <= 32767
    assert v == c


def test_evaluate_uses_floor_semantics():
    v = ir.Var("v")
    env = {v: np.arange(-4, 4)}
    got = evaluate(ir.BinOp("floordiv", v, ir.IntImm(3)), env)
    assert list(got) == [-2, -1, -1, -1, 0, 0, 0, 1]
    assert list(evaluate(ir.BinOp("floormod", v, ir.IntImm(3)), env)) == [2, 0, 1, 2, 0, 1, 2,
                                                                           0]


# ------------------------------------------------------------------------------ storage
def _conv(tiling, c=32, h=8, o=32):
    st = conv2d_packed(T, (1, c // 16, h, h, 1, 16), (o // 16, c // 16, 3, 3, 16, 16),
                       (1, 1), (1, 1, 1, 1), Requant(8), True)
    return st, build(schedule_conv2d(T, st, tiling), st.inputs + [st.out], T)


def test_epilogue_runs_in_place_and_threads_get_frames():
    st, prog = _conv(Conv2dTiling(4, 8, 1, 2, 2, "co"))
    plan = prog.plan
    bufs = {b.name: b for b in plan.storage}
    assert plan.same(bufs["conv"], bufs["post"])                 # RSHR/MAX work in place
    assert plan.peak["acc"] == 2 * 32                           # two threads, 32 each
    assert plan.peak["inp"] == 2 * 2 * 6 * 10


def test_capacity_errors_name_tensor_scope_and_bytes():
    with pytest.raises(VdlaCapacityError, match=r"buffer 'pad\.inp' needs 41472 bytes in "
                                                r"scope 'inp', which has 32768 bytes \(live "
                                                r"buffers: pad\.inp; 2 virtual-thread copies"):
        _conv(Conv2dTiling(16, 16, 1, 4, 2, "co"), c=64, h=16)   # 2 x 4 x 18 x 18 tiles
    with pytest.raises(ScopeCapacityError, match=r"'conv' needs 262144 bytes in scope "
                                                 r"'acc', which has 131072 bytes"):
        _conv(Conv2dTiling(32, 32, 4, 1, 1, "co"), c=16, h=32, o=64)


# ------------------------------------------------------------------------------ vthreads
def test_stagger_interleaves_with_a_lag():
    log = []

    def gen(name):
        for k in range(3):
            log.append(f"{name}{k}")
            yield

    list(stagger([gen("a"), gen("b")]))
    assert log == ["a0", "a1", "b0", "a2", "b1", "b2"]


def test_virtual_threads_overlap_load_compute_and_store():
    cycles = {}
    for vt in (1, 2):
        st, prog = _conv(Conv2dTiling(4, 8, 1, 1, vt, "co"), c=64, h=8, o=64)
        res = simulate(prog.bundle_with(np.ones(st.data.shape, np.int8),
                                        np.ones(st.kernel.shape, np.int8)))
        cycles[vt] = res.report.cycles
        if vt == 2:               # the sequential program alternates the threads' buffers
            kernels = {r["uop_bgn"] for r in insns(prog, 2) if not r["reset"]}
            assert len(kernels) == 2                    # one micro-op kernel per thread
            flags = sum(r["pop_prev"] + r["pop_next"] for r in insns(prog))
            assert flags > 0                                     # tokens, none by hand
    assert cycles[2] < 0.8 * cycles[1]


def test_non_accelerator_stage_is_rejected():
    a = te.placeholder((1, 1, 16), "int32", "a")
    b = te.compute(a.shape, lambda *i: a(*i) * a(*i), name="b")
    s = te.create_schedule(b)
    with pytest.raises(VdlaPatternError, match="not in a DMA copy"):
        build(s, [a, b], T)


def test_dram_intermediate_between_two_stages():
    """A stage stored to a DRAM buffer that is not an argument, then loaded back: the code
    generator places the buffer in DRAM and InsnStream orders each LOAD after the STORE that
    wrote its bytes (through COMPUTE: LOAD and STORE have no token queue between them)."""
    shape = (1, 2, 4, 8, 1, 16)
    x = te.placeholder(shape, "int8", "x")
    a = te.compute(shape, lambda *i: te.max(te.cast("int32", x(*i)), 0) * 3, name="a")
    mid = te.compute(shape, lambda *i: te.cast("int8", te.min(te.max(a(*i), -128), 127)),
                     name="mid")
    b = te.compute(shape, lambda *i: te.cast("int32", mid(*i)) + 1, name="b")
    out = te.compute(shape, lambda *i: te.cast("int8", te.min(te.max(b(*i), -128), 127)),
                     name="out")
    s = te.create_schedule(out)
    for acc_stage, dram in ((a, mid), (b, out)):
        T.set_scope(s[acc_stage], "acc")
        s[acc_stage].compute_at(s[dram], s[dram].op.axis[1])
        s[dram].pragma(s[dram].op.axis[2], "dma_copy")
    xs = s.cache_read(x, T.inp, [a])
    ms = s.cache_read(mid, T.inp, [b])
    for st, c, dram in ((a, xs, mid), (b, ms, out)):
        s[c].compute_at(s[dram], s[dram].op.axis[1])     # next to its reader, outside its ALU
        s[c].pragma(s[c].op.axis[0], "dma_copy")
        s[st].pragma(s[st].op.axis[0], "alu")
    prog = build(s, [x, out], T)
    assert [r.name for r in prog.bundle.regions if "scratch" in r.name] == ["mid.scratch1"]
    rng = np.random.default_rng(0)
    xv = rng.integers(-128, 128, shape).astype(np.int8)
    (got,), _ = prog.run(xv)
    want = np.clip(np.clip(np.maximum(xv.astype(np.int64), 0) * 3, -128, 127) + 1, -128, 127)
    np.testing.assert_array_equal(got, want)
