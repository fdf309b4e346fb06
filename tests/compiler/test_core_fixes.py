"""Core fixes asked for by the accelerator back end, each with the case that used to go wrong:

1. ``Stage.set_scope`` is a recorded, validated primitive that ``replay`` reproduces;
2. ``TensorRegion`` of lower rank than its buffer (an intrinsic's output inside a stage of
   higher rank): leading unit dimensions, and a precise error when the region's loops do not
   run over the stage's last dimensions in order;
3. guards of the loops outside a tensorized region are kept around the emitted statement
   (interpreter and LLVM: equal to numpy, nothing out of range);
4. ``compute_at`` at a stage that consumes the producer through other stages computed inside
   the same loop, with errors (and an unchanged schedule) when a reader would be outside;
5. ``compiler.tir`` and the accelerator pipeline import in any order.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import te
from compiler.codegen.llvm import build as llvm_build
from compiler.errors import (
    InterpError,
    LowerError,
    ScheduleAttachError,
    ScheduleScopeError,
    ScopeCapacityError,
    TensorizeError,
)
from compiler.tir import interp, ir, lower, print_ir
from compiler.tir.functor import IRMutator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vdla-cache"))


def _chain(n=8):
    """A -> B -> C -> D, elementwise (D reads C, C reads B)."""
    A = te.placeholder((n,), "float32", name="A")
    B = te.compute((n,), lambda i: A[i] * 2, name="B")
    C = te.compute((n,), lambda i: B[i] + 1, name="C")
    D = te.compute((n,), lambda i: C[i] * 3, name="D")
    return A, B, C, D


# ------------------------------------------------------------------------------ 1. set_scope
def test_set_scope_is_recorded_and_replayed():
    A, B, C, D = _chain()
    s = te.create_schedule(D)
    s[B].set_scope("local")
    acc = te.MemoryScope("acc", capacity_bytes=64)
    s[C].set_scope(acc)
    assert s[B].scope is te.LOCAL and s[C].scope is acc
    assert [str(r) for r in s.records] == ['s["B"].set_scope(local)', 's["C"].set_scope(acc)']
    assert "stage B: root, scope local" in str(s)
    text = print_ir(lower(s, [A, D]))
    assert "allocate B: float32[8] in local" in text and "allocate C: float32[8] in acc" in text
    A2, B2, C2, D2 = _chain()
    s2 = te.create_schedule(D2).replay(s.records)
    assert s2[B2].scope is te.LOCAL and s2[C2].scope == acc
    assert print_ir(lower(s2, [A2, D2])) == text


def test_set_scope_errors_name_the_stage():
    A, B, C, D = _chain()
    s = te.create_schedule(D)
    with pytest.raises(ScheduleScopeError, match="stage 'B': set_scope: unknown memory scope "
                                                 "'inp'.*MemoryScope"):
        s[B].set_scope("inp")
    with pytest.raises(ScheduleScopeError, match="stage 'D': set_scope\\('local'\\): it is an "
                                                 "output of the schedule.*cache_write"):
        s[D].set_scope("local")
    s[D].set_scope("global")                       # an output may stay where it is
    assert s[B].scope is te.GLOBAL and [r.primitive for r in s.records] == ["set_scope"]
    s[B].set_scope(te.MemoryScope("tiny", capacity_bytes=16))
    with pytest.raises(ScopeCapacityError, match="'B' needs 32 bytes in scope 'tiny'"):
        lower(s, [A, D])


def test_vdla_schedules_record_their_scopes():
    """The accelerator's schedules set SRAM scopes through the primitive: replaying the
    records on a fresh computation gives the same function (what an autotuner does)."""
    from compiler.codegen.vdla.errors import VdlaCodegenError
    from compiler.codegen.vdla.target import target
    from compiler.ops.vdla.common import Requant
    from compiler.ops.vdla.conv2d import Conv2dTiling, conv2d_packed, schedule_conv2d

    t = target()

    def stages():
        return conv2d_packed(t, (1, 2, 6, 6, 1, 16), (2, 2, 3, 3, 16, 16), (1, 1),
                             (1, 1, 1, 1), Requant(8, True), True, residual=True)

    st = stages()
    s = schedule_conv2d(t, st, Conv2dTiling(3, 6, 1, 2, 2, "co"))
    assert 's["conv"].set_scope(acc)' in [str(r) for r in s.records]
    st2 = stages()
    s2 = te.create_schedule(st2.out).replay(s.records)
    assert s2[st2.conv].scope is t.acc and s2[st2.post].scope is t.acc
    args, args2 = st.inputs + [st.out], st2.inputs + [st2.out]
    assert print_ir(lower(s2, args2)) == print_ir(lower(s, args))
    with pytest.raises(VdlaCodegenError, match="stage 'conv': unknown accelerator memory "
                                               "'uop'"):
        t.set_scope(s[st.conv], "uop")
    with pytest.raises(VdlaCodegenError, match="stage 'out' is an output"):
        t.set_scope(s[st.out], "acc")


# ------------------------------------------------------------------------------ 2. regions
def test_region_of_lower_rank_has_leading_unit_dimensions():
    buf = ir.Buffer("C", (ir.IntImm(2), ir.IntImm(3), ir.IntImm(4), ir.IntImm(5)), "int32",
                    "global")
    n, y = ir.Var("n"), ir.Var("y")
    r = te.TensorRegion(buf, (n, y, ir.IntImm(0), ir.IntImm(1)), (4, 4))
    i, j = ir.Var("i"), ir.Var("j")
    assert r.lead == 2
    idx = r.index(i, j)
    assert idx[:2] == (n, y)
    assert idx[2:] == (ir.BinOp("add", ir.IntImm(0), i), ir.BinOp("add", ir.IntImm(1), j))
    assert r.strides() == (60, 20, 5, 1)
    with pytest.raises(TensorizeError, match="region of 'C' has 2 dims, indexed with 4"):
        r.load(n, y, i, j)
    with pytest.raises(TensorizeError, match="region of 'C': 3 offsets for a buffer of 4"):
        te.TensorRegion(buf, (n, y, i), (4, 4))
    with pytest.raises(TensorizeError, match="shape \\(1, 1, 1, 4, 5\\) has more dimensions "
                                             "than the buffer \\(4\\)"):
        te.TensorRegion(buf, (n, y, i, j), (1, 1, 1, 4, 5))


def _gemm_emit(ins, outs, mode):
    """A 2x2x4 GEMM tile through the regions' own indexing (inputs of any rank with leading
    unit dimensions)."""
    A_, B_ = ins
    (C_,) = outs
    i, j, kv = ir.Var("ti"), ir.Var("tj"), ir.Var("tk")
    lead_a, lead_b = (0,) * (len(A_.shape) - 2), (0,) * (len(B_.shape) - 2)
    acc = ir.BinOp("add", C_.load(i, j),
                   ir.BinOp("mul", A_.load(*lead_a, i, kv), B_.load(*lead_b, kv, j)))
    upd = ir.For(kv, ir.IntImm(0), ir.IntImm(4), "serial", C_.store((i, j), acc))
    body = ir.Seq((C_.store((i, j), ir.FloatImm(0.0)), upd)) if mode == "body" else upd
    return ir.For(i, ir.IntImm(0), ir.IntImm(2), "serial",
                  ir.For(j, ir.IntImm(0), ir.IntImm(2), "serial", body))


def _gemm(emit=_gemm_emit, a_lead=0):
    a = te.placeholder((1,) * a_lead + (2, 4), "float32", name="a")
    b = te.placeholder((4, 2), "float32", name="b")
    k = te.reduce_axis((0, 4), "k")
    z = (0,) * a_lead
    c = te.compute((2, 2), lambda i, j: te.sum(a[z + (i, k)] * b[k, j], axis=k), name="c")
    return te.decl_tensor_intrin(c, emit, name="gemm2x2x4")


def test_tensorize_into_a_stage_of_higher_rank():
    """C[n, i, j] tensorized over (i, j, k) by a 2-D intrinsic: the output region keeps n
    fixed (it used to be zipped away, writing C[n + i, i + j])."""
    A = te.placeholder((3, 4, 4), "float32", name="A")
    B = te.placeholder((4, 6), "float32", name="B")
    k = te.reduce_axis((0, 4), name="k")
    C = te.compute((3, 4, 6), lambda n, i, j: te.sum(A[n, i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C)
    n, i, j = C.op.axis
    io, ii = s[C].split(i, factor=2)
    jo, ji = s[C].split(j, factor=2)
    s[C].reorder(n, io, jo, ii, ji, k)
    s[C].tensorize(ii, _gemm(a_lead=1))
    f = lower(s, [A, B, C])
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 4)).astype("float32")
    b = rng.standard_normal((4, 6)).astype("float32")
    c = np.zeros((3, 4, 6), "float32")
    interp.run(f, a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_tensorize_region_not_over_the_last_dimensions_is_refused():
    """Loops (j, i) would make the emitter write the transposed tile: a clear error with an
    emitter; the default nest (no emitter) is still correct."""
    A = te.placeholder((4, 4), "float32", name="A")
    B = te.placeholder((4, 4), "float32", name="B")
    k = te.reduce_axis((0, 4), name="k")
    C = te.compute((4, 4), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="C")
    a = te.placeholder((2, 4), "float32", name="a")
    b = te.placeholder((2, 4), "float32", name="b")
    kk = te.reduce_axis((0, 4), "k")
    # c[x, y] = sum(a[y, k] * b[x, k]): the stage's loops (j, i) match it with a = A, b = B
    c = te.compute((2, 2), lambda x, y: te.sum(a[y, kk] * b[x, kk], axis=kk), name="c")

    def emit(ins, outs, mode):
        raise AssertionError("the emitter must not be called")

    for emitter in (emit, None):
        s = te.create_schedule(C)
        i, j = C.op.axis
        io, jo, ii, ji = s[C].tile(i, j, 2, 2)
        s[C].reorder(io, jo, ji, ii, k)
        s[C].tensorize(ji, te.decl_tensor_intrin(c, emitter, name="nt2x2x4"))
        if emitter is not None:
            with pytest.raises(TensorizeError, match="stage 'C', axis 'j.inner': 'nt2x2x4' "
                                                     "writes its 2-dimensional output into the "
                                                     "last 2 dimension.*run over its "
                                                     "dimension\\(s\\) 1, 0"):
                lower(s, [A, B, C])
            continue
        f = lower(s, [A, B, C])
        rng = np.random.default_rng(2)
        av, bv = (rng.standard_normal((4, 4)).astype("float32") for _ in range(2))
        cv = np.zeros((4, 4), "float32")
        interp.run(f, av, bv, cv)
        np.testing.assert_allclose(cv, av @ bv.T, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------ 3. guards
def _guarded_matmul(update: bool, kk: int | None = None):
    """C = A @ B (10 x 6) with rows split by 2 (the intrinsic's tile), then the 5 row tiles
    split by 2: non-divisible, a sixth tile past the end, outside the tensorized region.
    ``update``: K = 8 split by 4, the region inside the outer reduction loop."""
    kk = kk or (8 if update else 4)
    A = te.placeholder((10, kk), "float32", name="A")
    B = te.placeholder((kk, 6), "float32", name="B")
    k = te.reduce_axis((0, kk), name="k")
    C = te.compute((10, 6), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C)
    i, j = C.op.axis
    io, ii = s[C].split(i, factor=2)
    ioo, ioi = s[C].split(io, factor=2)
    jo, ji = s[C].split(j, factor=2)
    if update:
        ko, ki = s[C].split(k, factor=4)
        s[C].reorder(ioo, ioi, jo, ko, ii, ji, ki)
    else:
        s[C].reorder(ioo, ioi, jo, ii, ji, k)
    s[C].tensorize(ii, _gemm())
    return A, B, C, s


class _DropGuards(IRMutator):
    def visit_IfThenElse(self, n):
        return self.visit(n.then_case)


@pytest.mark.parametrize("update", [False, True])
def test_guard_outside_tensorized_region_is_kept(update):
    A, B, C, s = _guarded_matmul(update)
    f = lower(s, [A, B, C])
    text = print_ir(f)
    assert "if i.outer.outer * 2 + i.outer.inner < 5:\n" in text
    assert text.index("if i.outer.outer * 2") < text.index("tensorize = 'gemm2x2x4'")
    kk = A.shape[1]
    rng = np.random.default_rng(3)
    a = rng.standard_normal((10, kk)).astype("float32")
    b = rng.standard_normal((kk, 6)).astype("float32")
    c = np.zeros((10, 6), "float32")
    interp.run(f, a, b, c)                       # bounds-checked: no access out of range
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)
    # without the guard the sixth row tile writes rows 10 and 11: the interpreter says so
    bad = ir.PrimFunc(f.name, f.params, _DropGuards().visit(f.body))
    with pytest.raises(InterpError, match="out of bounds for buffer"):
        interp.run(bad, a, b, np.zeros((10, 6), "float32"))
    # compiled: arguments are views of larger arrays whose tails must stay untouched
    big_a = np.full((12, kk), np.nan, "float32")
    big_a[:10] = a
    big_c = np.full((12, 6), -7.0, "float32")
    llvm_build(f)(big_a[:10], b, big_c[:10])
    np.testing.assert_allclose(big_c[:10], a @ b, rtol=1e-5, atol=1e-5)
    assert (big_c[10:] == -7.0).all()


def test_guard_inside_tensorized_region_is_refused():
    A, B, C, s = _guarded_matmul(True, kk=10)         # K = 10 split by 4: inside the region
    with pytest.raises(TensorizeError, match="stage 'C', axis 'i.inner': a guard .*`k.outer "
                                             "\\* 4 \\+ k.inner < 10` depends on the region's "
                                             "loop\\(s\\) k.inner; the intrinsic computes "
                                             "whole tiles"):
        lower(s, [A, B, C])


def test_vdla_gemm_skips_tiles_past_the_end():
    """A dense layer of 3 row blocks in tiles of 2: the GEMM of the missing fourth row block
    is not issued (it used to run, on garbage)."""
    import test_vdla_reference as ref

    from compiler.ops import vdla
    from compiler.ops.vdla import DenseTiling

    op = vdla.dense((3, 64), (48, 64), shift=7, relu=True,
                    tiling=DenseTiling(2, 1, 1, 1, "co"))
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (3, 64)).astype(np.int8)
    w = rng.integers(-128, 128, (48, 64)).astype(np.int8)
    got, report = op(x, w)
    np.testing.assert_array_equal(got, ref.dense_ref(x, w, shift=7, relu=True))
    assert report.macs == 3 * 48 * 64


# ------------------------------------------------------------------------------ 4. compute_at
def _run(s, args, arrays):
    f = lower(s, args)
    arrays = [a.copy() for a in arrays]
    interp.run(f, *arrays)
    return f, arrays[-1]


def test_compute_at_through_a_reader_computed_at_the_same_loop():
    A, B, C, D = _chain(12)
    s = te.create_schedule(D)
    xo, xi = s[D].split(D.op.axis[0], factor=4)
    s[C].compute_at(s[D], xo)
    s[B].compute_at(s[D], xo)             # D reads B only through C
    s[C].set_scope("local")
    assert 's["B"].compute_at(s["D"], i.outer)' in [str(r) for r in s.records]
    a = np.arange(12, dtype="float32")
    f, d = _run(s, [A, D], [a, np.zeros(12, "float32")])
    np.testing.assert_allclose(d, (a * 2 + 1) * 3)
    text = print_ir(f)
    assert "allocate B: float32[4]" in text and "allocate C: float32[4] in local" in text
    assert text.index(" B[[") < text.index(" C[[") < text.index(" D[[")
    # the same with the LLVM backend, and the schedule replays
    cf = llvm_build(f)
    out = np.zeros(12, "float32")
    cf(a, out)
    np.testing.assert_allclose(out, (a * 2 + 1) * 3)
    A2, B2, C2, D2 = _chain(12)
    s2 = te.create_schedule(D2).replay(s.records)
    assert print_ir(lower(s2, [A2, D2])) == text


def test_compute_at_region_covers_a_reader_at_an_inner_loop():
    """B at D.xo, its reader C (a 3-wide window of B) at the inner D.xi: B's region per xo
    is the union over xi of C's windows (4 + 2 elements), C's own is one element's window."""
    A = te.placeholder((14,), "float32", name="A")
    B = te.compute((14,), lambda i: A[i] * 2, name="B")
    C = te.compute((12,), lambda i: B[i] + B[i + 1] + B[i + 2], name="C")
    D = te.compute((12,), lambda i: C[i] * 3, name="D")
    s = te.create_schedule(D)
    xo, xi = s[D].split(D.op.axis[0], factor=4)
    s[C].compute_at(s[D], xi)
    s[B].compute_at(s[D], xo)
    a = np.arange(14, dtype="float32")
    f, d = _run(s, [A, D], [a, np.zeros(12, "float32")])
    np.testing.assert_allclose(d, 3 * 2 * (a[:12] + a[1:13] + a[2:14]))
    assert "allocate B: float32[6]" in print_ir(f)


def test_compute_at_with_several_readers_inside_the_loop():
    """A row maximum read by two stages of the row: computed once per row (it used to be
    refused: 'compute_at needs a single consumer')."""
    X = te.placeholder((3, 5), "float32", name="X")
    k = te.reduce_axis((0, 5), "k")
    M = te.compute((3,), lambda i: te.max(X[i, k], axis=k), name="M")
    E = te.compute((3, 5), lambda i, j: te.exp(X[i, j] - M[i]), name="E")
    k2 = te.reduce_axis((0, 5), "k2")
    S = te.compute((3,), lambda i: te.sum(E[i, k2], axis=k2), name="S")
    Y = te.compute((3, 5), lambda i, j: E[i, j] / S[i] + M[i], name="Y")
    s = te.create_schedule(Y)
    row = Y.op.axis[0]
    s[S].compute_at(s[Y], row)
    s[E].compute_at(s[Y], row)            # read by S and by Y
    s[M].compute_at(s[Y], row)            # read by E and by Y
    x = np.random.default_rng(5).standard_normal((3, 5)).astype("float32")
    f, y = _run(s, [X, Y], [x, np.zeros((3, 5), "float32")])
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True) + x.max(1, keepdims=True),
                               rtol=1e-5)
    text = print_ir(f)
    assert "allocate M: float32[1]" in text and "allocate E: float32[1, 5]" in text


def test_epilogue_pattern_without_a_unit_split():
    """The accelerator's epilogue: a reduction, an elementwise stage, the output; the
    reduction is computed at the output tile next to its elementwise reader."""
    A = te.placeholder((8, 8), "int32", name="A")
    B = te.placeholder((8, 8), "int32", name="B")
    k = te.reduce_axis((0, 8), "k")
    G = te.compute((8, 8), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="G")
    P = te.compute((8, 8), lambda i, j: te.max(G[i, j], 0), name="P")
    Out = te.compute((8, 8), lambda i, j: P[i, j] * 2, name="O")
    s = te.create_schedule(Out)
    io, jo, ii, ji = s[Out].tile(*Out.op.axis, 4, 4)
    s[P].compute_at(s[Out], jo)
    s[G].compute_at(s[Out], jo)
    s[P].pragma(P.op.axis[0], "alu")
    rng = np.random.default_rng(6)
    a, b = (rng.integers(-9, 9, (8, 8)).astype("int32") for _ in range(2))
    f, o = _run(s, [A, B, Out], [a, b, np.zeros((8, 8), "int32")])
    np.testing.assert_array_equal(o, np.maximum(a @ b, 0) * 2)
    text = print_ir(f)
    assert "allocate G: int32[4, 4]" in text and "allocate P: int32[4, 4]" in text
    # the reduction is outside the epilogue's pragma
    assert text.index("G[") < text.index("pragma_alu")


def test_compute_at_errors_leave_the_schedule_unchanged():
    A, B, C, D = _chain(12)
    s = te.create_schedule(D)
    xo, xi = s[D].split(D.op.axis[0], factor=4)
    with pytest.raises(ScheduleAttachError, match="stage 'B': compute_at\\(D, i.outer\\): 'C' "
                                                  "reads 'B' but is computed at the root, "
                                                  "outside loop 'i.outer' of 'D'.*compute 'C' "
                                                  "inside that loop first"):
        s[B].compute_at(s[D], xo)
    assert s[B].attach_type == "root"
    with pytest.raises(ScheduleAttachError, match="stage 'C': compute_at: stage 'B' does not "
                                                  "read 'C', directly or through other stages "
                                                  "\\(its readers: D\\)"):
        s[C].compute_at(s[B], B.op.axis[0])
    s[C].compute_at(s[D], xi)
    s[B].compute_at(s[D], xo)
    n_records = len(s.records)
    # moving the reader C out of the loop that holds B is refused
    with pytest.raises(ScheduleAttachError, match="stage 'C': compute_root: 'C' reads 'B' but "
                                                  "is computed at the root.*compute 'B' "
                                                  "elsewhere first"):
        s[C].compute_root()
    assert (s[C].attach_stage, s[C].attach_axis) == (s[D], xi)
    # so is a reorder that puts C's loop outside B's
    with pytest.raises(ScheduleAttachError, match="stage 'D': reorder: 'C' reads 'B' but is "
                                                  "computed at loop 'i.inner' of 'D', outside "
                                                  "loop 'i.outer'"):
        s[D].reorder(xi, xo)
    assert s[D].leaf == [xo, xi]
    # and a tile whose reorder would do it (the splits are undone too)
    A2 = te.placeholder((4, 4), "float32", name="A")
    B2 = te.compute((4, 4), lambda i, j: A2[i, j] + 1, name="B")
    C2 = te.compute((4, 4), lambda i, j: B2[i, j] * 2, name="C")
    D2 = te.compute((4, 4), lambda i, j: C2[i, j] - 1, name="D")
    s2 = te.create_schedule(D2)
    y, x = D2.op.axis
    s2[C2].compute_at(s2[D2], x)
    s2[B2].compute_at(s2[D2], y)
    leaf = list(s2[D2].leaf)
    # tile(x, y) orders x.outer, y.outer, x.inner, y.inner: C (at x.inner) before B's loop
    with pytest.raises(ScheduleAttachError, match="stage 'D': reorder: 'C' reads 'B' but is "
                                                  "computed at loop 'j.inner' of 'D', outside "
                                                  "loop 'i.inner'"):
        s2[D2].tile(x, y, 2, 2)
    assert s2[D2].leaf == leaf and not s2[D2].relations
    assert len(s2[D2].all_axes) == 2
    assert s2[C2].attach_axis is x and s2[B2].attach_axis is y
    s2[D2].tile(y, x, 2, 2)                      # the other way round keeps the order
    assert len(s.records) == n_records
    np.testing.assert_allclose(_run(s, [A, D], [np.ones(12, "float32"),
                                                np.zeros(12, "float32")])[1], np.full(12, 9.0))


def test_cache_read_that_would_read_outside_the_loop_is_undone():
    """B at D's loop, read by D through the inlined C: a cache of C at the root would read B
    outside that loop, so cache_read refuses and leaves the schedule as it was."""
    A, B, C, D = _chain()
    s = te.create_schedule(D)
    s[C].compute_inline()
    s[B].compute_at(s[D], D.op.axis[0])        # D reads B through the inlined C
    stages, op = list(s.stages), D.op
    with pytest.raises(ScheduleAttachError, match="cache_read of 'C': 'C.local' reads 'B' but "
                                                  "is computed at the root"):
        s.cache_read(C, "local", [D])
    assert s.stages == stages and s[D].op is op and len(s.records) == 2
    a = np.arange(8, dtype="float32")
    np.testing.assert_allclose(_run(s, [A, D], [a, np.zeros(8, "float32")])[1], (a * 2 + 1) * 3)


def test_bound_inference_names_a_reader_outside_the_loop():
    """Primitives keep the rule; a schedule edited by hand gets a lowering error."""
    A, B, C, D = _chain()
    s = te.create_schedule(D)
    s[C].compute_at(s[D], D.op.axis[0])
    s[B].compute_at(s[D], D.op.axis[0])
    s[C].attach_type, s[C].attach_stage, s[C].attach_axis = "root", None, None
    with pytest.raises(LowerError, match="stage 'B': 'C' reads 'B' but is computed at the root"):
        lower(s, [A, D])


# ------------------------------------------------------------------------------ 5. imports
@pytest.mark.parametrize("first", ["from compiler.tir import lower",
                                   "from compiler.codegen.vdla.pipeline import build"])
def test_lowering_imports_in_any_order(first):
    code = f"""{first}
from compiler.codegen.vdla.pipeline import build
from compiler.tir import lower
from compiler import te
A = te.placeholder((4,), "float32", name="A")
B = te.compute((4,), lambda i: A[i] + 1, name="B")
lower(te.create_schedule(B), [A, B])
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
