"""2D convolution on the accelerator, in the packed layout, fused with its epilogue.

Computation (``conv2d_packed``), over packed tensors (``layout.py``)::

    pad[n, c, y, x, b, k]      = select(inside, data[n, c, y - pt, x - pl, b, k], 0)
    conv[n, co, y, x, b, o]    = sum(acc(pad[n, ic, y*sh + dy, x*sw + dx, b, k])
                                     * acc(kernel[co, ic, dy, dx, o, k]), ic, dy, dx, k)
    post[...]                  = max(requant(conv + bias) + acc(residual), 0)  (optional parts)
    out[...]                   = int8(min(max(post, -128), 127))

``requant`` is RSHR (``acc((int64(x) + 2^(s-1)) // 2^s)``) or MULSHR with a per-channel
multiplier tensor (``acc((int64(x) * int64(M[co, b, o]) + 2^(s-1)) // 2^s)``); the residual is
an int8 tensor in the input packing, added in the accumulator by the GEMM core. Any kernel
size, stride and padding; inputs with few channels (the first layer of a network) are better
run through ``im2col`` on the host (``api.py`` does this), so that the reduction covers
C*KH*KW instead of padding C to a whole block.

Schedule (``schedule_conv2d``), VTA style, parameterised by ``Conv2dTiling``::

    vthread t:                                  (optional; along "co" or "h" tiles)
      for yo, coo, xo:                          output tiles of tile_h x tile_w x tile_co
        conv (acc) = 0                          GEMM reset
        for ico:                                chunks of tile_ci input-channel blocks
          pad.inp  <- data   (LOAD, padded)      kernel.wgt <- kernel (LOAD)
          conv += ...                           one GEMM: micro-ops over co, ic, dy, dx;
                                                iter_out/iter_in over the tile's rows/cols
        post (acc, in place)                    ALU: ADD bias, RSHR/MULSHR, GEMM residual, MAX 0
        out <- post                             STORE (saturating)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ... import te
from ...codegen.vdla.target import DMA_COPY, VdlaTarget
from ...te import Schedule, Tensor
from .common import Requant, attach_epilogue, epilogue


@dataclass(frozen=True)
class Conv2dTiling:
    """Schedule parameters: output tile (rows, columns, output-channel blocks), input-channel
    blocks per chunk, and virtual threads (count and the tile axis they split)."""

    tile_h: int
    tile_w: int
    tile_co: int
    tile_ci: int
    vthreads: int = 2
    vthread_axis: str = "co"

    def to_dict(self) -> dict:
        return {"tile_h": self.tile_h, "tile_w": self.tile_w, "tile_co": self.tile_co,
                "tile_ci": self.tile_ci, "vthreads": self.vthreads,
                "vthread_axis": self.vthread_axis}


@dataclass
class Conv2dStages:
    """The tensors of one packed convolution (inputs first, ``out`` last)."""

    data: Tensor
    kernel: Tensor
    conv: Tensor
    out: Tensor
    pad: Tensor | None = None
    post: Tensor | None = None
    extra: list[Tensor] = field(default_factory=list)  # multiplier, residual, bias (inputs)

    @property
    def inputs(self) -> list[Tensor]:
        return [self.data, self.kernel] + self.extra


def conv2d_packed(t: VdlaTarget, data_shape: tuple, kernel_shape: tuple,
                  stride: tuple[int, int], padding: tuple[int, int, int, int],
                  requant: Requant, relu: bool, residual: bool = False,
                  bias: bool = False) -> Conv2dStages:
    """Placeholders and computes of a packed conv2d (see the module docstring).

    ``data_shape`` = (NB, CB, H, W, BATCH, BLOCK_IN), ``kernel_shape`` = (OB, CB, KH, KW,
    BLOCK_OUT, BLOCK_IN); ``padding`` = (top, left, bottom, right).
    """
    cfg = t.cfg
    nb, cb, h, w, bt, bi = data_shape
    ob, cb2, kh, kw, bo, bi2 = kernel_shape
    assert (bt, bi, bo, bi2, cb2) == (cfg.batch, cfg.block_in, cfg.block_out, cfg.block_in, cb)
    sh, sw = stride
    pt, pl, pb, pr = padding
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    acc = t.dtype("acc")
    data = te.placeholder(data_shape, t.dtype("inp"), "data")
    kernel = te.placeholder(kernel_shape, t.dtype("wgt"), "kernel")
    src, pad = data, None
    if any(padding):
        hp, wp = h + pt + pb, w + pl + pr
        zero = te.const(0, t.dtype("inp"))
        pad = te.compute((nb, cb, hp, wp, bt, bi), lambda n, c, y, x, b, k: te.select(
            te.all(y >= pt, y < h + pt, x >= pl, x < w + pl),
            data[n, c, y - pt, x - pl, b, k], zero), name="pad")
        src = pad
    ic = te.reduce_axis((0, cb), "ic")
    dy = te.reduce_axis((0, kh), "dy")
    dx = te.reduce_axis((0, kw), "dx")
    k = te.reduce_axis((0, bi), "k")
    conv = te.compute((nb, ob, oh, ow, bt, bo), lambda n, co, y, x, b, o: te.sum(
        te.cast(acc, src[n, ic, y * sh + dy, x * sw + dx, b, k])
        * te.cast(acc, kernel[co, ic, dy, dx, o, k]), axis=[ic, dy, dx, k]), name="conv")
    post, out, extra = epilogue(t, conv, requant, relu, residual, bias)
    return Conv2dStages(data, kernel, conv, out, pad, post, extra)


def schedule_conv2d(t: VdlaTarget, st: Conv2dStages, tiling: Conv2dTiling) -> Schedule:
    """The accelerator schedule of ``st`` with ``tiling`` (see the module docstring)."""
    s = te.create_schedule(st.out)
    if st.pad is not None:
        cdata = s.cache_read(st.pad, t.inp, [st.conv])
        s[st.pad].compute_inline()
    else:
        cdata = s.cache_read(st.data, t.inp, [st.conv])
    ckern = s.cache_read(st.kernel, t.wgt, [st.conv])
    t.set_scope(s[st.conv], "acc")
    last = st.conv
    if st.post is not None:
        t.set_scope(s[st.post], "acc")
        last = st.post
    # output tiles
    n, co, y, x, b, o = st.out.op.axis
    coo, coi = s[st.out].split(co, factor=tiling.tile_co)
    yo, yi = s[st.out].split(y, factor=tiling.tile_h)
    xo, xi = s[st.out].split(x, factor=tiling.tile_w)
    s[st.out].reorder(n, yo, coo, xo, coi, yi, xi, b, o)
    if tiling.vthreads > 1:
        # VTA style: the thread index is the inner part of a tile axis, moved outermost
        tiles = [n, yo, coo, xo]
        k = 2 if tiling.vthread_axis == "co" else 1
        tiles[k], vt = s[st.out].split(tiles[k], factor=tiling.vthreads)
        s[st.out].reorder(vt, *tiles)
        s[st.out].bind(vt, te.vthread())
    s[last].compute_at(s[st.out], xo)
    s[st.out].pragma(coi, DMA_COPY)
    attach_epilogue(t, s, st)
    # the convolution: chunks of input channels, the GEMM intrinsic innermost
    n, co, y, x, b, o = st.conv.op.axis
    ic, dy, dx, k = st.conv.op.reduce_axis
    ico, ici = s[st.conv].split(ic, factor=tiling.tile_ci)
    s[st.conv].reorder(n, ico, co, y, x, ici, dy, dx, b, o, k)
    for c in (cdata, ckern):
        s[c].compute_at(s[st.conv], ico)
        s[c].pragma(s[c].op.axis[0], DMA_COPY)
    s[st.conv].tensorize(b, t.gemm(6, 6))
    return s
