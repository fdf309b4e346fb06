"""softmax, log_softmax, batch_norm and LRN of the CPU operator library against numpy."""

import numpy as np
import pytest

from compiler.ops import cpu


def softmax_ref(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shape,axis", [((4, 1000), -1), ((2, 5, 3, 3), 1), ((3, 7), 0),
                                        ((1, 64, 56, 56), 1), ((2, 3, 40), 2), ((5,), 0),
                                        ((2, 3, 17, 2), -2)])
def test_softmax_and_log_softmax(shape, axis):
    x = (np.random.default_rng(0).standard_normal(shape) * 10).astype(np.float32)
    want = softmax_ref(x, axis)
    got = cpu.softmax(shape, axis)(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=axis), 1, rtol=1e-5)
    np.testing.assert_allclose(cpu.log_softmax(shape, axis)(x), np.log(want), rtol=1e-5,
                               atol=1e-5)


def test_softmax_is_stable_for_large_logits():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 88.0]], np.float32)
    got = cpu.softmax(x.shape)(x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, softmax_ref(x, -1), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("shape", [(2, 8, 5, 5), (4, 3), (1, 16, 7), (1, 64, 56, 56)])
def test_batch_norm_inference(shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    scale, bias, mean = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    var = rng.random(c).astype(np.float32)
    bshape = (1, c) + (1,) * (len(shape) - 2)
    want = ((x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape).astype(np.float64) + 1e-3)
            * scale.reshape(bshape) + bias.reshape(bshape))
    got = cpu.batch_norm(shape, epsilon=1e-3)(x, scale, bias, mean, var)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def lrn_ref(x, size, alpha, beta, bias):
    c = x.shape[1]
    sq = np.zeros(x.shape, np.float64)
    for ch in range(c):
        lo = max(0, ch - (size - 1) // 2)
        hi = min(c - 1, ch + (size - 1) - (size - 1) // 2)
        sq[:, ch] = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
    return x / (bias + alpha / size * sq) ** beta


@pytest.mark.parametrize("shape,size", [((2, 8, 5, 5), 3), ((1, 6, 4, 9), 4), ((1, 3, 17), 5),
                                        ((1, 16, 13, 13), 1)])
def test_lrn_onnx_semantics(shape, size):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32) * 3
    got = cpu.lrn(shape, size, alpha=1e-2, beta=0.75, bias=2.0)(x)
    np.testing.assert_allclose(got, lrn_ref(x, size, 1e-2, 0.75, 2.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: cpu.softmax((3, 4), axis=2), cpu.OpAttributeError, ["softmax", "axis=2"]),
    (lambda: cpu.softmax((3, 4), dtype="int8"), cpu.OpDtypeError, ["softmax", "int8"]),
    (lambda: cpu.batch_norm((4,)), cpu.OpShapeError, ["batch_norm"]),
    (lambda: cpu.batch_norm((4, 3), epsilon=-1), cpu.OpAttributeError,
     ["batch_norm", "epsilon"]),
    (lambda: cpu.lrn((1, 4, 4, 4), size=0), cpu.OpAttributeError, ["lrn", "size"]),
    (lambda: cpu.lrn((1, 4, 4, 4), size=3, beta=None), cpu.OpAttributeError, ["lrn", "beta"]),
])
def test_norm_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)
