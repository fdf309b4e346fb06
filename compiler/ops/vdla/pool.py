"""Pooling on the accelerator: max pooling and global average pooling.

Max pooling (``max_pool_packed``): the int8 input tile is widened into the accumulator (a GEMM
with a selector weight block), then each output element is the ALU MAX over its window::

    wide[n, c, y, x, b, o] = acc(x[n, c, y, x, b, o])                          (acc, alu)
    pool[n, c, y, x, b, o] = max(wide[n, c, y*sh + kh - pt, x*sw + kw - pl, b, o],
                                 kh, kw, where=inside the input)                (acc, alu)

The ``where`` makes the padding behave as minus infinity (standard max pooling, exact for any
input sign): the initial value is the int32 minimum, built with three ALU immediates, and
window positions outside the input are simply not visited (border rows and columns get their
own, smaller MAX instructions).

Global average pooling (``global_avg_pool_packed``): the GEMM core sums every position of a
channel block into one accumulator element (``acc += x[h, w]`` with a selector weight, all
``H*W`` positions folded into one instruction), then MULSHR by a constant multiplier
``M = round(2^s / (H*W))`` (or RSHR when ``H*W`` is a power of two) gives the rounded mean.

Schedules: output tiles of ``tile_c`` channel blocks x ``tile_h`` rows, virtual threads along
either; the input window of a tile is copied once (halo rows included).
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import te
from ...codegen.vdla.target import ALU, DMA_COPY, VdlaTarget
from ...te import Schedule, Tensor
from .common import inp_at, mulshr, out_stage, rshr
from .elementwise import EwiseTiling


@dataclass
class PoolStages:
    x: Tensor
    wide: Tensor | None
    pool: Tensor
    post: Tensor | None
    out: Tensor
    extra: list[Tensor]

    @property
    def inputs(self) -> list[Tensor]:
        return [self.x] + self.extra


def max_pool_packed(t: VdlaTarget, x_shape: tuple, kernel: tuple[int, int],
                    stride: tuple[int, int], padding: tuple[int, int, int, int]) -> PoolStages:
    """``x_shape`` = (NB, CB, H, W, BATCH, BLOCK_IN) int8."""
    cfg = t.cfg
    nb, cb, h, w, bt, bi = x_shape
    ob = cb * bi // cfg.block_out
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = padding
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    x = te.placeholder(x_shape, t.dtype("inp"), "x")
    wide = te.compute((nb, ob, h, w, bt, cfg.block_out), lambda *i: inp_at(t, x, i),
                      name="wide")
    rh = te.reduce_axis((0, kh), "rh")
    rw = te.reduce_axis((0, kw), "rw")

    def f(n, c, y, xx, b, o):
        yy, xw = y * sh + rh - pt, xx * sw + rw - pl
        where = te.all(yy >= 0, yy < h, xw >= 0, xw < w) if any(padding) else None
        return te.max(wide[n, c, yy, xw, b, o], axis=[rh, rw], where=where)

    pool = te.compute((nb, ob, oh, ow, bt, cfg.block_out), f, name="pool")
    return PoolStages(x, wide, pool, None, out_stage(t, pool), [])


def global_avg_pool_packed(t: VdlaTarget, x_shape: tuple, shift: int) -> PoolStages:
    """``x_shape`` = (NB, CB, H, W, BATCH, BLOCK_IN) int8; the mean is
    ``rshr(sum, shift)`` if ``2^shift == H*W``, else ``mulshr(sum, M, shift)`` with the
    (OB, BATCH, BLOCK_OUT) int32 multiplier tensor ``M`` an extra input."""
    cfg = t.cfg
    nb, cb, h, w, bt, bi = x_shape
    ob = cb * bi // cfg.block_out
    x = te.placeholder(x_shape, t.dtype("inp"), "x")
    rh = te.reduce_axis((0, h), "rh")
    rw = te.reduce_axis((0, w), "rw")
    total = te.compute((nb, ob, 1, 1, bt, cfg.block_out), lambda n, c, i, j, b, o: te.sum(
        inp_at(t, x, (n, c, rh, rw, b, o)), axis=[rh, rw]), name="sum")
    extra = []
    if (1 << shift) == h * w:
        post = te.compute(total.shape, lambda *i: rshr(t, total(*i), shift) if shift
                          else total(*i), name="post")
    else:
        m = te.placeholder((ob, bt, cfg.block_out), t.dtype("acc"), "multiplier")
        extra.append(m)
        post = te.compute(total.shape, lambda n, c, i, j, b, o: mulshr(
            t, total[n, c, i, j, b, o], m[c, b, o], shift), name="post")
    return PoolStages(x, None, total, post, out_stage(t, post), extra)


def schedule_pool(t: VdlaTarget, st: PoolStages, tiling: EwiseTiling) -> Schedule:
    s = te.create_schedule(st.out)
    last = st.post if st.post is not None else st.pool
    n, c, y, x, b, o = st.out.op.axis
    co, ci = s[st.out].split(c, factor=tiling.tile_c)
    yo, yi = s[st.out].split(y, factor=tiling.tile_h)
    s[st.out].reorder(n, co, yo, ci, yi, x, b, o)
    if tiling.vthreads > 1:
        tiles = [n, co, yo]
        k = 1 if tiling.vthread_axis == "c" else 2
        tiles[k], vt = s[st.out].split(tiles[k], factor=tiling.vthreads)
        s[st.out].reorder(vt, *tiles)
        s[st.out].bind(vt, te.vthread())
        n, co, yo = tiles
    s[last].compute_at(s[st.out], yo)
    s[st.out].pragma(ci, DMA_COPY)
    # every stage of the tile is computed at the tile loop, in dataflow order: the input
    # window (DMA), its widening (ALU), the window reduction (ALU), the epilogue's inputs
    # (DMA) and the epilogue (ALU)
    t.set_scope(s[last], "acc")
    if st.post is not None:
        t.set_scope(s[st.pool], "acc")
        s[st.pool].compute_at(s[st.out], yo)
        s[st.post].pragma(st.post.op.axis[0], ALU)
        for ext in st.extra:
            cache = s.cache_read(ext, t.acc, [st.post])
            s[cache].compute_at(s[st.out], yo)
            s[cache].pragma(s[cache].op.axis[0], DMA_COPY)
    pool = s[st.pool]
    pool.reorder(pool.op.axis[0], *pool.op.reduce_axis, *pool.op.axis[1:])
    pool.pragma(pool.op.axis[0], ALU)
    reader = st.pool
    if st.wide is not None:
        t.set_scope(s[st.wide], "acc")
        s[st.wide].compute_at(s[st.out], yo)
        s[st.wide].pragma(st.wide.op.axis[0], ALU)
        reader = st.wide
    cache = s.cache_read(st.x, t.inp, [reader])
    s[cache].compute_at(s[st.out], yo)
    s[cache].pragma(s[cache].op.axis[0], DMA_COPY)
    return s
