"""LLVM backend on IR produced by the real pipeline: te -> schedule -> lower -> build.

The same lowered function runs through the reference interpreter and the compiled code;
integers must agree exactly, floats within rounding.
"""

import numpy as np
import pytest

from compiler import te
from compiler.codegen.llvm import build
from compiler.tir import interp, lower


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VDLA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vdla-cache"))


def _matmul(dtype: str):
    A = te.placeholder((64, 32), dtype, name="A")
    B = te.placeholder((32, 48), dtype, name="B")
    k = te.reduce_axis((0, 32), name="k")
    C = te.compute((64, 48), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_tiled_vectorized_parallel_matmul(dtype):
    A, B, C = _matmul(dtype)
    s = te.create_schedule(C)
    i, j = C.op.axis
    (k,) = C.op.reduce_axis
    io, jo, ii, ji = s[C].tile(i, j, 8, 16)
    s[C].reorder(io, jo, k, ii, ji)
    s[C].unroll(ii)
    s[C].vectorize(ji)
    s[C].parallel(io)
    f = lower(s, [A, B, C], name=f"te_matmul_{dtype}")
    rng = np.random.default_rng(0)
    a = rng.integers(-8, 8, (64, 32)).astype(dtype)
    b = rng.integers(-8, 8, (32, 48)).astype(dtype)
    c = np.zeros((64, 48), dtype)
    cf = build(f)
    cf(a, b, c)
    want = np.zeros_like(c)
    interp.run(f, a, b, want)
    np.testing.assert_array_equal(c, want)
    np.testing.assert_array_equal(c, a @ b)
    assert cf.num_parallel_loops == 1 and "<16 x" in cf.llvm_ir


def test_padded_conv_relu_with_compute_at():
    X = te.placeholder((1, 3, 8, 8), "float32", name="X")
    W = te.placeholder((4, 3, 3, 3), "float32", name="W")
    P = te.compute((1, 3, 10, 10), lambda n, c, y, x: te.select(
        te.all(y >= 1, y <= 8, x >= 1, x <= 8), X[n, c, y - 1, x - 1],
        te.const(0, "float32")), name="P")
    rc, ry, rx = te.reduce_axis((0, 3), "rc"), te.reduce_axis((0, 3), "ry"), \
        te.reduce_axis((0, 3), "rx")
    Y = te.compute((1, 4, 8, 8), lambda n, f, y, x: te.sum(
        P[n, rc, y + ry, x + rx] * W[f, rc, ry, rx], axis=[rc, ry, rx]), name="Y")
    R = te.compute((1, 4, 8, 8), lambda n, f, y, x: te.max(Y[n, f, y, x], 0.0), name="R")
    s = te.create_schedule(R)
    n, f, y, x = R.op.axis
    s[R].parallel(f)
    s[R].vectorize(x)
    s[Y].compute_at(s[R], y)
    fn = lower(s, [X, W, R], name="te_conv")
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((1, 3, 8, 8), dtype=np.float32)
    wa = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    out, want = np.zeros((1, 4, 8, 8), np.float32), np.zeros((1, 4, 8, 8), np.float32)
    build(fn)(xa, wa, out)
    interp.run(fn, xa, wa, want)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
