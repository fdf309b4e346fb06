"""LLVM backend: vectorized and unrolled loops become vector code with serial semantics.

Checks both the result (equal to the serial build and to numpy or the loop-IR interpreter) and
the code (vector types in the LLVM IR, SIMD registers in the assembly, gathers/masks where the
access needs them, accumulators promoted to registers).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.codegen.llvm import build, host_target, lower_to_llvm
from compiler.codegen.llvm.testing import (
    add,
    buf,
    const,
    load,
    loop,
    lt,
    mul,
    seq,
    store,
    var,
)
from compiler.codegen.llvm.vectorize import vectorize_loops
from compiler.tir import interp, ir

N = 64


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vdla-cache"))


def _simd_regs(asm: str) -> set[str]:
    return {r for r in ("xmm", "ymm", "zmm") if f"%{r}" in asm}


def _both(make, *arrays_in, outs):
    """Run make("serial") and make("vectorized") on copies; return both output lists."""
    results = []
    for kind in ("serial", "vectorized"):
        f = build(make(kind))
        o = [x.copy() for x in outs]
        f(*arrays_in, *o)
        results.append((f, o))
    return results


def test_contiguous_loop_is_vector_code():
    A, B, C = buf("A", N), buf("B", N), buf("C", N)

    def make(kind):
        o, v = var("o"), var("v")
        i = add(mul(o, 16), v)
        return ir.PrimFunc(f"axpy_{kind}", (A, B, C), loop(o, N // 16, "serial", loop(
            v, 16, kind, store(C, i, add(mul(load(A, i), 2.0), load(B, i))))))

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(N, dtype=np.float32), rng.standard_normal(N, dtype=np.float32)
    (fs, (cs,)), (fv, (cv,)) = _both(make, a, b, outs=[np.zeros(N, np.float32)])
    np.testing.assert_allclose(cv, 2 * a + b, rtol=1e-6)
    np.testing.assert_array_equal(cv, cs)
    assert "load <16 x float>" in fv.llvm_ir and "store <16 x float>" in fv.llvm_ir
    assert "<16 x float>" not in fs.llvm_ir
    lanes = host_target().vector_lanes("float32")
    assert _simd_regs(fv.assembly) & {"ymm", "zmm"} if lanes >= 8 else True
    if lanes == 16:
        assert "zmm" in fv.assembly


def test_strided_read_is_gather_and_scatter_write():
    A, C = buf("A", 2 * N), buf("C", 3 * N)

    def make(kind):
        o, v = var("o"), var("v")
        i = add(mul(o, 8), v)
        return ir.PrimFunc(f"strided_{kind}", (A, C), loop(o, N // 8, "serial", loop(
            v, 8, kind, store(C, mul(i, 3), add(load(A, mul(i, 2)), 1.0)))))

    a = np.arange(2 * N, dtype=np.float32)
    (_, (cs,)), (fv, (cv,)) = _both(make, a, outs=[np.full(3 * N, -1, np.float32)])
    want = np.full(3 * N, -1, np.float32)
    want[::3] = a[::2] + 1
    np.testing.assert_array_equal(cv, want)
    np.testing.assert_array_equal(cs, want)
    assert "llvm.masked.gather" in fv.llvm_ir and "llvm.masked.scatter" in fv.llvm_ir


def test_guarded_tail_uses_masked_access():
    """``if o*16 + v < n`` around the body: lanes past n neither read nor write."""
    n = var("n")
    A, C = buf("A", N), buf("C", N)

    def make(kind):
        o, v = var("o"), var("v")
        i = add(mul(o, 16), v)
        return ir.PrimFunc(f"tail_{kind}", (A, C, n), loop(o, N // 16, "serial", loop(
            v, 16, kind, ir.IfThenElse(lt(i, n), store(C, i, add(load(A, i), 1.0))))))

    a = np.arange(N, dtype=np.float32)
    fv = build(make("vectorized"))
    assert "llvm.masked.load" in fv.llvm_ir and "llvm.masked.store" in fv.llvm_ir
    for count in (0, 1, 37, N):
        c = np.full(N, -5, np.float32)
        fv(a, c, count)
        np.testing.assert_array_equal(c[:count], a[:count] + 1)
        np.testing.assert_array_equal(c[count:], -5)


def test_lane_dependent_if_else_let_and_select():
    A, C = buf("A", N, "int32"), buf("C", N, "int32")

    def make(kind):
        o, v, t = var("o"), var("v"), var("t")
        i = add(mul(o, 8), v)
        odd = ir.BinOp("eq", ir.BinOp("floormod", load(A, i), const(2, "int32")),
                       const(1, "int32"))
        body = ir.LetStmt(t, mul(load(A, i), 3), ir.IfThenElse(
            odd, store(C, i, add(t, 1)),
            store(C, i, ir.Select(lt(t, 0), ir.Neg(t), t))))
        return ir.PrimFunc(f"ite_{kind}", (A, C), loop(o, N // 8, "serial",
                                                       loop(v, 8, kind, body)))

    a = np.arange(-N // 2, N // 2, dtype=np.int32)
    (_, (cs,)), (fv, (cv,)) = _both(make, a, outs=[np.zeros(N, np.int32)])
    want = np.where(a % 2 == 1, 3 * a + 1, np.abs(3 * a))
    np.testing.assert_array_equal(cv, want)
    np.testing.assert_array_equal(cs, want)
    assert "<8 x i32>" in fv.llvm_ir


def test_allocate_inside_vectorized_loop_is_private_per_lane():
    A, C = buf("A", N), buf("C", N)
    tmp = buf("tmp", 4, "float32", scope="local")

    def make(kind):
        o, v, k = var("o"), var("v"), var("k")
        i = add(mul(o, 16), v)
        body = ir.Allocate(tmp, seq(
            loop(k, 4, "serial", store(tmp, k, mul(load(A, i), ir.Cast("float32", k)))),
            store(C, i, add(load(tmp, 1), load(tmp, 3)))))
        return ir.PrimFunc(f"alloc_{kind}", (A, C), loop(o, N // 16, "serial",
                                                         loop(v, 16, kind, body)))

    a = np.arange(N, dtype=np.float32)
    (_, (cs,)), (_, (cv,)) = _both(make, a, outs=[np.zeros(N, np.float32)])
    np.testing.assert_array_equal(cv, 4 * a)
    np.testing.assert_array_equal(cs, 4 * a)


def test_reduction_inside_vectorized_loop():
    """C[v] = sum_k A[k, v]: an inner serial loop over a vector accumulator."""
    K = 8
    A, C = buf("A", (K, 16)), buf("C", 16)

    def make(kind):
        v, k = var("v"), var("k")
        return ir.PrimFunc(f"colsum_{kind}", (A, C), loop(v, 16, kind, seq(
            store(C, v, 0.0),
            loop(k, K, "serial", store(C, v, add(load(C, v), load(A, add(mul(k, 16), v))))))))

    a = np.random.default_rng(1).standard_normal((K, 16), dtype=np.float32)
    (_, (cs,)), (_, (cv,)) = _both(make, a, outs=[np.zeros(16, np.float32)])
    np.testing.assert_allclose(cv, a.sum(0), rtol=1e-5)
    np.testing.assert_array_equal(cv, cs)


def test_non_vectorizable_loops_stay_correct():
    """A lane-dependent inner bound, a lane-independent store and a symbolic extent."""
    A, C = buf("A", 16, "int32"), buf("C", 16, "int32")
    S = buf("S", 1, "int32")
    n = var("n")
    v, k, w = var("v"), var("k"), var("w")
    tri = loop(v, 16, "vectorized", seq(store(C, v, 0), loop(
        k, add(v, 1), "serial", store(C, v, add(load(C, v), load(A, k))))))
    total = loop(w, 16, "vectorized", store(S, 0, add(load(S, 0), load(A, w))))
    sym = loop(var("u"), n, "vectorized", store(A, 0, load(A, 0)))
    f = build(ir.PrimFunc("scalarized", (A, C, S, n), seq(tri, total, sym)))
    a = np.arange(16, dtype=np.int32)
    c, s = np.zeros(16, np.int32), np.zeros(1, np.int32)
    f(a, c, s, 5)
    np.testing.assert_array_equal(c, np.cumsum(a))
    assert s[0] == a.sum()


def test_non_power_of_two_lanes_are_split_to_native_width():
    lanes = host_target().vector_lanes("float32")
    width = 3 * lanes
    A, C = buf("A", width), buf("C", width)
    v = var("v")
    fn = ir.PrimFunc("wide", (A, C), loop(v, width, "vectorized",
                                          store(C, v, mul(load(A, v), 3.0))))
    f = build(fn)
    assert f"<{lanes} x float>" in f.llvm_ir and f"<{width} x float>" not in f.llvm_ir
    a = np.arange(width, dtype=np.float32)
    c = np.zeros(width, np.float32)
    f(a, c)
    np.testing.assert_array_equal(c, 3 * a)


def test_unrolled_register_block_is_promoted_to_registers():
    """Unrolled x vectorized accumulators in a local Allocate: no memory traffic in the k loop."""
    M, K, NB = 4, 32, 32
    A, B, C = buf("A", (M, K)), buf("B", (K, NB)), buf("C", (M, NB))
    acc = buf("acc", M * NB, "float32", scope="local")
    ii, jv, k = var("ii"), var("jv"), var("k")
    ai = add(mul(ii, NB), jv)
    body = ir.Allocate(acc, seq(
        loop(ii, M, "unrolled", loop(jv, NB, "vectorized", store(acc, ai, 0.0))),
        loop(k, K, "serial", loop(ii, M, "unrolled", loop(jv, NB, "vectorized", store(
            acc, ai, add(load(acc, ai), mul(load(A, add(mul(ii, K), k)),
                                            load(B, add(mul(k, NB), jv)))))))),
        loop(ii, M, "unrolled", loop(jv, NB, "vectorized", store(C, ai, load(acc, ai))))))
    f = build(ir.PrimFunc("microkernel", (A, B, C), body))
    rng = np.random.default_rng(2)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, NB), dtype=np.float32)
    c = np.zeros((M, NB), np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    assert "for_ii" not in f.llvm_ir  # unrolled in the loop IR
    assert "alloca" not in f.optimized_ir  # SROA promoted the accumulators
    if host_target().has("fma"):
        assert "vfmadd" in f.assembly


def test_unrolled_loop_with_symbolic_extent_stays_a_loop():
    n = var("n")
    A = buf("A", 8, "int32")
    u = var("u")
    f = build(ir.PrimFunc("unroll_sym", (A, n), loop(u, n, "unrolled", store(A, u, mul(u, u)))))
    a = np.zeros(8, np.int32)
    f(a, 5)
    np.testing.assert_array_equal(a, [0, 1, 4, 9, 16, 0, 0, 0])


def test_vectorize_pass_output_shape():
    """The loop-IR rewrite itself: the loop disappears, accesses become ramps."""
    A, C = buf("A", N), buf("C", N)
    v = var("v")
    out = vectorize_loops(loop(v, 16, "vectorized", store(C, add(v, 4), load(A, v))))
    assert isinstance(out, ir.Store)
    assert isinstance(out.index, ir.Ramp) and out.index.lanes == 16
    assert isinstance(out.value, ir.Load) and isinstance(out.value.index, ir.Ramp)


def test_avx2_target_uses_ymm(monkeypatch):
    """Compiling for a narrower CPU (AVX2, no AVX-512) still vectorizes, with ymm registers."""
    if not host_target().has("avx2"):
        pytest.skip("host has no AVX2")
    monkeypatch.setenv("VDLA_LLVM_FEATURES", "-avx512f")
    A, C = buf("A", N), buf("C", N)
    v = var("v")
    f = build(ir.PrimFunc("avx2", (A, C), loop(v, N, "vectorized", store(
        C, v, ir.Call("exp", (load(A, v),), "float32")))))
    a = np.linspace(-3, 3, N, dtype=np.float32)
    c = np.zeros(N, np.float32)
    f(a, c)
    np.testing.assert_allclose(c, np.exp(a), rtol=1e-5)
    assert "ymm" in f.assembly and "zmm" not in f.assembly


# ---------------------------------------------------------------------- random programs
_INT_OPS = ["add", "sub", "mul", "min", "max"]


def _expr(draw, depth, leaves):
    choice = draw(st.integers(0, 6 if depth > 0 else 1))
    if choice == 0:
        return draw(st.sampled_from(leaves))
    if choice == 1:
        return const(draw(st.integers(-50, 50)), "int32")
    if choice <= 3:
        op = draw(st.sampled_from(_INT_OPS))
        return ir.BinOp(op, _expr(draw, depth - 1, leaves), _expr(draw, depth - 1, leaves))
    if choice == 4:
        op = draw(st.sampled_from(["floordiv", "floormod", "div", "mod"]))
        return ir.BinOp(op, _expr(draw, depth - 1, leaves),
                        const(draw(st.sampled_from([-7, -2, 3, 4, 16])), "int32"))
    if choice == 5:
        c = ir.BinOp(draw(st.sampled_from(["lt", "ge", "eq"])), _expr(draw, depth - 1, leaves),
                     _expr(draw, depth - 1, leaves))
        return ir.Select(c, _expr(draw, depth - 1, leaves), _expr(draw, depth - 1, leaves))
    inner = ir.Cast("int8", _expr(draw, depth - 1, leaves))
    return ir.Cast("int32", ir.BinOp("mul", inner, const(draw(st.integers(-9, 9)), "int8")))


@st.composite
def _programs(draw):
    lanes = draw(st.sampled_from([4, 8, 16]))
    A, B, C = buf("A", N, "int32"), buf("B", N, "int32"), buf("C", N, "int32")
    o, v = var("o"), var("v")
    i = add(mul(o, lanes), v)
    leaves = [load(A, i), load(B, i), i, o, v]
    e = _expr(draw, 3, leaves)
    guard = draw(st.booleans())

    def make(kind):
        s = store(C, i, e)
        if guard:
            s = ir.IfThenElse(lt(load(A, i), load(B, i)), s)
        return ir.PrimFunc("rand_" + kind, (A, B, C),
                           loop(o, N // lanes, "serial", loop(v, lanes, kind, s)))

    return make


@settings(max_examples=25)
@given(make=_programs())
def test_random_int_programs_match_interpreter(make):
    rng = np.random.default_rng(3)
    a = rng.integers(-1000, 1000, N, dtype=np.int32)
    b = rng.integers(-1000, 1000, N, dtype=np.int32)
    want = np.full(N, 7, np.int32)
    interp.run(make("serial"), a, b, want)
    for kind in ("serial", "vectorized"):
        c = np.full(N, 7, np.int32)
        build(make(kind), disk_cache=False)(a, b, c)
        np.testing.assert_array_equal(c, want, err_msg=kind)


def test_lowered_text_is_deterministic():
    A, C = buf("A", N), buf("C", N)
    v = var("v")
    fn = ir.PrimFunc("det", (A, C), loop(v, N, "vectorized", store(C, v, load(A, v))))
    t = host_target()
    assert lower_to_llvm(fn, t).ir_text == lower_to_llvm(fn, t).ir_text


def test_offset_min_int64_indices_and_other_statements():
    """A loop starting at 3, int64 index casts (still contiguous), vthread, attr, evaluate."""
    A, C = buf("A", N, "int32"), buf("C", N, "int32")
    v, t, w = var("v"), var("t", "int64"), var("w")
    i64 = ir.Cast("int64", v)
    body = seq(
        ir.AttrStmt("pragma_unknown", None, 1, loop(v, 16, "vectorized",
                                                   store(C, i64, add(load(A, i64), 1)),
                                                   start=3)),
        loop(t, 4, "serial", store(C, add(t, ir.IntImm(40, "int64")), ir.Cast("int32", t))),
        loop(w, 2, "vthread", ir.Evaluate(add(w, 1))),
    )
    f = build(ir.PrimFunc("misc", (A, C), body))
    assert "llvm.masked.gather" not in f.llvm_ir and "load <16 x i32>" in f.llvm_ir
    a = np.arange(N, dtype=np.int32) * 10
    c = np.zeros(N, np.int32)
    f(a, c)
    want = np.zeros(N, np.int32)
    want[3:19] = a[3:19] + 1
    want[40:44] = np.arange(4)
    np.testing.assert_array_equal(c, want)


def test_very_wide_vectorized_loop_becomes_a_loop_of_native_vectors():
    lanes = host_target().vector_lanes("float32")
    width = 64 * lanes
    A, C = buf("A", width), buf("C", width)
    v = var("v")
    f = build(ir.PrimFunc("very_wide", (A, C), loop(v, width, "vectorized",
                                                    store(C, v, add(load(A, v), 1.0)))))
    assert f"<{lanes} x float>" in f.llvm_ir and "for_v_o" in f.llvm_ir
    a = np.arange(width, dtype=np.float32)
    c = np.zeros(width, np.float32)
    f(a, c)
    np.testing.assert_array_equal(c, a + 1)
