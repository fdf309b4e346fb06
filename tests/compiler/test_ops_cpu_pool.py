"""Pooling of the CPU operator library against a numpy reference of ONNX semantics.

The reference walks the output positions and gathers each window's in-image elements with
index arrays; the divisor of the average counts the window positions inside the image
(``count_include_pad=False``) or inside the padded image (``True``). Two small cases are
pinned to values produced by onnxruntime 1.31 (ceil_mode windows hanging past the padding).
"""

import math

import numpy as np
import pytest

from compiler.ops import cpu


def out_size(n, k, s, p0, p1, d, ceil_mode):
    span = n + p0 + p1 - (d * (k - 1) + 1)
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p0:
        out -= 1
    return out


def pool_ref(x, kernel, stride, pads, dilation, ceil_mode, kind, count_include_pad=False):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    pt, pl, pb, pr = pads
    oh = out_size(h, kh, sh, pt, pb, dh, ceil_mode)
    ow = out_size(w, kw, sw, pl, pr, dw, ceil_mode)
    out = np.empty((n, c, oh, ow), np.float64 if x.dtype.kind == "f" else x.dtype)
    for oy in range(oh):
        ys = oy * sh - pt + dh * np.arange(kh)
        yin = ys[(ys >= 0) & (ys < h)]
        for ox in range(ow):
            xs = ox * sw - pl + dw * np.arange(kw)
            xin = xs[(xs >= 0) & (xs < w)]
            vals = x[:, :, yin][:, :, :, xin]
            if kind == "max":
                out[:, :, oy, ox] = vals.max(axis=(2, 3))
                continue
            if count_include_pad:
                cnt = (((ys >= -pt) & (ys < h + pb)).sum()
                       * ((xs >= -pl) & (xs < w + pr)).sum())
            else:
                cnt = len(yin) * len(xin)
            out[:, :, oy, ox] = vals.astype(np.float64).sum(axis=(2, 3)) / cnt
    return out


WINDOWS = [
    # kernel, stride, padding (top, left, bottom, right), ceil_mode
    ((3, 3), (2, 2), (1, 1, 1, 1), False),
    ((3, 3), (2, 2), (1, 1, 1, 1), True),
    ((2, 2), (2, 2), (0, 0, 0, 0), True),
    ((3, 3), (2, 2), (0, 0, 1, 1), True),
    ((3, 3), (1, 1), (1, 1, 1, 1), False),
    ((2, 3), (1, 2), (1, 0, 0, 2), True),
    ((1, 1), (2, 2), (0, 0, 0, 0), False),
]
SHAPES = [(1, 2, 5, 5), (2, 3, 7, 7), (1, 1, 6, 20)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel,stride,pads,ceil_mode", WINDOWS)
def test_max_pool_float32(shape, kernel, stride, pads, ceil_mode):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    op = cpu.max_pool2d(shape, kernel, stride, pads, ceil_mode=ceil_mode)
    want = pool_ref(x, kernel, stride, pads, (1, 1), ceil_mode, "max")
    np.testing.assert_array_equal(op(x), want.astype(np.float32))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel,stride,pads,ceil_mode", WINDOWS)
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool_float32(shape, kernel, stride, pads, ceil_mode, count_include_pad):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    op = cpu.avg_pool2d(shape, kernel, stride, pads, ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad)
    want = pool_ref(x, kernel, stride, pads, (1, 1), ceil_mode, "avg", count_include_pad)
    np.testing.assert_allclose(op(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32"])
def test_max_pool_integers_exact_padding_never_wins(dtype):
    info = np.iinfo(dtype)
    x = np.random.default_rng(3).integers(info.min, info.max, (1, 3, 9, 9),
                                          endpoint=True).astype(dtype)
    x[0, 0] = info.min                              # a channel of the lowest value only
    op = cpu.max_pool2d(x.shape, 3, 2, 1, dtype=dtype)
    got = op(x)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, pool_ref(x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1),
                                                False, "max"))
    assert (got[0, 0] == info.min).all()


def test_max_pool_dilation():
    x = np.random.default_rng(4).standard_normal((1, 2, 11, 11)).astype(np.float32)
    op = cpu.max_pool2d(x.shape, 3, stride=2, padding=2, dilation=2, ceil_mode=True)
    want = pool_ref(x, (3, 3), (2, 2), (2, 2, 2, 2), (2, 2), True, "max")
    np.testing.assert_array_equal(op(x), want.astype(np.float32))


def test_pooling_matches_onnxruntime_pinned_values():
    x = (np.arange(25, dtype=np.float32) + 1).reshape(1, 1, 5, 5)
    inc = cpu.avg_pool2d(x.shape, 3, 2, (0, 0, 1, 1), ceil_mode=True, count_include_pad=True)
    np.testing.assert_allclose(inc(x)[0, 0], [[7, 9, 5], [17, 19, 10], [11, 12, 6.25]])
    ceil = cpu.avg_pool2d(x.shape, 2, 2, 0, ceil_mode=True, count_include_pad=True)
    np.testing.assert_allclose(ceil(x)[0, 0], [[4, 6, 7.5], [14, 16, 17.5], [21.5, 23.5, 25]])
    mx = cpu.max_pool2d(x.shape, 2, 2, 0, ceil_mode=True)
    np.testing.assert_array_equal(mx(x)[0, 0], [[7, 9, 10], [17, 19, 20], [22, 24, 25]])
    assert cpu.max_pool2d((1, 1, 6, 6), 3, 2, 1, ceil_mode=True).out_shape == (1, 1, 4, 4)
    assert cpu.max_pool2d((1, 4, 6, 11), (2, 3), (1, 2), (1, 0, 0, 2),
                          ceil_mode=True).out_shape == (1, 4, 6, 6)


@pytest.mark.parametrize("shape", [(1, 64, 7, 7), (2, 3, 4, 4), (1, 5, 33), (2, 2, 2, 3, 4)])
def test_global_pools(shape):
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    axes = tuple(range(2, len(shape)))
    got = cpu.global_avg_pool2d(shape)(x)
    np.testing.assert_allclose(got, x.mean(axis=axes, keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cpu.global_max_pool2d(shape)(x), x.max(axis=axes,
                                                                          keepdims=True))


def test_global_max_pool_int8():
    x = np.random.default_rng(6).integers(-128, 127, (2, 3, 5, 5)).astype(np.int8)
    np.testing.assert_array_equal(cpu.global_max_pool2d(x.shape, "int8")(x),
                                  x.max(axis=(2, 3), keepdims=True))


def test_large_pool_runs_parallel():
    op = cpu.max_pool2d((1, 64, 112, 112), 3, 2, 1)
    x = np.random.default_rng(7).standard_normal(op.in_shapes[0]).astype(np.float32)
    np.testing.assert_array_equal(op(x), pool_ref(x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1),
                                                  False, "max").astype(np.float32))
    assert op.compiled.num_parallel_loops == 1


@pytest.mark.parametrize("fn,kwargs,exc,words", [
    (cpu.max_pool2d, dict(x_shape=(1, 1, 5, 5), kernel=0), cpu.OpAttributeError,
     ["max_pool2d", "kernel"]),
    (cpu.max_pool2d, dict(x_shape=(1, 1, 5, 5), kernel=3, padding=3), cpu.OpAttributeError,
     ["max_pool2d", "padding"]),
    (cpu.max_pool2d, dict(x_shape=(1, 1, 2, 2), kernel=3), cpu.OpShapeError,
     ["max_pool2d", "does not fit"]),
    (cpu.max_pool2d, dict(x_shape=(1, 5, 5), kernel=3), cpu.OpShapeError,
     ["max_pool2d", "input shape"]),
    (cpu.avg_pool2d, dict(x_shape=(1, 1, 5, 5), kernel=3, dtype="int8"), cpu.OpDtypeError,
     ["avg_pool2d", "int8"]),
    (cpu.avg_pool2d, dict(x_shape=(1, 1, 5, 5), kernel=3, count_include_pad=1),
     cpu.OpAttributeError, ["avg_pool2d", "count_include_pad"]),
    (cpu.avg_pool2d, dict(x_shape=(1, 1, 5, 5), kernel=3, ceil_mode="yes"),
     cpu.OpAttributeError, ["avg_pool2d", "ceil_mode"]),
    (cpu.global_avg_pool2d, dict(x_shape=(4, 4)), cpu.OpShapeError, ["global_avg_pool2d"]),
])
def test_pool_errors(fn, kwargs, exc, words):
    with pytest.raises(exc) as info:
        fn(**kwargs)
    for w in words:
        assert w in str(info.value)
