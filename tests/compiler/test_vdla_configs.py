"""Non-default geometries: BLOCK 8 with small buffers, and BATCH 2 with BLOCK_OUT 8 (so
BLOCK_IN != BLOCK_OUT: residuals and widening copies need selector weight blocks)."""

import numpy as np
import pytest
from test_vdla_reference import conv2d_ref, dense_ref, global_avg_pool_ref, max_pool_ref, sat8

from accel.isa.config import HardwareConfig
from compiler.codegen.vdla.target import target
from compiler.ops import vdla

CONFIGS = {
    "block8": HardwareConfig(log_block_in=3, log_block_out=3, log_inp_buff_size=14,
                             log_wgt_buff_size=16, log_acc_buff_size=16, name="block8"),
    "batch2": HardwareConfig(log_batch=1, log_block_out=3, log_wgt_buff_size=17,
                             name="batch2"),
}


def i8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


@pytest.fixture(params=list(CONFIGS))
def tgt(request):
    return target(CONFIGS[request.param])


@pytest.mark.parametrize("vt", [1, 2])
@pytest.mark.parametrize("case", [
    ((2, 16, 9, 9), (24, 16, 3, 3), 1, 1),
    ((1, 24, 10, 10), (16, 24, 3, 3), 2, 1),
    ((2, 32, 6, 6), (32, 32, 1, 1), 1, 0),
    ((1, 3, 16, 16), (16, 3, 7, 7), 2, 3),          # im2col
])
def test_conv2d(tgt, case, vt):
    xs, ws, s, p = case
    rng = np.random.default_rng(sum(xs))
    x, w = i8(rng, xs), i8(rng, ws)
    op = vdla.conv2d(xs, ws, s, p, shift=9, relu=True, vthreads=vt, tgt=tgt)
    got, _ = op(x, w)
    np.testing.assert_array_equal(got, conv2d_ref(x, w, (s, s), (p,) * 4, shift=9, relu=True))


def test_conv2d_residual_and_multiplier(tgt):
    rng = np.random.default_rng(5)
    x, w = i8(rng, (2, 16, 6, 6)), i8(rng, (16, 16, 3, 3))
    r = i8(rng, (2, 16, 6, 6))
    m = rng.integers(1, 1 << 10, 16).astype(np.int32)
    op = vdla.conv2d(x.shape, w.shape, 1, 1, shift=18, multiplier=True, residual=True,
                     relu=True, tgt=tgt)
    got, _ = op(x, w, multiplier=m, residual=r)
    np.testing.assert_array_equal(got, conv2d_ref(x, w, (1, 1), (1,) * 4, shift=18,
                                                  multiplier=m, residual=r, relu=True))


def test_dense_and_elementwise(tgt):
    rng = np.random.default_rng(6)
    x, w = i8(rng, (3, 40)), i8(rng, (20, 40))
    got, _ = vdla.dense(x.shape, w.shape, shift=8, tgt=tgt)(x, w)
    np.testing.assert_array_equal(got, dense_ref(x, w, shift=8))
    shape = (2, 24, 5, 6)
    a, b = i8(rng, shape), i8(rng, shape)
    got, _ = vdla.add(shape, relu=True, tgt=tgt)(a, b)
    np.testing.assert_array_equal(got, sat8(np.maximum(a.astype(np.int64) + b, 0)))
    got, _ = vdla.relu(shape, tgt=tgt)(a)
    np.testing.assert_array_equal(got, np.maximum(a, 0))
    acc = rng.integers(-2**20, 2**20, shape).astype(np.int32)
    got, _ = vdla.requantize(shape, 7, relu=True, tgt=tgt)(acc)
    np.testing.assert_array_equal(got, sat8(np.maximum((acc.astype(np.int64) + 64) >> 7, 0)))


def test_pools(tgt):
    rng = np.random.default_rng(7)
    x = i8(rng, (2, 16, 9, 9))
    got, _ = vdla.max_pool2d(x.shape, 3, 2, 1, tgt=tgt)(x)
    np.testing.assert_array_equal(got, max_pool_ref(x, (3, 3), (2, 2), (1,) * 4))
    got, _ = vdla.global_avg_pool2d(x.shape, 14, tgt=tgt)(x)
    np.testing.assert_array_equal(got, global_avg_pool_ref(x, 14))
