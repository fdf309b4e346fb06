"""Golden printouts of the lowered IR for canonical schedules (``golden/*.txt``).

The files are compared exactly; regenerate them on purpose with
``pytest tests/compiler --update-golden`` and review the diff. Each golden file holds the
schedule listing (as ``#`` comments) followed by the lowered function, and every schedule is
also run by the interpreter against numpy, so a golden file never records a wrong program.
"""

import numpy as np

from compiler import te
from compiler.tir import interp, lower, print_ir


def _text(s, f) -> str:
    head = "".join(f"# {line}\n" for line in str(s).splitlines())
    return head + print_ir(f)


def _matmul(n=8):
    A = te.placeholder((n, n), "float32", name="A")
    B = te.placeholder((n, n), "float32", name="B")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C, k


def _check_matmul(f, n=8):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype("float32")
    b = rng.standard_normal((n, n)).astype("float32")
    c = np.zeros((n, n), "float32")
    interp.run(f, a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_matmul_default(golden):
    A, B, C, _ = _matmul()
    s = te.create_schedule(C)
    f = lower(s, [A, B, C], name="matmul")
    _check_matmul(f)
    golden("matmul_default", _text(s, f))


def test_matmul_tiled_reordered_vectorized(golden):
    A, B, C, k = _matmul()
    s = te.create_schedule(C)
    i, j = C.op.axis
    io, jo, ii, ji = s[C].tile(i, j, 4, 4)
    ko, ki = s[C].split(k, factor=2)
    s[C].reorder(io, jo, ko, ii, ki, ji)
    s[C].unroll(ki)
    s[C].vectorize(ji)
    s[C].parallel(io)
    f = lower(s, [A, B, C], name="matmul")
    _check_matmul(f)
    golden("matmul_tiled", _text(s, f))


def test_conv2d_compute_at_cache_write(golden):
    n, ci, h, w, co, kk = 1, 2, 6, 6, 4, 3
    X = te.placeholder((n, ci, h, w), "int8", name="X")
    W = te.placeholder((co, ci, kk, kk), "int8", name="W")
    P = te.compute((n, ci, h + 2, w + 2), lambda b, c, y, x: te.select(
        te.all(y >= 1, y <= h, x >= 1, x <= w), X[b, c, y - 1, x - 1], te.const(0, "int8")),
        name="P")
    rc = te.reduce_axis((0, ci), "rc")
    ry = te.reduce_axis((0, kk), "ry")
    rx = te.reduce_axis((0, kk), "rx")
    Y = te.compute((n, co, h, w), lambda b, f, y, x: te.sum(
        te.cast("int32", P[b, rc, y + ry, x + rx]) * te.cast("int32", W[f, rc, ry, rx]),
        axis=[rc, ry, rx]), name="Y")
    s = te.create_schedule(Y)
    YL = s.cache_write(Y, "local")
    b, f, y, x = Y.op.axis
    yo, xo, yi, xi = s[Y].tile(y, x, 2, 3)
    s[YL].compute_at(s[Y], xo)
    s[P].compute_at(s[YL], s[YL].op.reduce_axis[0])
    s[Y].parallel(f)
    fn = lower(s, [X, W, Y], name="conv2d")
    rng = np.random.default_rng(2)
    xa = rng.integers(-128, 128, (n, ci, h, w)).astype("int8")
    wa = rng.integers(-128, 128, (co, ci, kk, kk)).astype("int8")
    ya = np.zeros((n, co, h, w), "int32")
    interp.run(fn, xa, wa, ya)
    xp = np.pad(xa.astype(np.int32), ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros_like(ya)
    for o in range(co):
        for yy in range(h):
            for xx in range(w):
                ref[0, o, yy, xx] = (xp[0, :, yy:yy + kk, xx:xx + kk] * wa[o]).sum()
    np.testing.assert_array_equal(ya, ref)
    golden("conv2d_compute_at_cache_write", _text(s, fn))


def test_split_nondivisible(golden):
    A = te.placeholder((10,), "float32", name="A")
    B = te.compute((10,), lambda i: te.exp(A[i]) * 2, name="B")
    s = te.create_schedule(B)
    io, ii = s[B].split(B.op.axis[0], factor=4)
    s[B].vectorize(ii)
    f = lower(s, [A, B], name="split10by4")
    a = np.linspace(-1, 1, 10).astype("float32")
    b = np.zeros(10, "float32")
    interp.run(f, a, b)
    np.testing.assert_allclose(b, np.exp(a) * 2, rtol=1e-6)
    golden("split_nondivisible", _text(s, f))
