"""Elementwise operators on the accelerator: requantization, ReLU, residual add.

All work on packed activations (``layout.py``) and run on the ALU in the accumulator:

* ``requantize``: int32 ``x`` (loaded into ``acc``) -> RSHR or MULSHR [-> MAX 0] -> int8;
* ``relu``: int8 ``x`` -> widened into ``acc`` by a GEMM with a selector weight -> MAX 0;
* ``add``: int8 ``a + b`` [-> MAX 0] -> int8 (saturating), both widened by GEMMs — the
  residual connection of a ResNet block when it is not fused into the convolution.

Computation::

    post[n, c, y, x, b, o] = chain(inputs at [n, c, y, x, b, o])       (acc, pragma alu)
    out[...]               = int8(min(max(post, -128), 127))            (STORE)

Schedule (``schedule_ewise``): tiles of ``tile_c`` channel blocks x ``tile_h`` rows (whole
rows), virtual threads along the channel ("c") or row ("h") tiles; each input is copied into
its SRAM (int8 -> inp, int32 -> acc) once per tile.
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import te
from ...codegen.vdla.target import ALU, DMA_COPY, VdlaTarget
from ...te import Schedule, Tensor
from .common import Requant, inp_at, inp_shape, mulshr, out_stage, rshr


@dataclass(frozen=True)
class EwiseTiling:
    tile_c: int
    tile_h: int
    vthreads: int = 2
    vthread_axis: str = "h"

    def to_dict(self) -> dict:
        return {"tile_c": self.tile_c, "tile_h": self.tile_h, "vthreads": self.vthreads,
                "vthread_axis": self.vthread_axis}


@dataclass
class EwiseStages:
    inputs: list[Tensor]
    post: Tensor
    out: Tensor


def requantize_packed(t: VdlaTarget, shape: tuple, requant: Requant, relu: bool
                      ) -> EwiseStages:
    """``shape`` = (NB, OB, H, W, BATCH, BLOCK_OUT) of the int32 input."""
    x = te.placeholder(shape, t.dtype("acc"), "x")
    ins = [x]
    m = None
    if requant.multiplier:
        m = te.placeholder((shape[1], shape[-2], shape[-1]), t.dtype("acc"), "multiplier")
        ins.append(m)

    def f(*i):
        v = x(*i)
        if requant.multiplier:
            v = mulshr(t, v, m[i[1], i[-2], i[-1]], requant.shift)
        elif requant.shift:
            v = rshr(t, v, requant.shift)
        return te.max(v, 0) if relu else v

    post = te.compute(shape, f, name="post")
    return EwiseStages(ins, post, out_stage(t, post))


def relu_packed(t: VdlaTarget, shape: tuple) -> EwiseStages:
    """``shape`` = the output packing (NB, OB, H, W, BATCH, BLOCK_OUT); the int8 input is in
    the input packing."""
    x = te.placeholder(inp_shape(t, shape), t.dtype("inp"), "x")
    post = te.compute(shape, lambda *i: te.max(inp_at(t, x, i), 0), name="post")
    return EwiseStages([x], post, out_stage(t, post))


def add_packed(t: VdlaTarget, shape: tuple, relu: bool) -> EwiseStages:
    a = te.placeholder(inp_shape(t, shape), t.dtype("inp"), "a")
    b = te.placeholder(inp_shape(t, shape), t.dtype("inp"), "b")

    def f(*i):
        v = inp_at(t, a, i) + inp_at(t, b, i)
        return te.max(v, 0) if relu else v

    post = te.compute(shape, f, name="post")
    return EwiseStages([a, b], post, out_stage(t, post))


def schedule_ewise(t: VdlaTarget, st: EwiseStages, tiling: EwiseTiling) -> Schedule:
    s = te.create_schedule(st.out)
    t.set_scope(s[st.post], "acc")
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
    s[st.post].compute_at(s[st.out], yo)
    s[st.out].pragma(ci, DMA_COPY)
    post = s[st.post]
    post.pragma(post.op.axis[0], ALU)
    for x_ in st.inputs:            # loaded at the tile loop, before the ALU loops
        mem = t.acc if x_.dtype == t.dtype("acc") else t.inp
        cache = s.cache_read(x_, mem, [st.post])
        s[cache].compute_at(s[st.out], yo)
        s[cache].pragma(s[cache].op.axis[0], DMA_COPY)
    return s
