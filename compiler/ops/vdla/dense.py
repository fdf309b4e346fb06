"""Dense (fully connected) layer on the accelerator, in the packed layout, with its epilogue.

Computation (``dense_packed``)::

    dense[n, co, b, o] = sum(acc(data[n, ic, b, k]) * acc(weight[co, ic, o, k]), ic, k)
    post, out          as for conv2d (bias, requantization, ReLU; saturating store)

Schedule (``schedule_dense``): output tiles of ``tile_n`` row blocks x ``tile_co`` output
blocks, reduction chunks of ``tile_ci`` input blocks, virtual threads along the output-block
tiles ("co") or the row tiles ("n"). One GEMM per chunk: micro-ops over the chunk's input
blocks, iter_out/iter_in over the tile's rows and output blocks (the hand-written
``accel/isa/workloads/gemm.py`` kernel, generated).
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import te
from ...codegen.vdla.target import DMA_COPY, VdlaTarget
from ...te import Schedule
from .common import Requant, attach_epilogue, epilogue
from .conv2d import Conv2dStages


@dataclass(frozen=True)
class DenseTiling:
    tile_n: int
    tile_co: int
    tile_ci: int
    vthreads: int = 2
    vthread_axis: str = "co"

    def to_dict(self) -> dict:
        return {"tile_n": self.tile_n, "tile_co": self.tile_co, "tile_ci": self.tile_ci,
                "vthreads": self.vthreads, "vthread_axis": self.vthread_axis}


def dense_packed(t: VdlaTarget, data_shape: tuple, weight_shape: tuple, requant: Requant,
                 relu: bool, residual: bool = False, bias: bool = False) -> Conv2dStages:
    """``data_shape`` = (NB, CB, BATCH, BLOCK_IN), ``weight_shape`` = (OB, CB, BLOCK_OUT,
    BLOCK_IN)."""
    cfg = t.cfg
    nb, cb, bt, bi = data_shape
    ob, cb2, bo, bi2 = weight_shape
    assert (bt, bi, bo, bi2, cb2) == (cfg.batch, cfg.block_in, cfg.block_out, cfg.block_in, cb)
    acc = t.dtype("acc")
    data = te.placeholder(data_shape, t.dtype("inp"), "data")
    weight = te.placeholder(weight_shape, t.dtype("wgt"), "weight")
    ic = te.reduce_axis((0, cb), "ic")
    k = te.reduce_axis((0, bi), "k")
    dense = te.compute((nb, ob, bt, bo), lambda n, co, b, o: te.sum(
        te.cast(acc, data[n, ic, b, k]) * te.cast(acc, weight[co, ic, o, k]), axis=[ic, k]),
        name="dense")
    post, out, extra = epilogue(t, dense, requant, relu, residual, bias)
    return Conv2dStages(data, weight, dense, out, None, post, extra)


def schedule_dense(t: VdlaTarget, st: Conv2dStages, tiling: DenseTiling) -> Schedule:
    s = te.create_schedule(st.out)
    cdata = s.cache_read(st.data, t.inp, [st.conv])
    cw = s.cache_read(st.kernel, t.wgt, [st.conv])
    t.set_scope(s[st.conv], "acc")
    last = st.conv
    if st.post is not None:
        t.set_scope(s[st.post], "acc")
        last = st.post
    n, co, b, o = st.out.op.axis
    no, ni = s[st.out].split(n, factor=tiling.tile_n)
    coo, coi = s[st.out].split(co, factor=tiling.tile_co)
    s[st.out].reorder(no, coo, ni, coi, b, o)
    if tiling.vthreads > 1:
        tiles = [no, coo]
        k = 1 if tiling.vthread_axis == "co" else 0
        tiles[k], vt = s[st.out].split(tiles[k], factor=tiling.vthreads)
        s[st.out].reorder(vt, *tiles)
        s[st.out].bind(vt, te.vthread())
        no, coo = tiles
    s[last].compute_at(s[st.out], coo)
    s[st.out].pragma(ni, DMA_COPY)
    attach_epilogue(t, s, st)
    n, co, b, o = st.conv.op.axis
    ic, k = st.conv.op.reduce_axis
    ico, ici = s[st.conv].split(ic, factor=tiling.tile_ci)
    s[st.conv].reorder(ico, n, co, ici, b, o, k)
    for c in (cdata, cw):
        s[c].compute_at(s[st.conv], ico)
        s[c].pragma(s[c].op.axis[0], DMA_COPY)
    s[st.conv].tensorize(b, t.gemm(4, 4))
    return s
