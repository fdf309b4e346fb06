"""Loop-IR machinery: the simplifier, the passes, the verifier, the printer, the interpreter."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import te
from compiler.errors import InterpError, IRVerifyError
from compiler.tir import interp, ir, lower, print_ir
from compiler.tir.arith import const_bound, simplify, wrap
from compiler.tir.passes import remove_unit_loops, storage_flatten
from compiler.tir.verify import verify

i, j, k = ir.Var("i"), ir.Var("j"), ir.Var("k")
c = ir.IntImm


def B(op, a, b):
    return ir.BinOp(op, a, b)


def s(e, ranges=None) -> str:
    return print_ir(simplify(e, ranges))


# ---------------------------------------------------------------------- simplifier
def test_constant_folding_and_identities():
    assert s(B("add", B("mul", c(3), c(4)), c(5))) == "17"
    assert s(B("add", B("mul", i, c(1)), c(0))) == "i"
    assert s(B("mul", i, c(0))) == "0"
    assert s(B("sub", B("add", i, j), i)) == "j"
    assert s(B("mul", B("add", i, c(1)), c(4))) == "i * 4 + 4"
    assert s(B("add", c(2**31 - 1), c(1))) == str(-2**31)            # int32 wrap-around
    assert s(B("floordiv", c(-7), c(2))) == "-4" and s(B("floormod", c(-7), c(2))) == "1"
    assert s(B("div", c(-7), c(2))) == "-3" and s(B("mod", c(-7), c(2))) == "truncmod(-7, 2)" \
        or s(B("mod", c(-7), c(2))) == "-1"
    assert s(ir.Cast("int8", c(200))) == "-56i8"
    f = ir.FloatImm
    assert s(B("add", f(0.1), f(0.2))) == repr(float(np.float32(0.1) + np.float32(0.2))) + "f"
    x = ir.Var("x", "float32")
    assert s(B("mul", x, f(1.0))) == "x * 1.0f"                     # no float identities


def test_divmod_rules():
    assert s(B("floordiv", B("mul", i, c(8)), c(8))) == "i"
    assert s(B("floordiv", B("add", B("mul", i, c(8)), j), c(4))) == "i * 2 + j // 4"
    assert s(B("floormod", B("add", B("mul", i, c(8)), j), c(4))) == "j % 4"
    assert s(B("floordiv", B("floordiv", i, c(2)), c(3))) == "i // 6"
    assert s(B("floormod", B("floormod", i, c(12)), c(4))) == "i % 4"
    r = {j: (0, 3)}
    assert s(B("floordiv", j, c(4)), r) == "0" and s(B("floormod", j, c(4)), r) == "j"
    assert s(B("floordiv", B("add", B("mul", i, c(4)), j), c(4)), r) == "i"
    assert s(B("add", B("mul", B("floordiv", i, c(4)), c(4)), B("floormod", i, c(4)))) == "i"


def test_range_based_comparisons_min_max_select():
    r = {i: (0, 3)}
    assert s(B("lt", i, c(4)), r) == "True" and s(B("ge", i, c(4)), r) == "False"
    assert s(B("lt", i, c(3)), r) == "i < 3"
    assert s(B("min", i, c(7)), r) == "i" and s(B("max", i, c(7)), r) == "7"
    assert s(ir.Select(B("lt", i, c(9)), i, j), r) == "i"
    assert const_bound(B("add", B("mul", i, c(4)), c(1)), r) == (1, 13)
    assert wrap(255, "int8") == -1 and wrap(-1, "uint8") == 255


@settings(max_examples=200)
@given(st.integers(-50, 50), st.integers(0, 9), st.integers(1, 6), st.integers(-3, 3),
       st.integers(-20, 20))
def test_simplify_preserves_integer_values(iv, jv, cdiv, coef, const):
    e = B("add", B("floordiv", B("add", B("mul", i, c(coef * cdiv)), j), c(cdiv)),
          B("floormod", B("sub", B("mul", j, c(coef)), B("add", i, c(const))), c(cdiv)))
    e = B("max", B("sub", e, B("mul", B("add", i, c(const)), c(coef))), B("floordiv", e, c(3)))

    def ev(x):
        fn = interp.compile_func(ir.PrimFunc("f", (i, j, buf), ir.Store(buf, c(0), x)))
        out = [0]
        fn(iv, jv, out)
        return out[0]

    buf = ir.Buffer("o", (c(1),), "int32")
    assert ev(simplify(e, {j: (0, 9)})) == ev(e)


# ---------------------------------------------------------------------- passes
def test_storage_flatten_and_unit_loops():
    A = ir.Buffer("A", (c(4), c(8)), "float32")
    T = ir.Buffer("T", (c(4), c(8)), "float32", "local")
    body = ir.For(i, c(0), c(4), "serial", ir.For(j, c(0), c(1), "serial", ir.BufferStore(
        T, (i, j), B("add", ir.BufferLoad(A, (i, B("add", j, c(2)))), ir.FloatImm(1.0)))))
    f = ir.PrimFunc("f", (A,), ir.Allocate(T, body))
    verify(f, flattened=False)
    f2 = storage_flatten(remove_unit_loops(f))
    verify(f2, flattened=True)
    assert print_ir(f2) == (
        "func f(A: float32[4, 8]):\n"
        "  allocate T: float32[4, 8] in local:\n"
        "    for i in range(4):\n"
        "      T[i * 8] = A[i * 8 + 2] + 1.0f\n")


def test_printer_is_stable_and_disambiguates_names():
    a, b = ir.Var("x"), ir.Var("x")
    buf = ir.Buffer("O", (c(2), c(3)), "int32")
    stmt = ir.For(a, c(0), c(2), "parallel", ir.For(b, c(1), c(3), "unrolled", ir.BufferStore(
        buf, (a, B("sub", b, c(1))), B("sub", a, B("sub", b, c(1))))))
    text = print_ir(stmt)
    assert text == ("parallel for x in range(2):\n"
                    "  unrolled for x_1 in range(1, 1 + 3):\n"
                    "    O[x, x_1 - 1] = x - (x_1 - 1)\n")
    assert print_ir(stmt) == text


# ---------------------------------------------------------------------- verifier
def _func(body, *params):
    return ir.PrimFunc("broken", tuple(params), body)


def test_verifier_catches_broken_ir():
    A = ir.Buffer("A", (c(4),), "float32")
    T = ir.Buffer("T", (c(4),), "float32")
    n = ir.Var("n")
    ok = ir.For(i, c(0), c(4), "serial", ir.Store(A, i, ir.FloatImm(0.0)))
    verify(_func(ok, A), flattened=True)
    cases = {
        "variable 'j' used outside": ir.For(i, c(0), c(4), "serial",
                                            ir.Store(A, j, ir.FloatImm(0.0))),
        "buffer 'T' is neither a parameter nor allocated": ir.Store(T, c(0), ir.FloatImm(1.0)),
        "storing int32 into float32 buffer 'A'": ir.Store(A, c(0), c(1)),
        "operands of add have dtypes int32 and float32": ir.Store(
            A, c(0), ir.BinOp("add", c(1), ir.FloatImm(1.0), "float32")),
        "BufferStore after storage flattening": ir.BufferStore(A, (c(0),), ir.FloatImm(1.0)),
        "variable 'i' is defined again": ir.For(i, c(0), c(2), "serial", ok),
        "unknown intrinsic 'foo'": ir.Store(A, c(0), ir.Call("foo", (), "float32")),
        "if condition has dtype int32": ir.IfThenElse(c(1), ok),
        "vectorized loop 'i' has a non-constant extent": ir.For(
            i, c(0), n, "vectorized", ir.Store(A, i, ir.FloatImm(0.0))),
    }
    for msg, body in cases.items():
        with pytest.raises(IRVerifyError, match=msg):
            verify(_func(body, A, n), stage="test", flattened=True)
    bad_kind = ir.For(i, c(0), c(4), "serial", ir.Store(A, i, ir.FloatImm(0.0)))
    object.__setattr__(bad_kind, "kind", "gpu")
    with pytest.raises(IRVerifyError, match="invalid loop kind 'gpu'"):
        verify(_func(bad_kind, A))


def test_lowering_verifies_between_passes(monkeypatch):
    """A pass that breaks the IR is caught right after it, by name."""
    from compiler.tir import pipeline

    def broken_flatten(func):
        return func            # "forgets" to flatten: BufferStore survives

    broken_flatten.__name__ = "storage_flatten"
    monkeypatch.setattr(pipeline, "storage_flatten", broken_flatten)
    A = te.placeholder((4,), "float32", name="A")
    Bt = te.compute((4,), lambda x: A[x] + 1, name="B")
    s_ = te.create_schedule(Bt)
    with pytest.raises(IRVerifyError, match="after storage_flatten: BufferStore after"):
        lower(s_, [A, Bt], verify=True)
    assert os.environ.get("VDLA_VERIFY_IR") == "1"   # the conftest turns it on for all tests


# ---------------------------------------------------------------------- interpreter
def test_interpreter_integer_semantics_and_errors():
    Ab = ir.Buffer("A", (c(4),), "int8")
    Ob = ir.Buffer("O", (c(4),), "int32")
    x = ir.Load(Ab, i)
    body = ir.For(i, c(0), c(4), "serial", ir.Store(Ob, i, B(
        "add", ir.Cast("int32", B("add", x, x)), B("floordiv", ir.Cast("int32", x), c(2)))))
    f = ir.PrimFunc("f", (Ab, Ob), body)
    a = np.array([100, -100, 7, -7], "int8")
    o = np.zeros(4, "int32")
    interp.run(f, a, o)
    np.testing.assert_array_equal(o, (a + a).astype(np.int32) + a.astype(np.int32) // 2)
    oob = ir.PrimFunc("g", (Ab,), ir.Store(Ab, c(4), ir.IntImm(0, "int8")))
    with pytest.raises(InterpError, match="index 4 out of bounds for buffer 'A' of 4"):
        interp.run(oob, a)
    with pytest.raises(InterpError, match="must be int8\\[4\\], got int32\\[4\\]"):
        interp.run(oob, o)
    T = ir.Buffer("T", (c(4),), "int8", "local")
    uninit = ir.PrimFunc("h", (Ab,), ir.Allocate(T, ir.Store(Ab, c(0), ir.Load(T, c(1)))))
    with pytest.raises(InterpError, match="element 0 of argument 'A' was computed from "
                                          "memory that was never written"):
        interp.run(uninit, a)
    branch = ir.PrimFunc("h", (Ab,), ir.Allocate(T, ir.IfThenElse(
        B("lt", ir.Load(T, c(0)), ir.IntImm(0, "int8")), ir.Store(Ab, c(0), ir.Load(Ab, c(1))))))
    with pytest.raises(InterpError, match="condition depends on memory that was never written"):
        interp.run(branch, a)
