"""Shared pieces of the accelerator operators: requantization and the fused epilogue.

The epilogue of a GEMM-based operator is one elementwise ``acc`` stage, written so that its
reference meaning is exactly what the ALU does (``compiler/codegen/vdla/alu.py``)::

    x + bias        = ADD with a per-channel int32 vector (broadcast over the tile)
    rshr(x, s)      = acc((int64(x) + 2^(s-1)) // 2^s)                   RSHR s
    mulshr(x, m, s) = acc((int64(x) * int64(m) + 2^(s-1)) // 2^s)        MULSHR s
    relu(x)         = max(x, 0)                                            MAX 0

Saturation to int8 is not written here: the output stage's ``int8(min(max(x, -128), 127))``
is the STORE's saturating narrowing (SPEC.md 5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import te
from ...codegen.vdla.target import ALU, DMA_COPY, VdlaTarget
from ...te import Tensor
from .errors import VdlaOpError


@dataclass(frozen=True)
class Requant:
    """Requantization of an int32 accumulator: RSHR by ``shift``, or (``multiplier``) MULSHR
    by a per-channel multiplier tensor and ``shift``; ``shift=0`` without a multiplier keeps
    the accumulator as is."""

    shift: int = 0
    multiplier: bool = False

    def check(self, t: VdlaTarget, op: str) -> None:
        n = t.cfg.acc_width
        hi = 2 * n - 2 if self.multiplier else n
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) \
                or not 0 <= self.shift <= hi:
            raise VdlaOpError(f"{op}: shift={self.shift!r} must be an int in 0..{hi}")


def rshr(t: VdlaTarget, x, s: int):
    """Rounding arithmetic shift right by ``s`` (``s >= 1``), exact in 64 bits."""
    return te.cast(t.dtype("acc"), (te.cast("int64", x) + (1 << (s - 1))) // (1 << s))


def mulshr(t: VdlaTarget, x, m, s: int):
    """``round(x * m / 2^s)`` (half up), exact in 64 bits, wrapped to the accumulator."""
    p = te.cast("int64", x) * te.cast("int64", m)
    if s:
        p = (p + (1 << (s - 1))) // (1 << s)
    return te.cast(t.dtype("acc"), p)


def post_chain(t: VdlaTarget, x: Tensor, requant: Requant, relu: bool,
               mult: Tensor | None = None, res: Tensor | None = None,
               name: str = "post", bias: Tensor | None = None) -> Tensor | None:
    """The fused epilogue of ``x`` (packed ``(.., co, .., b, o)`` with ``co`` at axis 1),
    or None when there is nothing to do. ``mult`` and ``bias`` are (OB, BATCH, BLOCK_OUT)
    int32; ``res`` an int8 tensor of ``x``'s shape in the input packing (BLOCK_IN lanes)."""
    if not (requant.shift or requant.multiplier or relu or res is not None
            or bias is not None):
        return None
    nd = len(x.shape)

    def f(*i):
        co, b, o = i[1], i[nd - 2], i[nd - 1]
        v = x(*i)
        if bias is not None:
            v = v + bias[co, b, o]
        if requant.multiplier:
            v = mulshr(t, v, mult[co, b, o], requant.shift)
        elif requant.shift:
            v = rshr(t, v, requant.shift)
        if res is not None:
            v = v + inp_at(t, res, i)
        if relu:
            v = te.max(v, 0)
        return v

    return te.compute(x.shape, f, name=name)


def attach_epilogue(t: VdlaTarget, s, st) -> None:
    """Schedule the epilogue ``st.post`` (already computed at its output tile): the GEMM
    stage ``st.conv`` and the epilogue's extra inputs (multiplier into ``acc``, residual into
    ``inp``) are computed once per tile at the same loop, before the ALU loops (pragma
    ``alu``)."""
    if st.post is None:
        return
    post = s[st.post]
    tile, at = post.attach_stage, post.attach_axis
    s[st.conv].compute_at(tile, at)
    post.pragma(post.op.axis[0], ALU)
    for ext in st.extra:
        if ext.dtype == t.dtype("acc"):
            # per-channel vectors (multiplier, bias): loaded whole, once, before every tile
            c = s.cache_read(ext, t.acc, [st.post])
        else:
            c = s.cache_read(ext, t.inp, [st.post])
            s[c].compute_at(tile, at)
        s[c].pragma(s[c].op.axis[0], DMA_COPY)


def inp_at(t: VdlaTarget, x: Tensor, i: tuple):
    """``x`` (an int8 tensor in the input packing, BLOCK_IN lanes) at the output-packed index
    ``i`` = (n, co, ..., b, o), widened to the accumulator type."""
    cfg = t.cfg
    if cfg.block_in == cfg.block_out:
        return te.cast(t.dtype("acc"), x(*i))
    nd = len(i)
    lane = i[1] * cfg.block_out + i[nd - 1]
    idx = i[:1] + (lane // cfg.block_in,) + i[2:nd - 1] + (lane % cfg.block_in,)
    return te.cast(t.dtype("acc"), x(*idx))


def out_stage(t: VdlaTarget, post: Tensor) -> Tensor:
    lo, hi = t.out_range
    return te.compute(post.shape, lambda *i: te.cast(t.dtype("out"),
                                                     te.min(te.max(post(*i), lo), hi)),
                      name="out")


def epilogue(t: VdlaTarget, x: Tensor, requant: Requant, relu: bool, residual: bool,
             bias: bool = False) -> tuple[Tensor | None, Tensor, list[Tensor]]:
    """The stages after the GEMM stage ``x``: ``(post, out, extra)`` where ``post`` is the
    fused epilogue (``post_chain``; None if empty), ``out`` the saturating int8 output stage and
    ``extra`` the epilogue's new inputs (the multiplier, the residual in input packing, then the
    per-channel int32 bias, added to the accumulator before the requantization)."""
    extra: list[Tensor] = []
    mult = res = bvec = None
    nd = len(x.shape)
    vec_shape = (x.shape[1], x.shape[nd - 2], x.shape[nd - 1])
    if requant.multiplier:
        mult = te.placeholder(vec_shape, t.dtype("acc"), "multiplier")
        extra.append(mult)
    if residual:
        res = te.placeholder(inp_shape(t, tuple(x.shape)), t.dtype("inp"), "residual")
        extra.append(res)
    if bias:
        bvec = te.placeholder(vec_shape, t.dtype("acc"), "bias")
        extra.append(bvec)
    post = post_chain(t, x, requant, relu, mult, res, bias=bvec)
    return post, out_stage(t, post if post is not None else x), extra


def inp_shape(t: VdlaTarget, shape: tuple) -> tuple:
    """The input packing of an activation whose output packing is ``shape``."""
    cfg = t.cfg
    return shape[:1] + (shape[1] * cfg.block_out // cfg.block_in,) + shape[2:-1] \
        + (cfg.block_in,)
