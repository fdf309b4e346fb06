"""Reductions with an initial value (``te.max(.., init=v)``): construction errors, lowering
(the initialisation store computes ``v``), schedules that move the reduction around, and the
interpreter's results against numpy."""

import numpy as np
import pytest

from compiler import te
from compiler.errors import TEDtypeError, TEError
from compiler.tir import interp, lower, print_ir


def _run(s, args, *arrays):
    f = lower(s, args)
    interp.run(f, *arrays)
    return f


def test_init_from_another_tensor():
    """``M[i] = max(B[i], A[i, k] for k where k != 2)``: the init reads B."""
    A = te.placeholder((5, 4), "int32", name="A")
    B = te.placeholder((5,), "int32", name="B")
    k = te.reduce_axis((0, 4), name="k")
    M = te.compute((5,), lambda i: te.max(A[i, k], axis=k, where=k != 2, init=B[i]), name="M")
    assert "init=B[i]" in str(M.op)
    rng = np.random.default_rng(0)
    a = rng.integers(-50, 50, (5, 4)).astype(np.int32)
    b = rng.integers(-50, 50, 5).astype(np.int32)
    ref = np.maximum(b, a[:, [0, 1, 3]].max(axis=1))
    m = np.zeros(5, np.int32)
    _run(te.create_schedule(M), [A, B, M], a, b, m)
    np.testing.assert_array_equal(m, ref)
    # reduction axis outermost: the initialisation is a nest of its own, before the updates
    s = te.create_schedule(M)
    s[M].reorder(M.op.reduce_axis[0], M.op.axis[0])
    m = np.zeros(5, np.int32)
    f = _run(s, [A, B, M], a, b, m)
    np.testing.assert_array_equal(m, ref)
    assert "M[[i.init]] = B[[i.init]]" in print_ir(f)


@pytest.mark.parametrize("combiner", ["sum", "min", "max"])
def test_constant_init_and_split_reorder(combiner):
    A = te.placeholder((6, 8), "int32", name="A")
    k = te.reduce_axis((0, 8), name="k")
    red = getattr(te, combiner)
    S = te.compute((6,), lambda i: red(A[i, k], axis=k, init=7), name="S")
    s = te.create_schedule(S)
    ko, ki = s[S].split(S.op.reduce_axis[0], factor=3)       # non-divisible: guarded
    io, ii = s[S].split(S.op.axis[0], factor=4)
    s[S].reorder(io, ko, ii, ki)                           # init nest inside io, over ii
    a = np.random.default_rng(1).integers(-9, 9, (6, 8)).astype(np.int32)
    out = np.zeros(6, np.int32)
    _run(s, [A, S], a, out)
    ref = {"sum": a.sum(axis=1) + 7, "min": np.minimum(a.min(axis=1), 7),
           "max": np.maximum(a.max(axis=1), 7)}[combiner]
    np.testing.assert_array_equal(out, ref)


def test_init_stage_computed_at_the_reduction():
    """The init's producer is computed per tile of its reader (bound inference sees the read
    in the init), and cache_write keeps the init."""
    A = te.placeholder((8, 3), "int32", name="A")
    X = te.placeholder((8,), "int32", name="X")
    C = te.compute((8,), lambda i: X[i] * 2, name="C")
    k = te.reduce_axis((0, 3), name="k")
    M = te.compute((8,), lambda i: te.max(A[i, k], axis=k, init=C[i]), name="M")
    s = te.create_schedule(M)
    io, ii = s[M].split(M.op.axis[0], factor=4)
    s[C].compute_at(s[M], io)
    a = np.random.default_rng(2).integers(-20, 20, (8, 3)).astype(np.int32)
    x = np.random.default_rng(3).integers(-20, 20, 8).astype(np.int32)
    out = np.zeros(8, np.int32)
    f = _run(s, [A, X, M], a, x, out)
    np.testing.assert_array_equal(out, np.maximum(a.max(axis=1), 2 * x))
    assert "allocate C: int32[4]" in print_ir(f)          # one tile of C, not all of it

    s2 = te.create_schedule(M)
    s2.cache_write(M, "local")
    out2 = np.zeros(8, np.int32)
    _run(s2, [A, X, M], a, x, out2)
    np.testing.assert_array_equal(out2, out)


def test_init_errors():
    A = te.placeholder((4, 8), "int32", name="A")
    B = te.placeholder((4,), "int8", name="B")
    k = te.reduce_axis((0, 8), name="k")
    with pytest.raises(TEDtypeError, match="init= has dtype int8"):
        te.max(A[0, k], axis=k, init=B[0])
    with pytest.raises(TEError, match="initial value .* uses its reduction axis 'k'"):
        te.compute((4,), lambda i: te.max(A[i, k], axis=k, init=A[i, k]), name="M")
    with pytest.raises(TEDtypeError, match="does not fit int32"):
        te.sum(A[0, k], axis=k, init=2**40)
