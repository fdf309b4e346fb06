"""Packed layouts of the accelerator and the host-side (numpy) conversions to and from NCHW.

Every tensor the accelerator touches is stored in DRAM as whole SRAM elements (SPEC.md 1):

=============  ================================================  ===========================
tensor         packed shape                                      element
=============  ================================================  ===========================
activation     (N/BATCH, C/BLOCK, H, W, BATCH, BLOCK)            BATCH x BLOCK (NCHWnc)
conv weights   (O/BLOCK_OUT, C/BLOCK_IN, KH, KW, BLOCK_OUT,      BLOCK_OUT x BLOCK_IN
               BLOCK_IN)
dense weights  (O/BLOCK_OUT, C/BLOCK_IN, BLOCK_OUT, BLOCK_IN)    BLOCK_OUT x BLOCK_IN
per-channel    (O/BLOCK_OUT, BATCH, BLOCK_OUT) int32             an accumulator element
=============  ================================================  ===========================

``BLOCK`` is BLOCK_IN for tensors read by the GEMM (inputs, residuals) and BLOCK_OUT for
results. Batch and channel counts are padded with zeros up to whole blocks when packing and
cropped when unpacking. All conversions are whole-array numpy (reshape/transpose/pad), and
``im2col`` builds the patches of a convolution with a strided view, without Python loops.
"""

from __future__ import annotations

import numpy as np


def ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


def pack_nchw(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """(N, C, H, W) -> (N'/batch, C'/block, H, W, batch, block), zero-padded N', C'."""
    n, c, h, w = x.shape
    n2, c2 = ceil_to(n, batch), ceil_to(c, block)
    if (n2, c2) != (n, c):
        x = np.pad(x, ((0, n2 - n), (0, c2 - c), (0, 0), (0, 0)))
    return np.ascontiguousarray(
        x.reshape(n2 // batch, batch, c2 // block, block, h, w).transpose(0, 2, 4, 5, 1, 3))


def unpack_nchw(p: np.ndarray, n: int, c: int) -> np.ndarray:
    """Inverse of ``pack_nchw``, cropped to ``n`` x ``c``."""
    nb, cb, h, w, batch, block = p.shape
    x = p.transpose(0, 4, 1, 5, 2, 3).reshape(nb * batch, cb * block, h, w)
    return np.ascontiguousarray(x[:n, :c])


def pack_oihw(w: np.ndarray, block_out: int, block_in: int) -> np.ndarray:
    """(O, C, KH, KW) -> (O'/bo, C'/bi, KH, KW, bo, bi), zero-padded O', C'."""
    o, c, kh, kw = w.shape
    o2, c2 = ceil_to(o, block_out), ceil_to(c, block_in)
    if (o2, c2) != (o, c):
        w = np.pad(w, ((0, o2 - o), (0, c2 - c), (0, 0), (0, 0)))
    return np.ascontiguousarray(
        w.reshape(o2 // block_out, block_out, c2 // block_in, block_in, kh, kw)
        .transpose(0, 2, 4, 5, 1, 3))


def pack_dense_weight(w: np.ndarray, block_out: int, block_in: int) -> np.ndarray:
    """(O, C) -> (O'/bo, C'/bi, bo, bi)."""
    p = pack_oihw(w[:, :, None, None], block_out, block_in)
    return np.ascontiguousarray(p[:, :, 0, 0])


def pack_nc(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """(N, C) -> (N'/batch, C'/block, batch, block)."""
    p = pack_nchw(x[:, :, None, None], batch, block)
    return np.ascontiguousarray(p[:, :, 0, 0])


def unpack_nc(p: np.ndarray, n: int, c: int) -> np.ndarray:
    return unpack_nchw(p[:, :, None, None], n, c)[:, :, 0, 0]


def pack_channel_vector(v: np.ndarray, batch: int, block_out: int,
                        dtype: str = "int32") -> np.ndarray:
    """(O,) per-channel values -> (O'/bo, batch, bo), replicated over the batch rows."""
    o = len(v)
    o2 = ceil_to(o, block_out)
    v = np.pad(np.asarray(v, dtype=np.int64), (0, o2 - o)).reshape(o2 // block_out, 1,
                                                                   block_out)
    return np.ascontiguousarray(np.broadcast_to(v, (o2 // block_out, batch, block_out))
                                .astype(dtype))


def pack_nchw_flat(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """(N, C, H, W) -> the NCHW packing read as dense rows: (N'/batch, C'/block * H * W,
    batch, block), features in (channel block, y, x, lane) order (``flat_nchw_weight``)."""
    p = pack_nchw(x, batch, block)
    nb, cb, h, w, b, k = p.shape
    return p.reshape(nb, cb * h * w, b, k)


def flat_nchw_weight(wt: np.ndarray, chw: tuple[int, int, int], block: int) -> np.ndarray:
    """Dense weights (O, C*H*W) over a flattened NCHW tensor -> (O, C'*H*W) with columns in
    the order of ``pack_nchw_flat`` (C padded to whole blocks with zero columns)."""
    c, h, w = chw
    o = wt.shape[0]
    c2 = ceil_to(c, block)
    a = wt.reshape(o, c, h, w)
    if c2 != c:
        a = np.pad(a, ((0, 0), (0, c2 - c), (0, 0), (0, 0)))
    return np.ascontiguousarray(a.reshape(o, c2 // block, block, h, w)
                                .transpose(0, 1, 3, 4, 2).reshape(o, c2 * h * w))


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int, int, int]) -> np.ndarray:
    """(N, C, H, W) -> (N, C*KH*KW, OH, OW): each output pixel's receptive field as channels
    (order c, kh, kw, matching ``w.reshape(O, C*KH*KW)``). ``padding`` is (top, left,
    bottom, right)."""
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::sh, ::sw]                    # (N, C, OH, OW, KH, KW)
    n, c, oh, ow = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh, ow))
