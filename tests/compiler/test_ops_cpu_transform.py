"""concat, reshape, flatten, transpose and pad of the CPU operator library against numpy."""

import numpy as np
import pytest

from compiler.ops import cpu

DTYPES = ["float32", "int8", "int32"]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    return rng.integers(-100, 100, shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes,axis", [
    ([(2, 3, 4), (2, 5, 4), (2, 1, 4)], 1),
    ([(3, 7), (2, 7)], 0),
    ([(1, 16, 5, 5), (1, 24, 5, 5), (1, 8, 5, 5), (1, 16, 5, 5)], 1),
    ([(2, 3, 9), (2, 3, 20)], -1),
    ([(4,)], 0),
])
def test_concat(dtype, shapes, axis):
    xs = [_data(s, dtype, i) for i, s in enumerate(shapes)]
    op = cpu.concat(shapes, axis, dtype)
    np.testing.assert_array_equal(op(*xs), np.concatenate(xs, axis))


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_and_flatten(dtype):
    x = _data((2, 3, 4, 5), dtype)
    np.testing.assert_array_equal(cpu.reshape(x.shape, (0, -1, 5), dtype)(x), x.reshape(2, 12, 5))
    np.testing.assert_array_equal(cpu.reshape(x.shape, (120,), dtype)(x), x.reshape(120))
    np.testing.assert_array_equal(cpu.reshape(x.shape, (-1, 2, 1), dtype)(x),
                                  x.reshape(-1, 2, 1))
    for axis, want in [(0, (1, 120)), (1, (2, 60)), (3, (24, 5)), (4, (120, 1)),
                       (-1, (24, 5))]:
        got = cpu.flatten(x.shape, axis, dtype)(x)
        np.testing.assert_array_equal(got, x.reshape(want))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,perm", [
    ((2, 3, 4, 5), (0, 2, 3, 1)), ((2, 3, 4, 5), (0, 3, 1, 2)), ((2, 3, 4, 5), None),
    ((2, 3, 4, 5), (1, 0, 2, 3)), ((33, 47), (1, 0)), ((1, 64, 1, 49), (0, 3, 1, 2)),
    ((5,), (0,)),
])
def test_transpose(dtype, shape, perm):
    x = _data(shape, dtype)
    np.testing.assert_array_equal(cpu.transpose(shape, perm, dtype)(x), np.transpose(x, perm))


def _np_pad(x, pads, mode, value):
    nd = x.ndim
    begin, end = pads[:nd], pads[nd:]
    crop = tuple(slice(-min(b, 0), x.shape[d] + min(e, 0))
                 for d, (b, e) in enumerate(zip(begin, end)))
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    kw = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x[crop], widths, mode=mode, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("pads", [(1, 2, 0, 0, 1, 2), (0, 0, 3, 2, 0, 1), (0, 1, 1, 1, 0, 2)])
def test_pad_modes(dtype, mode, pads):
    x = _data((3, 4, 5), dtype)
    got = cpu.pad(x.shape, pads, mode, 7, dtype)(x)
    np.testing.assert_array_equal(got, _np_pad(x, pads, mode, 7))


def test_pad_negative_crops_and_nchw_spatial_padding():
    x = _data((3, 4, 5), "float32")
    pads = (1, -1, 2, -1, 0, 1)
    np.testing.assert_array_equal(cpu.pad(x.shape, pads, value=-2.5)(x),
                                  _np_pad(x, pads, "constant", -2.5))
    y = _data((1, 8, 7, 7), "float32")
    got = cpu.pad(y.shape, (0, 0, 1, 2, 0, 0, 3, 0))(y)
    np.testing.assert_array_equal(got, np.pad(y, ((0, 0), (0, 0), (1, 3), (2, 0))))


@pytest.mark.parametrize("call,exc,words", [
    (lambda: cpu.concat([(2, 3), (3, 3)], axis=1), cpu.OpShapeError, ["concat", "input 1"]),
    (lambda: cpu.concat([(2, 3)], axis=3), cpu.OpAttributeError, ["concat", "axis=3"]),
    (lambda: cpu.concat([]), cpu.OpShapeError, ["concat"]),
    (lambda: cpu.reshape((2, 3), (4, -1)), cpu.OpShapeError, ["reshape", "-1"]),
    (lambda: cpu.reshape((2, 3), (-1, -1)), cpu.OpAttributeError, ["reshape", "-1"]),
    (lambda: cpu.reshape((2, 3), (5,)), cpu.OpShapeError, ["reshape", "6 elements"]),
    (lambda: cpu.flatten((2, 3), axis=3), cpu.OpAttributeError, ["flatten", "axis=3"]),
    (lambda: cpu.transpose((2, 3), (0, 0)), cpu.OpAttributeError, ["transpose", "perm"]),
    (lambda: cpu.pad((3, 4), (1, 1, 1)), cpu.OpAttributeError, ["pad", "pads"]),
    (lambda: cpu.pad((3, 4), (1, 1, 1, 1), mode="wrap"), cpu.OpAttributeError,
     ["pad", "'wrap'"]),
    (lambda: cpu.pad((3, 4), (3, 0, 0, 0), mode="reflect"), cpu.OpAttributeError,
     ["pad", "reflect"]),
    (lambda: cpu.pad((3, 4), (-2, 0, -1, 0)), cpu.OpShapeError, ["pad", "no elements"]),
    (lambda: cpu.pad((3, 4), (1, 0, 0, 0), value=1.5, dtype="int8"), cpu.OpAttributeError,
     ["pad", "value=1.5"]),
    (lambda: cpu.pad((3, 4), (1, 0, 0, 0), value=300, dtype="int8"), cpu.OpAttributeError,
     ["pad", "int8"]),
])
def test_transform_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)
