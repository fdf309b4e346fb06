"""Independent numpy integer references for the accelerator operators (and their own tests).

Written from the operators' definitions, not from the compiler: int64 arithmetic, then the
accumulator's 32-bit wrap, RSHR/MULSHR as round-half-up shifts, and the STORE's saturation to
int8. The other ``test_vdla_*`` files import these functions (``from test_vdla_reference
import ...``); the tests here check the vectorized references against plain loops on tiny
inputs.
"""

import itertools

import numpy as np

ACC_BITS = 32


def wrap(x, bits: int = ACC_BITS):
    half = 1 << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) & ((1 << bits) - 1)) - half


def sat8(x):
    return np.clip(x, -128, 127).astype(np.int8)


def rshr(x, s: int):
    x = np.asarray(x, dtype=np.int64)
    return wrap((x + (1 << (s - 1))) >> s) if s else x


def mulshr(x, m, s: int):
    p = np.asarray(x, dtype=np.int64) * np.asarray(m, dtype=np.int64)
    return wrap((p + (1 << (s - 1))) >> s if s else p)


def conv2d_acc(x, w, stride=(1, 1), padding=(0, 0, 0, 0)):
    """int64 convolution (N, C, H, W) x (O, C, KH, KW) -> (N, O, OH, OW), wrapped to int32."""
    sh, sw = stride
    pt, pl, pb, pr = padding
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    o, c, kh, kw = w.shape
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    acc = np.zeros((x.shape[0], o, oh, ow), dtype=np.int64)
    wl = w.astype(np.int64)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, :, dy:dy + sh * (oh - 1) + 1:sh, dx:dx + sw * (ow - 1) + 1:sw]
            acc += np.einsum("nchw,oc->nohw", patch, wl[:, :, dy, dx], optimize=True)
    return wrap(acc)


def epilogue(acc, shift=0, multiplier=None, residual=None, relu=False, channel_axis=1):
    v = np.asarray(acc, dtype=np.int64)
    if multiplier is not None:
        shape = [1] * v.ndim
        shape[channel_axis] = -1
        v = mulshr(v, np.asarray(multiplier).reshape(shape), shift)
    elif shift:
        v = rshr(v, shift)
    if residual is not None:
        v = wrap(v + residual.astype(np.int64))
    if relu:
        v = np.maximum(v, 0)
    return sat8(v)


def conv2d_ref(x, w, stride=(1, 1), padding=(0, 0, 0, 0), **post):
    return epilogue(conv2d_acc(x, w, stride, padding), **post)


def dense_ref(x, w, **post):
    return epilogue(wrap(x.astype(np.int64) @ w.astype(np.int64).T), **post)


def max_pool_ref(x, kernel, stride, padding):
    """Max pooling with padding that never wins (minus infinity)."""
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = padding
    lo = np.iinfo(np.int64).min
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=lo)
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    out = np.full(x.shape[:2] + (oh, ow), lo)
    for dy in range(kh):
        for dx in range(kw):
            out = np.maximum(out, xp[:, :, dy:dy + sh * (oh - 1) + 1:sh,
                                     dx:dx + sw * (ow - 1) + 1:sw])
    return sat8(out)


def global_avg_pool_ref(x, shift):
    """round(sum * M / 2^shift) with M = round(2^shift / (H*W)) (plain RSHR for 2^shift ==
    H*W)."""
    h, w = x.shape[2:]
    total = wrap(x.astype(np.int64).sum(axis=(2, 3), keepdims=True))
    if (1 << shift) == h * w:
        return sat8(rshr(total, shift))
    return sat8(mulshr(total, round((1 << shift) / (h * w)), shift))


# ---------------------------------------------------------------------- self-tests
def test_conv2d_acc_matches_loops():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 3, 5, 6)).astype(np.int8)
    w = rng.integers(-128, 128, (2, 3, 3, 2)).astype(np.int8)
    got = conv2d_acc(x, w, (2, 1), (1, 0, 1, 1))
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (1, 1), (0, 1)))
    for o, y, xx in itertools.product(range(2), range(got.shape[2]), range(got.shape[3])):
        want = int((xp[0, :, 2 * y:2 * y + 3, xx:xx + 2] * w[o].astype(np.int64)).sum())
        assert got[0, o, y, xx] == want


def test_rounding_shifts_round_half_up():
    assert list(rshr(np.array([5, 6, 7, -5, -6, -7]), 2)) == [1, 2, 2, -1, -1, -2]
    assert list(mulshr(np.array([3, -3]), 5, 1)) == [8, -7]
    assert wrap(2**31) == -(2**31)


def test_max_pool_padding_never_wins():
    x = -np.ones((1, 1, 2, 2), np.int8) * 100
    assert (max_pool_ref(x, (3, 3), (1, 1), (1, 1, 1, 1)) == -100).all()
