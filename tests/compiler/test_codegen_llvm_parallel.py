"""LLVM backend: parallel loops run as outlined chunk functions on worker threads.

Results must equal the serial build's exactly; the runtime's statistics show that the chunk
function ran as several chunks on more than one thread.
"""

import numpy as np
import pytest

from compiler.codegen.llvm import build, get_num_threads, set_num_threads
from compiler.codegen.llvm.testing import add, buf, load, loop, mul, seq, store, var
from compiler.tir import ir

M, K = 37, 24  # 37 rows: uneven chunks


@pytest.fixture(autouse=True)
def _two_threads(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vdla-cache"))
    old = get_num_threads()
    set_num_threads(2)
    yield
    set_num_threads(old)


def _rowsum(kind: str, inner_kind: str = "serial") -> ir.PrimFunc:
    """C[i] = sum_k A[i, k] * s, rows in a `kind` loop, with a private accumulator."""
    A, C = buf("A", (M, K)), buf("C", M)
    s = var("s", "float32")
    acc = buf("acc", 1, "float32", scope="local")
    i, k = var("i"), var("k")
    body = loop(i, M, kind, ir.Allocate(acc, seq(
        store(acc, 0, 0.0),
        loop(k, K, inner_kind, store(acc, 0, add(load(acc, 0),
                                                 mul(load(A, add(mul(i, K), k)), s)))),
        store(C, i, load(acc, 0)))))
    return ir.PrimFunc(f"rowsum_{kind}_{inner_kind}", (A, C, s), body)


def test_parallel_equals_serial_and_uses_two_threads():
    a = np.random.default_rng(0).standard_normal((M, K), dtype=np.float32)
    cs, cp = np.zeros(M, np.float32), np.zeros(M, np.float32)
    build(_rowsum("serial"))(a, cs, 0.5)
    fp = build(_rowsum("parallel"))
    assert fp.num_parallel_loops == 1
    assert "__par0" in fp.llvm_ir and "vdla_parallel_launch" in fp.llvm_ir
    before = fp.parallel_stats
    fp(a, cp, 0.5)
    after = fp.parallel_stats
    np.testing.assert_array_equal(cp, cs)
    np.testing.assert_allclose(cp, a.sum(1) * 0.5, rtol=1e-5)
    assert after.launches - before.launches == 1
    assert after.chunks - before.chunks >= 2
    assert len(after.threads) >= 2


def test_nested_parallel_runs_inner_serially():
    f = build(_rowsum("parallel", inner_kind="parallel"))
    assert f.num_parallel_loops == 1
    a = np.ones((M, K), np.float32)
    c = np.zeros(M, np.float32)
    f(a, c, 2.0)
    np.testing.assert_array_equal(c, np.full(M, 2.0 * K, np.float32))


def test_parallel_inside_serial_loop_captures_outer_state():
    """An outer serial loop var, a let var, a scalar param and a heap buffer are captured."""
    T, W = 3, 1000
    X, Y = buf("X", (T, W), "int32"), buf("Y", (T, W), "int32")
    tmp = buf("tmp", W * 20, "int32")  # 80 KB: heap allocated
    bias = var("bias")
    t, j, j2, off = var("t"), var("j"), var("j2"), var("off")
    body = ir.Allocate(tmp, loop(t, T, "serial", ir.LetStmt(off, mul(t, W), seq(
        loop(j, W, "parallel", store(tmp, j, add(load(X, add(off, j)), bias))),
        loop(j2, W, "parallel", store(Y, add(off, j2), mul(load(tmp, j2), 2))),
    ))))
    f = build(ir.PrimFunc("capture", (X, Y, bias), body))
    assert f.num_parallel_loops == 2
    x = np.arange(T * W, dtype=np.int32).reshape(T, W)
    y = np.zeros((T, W), np.int32)
    before = f.parallel_stats.launches
    f(x, y, 5)
    np.testing.assert_array_equal(y, 2 * (x + 5))
    assert f.parallel_stats.launches - before == 2 * T


@pytest.mark.parametrize("extent", [0, 1, 2, 3])
def test_small_and_empty_parallel_ranges(extent):
    C = buf("C", 4, "int32")
    i = var("i")
    f = build(ir.PrimFunc(f"small{extent}", (C,), loop(i, extent, "parallel",
                                                      store(C, i, add(i, 10)))))
    c = np.zeros(4, np.int32)
    f(c)
    want = np.zeros(4, np.int32)
    want[:extent] = np.arange(extent) + 10
    np.testing.assert_array_equal(c, want)


def test_parallel_vectorized_matmul_matches_numpy():
    """The benchmark's shape of schedule at a small size: parallel x unrolled x vectorized."""
    from compiler.codegen.llvm._demo_matmul import matmul_ir

    f = build(matmul_ir(64, 128, 48, mr=4, nr=32))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 48), dtype=np.float32)
    b = rng.standard_normal((48, 128), dtype=np.float32)
    c = np.zeros((64, 128), np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    assert f.num_parallel_loops == 2
    assert len(f.parallel_stats.threads) >= 2


def test_thread_count_setting():
    with pytest.raises(ValueError):
        set_num_threads(0)
    set_num_threads(1)
    f = build(_rowsum("parallel"))
    a = np.ones((M, K), np.float32)
    c = np.zeros(M, np.float32)
    before = f.parallel_stats.chunks
    f(a, c, 1.0)
    assert f.parallel_stats.chunks - before == 1
    np.testing.assert_array_equal(c, np.full(M, K, np.float32))
