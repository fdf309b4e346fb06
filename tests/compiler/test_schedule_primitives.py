"""Each schedule primitive: its effect, its invalid-argument errors (naming the stage and the
axis), printing and replay of schedules."""

import numpy as np
import pytest

from compiler import te
from compiler.errors import (
    LowerError,
    ScheduleAttachError,
    ScheduleAxisError,
    ScheduleError,
    ScheduleScopeError,
    ScopeCapacityError,
    TensorizeError,
)
from compiler.tir import interp, ir, lower, print_ir


def matmul(n=8, m=8, kk=8, dtype="float32"):
    A = te.placeholder((n, kk), dtype, name="A")
    B = te.placeholder((kk, m), dtype, name="B")
    k = te.reduce_axis((0, kk), name="k")
    C = te.compute((n, m), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C, k


def run_matmul(s, A, B, C):
    f = lower(s, [A, B, C])
    rng = np.random.default_rng(0)
    a = rng.standard_normal(A.shape).astype("float32")
    b = rng.standard_normal(B.shape).astype("float32")
    c = np.zeros(C.shape, "float32")
    interp.run(f, a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)
    return f


def test_split_factor_and_nparts():
    A, B, C, k = matmul(10, 6, 4)
    s = te.create_schedule(C)
    i, j = C.op.axis
    io, ii = s[C].split(i, factor=4)
    jo, ji = s[C].split(j, nparts=4)
    assert (io.name, ii.name) == ("i.outer", "i.inner")
    assert [a.name for a in s[C].leaf] == ["i.outer", "i.inner", "j.outer", "j.inner", "k"]
    f = run_matmul(s, A, B, C)
    text = print_ir(f)
    assert "i.outer * 4 + i.inner < 10" in text     # guard for the non-divisible split
    assert "for j.outer in range(3):" in text       # nparts=4 of 6: inner 2, so 3 parts suffice
    assert "j.outer * 2 + j.inner < 6" not in text


def test_split_errors():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    i, j = C.op.axis
    with pytest.raises(ScheduleError, match="stage 'C': split of 'i' needs exactly one"):
        s[C].split(i)
    with pytest.raises(ScheduleError, match="factor must be a positive int, got 0"):
        s[C].split(i, factor=0)
    s[C].split(i, factor=2)
    with pytest.raises(ScheduleAxisError, match="axis 'i' is not a leaf axis of this stage.*"
                                                "split into 'i.outer' and 'i.inner'"):
        s[C].split(i, factor=2)
    with pytest.raises(ScheduleAxisError, match="expects an axis"):
        s[C].split("j", factor=2)


def test_axis_of_another_stage_is_named():
    A, B, C, k = matmul()
    D = te.compute(C.shape, lambda i, j: C[i, j] + 1, name="D")
    s = te.create_schedule(D)
    with pytest.raises(ScheduleAxisError, match="stage 'D': split: axis 'i' .* belongs to "
                                                "stage 'C'"):
        s[D].split(C.op.axis[0], factor=2)


def test_reorder_fuse_tile():
    A, B, C, k = matmul(6, 4, 5)
    s = te.create_schedule(C)
    i, j = C.op.axis
    s[C].reorder(k, j, i)
    assert [a.name for a in s[C].leaf] == ["k", "j", "i"]
    with pytest.raises(ScheduleAxisError, match="reorder: axis 'k' is given twice"):
        s[C].reorder(k, k)
    with pytest.raises(ScheduleAxisError, match="cannot fuse reduce axis 'k' with data axis"):
        s[C].fuse(k, j)
    with pytest.raises(ScheduleAxisError, match="'k' and 'i' are not adjacent"):
        s[C].fuse(k, i)
    s[C].reorder(i, j, k)
    fused = s[C].fuse(i, j)
    assert fused.name == "i.j.fused"
    run_matmul(s, A, B, C)
    s2 = te.create_schedule(C)
    xo, yo, xi, yi = s2[C].tile(*C.op.axis, 4, 3)
    assert [a.name for a in s2[C].leaf] == ["i.outer", "j.outer", "i.inner", "j.inner", "k"]
    run_matmul(s2, A, B, C)


def test_loop_kinds_and_their_errors():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    i, j = C.op.axis
    s[C].parallel(i)
    s[C].vectorize(j)
    s[C].unroll(k)
    with pytest.raises(ScheduleAxisError, match="stage 'C': cannot vectorize reduction axis 'k'"):
        s[C].vectorize(k)
    with pytest.raises(ScheduleAxisError, match="cannot parallel reduction axis 'k'"):
        s[C].parallel(k)
    with pytest.raises(ScheduleAxisError, match="stage 'C': unroll: axis 'i' is already "
                                                "parallel"):
        s[C].unroll(i)
    with pytest.raises(ScheduleAxisError, match="split: axis 'j' already carries vectorized"):
        s[C].split(j, factor=2)
    f = run_matmul(s, A, B, C)
    kinds = []

    def walk(n):
        if isinstance(n, ir.For):
            kinds.append((n.var.name, n.kind))
            walk(n.body)
        elif isinstance(n, ir.Seq):
            for x in n.stmts:
                walk(x)

    walk(f.body)
    assert ("i", "parallel") in kinds and ("j", "vectorized") in kinds
    assert ("k", "unrolled") in kinds


def test_nested_parallel_is_demoted():
    A = te.placeholder((4, 4), "float32", name="A")
    B = te.compute((4, 4), lambda i, j: A[i, j] * 2, name="B")
    C = te.compute((4, 4), lambda i, j: B[i, j] + 1, name="C")
    s = te.create_schedule(C)
    s[C].parallel(C.op.axis[0])
    s[B].compute_at(s[C], C.op.axis[0])
    s[B].parallel(B.op.axis[1])
    text = print_ir(lower(s, [A, C]))
    assert "parallel for i in range(4):" in text and "demoted_parallel=True" in text


def test_compute_at_and_inline_errors():
    A = te.placeholder((8,), "float32", name="A")
    B = te.compute((8,), lambda i: A[i] * 2, name="B")
    C = te.compute((8,), lambda i: B[i] + 1, name="C")
    D = te.compute((8,), lambda i: B[i] + C[i], name="D")
    s = te.create_schedule(D)
    # C also reads B and is computed at the root, outside D's loop (test_core_fixes.py has
    # the case where every reader is inside the loop)
    with pytest.raises(ScheduleAttachError, match="stage 'B': compute_at\\(D, i\\): 'C' reads "
                                                  "'B' but is computed at the root, outside "
                                                  "loop 'i' of 'D'"):
        s[B].compute_at(s[D], D.op.axis[0])
    with pytest.raises(ScheduleAttachError, match="stage 'D' is an output of the schedule"):
        s[D].compute_inline()
    with pytest.raises(ScheduleAttachError, match="'D' is an output .* use cache_write"):
        s[D].compute_at(s[C], C.op.axis[0])
    with pytest.raises(ScheduleError, match="'A' is a placeholder"):
        s[C].compute_at(s[A], 0)
    with pytest.raises(ScheduleAttachError, match="stage 'B' does not read 'C'"):
        s[C].compute_at(s[B], B.op.axis[0])
    with pytest.raises(ScheduleAxisError, match="compute_at of 'C': axis 'i' is not a leaf "
                                                "axis.*belongs to stage 'C'"):
        s[C].compute_at(s[D], C.op.axis[0])
    k = te.reduce_axis((0, 8), "k")
    S = te.compute((1,), lambda i: te.sum(A[k], axis=k), name="S")
    T = te.compute((1,), lambda i: S[i] * 2, name="T")
    s2 = te.create_schedule(T)
    with pytest.raises(ScheduleAttachError, match="'S' is a reduction and cannot be inlined"):
        s2[S].compute_inline()


def test_compute_at_follows_split_of_its_axis():
    A = te.placeholder((12,), "float32", name="A")
    B = te.compute((12,), lambda i: A[i] * 2, name="B")
    C = te.compute((10,), lambda i: B[i] + B[i + 2], name="C")
    s = te.create_schedule(C)
    (i,) = C.op.axis
    s[B].compute_at(s[C], i)
    io, ii = s[C].split(i, factor=4)
    assert s[B].attach_axis is ii
    s[B].compute_root()
    s[B].compute_at(s[C], io)
    f = lower(s, [A, C])
    text = print_ir(f)
    assert "allocate B: float32[6]" in text      # 4 outputs read a window of 4 + 2
    a = np.arange(12, dtype="float32")
    c = np.zeros(10, "float32")
    interp.run(f, a, c)
    np.testing.assert_allclose(c, a[:10] * 2 + a[2:] * 2)


def test_cache_read_write_and_scope_errors():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    with pytest.raises(ScheduleScopeError, match="unknown memory scope 'inp'.*MemoryScope"):
        s.cache_read(A, "inp", [C])
    with pytest.raises(ScheduleAttachError, match="stage 'C' does not read 'C'|does not read"):
        s.cache_read(C, "local", [C])
    AL = s.cache_read(A, "local", [C])
    assert AL.name == "A.local" and s[AL].scope.name == "local"
    CL = s.cache_write(C, "local")
    assert CL.name == "C.local"
    s[CL].compute_at(s[C], C.op.axis[0])
    s[AL].compute_at(s[CL], s[CL].op.axis[0])
    with pytest.raises(ScheduleAttachError, match="apply cache_write to stage 'C' before"):
        s.cache_write(C, "local")
    f = run_matmul(s, A, B, C)
    text = print_ir(f)
    assert "allocate C.local: float32[1, 8] in local" in text
    assert "allocate A.local: float32[1, 8] in local" in text


def test_scope_capacity_is_checked():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    tiny = te.MemoryScope("acc", capacity_bytes=64)
    CL = s.cache_write(C, tiny)
    s[CL].compute_at(s[C], C.op.axis[0])          # one row: 8 floats = 32 bytes, fits
    lower(s, [A, B, C])
    s[CL].compute_root()                            # the whole 8x8: 256 bytes
    with pytest.raises(ScopeCapacityError, match="'C.acc' needs 256 bytes in scope 'acc', "
                                                 "which has 64 bytes"):
        lower(s, [A, B, C])


def test_pragma_and_vthread():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    i, j = C.op.axis
    vo, vi = s[C].split(i, nparts=2)
    s[C].bind(vo, te.vthread())
    s[C].pragma(j, "dma_copy", 1)
    with pytest.raises(ScheduleError, match="key must be an identifier"):
        s[C].pragma(j, "bad key")
    with pytest.raises(ScheduleAxisError, match="cannot bind reduction axis 'k'"):
        s[C].bind(k, te.vthread())
    f = run_matmul(s, A, B, C)
    text = print_ir(f)
    assert "vthread for i.outer in range(2):  # thread=vthread" in text
    assert "attr [j] pragma_dma_copy = 1:" in text
    s2 = te.create_schedule(C)
    s2[C].bind(C.op.axis[0], te.vthread(3))
    with pytest.raises(LowerError, match="axis 'i' has extent 8 but is bound to vthread\\(3\\)"):
        lower(s2, [A, B, C])


def test_lower_argument_errors():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    with pytest.raises(LowerError, match="placeholder 'B' is read but not in the argument"):
        lower(s, [A, C])
    with pytest.raises(LowerError, match="listed twice"):
        lower(s, [A, B, C, C])


def test_schedule_printing_and_replay():
    A, B, C, k = matmul()
    s = te.create_schedule(C)
    CL = s.cache_write(C, "local")
    i, j = C.op.axis
    io, jo, ii, ji = s[C].tile(i, j, 4, 2)
    s[CL].compute_at(s[C], jo)
    s[C].vectorize(ji)
    text = str(s)
    assert text == (
        "schedule (outputs: C)\n"
        "  stage C.local: compute_at(C, j.outer), scope local, cache_write(C)\n"
        "    loops: i, j, k\n"
        "  stage C: root, scope global\n"
        "    loops: i.outer, j.outer, i.inner, j.inner [vectorized]\n"
        "primitives:\n"
        "  s.cache_write(C, local)\n"
        '  s["C"].tile(i, j, x_factor=4, y_factor=2)\n'
        '  s["C.local"].compute_at(s["C"], j.outer)\n'
        '  s["C"].vectorize(j.inner)')
    # tiling factors are parameters a tuner can change before replaying
    rec = s.records[1]
    assert rec.params() == {"x_factor": 4, "y_factor": 2}
    recs = list(s.records)
    recs[1] = rec.with_args(x_factor=2)
    A2, B2, C2, _ = matmul()
    s2 = te.create_schedule(C2).replay(recs)
    assert [a.name for a in s2[C2].leaf] == ["i.outer", "j.outer", "i.inner", "j.inner"]
    f = run_matmul(s2, A2, B2, C2)
    assert "for i.outer in range(4)" in print_ir(f)
    with pytest.raises(ScheduleError, match="no keyword argument 'factor'"):
        rec.with_args(factor=3)


def _gemm_intrin(emit):
    a = te.placeholder((2, 4), "float32", name="a")
    b = te.placeholder((4, 2), "float32", name="b")
    k = te.reduce_axis((0, 4), "k")
    c = te.compute((2, 2), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="c")
    return te.decl_tensor_intrin(c, emit, name="gemm2x2x4")


def test_tensorize_with_emitter_and_default():
    calls = []

    def emit(ins, outs, mode):
        calls.append((mode, [r.shape for r in ins], outs[0].shape))
        A_, B_ = ins
        (C_,) = outs
        i, j, kv = ir.Var("ti"), ir.Var("tj"), ir.Var("tk")
        acc = ir.BinOp("add", C_.load(i, j),
                       ir.BinOp("mul", A_.load(i, kv), B_.load(kv, j)))
        upd = ir.For(kv, ir.IntImm(0), ir.IntImm(4), "serial", C_.store((i, j), acc))
        init = C_.store((i, j), ir.FloatImm(0.0)) if mode == "body" else None
        body = ir.Seq((init, upd)) if init is not None else upd
        return ir.For(i, ir.IntImm(0), ir.IntImm(2), "serial",
                      ir.For(j, ir.IntImm(0), ir.IntImm(2), "serial", body))

    for emitter, mode in ((emit, "update"), (emit, "body"), (None, "body")):
        A, B, C, k = matmul(4, 4, 8 if mode == "update" else 4)
        s = te.create_schedule(C)
        i, j = C.op.axis
        io, jo, ii, ji = s[C].tile(i, j, 2, 2)
        if mode == "update":
            ko, ki = s[C].split(k, factor=4)
            s[C].reorder(io, jo, ko, ii, ji, ki)
            with pytest.raises(TensorizeError, match="the region has 6 loop"):
                s[C].tensorize(io, _gemm_intrin(emitter))
        else:
            s[C].reorder(io, jo, ii, ji, k)
        s[C].tensorize(ii, _gemm_intrin(emitter))
        f = run_matmul(s, A, B, C)
        assert "attr [C] tensorize = 'gemm2x2x4':" in print_ir(f)
    assert [c[0] for c in calls] == ["update", "body"]
    assert calls[0][1] == [(2, 4), (4, 2)] and calls[0][2] == (2, 2)


def test_tensorize_mismatch_errors():
    A, B, C, k = matmul(4, 6, 4)
    s = te.create_schedule(C)
    i, j = C.op.axis
    io, jo, ii, ji = s[C].tile(i, j, 2, 3)      # 3 != 2: extent mismatch
    s[C].tensorize(ii, _gemm_intrin(None))
    with pytest.raises(TensorizeError, match="stage 'C', axis 'i.inner': loop 'j.inner' has "
                                             "extent 3 but 'gemm2x2x4' axis 'j' has 2"):
        lower(s, [A, B, C])
    D = te.compute((4, 6), lambda i, j: te.sum(A[i, k] + B[k, j], axis=k), name="D")
    s = te.create_schedule(D)
    i, j = D.op.axis
    io, jo, ii, ji = s[D].tile(i, j, 2, 2)
    s[D].tensorize(ii, _gemm_intrin(None))
    with pytest.raises(TensorizeError, match=r"the stage computes `te.sum\(A\[i, k\] \+ "
                                             r"B\[k, j\], axis=\[k\]\)` but 'gemm2x2x4'"):
        lower(s, [A, B, D])
    with pytest.raises(TensorizeError, match="expects a TensorIntrin"):
        s[D].tensorize(ii, "gemm")
