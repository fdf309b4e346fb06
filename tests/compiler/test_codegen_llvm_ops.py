"""LLVM backend: every operator, dtype, cast and math intrinsic against numpy / Python ints.

Each test builds a small flat loop-IR function by hand (``compiler.codegen.llvm.testing``),
compiles it once serially and once with a vectorized inner loop, and compares with an
independent reference: exact for integers (Python-int restatements of ir.py semantics and
numpy's own wrap-around), within tolerance for floats.
"""

import math

import numpy as np
import pytest

from compiler.codegen.llvm import build
from compiler.codegen.llvm.testing import add, buf, const, load, loop, mul, seq, store, var
from compiler.tir import ir

N = 64
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint32"]
ARITH = ["add", "sub", "mul", "min", "max", "and", "or", "floordiv", "floormod", "div", "mod"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vdla-cache"))


def _index_loop(body_of, kind: str, n: int = N) -> ir.Stmt:
    """``for i in 0..n: body_of(i)``; kind "vector" = serial outer x vectorized 16 inner."""
    if kind == "vector":
        o, v = var("o"), var("v")
        return loop(o, n // 16, "serial", loop(v, 16, "vectorized", body_of(add(mul(o, 16), v))))
    i = var("i")
    return loop(i, n, kind, body_of(i))


def _ints(dtype: str, rng, n: int = N, nonzero: bool = False) -> np.ndarray:
    info = np.iinfo(dtype)
    edge = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2, info.min + 1, info.max - 1]
    x = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    x[: len(edge)] = np.array(edge, dtype=np.int64).astype(dtype)
    rng.shuffle(x)
    if nonzero:
        x[x == 0] = 3
    return x


def _wrap(v: int, dtype: str) -> int:
    bits = np.iinfo(dtype).bits
    v &= (1 << bits) - 1
    if np.iinfo(dtype).min < 0 and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def _ref_int(op: str, a: int, b: int, dtype: str) -> int:
    """ir.py integer semantics on Python ints; x/0 and x%0 give 0 (as numpy)."""
    if op in ("floordiv", "floormod", "div", "mod") and b == 0:
        return 0
    q_trunc = (abs(a) // abs(b)) * (1 if (a < 0) == (b < 0) else -1) if b else 0
    r = {"add": a + b, "sub": a - b, "mul": a * b, "min": min(a, b), "max": max(a, b),
         "and": a & b, "or": a | b, "floordiv": a // b if b else 0,
         "floormod": a % b if b else 0, "div": q_trunc, "mod": a - b * q_trunc}[op]
    return _wrap(r, dtype)


def _binops_func(dtype: str, kind: str, ops: list[str], out_dtype: str | None = None):
    A, B = buf("A", N, dtype), buf("B", N, dtype)
    out = buf("C", (len(ops), N), out_dtype or dtype)
    body = _index_loop(lambda i: seq(*[
        store(out, add(i, k * N), ir.BinOp(op, load(A, i), load(B, i)))
        for k, op in enumerate(ops)]), kind)
    return ir.PrimFunc(f"binops_{dtype}_{kind}", (A, B, out), body)


@pytest.mark.parametrize("kind", ["serial", "vector"])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_arithmetic_exact(dtype, kind):
    rng = np.random.default_rng(1)
    a, b = _ints(dtype, rng), _ints(dtype, rng)
    b[:4] = [0, 0, 1, 2]  # division by zero -> 0
    if np.iinfo(dtype).min < 0:
        a[4], b[4] = np.iinfo(dtype).min, -1  # INT_MIN // -1 wraps to INT_MIN
        a[5:9], b[5:9] = [-7, 7, -7, 7], [2, -2, -2, 2]
    c = np.zeros((len(ARITH), N), dtype)
    build(_binops_func(dtype, kind, ARITH))(a, b, c)
    for k, op in enumerate(ARITH):
        want = [_ref_int(op, int(x), int(y), dtype) for x, y in zip(a, b)]
        np.testing.assert_array_equal(c[k], np.array(want, dtype=np.int64).astype(dtype),
                                      err_msg=f"{op} {dtype}")


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_ops_match_numpy(dtype):
    """Wrap-around and floor division/modulo of negative numbers are numpy's, exactly."""
    rng = np.random.default_rng(2)
    a, b = _ints(dtype, rng), _ints(dtype, rng, nonzero=True)
    if np.iinfo(dtype).min < 0:
        b[b == -1] = 5  # numpy warns on INT_MIN // -1
    ops = ["add", "sub", "mul", "floordiv", "floormod", "min", "max"]
    c = np.zeros((len(ops), N), dtype)
    build(_binops_func(dtype, "vector", ops))(a, b, c)
    with np.errstate(all="ignore"):
        ref = [a + b, a - b, a * b, np.floor_divide(a, b), np.remainder(a, b),
               np.minimum(a, b), np.maximum(a, b)]
    for k, op in enumerate(ops):
        np.testing.assert_array_equal(c[k], ref[k], err_msg=f"{op} {dtype}")


@pytest.mark.parametrize("kind", ["serial", "vector"])
@pytest.mark.parametrize("dtype", INT_DTYPES + ["float32", "float64"])
def test_comparisons(dtype, kind):
    rng = np.random.default_rng(3)
    if dtype.startswith("float"):
        a = rng.integers(-3, 3, N).astype(dtype)
        b = rng.integers(-3, 3, N).astype(dtype)
        a[0] = np.nan
    else:
        a, b = _ints(dtype, rng), _ints(dtype, rng)
        b[::3] = a[::3]
    c = np.zeros((len(COMPARE), N), bool)
    build(_binops_func(dtype, kind, COMPARE, "bool"))(a, b, c)
    ref = [a == b, a != b, a < b, a <= b, a > b, a >= b]
    for k, op in enumerate(COMPARE):
        np.testing.assert_array_equal(c[k], ref[k], err_msg=f"{op} {dtype}")


@pytest.mark.parametrize("kind", ["serial", "vector"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_arithmetic(dtype, kind):
    rng = np.random.default_rng(4)
    a = rng.uniform(-10, 10, N).astype(dtype)
    b = rng.uniform(0.5, 4, N).astype(dtype) * rng.choice([-1, 1], N).astype(dtype)
    ops = ["add", "sub", "mul", "div", "min", "max", "floordiv", "floormod", "mod"]
    c = np.zeros((len(ops), N), dtype)
    build(_binops_func(dtype, kind, ops))(a, b, c)
    ref = [a + b, a - b, a * b, a / b, np.minimum(a, b), np.maximum(a, b),
           np.floor_divide(a, b), np.remainder(a, b), np.fmod(a, b)]
    for k, op in enumerate(ops):
        np.testing.assert_allclose(c[k], ref[k], rtol=1e-5, atol=1e-5, err_msg=op)


@pytest.mark.parametrize("kind", ["serial", "vector"])
@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint8", "float32"])
def test_not_and_neg(dtype, kind):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, N).astype(bool) if dtype == "bool" else \
        (rng.uniform(-5, 5, N).astype(dtype) if dtype == "float32" else _ints(dtype, rng))
    A = buf("A", N, dtype)
    out = buf("C", (2, N), dtype)
    first = (lambda x: ir.Not(x)) if dtype != "float32" else (lambda x: ir.Neg(ir.Neg(x)))
    second = (lambda x: ir.Neg(x)) if dtype != "bool" else (lambda x: ir.Not(ir.Not(x)))
    body = _index_loop(lambda i: seq(store(out, i, first(load(A, i))),
                                     store(out, add(i, N), second(load(A, i)))), kind)
    c = np.zeros((2, N), dtype)
    build(ir.PrimFunc("notneg", (A, out), body))(a, c)
    with np.errstate(all="ignore"):
        if dtype == "bool":
            np.testing.assert_array_equal(c[0], ~a)
            np.testing.assert_array_equal(c[1], a)
        elif dtype == "float32":
            np.testing.assert_array_equal(c[0], a)
            np.testing.assert_array_equal(c[1], -a)
        else:
            np.testing.assert_array_equal(c[0], ~a)
            np.testing.assert_array_equal(c[1], -a)


CAST_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint32", "float32",
               "float64"]


def _cast_source(src: str, dst: str, rng) -> np.ndarray:
    if src == "bool":
        return rng.integers(0, 2, N).astype(bool)
    if src.startswith("float"):
        lo = 0 if dst.startswith("uint") or dst == "bool" else -100
        x = rng.uniform(lo, 100, N).astype(src)
        x[:4] = [0.0, 0.5, 99.9, lo + 0.25]
        if dst == "bool":
            x[4] = np.nan  # nan is truthy, as in numpy
        return x
    return _ints(src, rng)


@pytest.mark.parametrize("kind", ["serial", "vector"])
@pytest.mark.parametrize("src", CAST_DTYPES)
def test_casts_to_every_dtype(src, kind):
    """int8 -> float32 sign-extends, uint8 -> int32 zero-extends, float -> int truncates..."""
    rng = np.random.default_rng(6)
    targets = [d for d in CAST_DTYPES if d != src]
    A = buf("A", N, src)
    outs = [buf(f"C_{d}", N, d) for d in targets]
    body = _index_loop(lambda i: seq(*[store(o, i, ir.Cast(o.dtype, load(A, i)))
                                       for o in outs]), kind)
    f = build(ir.PrimFunc(f"cast_{src}_{kind}", (A, *outs), body))
    for dst in targets:  # one input per target so float -> unsigned stays in range
        a = _cast_source(src, dst, rng)
        cs = [np.zeros(N, d) for d in targets]
        f(a, *cs)
        got = cs[targets.index(dst)]
        with np.errstate(all="ignore"):
            want = a.astype(dst)
        if src.startswith("float") and dst.startswith("float"):
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{src}->{dst}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{src}->{dst}")


@pytest.mark.parametrize("kind", ["serial", "vector"])
def test_select_evaluates_both_and_picks_one(kind):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(N).astype(np.float32)
    b = rng.integers(-5, 5, N).astype(np.int32)
    A, B = buf("A", N, "float32"), buf("B", N, "int32")
    C, D = buf("C", N, "float32"), buf("D", N, "int32")
    body = _index_loop(lambda i: seq(
        store(C, i, ir.Select(ir.BinOp("gt", load(A, i), const(0, "float32")), load(A, i),
                              mul(load(A, i), 0.1))),
        store(D, i, ir.Select(ir.BinOp("lt", i, const(N // 2, "int32")), load(B, i),
                              ir.Neg(load(B, i))))), kind)
    c, d = np.zeros(N, np.float32), np.zeros(N, np.int32)
    build(ir.PrimFunc("select", (A, B, C, D), body))(a, b, c, d)
    np.testing.assert_allclose(c, np.where(a > 0, a, a * np.float32(0.1)), rtol=1e-6)
    np.testing.assert_array_equal(d, np.where(np.arange(N) < N // 2, b, -b))


_erf = np.vectorize(math.erf)
MATH = {
    "exp": (np.exp, (-20, 20)), "log": (np.log, (0.01, 100)), "sqrt": (np.sqrt, (0, 100)),
    "tanh": (np.tanh, (-6, 6)), "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-20, 20)),
    "abs": (np.abs, (-5, 5)), "erf": (_erf, (-3, 3)), "floor": (np.floor, (-5, 5)),
    "ceil": (np.ceil, (-5, 5)), "round": (np.round, (-5, 5)),
}


@pytest.mark.parametrize("kind", ["serial", "vector"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_math_intrinsics(dtype, kind):
    rng = np.random.default_rng(8)
    names = list(MATH) + ["pow"]
    ins = {nm: buf(f"X_{nm}", N, dtype) for nm in names}
    Y = buf("Y", N, dtype)
    outs = {nm: buf(f"Z_{nm}", N, dtype) for nm in names}

    def body_of(i):
        stmts = [store(outs[nm], i, ir.Call(nm, (load(ins[nm], i),), dtype)) for nm in MATH]
        stmts.append(store(outs["pow"], i, ir.Call("pow", (load(ins["pow"], i), load(Y, i)),
                                                   dtype)))
        return seq(*stmts)

    f = build(ir.PrimFunc(f"math_{dtype}_{kind}", (*ins.values(), Y, *outs.values()),
                          _index_loop(body_of, kind)))
    xs = {nm: rng.uniform(*MATH[nm][1], N).astype(dtype) for nm in MATH}
    xs["round"][:4] = [0.5, 1.5, 2.5, -0.5]  # half to even, as numpy
    xs["pow"] = rng.uniform(0.1, 3, N).astype(dtype)
    y = rng.uniform(-2, 2, N).astype(dtype)
    zs = {nm: np.zeros(N, dtype) for nm in names}
    f(*[xs[nm] for nm in names], y, *[zs[nm] for nm in names])
    tol = 2e-6 if dtype == "float32" else 1e-12
    for nm, (ref, _) in MATH.items():
        np.testing.assert_allclose(zs[nm], ref(xs[nm].astype(np.float64)), rtol=tol, atol=tol,
                                   err_msg=nm)
    np.testing.assert_allclose(zs["pow"], np.power(xs["pow"].astype(np.float64), y), rtol=tol)


def test_integer_abs_and_rounding_are_exact():
    a = np.array([-128, -5, 0, 7, 127] * 16, np.int8)[:N]
    A, C, D = buf("A", N, "int8"), buf("C", N, "int8"), buf("D", N, "int8")
    body = _index_loop(lambda i: seq(store(C, i, ir.Call("abs", (load(A, i),), "int8")),
                                     store(D, i, ir.Call("floor", (load(A, i),), "int8"))),
                       "vector")
    c, d = np.zeros(N, np.int8), np.zeros(N, np.int8)
    build(ir.PrimFunc("iabs", (A, C, D), body))(a, c, d)
    np.testing.assert_array_equal(c, np.abs(a))  # abs(-128) wraps to -128 in numpy too
    np.testing.assert_array_equal(d, a)
