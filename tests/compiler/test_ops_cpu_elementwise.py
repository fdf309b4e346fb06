"""Elementwise operators of the CPU operator library against numpy.

Unary maps on several shapes (including lengths that are not a multiple of the vector width
and tensors large enough to run in parallel); binary arithmetic under numpy broadcasting
(fixed cases and a hypothesis property over random broadcastable shapes); integer results
exact, including wrap-around and truncating division.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.ops import cpu

FLOAT_TOL = dict(rtol=2e-6, atol=1e-6)


def _ints(shape, dtype, rng):
    info = np.iinfo(dtype)
    lo, hi = (info.min, info.max) if info.bits <= 16 else (-10**6, 10**6)
    return rng.integers(lo, hi, shape, endpoint=True).astype(dtype)


SHAPES = [(7,), (3, 5, 7), (1, 64, 56, 56), (2, 1000)]


@pytest.mark.parametrize("shape", SHAPES)
def test_unary_float32(shape):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    np.testing.assert_array_equal(cpu.relu(shape)(x), np.maximum(x, 0))
    np.testing.assert_array_equal(cpu.clip(shape, min=-1.5, max=2.0)(x), np.clip(x, -1.5, 2))
    np.testing.assert_array_equal(cpu.clip(shape, max=0.5)(x), np.minimum(x, 0.5))
    np.testing.assert_allclose(cpu.leaky_relu(shape, alpha=0.1)(x),
                               np.where(x >= 0, x, 0.1 * x), **FLOAT_TOL)
    np.testing.assert_allclose(cpu.sigmoid(shape)(x), 1 / (1 + np.exp(-x.astype(np.float64))),
                               **FLOAT_TOL)
    np.testing.assert_allclose(cpu.tanh(shape)(x), np.tanh(x), **FLOAT_TOL)
    np.testing.assert_allclose(cpu.exp(shape)(x), np.exp(x), rtol=2e-6)
    np.testing.assert_allclose(cpu.sqrt(shape)(np.abs(x)), np.sqrt(np.abs(x)), rtol=2e-6)
    np.testing.assert_array_equal(cpu.abs(shape)(x), np.abs(x))
    np.testing.assert_array_equal(cpu.neg(shape)(x), -x)


def test_sigmoid_tanh_saturate_without_nan():
    x = np.array([-1e4, -100, -20, -1e-8, 0, 1e-8, 20, 100, 1e4], np.float32)
    with np.errstate(over="ignore"):
        want = 1 / (1 + np.exp(-x.astype(float)))
    np.testing.assert_allclose(cpu.sigmoid(x.shape)(x), want, **FLOAT_TOL)
    np.testing.assert_allclose(cpu.tanh(x.shape)(x), np.tanh(x), **FLOAT_TOL)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32"])
def test_unary_integers_exact(dtype):
    rng = np.random.default_rng(1)
    x = _ints((5, 37), dtype, rng)
    np.testing.assert_array_equal(cpu.relu(x.shape, dtype)(x), np.maximum(x, 0))
    np.testing.assert_array_equal(cpu.clip(x.shape, dtype, min=-5, max=100)(x),
                                  np.clip(x, max(-5, np.iinfo(dtype).min), 100))
    np.testing.assert_array_equal(cpu.clip(x.shape, dtype, min=-1000, max=1000)(x),
                                  np.clip(x, -1000, 1000).astype(dtype))
    if dtype != "uint8":
        np.testing.assert_array_equal(cpu.abs(x.shape, dtype)(x), np.abs(x))
        np.testing.assert_array_equal(cpu.neg(x.shape, dtype)(x), -x)


@pytest.mark.parametrize("src,dst", [("float32", "int32"), ("float32", "int8"),
                                     ("int32", "float32"), ("int32", "int8"),
                                     ("int8", "int16"), ("uint8", "int32")])
def test_cast(src, dst):
    rng = np.random.default_rng(2)
    x = ((rng.standard_normal(50) * 100).astype(src) if src == "float32"
         else _ints(50, src, rng))
    if src == "float32" and dst == "int8":
        x = np.clip(x, -128, 127)              # out-of-range float -> int is undefined
    np.testing.assert_array_equal(cpu.cast(x.shape, src, to=dst)(x), x.astype(dst))


BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "minimum": np.minimum,
          "maximum": np.maximum}
BROADCASTS = [((3, 5), (3, 5)), ((1, 64, 56, 56), (1, 64, 1, 1)), ((4, 1, 6), (5, 1)),
              ((7,), (2, 3, 7)), ((1,), (9, 9)), ((2, 1, 3, 1), (1, 4, 1, 5)),
              ((1, 1), (1,))]


@pytest.mark.parametrize("a_shape,b_shape", BROADCASTS)
def test_binary_float32_broadcasting(a_shape, b_shape):
    rng = np.random.default_rng(4)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32) + 3
    for name, ref in BINARY.items():
        got = getattr(cpu, name)(a_shape, b_shape)(a, b)
        np.testing.assert_array_equal(got, ref(a, b))
    np.testing.assert_allclose(cpu.div(a_shape, b_shape)(a, b), a / b, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32"])
def test_binary_integers_wrap_like_numpy(dtype):
    rng = np.random.default_rng(5)
    a, b = _ints((6, 40), dtype, rng), _ints((40,), dtype, rng)
    with np.errstate(over="ignore"):
        for name, ref in BINARY.items():
            np.testing.assert_array_equal(getattr(cpu, name)(a.shape, b.shape, dtype)(a, b),
                                          ref(a, b))


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8"])
def test_integer_div_truncates_toward_zero_and_div_by_zero_is_zero(dtype):
    rng = np.random.default_rng(6)
    a, b = _ints((300,), dtype, rng), _ints((300,), dtype, rng)
    b[:5] = 0
    if dtype != "uint8":
        a[5:10], b[5:10] = [-7, 7, -7, 7, -128 if dtype == "int8" else -9], [2, -2, -2, 2, -1]
    q = np.abs(a.astype(np.int64)) // np.where(b == 0, 1, np.abs(b.astype(np.int64)))
    want = np.where(b == 0, 0, np.sign(a.astype(np.int64)) * np.sign(b.astype(np.int64)) * q)
    got = cpu.div(a.shape, b.shape, dtype)(a, b)
    np.testing.assert_array_equal(got, want.astype(dtype))


@st.composite
def _broadcastable(draw):
    nd = draw(st.integers(1, 4))
    out = draw(st.lists(st.integers(1, 9), min_size=nd, max_size=nd))
    shapes = []
    for _ in range(2):
        keep = draw(st.integers(0, nd))
        shapes.append(tuple(d if draw(st.booleans()) else 1 for d in out[nd - keep:]) or (1,))
    return shapes


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(_broadcastable(), st.sampled_from(["add", "mul", "maximum"]),
       st.sampled_from(["float32", "int16"]))
def test_binary_random_broadcasts(shapes, name, dtype):
    a_shape, b_shape = shapes
    rng = np.random.default_rng(7)
    a, b = _ints(a_shape, "int16", rng).astype(dtype), _ints(b_shape, "int16", rng).astype(dtype)
    with np.errstate(over="ignore"):
        want = BINARY[name](a, b)
    op = getattr(cpu, name)(a_shape, b_shape, dtype)
    assert op.out_shape == want.shape
    np.testing.assert_array_equal(op(a, b), want)


def test_large_elementwise_runs_parallel_and_small_does_not():
    big = cpu.add((1, 64, 112, 112), (1, 64, 112, 112))
    assert big.compiled.num_parallel_loops == 1
    assert cpu.add((3, 5), (5,)).compiled.num_parallel_loops == 0
    assert cpu.relu((1 << 20,)).compiled.num_parallel_loops == 1


@pytest.mark.parametrize("call,exc,words", [
    (lambda: cpu.add((3, 4), (5,)), cpu.OpShapeError, ["add", "[3, 4]", "[5]"]),
    (lambda: cpu.sigmoid((4,), "int8"), cpu.OpDtypeError, ["sigmoid", "int8"]),
    (lambda: cpu.relu((4, 0)), cpu.OpShapeError, ["relu", "positive"]),
    (lambda: cpu.clip((4,), "int8", min=0.5), cpu.OpAttributeError, ["clip", "min=0.5"]),
    (lambda: cpu.leaky_relu((4,), alpha="x"), cpu.OpAttributeError, ["leaky_relu", "alpha"]),
    (lambda: cpu.cast((4,), to="bfloat16"), cpu.OpDtypeError, ["cast", "bfloat16"]),
    (lambda: cpu.abs((4,), "uint8"), cpu.OpDtypeError, ["abs", "uint8"]),
])
def test_elementwise_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)


def test_run_checks_shape_and_dtype():
    op = cpu.add((2, 3), (3,))
    with pytest.raises(cpu.OpArgumentError, match=r"input 1 \('B'\) is float32\[2\]"):
        op(np.zeros((2, 3), np.float32), np.zeros(2, np.float32))
    with pytest.raises(cpu.OpArgumentError, match="int32"):
        op(np.zeros((2, 3), np.int32), np.zeros(3, np.float32))
