"""Random schedules preserve semantics: every randomly scheduled version of a computation,
lowered and run by the reference interpreter, matches numpy (integers exactly, floats within
tolerance). Replaying a schedule's records on a fresh computation gives the same IR."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import te
from compiler.errors import ScheduleError
from compiler.tir import interp, lower, print_ir

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------------- computations
def matmul():
    A = te.placeholder((5, 4), "int8", name="A")
    B = te.placeholder((4, 6), "int8", name="B")
    k = te.reduce_axis((0, 4), name="k")
    C = te.compute((5, 6), lambda i, j: te.sum(
        te.cast("int32", A[i, k]) * te.cast("int32", B[k, j]), axis=k), name="C")
    a = RNG.integers(-128, 128, (5, 4)).astype("int8")
    b = RNG.integers(-128, 128, (4, 6)).astype("int8")
    ref = a.astype(np.int32) @ b.astype(np.int32)
    return [C], [A, B, C], [a, b, np.zeros((5, 6), "int32")], ref


def conv2d():
    ci, h, w, co, kk = 2, 4, 4, 2, 3
    X = te.placeholder((1, ci, h, w), "int8", name="X")
    W = te.placeholder((co, ci, kk, kk), "int8", name="W")
    P = te.compute((1, ci, h + 2, w + 2), lambda n, c, y, x: te.select(
        te.all(y >= 1, y <= h, x >= 1, x <= w), X[n, c, y - 1, x - 1], te.const(0, "int8")),
        name="P")
    rc = te.reduce_axis((0, ci), "rc")
    ry = te.reduce_axis((0, kk), "ry")
    rx = te.reduce_axis((0, kk), "rx")
    Y = te.compute((1, co, h, w), lambda n, f, y, x: te.sum(
        te.cast("int32", P[n, rc, y + ry, x + rx]) * te.cast("int32", W[f, rc, ry, rx]),
        axis=[rc, ry, rx]), name="Y")
    R = te.compute((1, co, h, w), lambda n, f, y, x: te.max(Y[n, f, y, x], 0), name="R")
    xa = RNG.integers(-128, 128, (1, ci, h, w)).astype("int8")
    wa = RNG.integers(-128, 128, (co, ci, kk, kk)).astype("int8")
    xp = np.pad(xa.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((1, co, h, w), np.int64)
    for f in range(co):
        for y in range(h):
            for x in range(w):
                ref[0, f, y, x] = (xp[0, :, y:y + kk, x:x + kk] * wa[f]).sum()
    ref = np.maximum(ref, 0).astype(np.int32)
    return [R], [X, W, R], [xa, wa, np.zeros((1, co, h, w), "int32")], ref


def elementwise():
    X = te.placeholder((4, 6), "float32", name="X")
    bias = te.placeholder((6,), "float32", name="bias")
    T1 = te.compute((4, 6), lambda i, j: X[i, j] * 2 + bias[j], name="T1")
    T2 = te.compute((4, 6), lambda i, j: te.select(T1[i, j] > 0, T1[i, j], T1[i, j] * 0.1),
                    name="T2")
    T3 = te.compute((4, 6), lambda i, j: te.sigmoid(T2[i, j]) + te.tanh(T1[i, j]), name="T3")
    x = RNG.standard_normal((4, 6)).astype("float32")
    b = RNG.standard_normal(6).astype("float32")
    t1 = x * 2 + b
    t2 = np.where(t1 > 0, t1, t1 * np.float32(0.1))
    ref = 1 / (1 + np.exp(-t2)) + np.tanh(t1)
    return [T3], [X, bias, T3], [x, b, np.zeros((4, 6), "float32")], ref


def softmax():
    X = te.placeholder((3, 5), "float32", name="X")
    k = te.reduce_axis((0, 5), "k")
    M = te.compute((3,), lambda i: te.max(X[i, k], axis=k), name="M")
    E = te.compute((3, 5), lambda i, j: te.exp(X[i, j] - M[i]), name="E")
    k2 = te.reduce_axis((0, 5), "k2")
    S = te.compute((3,), lambda i: te.sum(E[i, k2], axis=k2), name="S")
    Out = te.compute((3, 5), lambda i, j: E[i, j] / S[i], name="O")
    x = RNG.standard_normal((3, 5)).astype("float32")
    e = np.exp(x - x.max(axis=1, keepdims=True))
    ref = e / e.sum(axis=1, keepdims=True)
    return [Out], [X, Out], [x, np.zeros((3, 5), "float32")], ref


COMPUTATIONS = {"matmul": matmul, "conv2d": conv2d, "elementwise": elementwise,
                "softmax": softmax}
PRIMS = ["split", "split", "tile", "reorder", "fuse", "compute_at", "compute_at",
         "compute_inline", "cache_read", "cache_write", "unroll", "vectorize", "parallel",
         "vthread", "pragma", "compute_root"]


# ---------------------------------------------------------------------- random schedules
def apply_random(data, s, n_prims: int) -> None:
    for _ in range(n_prims):
        stage = data.draw(st.sampled_from(s.stages))
        prim = data.draw(st.sampled_from(PRIMS))
        leaf = stage.leaf
        try:
            if prim == "split":
                ax = data.draw(st.sampled_from(leaf))
                n = data.draw(st.integers(1, 5))
                if data.draw(st.booleans()):
                    stage.split(ax, factor=n)
                else:
                    stage.split(ax, nparts=n)
            elif prim == "tile" and len(leaf) >= 2:
                i = data.draw(st.integers(0, len(leaf) - 2))
                stage.tile(leaf[i], leaf[i + 1], data.draw(st.integers(1, 4)),
                           data.draw(st.integers(1, 4)))
            elif prim == "reorder":
                stage.reorder(*data.draw(st.permutations(leaf)))
            elif prim == "fuse" and len(leaf) >= 2:
                i = data.draw(st.integers(0, len(leaf) - 2))
                stage.fuse(leaf[i], leaf[i + 1])
            elif prim == "compute_at":
                # a direct reader, or any stage: one that consumes the stage through stages
                # computed inside the chosen loop is accepted, the others are refused
                readers = s.readers(stage) if data.draw(st.booleans()) else s.stages
                if readers:
                    parent = data.draw(st.sampled_from(readers))
                    stage.compute_at(parent, data.draw(st.sampled_from(parent.leaf)))
            elif prim == "compute_inline":
                stage.compute_inline()
            elif prim == "compute_root":
                stage.compute_root()
            elif prim == "cache_read":
                inputs = stage.op.input_tensors()
                if inputs:
                    t = data.draw(st.sampled_from(inputs))
                    s.cache_read(t, "local", [stage])
            elif prim == "cache_write":
                s.cache_write(stage.tensor, "local")
            elif prim in ("unroll", "vectorize", "parallel"):
                getattr(stage, prim)(data.draw(st.sampled_from(leaf)))
            elif prim == "vthread":
                stage.bind(data.draw(st.sampled_from(leaf)), te.vthread())
            elif prim == "pragma":
                stage.pragma(data.draw(st.sampled_from(leaf)), "debug_marker", 1)
        except ScheduleError:
            pass   # an invalid random choice is rejected; the schedule stays valid


def check(build, data, n_max: int) -> None:
    outputs, args, arrays, ref = build()
    s = te.create_schedule(outputs)
    apply_random(data, s, data.draw(st.integers(0, n_max)))
    f = lower(s, args)
    arrays = [a.copy() for a in arrays]
    interp.run(f, *arrays)
    out = arrays[-1]
    if np.issubdtype(out.dtype, np.integer):
        np.testing.assert_array_equal(out, ref, err_msg=str(s))
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6, err_msg=str(s))
    # replay on a fresh build of the same computation gives the same IR
    outputs2, args2, _, _ = build()
    s2 = te.create_schedule(outputs2).replay(s.records)
    assert print_ir(lower(s2, args2)) == print_ir(f)


@pytest.mark.parametrize("name", sorted(COMPUTATIONS))
@settings(max_examples=80)
@given(data=st.data())
def test_random_schedule_matches_numpy(name, data):
    check(COMPUTATIONS[name], data, 8)


@settings(max_examples=60)
@given(data=st.data())
def test_random_long_schedules_matmul(data):
    check(matmul, data, 16)
