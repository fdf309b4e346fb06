"""LLVM backend: calling convention, argument checks, errors, allocations and caches."""

import time

import numpy as np
import pytest

from compiler.codegen.llvm import (
    ArgumentError,
    CodegenError,
    KernelRuntimeError,
    build,
    clear_cache,
    jit,
)
from compiler.codegen.llvm.testing import add, buf, load, loop, mul, seq, store, var
from compiler.tir import ir

N = 16


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path / "cache"))


def _scale() -> ir.PrimFunc:
    A, C = buf("A", (2, N // 2)), buf("C", (2, N // 2))
    s = var("s", "float32")
    i = var("i")
    return ir.PrimFunc("scale", (A, C, s), loop(i, N, "serial",
                                                store(C, i, mul(load(A, i), s))))


# ---------------------------------------------------------------------- argument checks
def test_call_writes_outputs_in_place():
    f = build(_scale())
    a = np.arange(N, dtype=np.float32).reshape(2, -1)
    c = np.zeros_like(a)
    assert f(a, c, 2.0) is None
    np.testing.assert_array_equal(c, 2 * a)
    f(a, c, np.float32(3))
    np.testing.assert_array_equal(c, 3 * a)


@pytest.mark.parametrize("args, match", [
    (lambda a, c: (a, c), r"scale\(\) takes 3 arguments \(A, C, s\), got 2"),
    (lambda a, c: (a.tolist(), c, 1.0), r"argument 0 'A' must be a numpy.ndarray of float32"),
    (lambda a, c: (a.astype(np.float64), c, 1.0), r"argument 0 'A' has dtype float64, "
                                                  r"expected float32"),
    (lambda a, c: (a.reshape(-1), c, 1.0), r"argument 0 'A' has shape \(16,\), expected 2 "
                                           r"dimensions \(2, 8\)"),
    (lambda a, c: (a, np.zeros((2, 9), np.float32), 1.0), r"argument 1 'C' has shape"),
    (lambda a, c: (np.zeros((8, 2), np.float32).T, c, 1.0), r"'A' is not C-contiguous"),
    (lambda a, c: (a, c, "2"), r"argument 2 's' must be a real number"),
])
def test_argument_errors_name_the_parameter(args, match):
    f = build(_scale())
    a = np.zeros((2, N // 2), np.float32)
    c = np.zeros_like(a)
    with pytest.raises(ArgumentError, match=match):
        f(*args(a, c))


def test_read_only_output_and_overlap_are_rejected():
    f = build(_scale())
    a = np.ones((2, N // 2), np.float32)
    c = np.zeros_like(a)
    c.flags.writeable = False
    with pytest.raises(ArgumentError, match="'C' is written .* read-only"):
        f(a, c, 1.0)
    with pytest.raises(ArgumentError, match="'C' is written and overlaps argument 0 'A'"):
        f(a, a, 1.0)
    inplace = build(_scale(), noalias=False)
    inplace(a, a, 3.0)
    np.testing.assert_array_equal(a, 3.0)


def test_integer_scalars_are_range_checked():
    C = buf("C", 1, "int8")
    x = var("x", "int8")
    f = build(ir.PrimFunc("put", (C, x), store(C, 0, x)))
    c = np.zeros(1, np.int8)
    f(c, -128)
    assert c[0] == -128
    with pytest.raises(ArgumentError, match=r"'x' = 128 is out of range for int8"):
        f(c, 128)
    with pytest.raises(ArgumentError, match="'x' must be an integer"):
        f(c, 1.5)


def test_bool_buffers_and_scalars():
    A, C = buf("A", N, "bool"), buf("C", N, "bool")
    flag = var("flag", "bool")
    i = var("i")
    f = build(ir.PrimFunc("xor", (A, C, flag), loop(i, N, "vectorized", store(
        C, i, ir.BinOp("ne", load(A, i), flag)))))
    a = np.arange(N) % 3 == 0
    c = np.zeros(N, bool)
    f(a, c, True)
    np.testing.assert_array_equal(c, ~a)
    f(a, c, False)
    np.testing.assert_array_equal(c, a)


def test_symbolic_shapes_are_bound_from_arrays():
    n = var("n")
    A = ir.Buffer("A", (n,), "int32")
    C = ir.Buffer("C", (n,), "int32")
    i = var("i")
    f = build(ir.PrimFunc("copy_n", (A, C), loop(i, n, "serial", store(C, i, add(load(A, i), 1)))))
    for size in (0, 5, 100):
        a = np.arange(size, dtype=np.int32)
        c = np.zeros(size, np.int32)
        f(a, c)
        np.testing.assert_array_equal(c, a + 1)
    with pytest.raises(ArgumentError, match=r"'C' has shape \(4,\): dimension 0 is 'n' = 5"):
        f(np.zeros(5, np.int32), np.zeros(4, np.int32))


# ---------------------------------------------------------------------- compile errors
def test_codegen_errors_are_specific():
    A = buf("A", N)
    B = buf("B", N)
    i, j = var("i"), var("j")
    with pytest.raises(CodegenError, match="buffer 'B' is accessed in 'f' but is neither"):
        build(ir.PrimFunc("f", (A,), loop(i, N, "serial", store(A, i, load(B, i)))))
    with pytest.raises(CodegenError, match="variable 'j' is used but is neither"):
        build(ir.PrimFunc("f", (A,), loop(i, N, "serial", store(A, i, ir.Cast("float32", j)))))
    with pytest.raises(CodegenError, match="flatten the storage"):
        build(ir.PrimFunc("f", (A,), ir.BufferStore(A, (ir.IntImm(0),), ir.FloatImm(1.0))))
    with pytest.raises(CodegenError, match="needs a float argument"):
        C = buf("C", N, "int32")
        build(ir.PrimFunc("f", (C,), store(C, 0, ir.Call("exp", (load(C, 0),), "int32"))))
    with pytest.raises(CodegenError, match="of a float32 value; insert a Cast"):
        C = buf("C", N, "int32")
        build(ir.PrimFunc("f", (C, A), store(C, 0, load(A, 0))))
    with pytest.raises(CodegenError, match="does not support dtype 'float16'"):
        build(ir.PrimFunc("f", (buf("H", N, "float16"),), ir.Evaluate(ir.IntImm(0))))
    with pytest.raises(CodegenError, match="different dtypes int32 and float32"):
        build(ir.PrimFunc("f", (A,), loop(i, N, "serial", store(
            A, i, ir.Cast("float32", ir.BinOp("add", i, load(A, i)))))))
    with pytest.raises(CodegenError, match="opt_level"):
        build(_scale(), opt_level=5)


# ---------------------------------------------------------------------- allocations
def test_stack_and_heap_allocations():
    big, small = 100_000, 64  # 400 KB on the heap, 256 B on the stack
    C = buf("C", 2, "float32")
    T, S = buf("T", big, "float32"), buf("S", small, "float32")
    i, j = var("i"), var("j")
    body = ir.Allocate(T, ir.Allocate(S, seq(
        loop(i, big, "serial", store(T, i, ir.Cast("float32", i))),
        loop(j, small, "serial", store(S, j, load(T, mul(j, 1000)))),
        store(C, 0, load(T, big - 1)), store(C, 1, load(S, small - 1)))))
    f = build(ir.PrimFunc("alloc", (C,), body))
    assert "aligned_alloc" in f.llvm_ir and "alloca [64 x float]" in f.llvm_ir
    c = np.zeros(2, np.float32)
    f(c)
    np.testing.assert_array_equal(c, [big - 1, (small - 1) * 1000])


def test_failed_heap_allocation_raises():
    n = var("n", "int64")
    C = buf("C", 1, "float32")
    T = ir.Buffer("T", (n,), "float32")
    f = build(ir.PrimFunc("huge", (C, n), ir.Allocate(T, seq(
        store(T, ir.IntImm(0, "int64"), 1.0), store(C, 0, load(T, ir.IntImm(0, "int64")))))))
    c = np.zeros(1, np.float32)
    f(c, 10)
    assert c[0] == 1.0
    with pytest.raises(KernelRuntimeError, match="out of memory"):
        f(c, 1 << 60)


@pytest.mark.parametrize("opt_level", [0, 1, 2])
def test_lower_opt_levels(opt_level):
    f = build(_scale(), opt_level=opt_level)
    a = np.arange(N, dtype=np.float32).reshape(2, -1)
    c = np.zeros_like(a)
    f(a, c, -1.0)
    np.testing.assert_array_equal(c, -a)


def test_fastmath_vectorizes_a_serial_float_reduction():
    A, C = buf("A", 1024), buf("C", 1)
    i = var("i")
    fn = ir.PrimFunc("sum", (A, C), seq(store(C, 0, 0.0), loop(i, 1024, "serial", store(
        C, 0, add(load(C, 0), load(A, i))))))
    a = np.random.default_rng(0).standard_normal(1024, dtype=np.float32)
    c = np.zeros(1, np.float32)
    exact, fast = build(fn), build(fn, fastmath=True)
    for f in (exact, fast):
        f(a, c)
        np.testing.assert_allclose(c[0], a.sum(dtype=np.float64), rtol=1e-4)
    assert "fadd fast <" in fast.optimized_ir or "reduce.fadd" in fast.optimized_ir


# ---------------------------------------------------------------------- caches
def test_second_build_is_instant_and_the_same_object(monkeypatch):
    fn = _scale()
    first = build(fn)

    def no_compile(*_args, **_kw):
        raise AssertionError("a cached build must not compile again")

    original = jit.compile_object
    monkeypatch.setattr(jit, "compile_object", no_compile)
    t = time.perf_counter()
    again = build(fn)
    elapsed = time.perf_counter() - t
    assert again is first
    assert elapsed < 0.05
    assert build(_scale()) is first  # a structurally identical function: same key
    monkeypatch.setattr(jit, "compile_object", original)
    assert build(fn, opt_level=2) is not first
    assert len(first.cache_key) == 64


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path / "disk"))
    clear_cache()
    fn = _scale()
    first = build(fn)
    assert not first.from_disk_cache
    objs = list((tmp_path / "disk" / "llvm").glob("*.o"))
    assert [p.stem for p in objs] == [first.cache_key]
    clear_cache()
    second = build(fn)
    assert second is not first and second.from_disk_cache
    a = np.arange(N, dtype=np.float32).reshape(2, -1)
    c = np.zeros_like(a)
    second(a, c, 4.0)
    np.testing.assert_array_equal(c, 4 * a)
    assert "define" in second.optimized_ir and "ret" in second.assembly
    # a corrupt entry is ignored and rewritten
    objs[0].write_bytes(b"not an object file")
    clear_cache()
    third = build(fn)
    assert not third.from_disk_cache
    third(a, c, 5.0)
    np.testing.assert_array_equal(c, 5 * a)


def test_disk_cache_can_be_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path / "off"))
    monkeypatch.setenv("VDLA_LLVM_DISK_CACHE", "0")
    clear_cache()
    build(_scale())
    assert not (tmp_path / "off").exists()
