"""Tensor-expression construction, dtype promotion and error messages."""

import numpy as np
import pytest

from compiler import te
from compiler.errors import TEDtypeError, TEError, TEShapeError
from compiler.tir import interp, ir, lower


def test_placeholder_and_compute_basics():
    A = te.placeholder((4, 8), "float32", name="A")
    assert A.shape == (4, 8) and A.dtype == "float32" and A.ndim == 2
    B = te.compute((4, 8), lambda i, j: A[i, j] * 2 + 1, name="B")
    assert [a.name for a in B.op.axis] == ["i", "j"]
    assert B.op.input_tensors() == [A]
    assert str(B.op) == "compute B[i, j] = A[i, j] * 2.0f + 1.0f"
    assert B.op.shape == (4, 8) and B.dtype == "float32"


def test_int_constants_adopt_the_operand_dtype():
    A = te.placeholder((4,), "int8", name="A")
    e = A[0] + 1
    assert e.dtype == "int8" and isinstance(e.node.b, ir.IntImm) and e.node.b.dtype == "int8"
    F = te.placeholder((4,), "float32", name="F")
    assert (3 * F[1]).node.a == ir.FloatImm(3.0, "float32")
    with pytest.raises(TEDtypeError, match="constant 300 does not fit int8"):
        A[0] + 300
    with pytest.raises(TEDtypeError, match="Python float 0.5 with int8"):
        A[0] * 0.5


def test_dtype_mismatch_names_compute_and_expression():
    A = te.placeholder((4, 8), "float32", name="A")
    B = te.placeholder((8,), "int8", name="B")
    with pytest.raises(TEDtypeError) as e:
        te.compute((4, 8), lambda i, j: A[i, j] + B[j], name="C")
    assert str(e.value) == ("compute 'C': cannot add float32 and int8 in `A[i, j] + B[j]`; "
                            "insert te.cast")
    C = te.compute((4, 8), lambda i, j: A[i, j] + te.cast("float32", B[j]), name="C")
    assert C.dtype == "float32"


def test_shape_errors_name_the_tensor():
    A = te.placeholder((4, 8), "float32", name="A")
    with pytest.raises(TEShapeError, match=r"compute 'D': tensor 'A' has 2 dimension\(s\) "
                                           r"\[4, 8\] but is indexed with 1 index"):
        te.compute((4,), lambda i: A[i], name="D")
    with pytest.raises(TEShapeError, match="constant index 9 is out of range for dimension 1"):
        te.compute((4,), lambda i: A[i, 9], name="D")
    with pytest.raises(TEShapeError, match="fcompute takes 1 argument"):
        te.compute((4, 8), lambda i: A[i, 0], name="D")
    with pytest.raises(TEShapeError, match="positive ints"):
        te.placeholder((4, 0), name="Z")
    with pytest.raises(TEDtypeError, match="unknown dtype 'float16'"):
        te.placeholder((4,), "float16", name="Z")
    with pytest.raises(TEDtypeError, match="index 0 of 'A' is float32"):
        te.compute((4,), lambda i: A[A[i, 0], 0], name="D")


def test_integer_and_float_division_rules():
    A = te.placeholder((4,), "int32", name="A")
    F = te.placeholder((4,), "float32", name="F")
    assert (A[0] // 2).node.op == "floordiv" and (A[0] % 3).node.op == "floormod"
    assert (F[0] / 2).node.op == "div"
    with pytest.raises(TEDtypeError, match="use // for floor division"):
        A[0] / 2
    with pytest.raises(TEDtypeError, match="needs integers"):
        F[0] // 2


def test_reducers_and_where():
    A = te.placeholder((4, 8), "int32", name="A")
    k = te.reduce_axis((0, 8), name="k")
    S = te.compute((4,), lambda i: te.sum(A[i, k], axis=k, where=k < 6), name="S")
    assert isinstance(S.op.body, te.Reduce) and S.op.reduce_axis == (k,)
    M = te.compute((4,), lambda i: te.max(A[i, k], axis=k), name="M")
    assert M.op.body.combiner == "max"
    # the same reduce axis in a second compute gets a private copy
    assert M.op.reduce_axis[0] is not k and M.op.reduce_axis[0].name == "k"
    assert te.max(A[0, 0], A[1, 1]).node.op == "max"      # elementwise form
    assert te.min(A[0, 0], 3).node.op == "min"


def test_reducer_errors():
    A = te.placeholder((4, 8), "int32", name="A")
    k = te.reduce_axis((0, 8), name="k")
    with pytest.raises(TEError, match="reducer must be the outermost expression"):
        te.compute((4,), lambda i: te.sum(A[i, k], axis=k) * 2, name="S")
    with pytest.raises(TEError, match="'k' .* is a reduction axis used outside"):
        te.compute((4,), lambda i: A[i, k], name="S")
    with pytest.raises(TEDtypeError, match="where= must be bool"):
        te.sum(A[0, k], axis=k, where=A[0, 0])
    with pytest.raises(TEShapeError, match="min < end"):
        te.reduce_axis((3, 3), "r")


def test_math_and_select_dtypes():
    F = te.placeholder((4,), "float32", name="F")
    Ia = te.placeholder((4,), "int8", name="I")
    for fn in (te.exp, te.log, te.sqrt, te.tanh, te.sigmoid, te.floor, te.ceil, te.round):
        e = fn(F[0])
        assert isinstance(e.node, ir.Call) and e.node.name in ir.INTRINSICS
    assert te.pow(F[0], 2).node.args[1] == ir.FloatImm(2.0)
    with pytest.raises(TEDtypeError, match=r"te.exp needs float operands.*te.cast"):
        te.exp(Ia[0])
    assert isinstance(te.abs(Ia[0]).node, ir.Select)          # integer abs is a select
    assert te.abs(F[0]).node.name == "abs"
    with pytest.raises(TEDtypeError, match="condition `I\\[0\\]` is int8, not bool"):
        te.select(Ia[0], F[0], F[1])
    with pytest.raises(TEDtypeError, match="cannot select between float32 and int8"):
        te.select(Ia[0] > 0, F[0], Ia[1])
    assert te.if_then_else(Ia[0] > 0, Ia[0], 0).dtype == "int8"


def test_python_bool_use_is_an_error_but_identity_equality_works():
    A = te.placeholder((4,), "int32", name="A")
    k = te.reduce_axis((0, 4), "k")
    with pytest.raises(TEError, match="cannot be used as a Python bool"):
        bool(A[0] < 1)
    assert (k == k) and not (k != k)          # identity, so axes work in lists and dicts
    eq = A[0] == 3
    assert eq.node.op == "eq" and eq.dtype == "bool"
    assert {k: 1}[k] == 1


def test_cast_and_math_values_through_the_interpreter():
    A = te.placeholder((5,), "int32", name="A")
    F = te.placeholder((5,), "float32", name="F")
    B = te.compute((5,), lambda i: te.cast("int8", A[i]) + te.cast("int8", F[i]), name="B")
    s = te.create_schedule(B)
    f = lower(s, [A, F, B])
    a = np.array([1, 127, 200, -129, 5], "int32")
    fa = np.array([1.9, -1.9, 2.5, 0.0, -7.5], "float32")
    b = np.zeros(5, "int8")
    interp.run(f, a, fa, b)
    expect = (a.astype(np.int8) + np.trunc(fa).astype(np.int8)).astype(np.int8)
    np.testing.assert_array_equal(b, expect)
