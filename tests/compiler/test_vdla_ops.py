"""Every accelerator operator over random shapes, bit-exact against the numpy references."""

import numpy as np
import pytest
from test_vdla_reference import (
    conv2d_ref,
    dense_ref,
    epilogue,
    global_avg_pool_ref,
    max_pool_ref,
    sat8,
)

from compiler.codegen.vdla.errors import VdlaBackendError
from compiler.ops import vdla


def i8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


@pytest.mark.parametrize("seed", range(10))
def test_conv2d_random(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.choice([1, 2, 3, 5]))
    c = int(rng.choice([3, 16, 20, 32, 48]))
    o = int(rng.choice([8, 16, 24, 32, 48]))
    h, w = (int(v) for v in rng.integers(k, k + 9, 2))
    stride = int(rng.integers(1, 3))
    pad = tuple(int(v) for v in rng.integers(0, k, 4))
    shift = int(rng.integers(6, 12))
    relu = bool(rng.integers(2))
    mult = bool(seed % 3 == 1)
    res = bool(seed % 4 == 2)
    vt = int(rng.choice([1, 2]))
    op = vdla.conv2d((1, c, h, w), (o, c, k, k), stride, pad, shift=shift + 8 * mult,
                     relu=relu, multiplier=mult, residual=res, vthreads=vt)
    x, wt = i8(rng, (1, c, h, w)), i8(rng, (o, c, k, k))
    kw = {}
    m = r = None
    if mult:
        m = rng.integers(1, 1 << 10, o).astype(np.int32)
        kw["multiplier"] = m
    if res:
        r = i8(rng, op.out_shape)
        kw["residual"] = r
    got, report = op(x, wt, **kw)
    want = conv2d_ref(x, wt, (stride, stride), pad, shift=shift + 8 * mult, multiplier=m,
                      residual=r, relu=relu)
    assert got.shape == want.shape == op.out_shape
    np.testing.assert_array_equal(got, want)
    assert report.cycles > 0 and report.macs > 0


@pytest.mark.parametrize("seed", range(5))
def test_dense_random(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 4))
    c = int(rng.integers(1, 6)) * 16 + int(rng.choice([0, 5]))
    o = int(rng.integers(1, 90))
    shift = int(rng.integers(5, 11))
    relu = bool(seed % 2)
    mult = seed == 3
    op = vdla.dense((n, c), (o, c), shift=shift + 8 * mult, relu=relu, multiplier=mult,
                    vthreads=int(rng.choice([1, 2])))
    x, w = i8(rng, (n, c)), i8(rng, (o, c))
    kw = {}
    m = None
    if mult:
        m = rng.integers(1, 1 << 10, o).astype(np.int32)
        kw["multiplier"] = m
    got, _ = op(x, w, **kw)
    np.testing.assert_array_equal(got, dense_ref(x, w, shift=shift + 8 * mult, multiplier=m,
                                                 relu=relu))


@pytest.mark.parametrize("seed", range(4))
def test_requantize_random(seed):
    rng = np.random.default_rng(200 + seed)
    shape = (1, int(rng.integers(1, 40)), int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    mult = seed % 2 == 1
    shift = int(rng.integers(1, 14)) + 8 * mult
    relu = seed >= 2
    op = vdla.requantize(shape, shift, multiplier=mult, relu=relu)
    x = rng.integers(-2**24, 2**24, shape).astype(np.int32)
    x.flat[0], x.flat[-1] = 2**31 - 1, -2**31            # RSHR is exact at the extremes
    m = rng.integers(1, 1 << 12, shape[1]).astype(np.int32) if mult else None
    got, _ = op(x, **({"multiplier": m} if mult else {}))
    np.testing.assert_array_equal(got, epilogue(x, shift=shift, multiplier=m, relu=relu))


@pytest.mark.parametrize("seed", range(3))
def test_relu_and_add_random(seed):
    rng = np.random.default_rng(300 + seed)
    shape = (1, int(rng.integers(1, 50)), int(rng.integers(1, 10)), int(rng.integers(1, 10)))
    a, b = i8(rng, shape), i8(rng, shape)
    got, _ = vdla.relu(shape)(a)
    np.testing.assert_array_equal(got, np.maximum(a, 0))
    relu = bool(seed % 2)
    got, _ = vdla.add(shape, relu=relu)(a, b)
    want = a.astype(np.int64) + b
    np.testing.assert_array_equal(got, sat8(np.maximum(want, 0) if relu else want))


@pytest.mark.parametrize("seed", range(4))
def test_max_pool_random(seed):
    rng = np.random.default_rng(400 + seed)
    k = int(rng.integers(2, 4))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, k))
    shape = (1, int(rng.choice([16, 24, 32])), int(rng.integers(k, 12)),
             int(rng.integers(k, 12)))
    x = i8(rng, shape)
    got, _ = vdla.max_pool2d(shape, k, s, p)(x)
    np.testing.assert_array_equal(got, max_pool_ref(x, (k, k), (s, s), (p,) * 4))


@pytest.mark.parametrize("hw,shift", [((7, 7), None), ((4, 4), None), ((3, 5), 12)])
def test_global_avg_pool(hw, shift):
    rng = np.random.default_rng(hw[0])
    shape = (1, 48, *hw)
    x = i8(rng, shape)
    op = vdla.global_avg_pool2d(shape, shift)
    got, _ = op(x)
    np.testing.assert_array_equal(got, global_avg_pool_ref(x, op.attrs["shift"]))
    mean = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    assert np.abs(got - mean).max() <= 1.0              # it is the rounded mean


def test_resnet_block_tail_fused():
    """conv -> requant -> + residual -> ReLU in one program (the residual through a GEMM
    with an identity weight block, not an accumulator load)."""
    rng = np.random.default_rng(7)
    x, w = i8(rng, (1, 32, 8, 8)), i8(rng, (32, 32, 3, 3))
    r = i8(rng, (1, 32, 8, 8))
    op = vdla.conv2d(x.shape, w.shape, 1, 1, shift=9, relu=True, residual=True)
    got, rep = op(x, w, residual=r)
    np.testing.assert_array_equal(got, conv2d_ref(x, w, (1, 1), (1,) * 4, shift=9,
                                                  residual=r, relu=True))
    text = op.program.listing()
    assert "load acc" not in text                # nothing is loaded into the accumulator
    assert "alu rshr" in text and "alu max" in text


def test_api_checks_arguments():
    op = vdla.relu((1, 16, 2, 2))
    with pytest.raises(vdla.VdlaOpError, match="shape"):
        op(np.zeros((1, 16, 2, 3), np.int8))
    with pytest.raises(vdla.VdlaOpError, match="int8"):
        op(np.full((1, 16, 2, 2), 1000))
    with pytest.raises(VdlaBackendError, match="unknown backend"):
        op(np.zeros((1, 16, 2, 2), np.int8), backend="fpga")
    conv = vdla.conv2d((1, 16, 4, 4), (16, 16, 3, 3), 1, 1, shift=8, multiplier=True)
    with pytest.raises(vdla.VdlaOpError, match="multiplier"):
        conv(np.zeros((1, 16, 4, 4), np.int8), np.zeros((16, 16, 3, 3), np.int8))
    with pytest.raises(vdla.VdlaOpError, match="shift"):
        vdla.requantize((1, 16, 2, 2), 40)


@pytest.mark.parametrize("vt", [3, 4])
def test_more_virtual_threads(vt):
    rng = np.random.default_rng(vt)
    x, w = i8(rng, (1, 32, 10, 10)), i8(rng, (96, 32, 3, 3))
    op = vdla.conv2d(x.shape, w.shape, 1, 1, shift=10, relu=True, vthreads=vt)
    assert op.tiling.vthreads in (vt, 1)
    got, _ = op(x, w)
    np.testing.assert_array_equal(got, conv2d_ref(x, w, (1, 1), (1,) * 4, shift=10, relu=True))


def test_rtl_backend_matches_the_simulator():
    """The same bundle on the Verilog accelerator: same outputs, same cycle count."""
    rng = np.random.default_rng(11)
    x, w = i8(rng, (1, 32, 8, 8)), i8(rng, (32, 32, 3, 3))
    op = vdla.conv2d(x.shape, w.shape, 1, 1, shift=9, relu=True)
    sim, sim_rep = op(x, w)
    rtl, rtl_rep = op(x, w, backend="rtl")
    np.testing.assert_array_equal(rtl, sim)
    assert rtl_rep.cycles == sim_rep.cycles
