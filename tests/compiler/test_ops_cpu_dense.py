"""matmul / dense of the CPU operator library against numpy (float64 / int64 references)."""

import re

import numpy as np
import pytest

from compiler import te
from compiler.ops import cpu
from compiler.tir import lower, print_ir


def _data(shape, dtype, rng):
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(dtype)
    lo, hi = (info.min, info.max) if info.bits <= 8 else (-1000, 1000)
    return rng.integers(lo, hi, shape, endpoint=True).astype(dtype)


def _ref(a, b, trans_a=False, trans_b=False, bias=None):
    wide = np.float64 if a.dtype.kind == "f" else np.int64
    a, b = a.astype(wide), b.astype(wide)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    out = a @ b
    return out + bias.astype(wide) if bias is not None else out


def _check(a_shape, b_shape, dtype="float32", trans_a=False, trans_b=False, bias=False,
           config=None):
    rng = np.random.default_rng(sum(a_shape) * 7 + sum(b_shape))
    op = cpu.matmul(a_shape, b_shape, dtype, trans_a=trans_a, trans_b=trans_b, bias=bias,
                    config=config)
    a, b = _data(a_shape, dtype, rng), _data(b_shape, dtype, rng)
    n = b_shape[0] if trans_b else b_shape[1]
    bv = None
    if bias:
        bv = (rng.standard_normal(n).astype(np.float32) if dtype == "float32"
              else rng.integers(-10**6, 10**6, n).astype(np.int32))
    got = op(a, b, *([bv] if bias else []))
    want = _ref(a, b, trans_a, trans_b, bv)
    assert got.shape == want.shape == op.out_shape
    if dtype == "float32":
        k = a_shape[0] if trans_a else a_shape[-1]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    else:
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want.astype(np.int32))
    return op


@pytest.mark.parametrize("a_shape,b_shape", [
    ((60, 32), (32, 128)),         # divisible by the 6 x 64 tile
    ((20, 10), (10, 40)),          # rows and columns not divisible
    ((1, 37), (37, 5)),            # one row, fewer columns than lanes
    ((13, 3), (3, 100)),
    ((7, 129), (129, 33)),
    ((130, 64), (64, 17)),
    ((13, 20), (20, 520)),         # 11 panels of 48: packed panel by panel, in the loop
])
def test_matmul_float32(a_shape, b_shape):
    _check(a_shape, b_shape)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_matmul_many_panels_packed_inside_the_parallel_loop(dtype):
    op = _check((9, 20), (600, 20), dtype=dtype, trans_b=True, bias=True)
    assert re.search(r"for j\.outer in range\(19\):\n +allocate Bp: ", print_ir(op.func))


@pytest.mark.parametrize("trans_a,trans_b", [(True, False), (False, True), (True, True)])
def test_matmul_transposed_operands(trans_a, trans_b):
    a_shape = (24, 19) if trans_a else (19, 24)
    b_shape = (35, 24) if trans_b else (24, 35)
    _check(a_shape, b_shape, trans_a=trans_a, trans_b=trans_b)


def test_matmul_batch_rows_of_a():
    op = _check((2, 3, 5, 16), (16, 9))
    assert op.out_shape == (2, 3, 5, 9)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32"])
def test_matmul_integers_exact(dtype):
    _check((19, 70), (70, 45), dtype=dtype)
    _check((5, 33), (21, 33), dtype=dtype, trans_b=True, bias=True)


def test_matmul_int8_extremes_accumulate_in_int32():
    a = np.full((3, 1000), -128, np.int8)
    b = np.full((1000, 4), -128, np.int8)
    assert (cpu.matmul(a.shape, b.shape, "int8")(a, b) == 1000 * 128 * 128).all()


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_dense_is_x_times_w_transposed_plus_bias(dtype):
    rng = np.random.default_rng(3)
    x, w = _data((6, 50), dtype, rng), _data((30, 50), dtype, rng)
    b = (rng.standard_normal(30).astype(np.float32) if dtype == "float32"
         else rng.integers(-99, 99, 30).astype(np.int32))
    op = cpu.dense(x.shape, w.shape, dtype)
    want = _ref(x, w, trans_b=True, bias=b)
    if dtype == "float32":
        np.testing.assert_allclose(op(x, w, b), want, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_array_equal(op(x, w, b), want)
    assert cpu.dense(x.shape, w.shape, dtype, bias=False)(x, w).shape == (6, 30)


@pytest.mark.parametrize("config", [{"mr": 4, "nr": 16}, {"pack_b": False},
                                    {"mr": 3, "nr": 48}, {"mr": 1, "nr": 8}])
def test_matmul_config_overrides(config):
    op = _check((21, 40), (40, 50), config=config)
    assert all(op.config[k] == v for k, v in config.items())


def test_matmul_default_schedule_is_register_blocked_and_packed():
    op = cpu.matmul((1024, 1024), (1024, 1024))
    assert op.config == {"schedule": "gemm", "mr": 6, "nr": 64, "pack_b": True}
    text = print_ir(op.func)
    assert "allocate Bp: float32[1, 1024, 64]" in text     # one panel, packed per iteration
    assert "allocate Cacc: float32[6, 64]" in text          # the register tile
    assert op.compiled.num_parallel_loops == 1


@pytest.mark.parametrize("x_shape,w_shape,config", [
    ((1, 512), (100, 512), None), ((3, 37), (20, 37), None), ((2, 16), (9, 16), {"jr": 1}),
    ((4, 100), (33, 100), {"jr": 8}),
])
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_dense_few_rows_uses_the_dot_schedule(x_shape, w_shape, config, dtype):
    op = _check(x_shape, w_shape, dtype=dtype, trans_b=True, bias=True, config=config)
    assert op.config["schedule"] == "dot"
    assert _check((5,) + x_shape[1:], w_shape, trans_b=True).config["schedule"] == "gemm"


@pytest.mark.parametrize("a_shape,b_shape,trans_b", [((20, 10), (10, 40), False),
                                                     ((20, 10), (45, 10), True),
                                                     ((2, 10), (40, 10), True)])
def test_matmul_prepacked_b(a_shape, b_shape, trans_b):
    rng = np.random.default_rng(11)
    a, b = _data(a_shape, "float32", rng), _data(b_shape, "float32", rng)
    op = cpu.matmul(a_shape, b_shape, trans_b=trans_b, packed_b=True)
    bp = op.pack_weights(b)
    assert bp.shape == op.in_shapes[1]
    np.testing.assert_allclose(op(a, bp), _ref(a, b, trans_b=trans_b), rtol=1e-5, atol=1e-5)
    d = cpu.dense((3, 16), (24, 16), "int8", packed_weights=True)
    x, w = _data((3, 16), "int8", rng), _data((24, 16), "int8", rng)
    np.testing.assert_array_equal(d(x, d.pack_weights(w), np.zeros(24, np.int32)),
                                  _ref(x, w, trans_b=True))


def test_dot_schedule_rejects_gemm_parameters():
    with pytest.raises(cpu.OpAttributeError, match="'mr'.*known: jr"):
        cpu.dense((1, 64), (10, 64), config={"mr": 4})


def test_matmul_schedule_records_replay_to_the_same_ir():
    op = cpu.matmul((20, 10), (10, 40))
    s = te.create_schedule(op.output)
    s.replay(op.records)
    assert print_ir(lower(s, [*op.inputs, op.output], name=op.name)) == print_ir(op.func)


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(a_shape=(3, 4), b_shape=(5, 6)), cpu.OpShapeError, ["matmul", "K=4", "K=5"]),
    (dict(a_shape=(4,), b_shape=(4, 6)), cpu.OpShapeError, ["matmul", "shape of A"]),
    (dict(a_shape=(2, 3, 4), b_shape=(4, 6), trans_a=True), cpu.OpShapeError,
     ["matmul", "trans_a"]),
    (dict(a_shape=(3, 4), b_shape=(4, 6), trans_b=1), cpu.OpAttributeError,
     ["matmul", "trans_b"]),
    (dict(a_shape=(3, 4), b_shape=(4, 6), dtype="float16"), cpu.OpDtypeError,
     ["matmul", "float16"]),
    (dict(a_shape=(3, 4), b_shape=(4, 6), config={"mr": -1}), cpu.OpAttributeError,
     ["matmul", "mr"]),
])
def test_matmul_errors(kwargs, exc, words):
    with pytest.raises(exc) as info:
        cpu.matmul(**kwargs)
    for w in words:
        assert w in str(info.value)
