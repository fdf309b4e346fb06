"""2-D convolution, NCHW input, ``(K, C/groups, KH, KW)`` weights, NCHW output.

Attributes: ``stride``, ``padding`` (int, ``(ph, pw)`` or ONNX ``(top, left, bottom,
right)``), ``dilation``, ``groups`` (1, channels = depthwise, or any common divisor), optional
``bias`` (K,). Output ``OH = (H + top + bottom - dh*(KH-1) - 1) // sh + 1`` (likewise OW).
Integer inputs accumulate in int32, exactly.

Two schedules, chosen from the shapes (``config["schedule"]`` is reported, not settable):

**blocked** (``groups == 1``, or output channels per group a multiple of the vector width;
every ordinary convolution, 3x3 or 1x1): output channels vectorized, a register tile of
``ow_block`` output columns x ``oc_block`` output channels (by default 8 x 32 float32 on
AVX-512 when there are at least 32 output channels, else up to 14 x 16)::

    P[n, c, y, x]            zero-padded input (inlined when nothing is padded)
    Wk[kb, c, ry, rx, v]     weights packed in blocks of oc_block output channels (0 past K)
    Acc[n, kb, y, x, v]      = sum_{c, ry, rx} P[n, g*C/G + c, y*sh + ry*dh, x*sw + rx*dw]
                                               * Wk[kb, c, ry, rx, v]
    Out[n, k, y, x]          = Acc[n, k // oc_block, y, x, k % oc_block] (+ bias[k])

    parallel for (n, yo) fused:                   pad_rows output rows per iteration
      P rows for them (all channels)              padded here, while they are hot in L2
      for kb, yi in pad_rows, xo in OWp / ow_block:
        Acc tile: for c, ry: unrolled rx, unrolled x, vectorized v: acc[x, v] += P * Wk
        unrolled x, vectorized v: Out[...] = acc[x, v]          (a scatter along k)

Acc's width is padded to a multiple of ``ow_block`` (and P wide enough), so only the final
copy is guarded. ``pad_rows`` = 0 (the default when that would leave fewer than
``PAD_TASKS_MIN`` parallel iterations, e.g. 7x7 or 14x14 maps, or when nothing is padded)
pads the whole input first and runs the parallel loop over (n, kb, y) instead. Padding per
iteration copies the kernel's halo rows more than once, but in parallel and just before use,
and leaves no serial step in front of the parallel loop.

**spatial** (depthwise and other grouped convolutions): output columns vectorized, a tile of
``ow_block`` columns accumulated in registers over the reduction, one output channel per
iteration of a parallel loop over (n, k, y). With a column stride s > 1 the padded input is
stored de-interleaved (``P[n, c, y, x % s, x // s]``), so vector loads stay contiguous.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import te
from .base import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    MACS_PER_WORK,
    PARALLEL_MIN_WORK,
    CpuOp,
    ceil_div,
    check_config,
    check_dtype,
    check_padding,
    check_shape,
    int_tuple,
    memoize,
    prod,
    vector_lanes,
)
from .errors import OpAttributeError, OpShapeError
from .gemm import acc_dtype

PAD_TASKS_MIN = 8   # row-blocked padding inside the parallel loop needs this many tasks


def conv_out_size(size: int, k: int, stride: int, pad_total: int, dilation: int) -> int:
    return (size + pad_total - dilation * (k - 1) - 1) // stride + 1


def _pick_block(width: int, lo: int, hi: int) -> int:
    """A block size in [lo, hi] (or ``width`` if smaller) with the least padding of width."""
    if width <= hi:
        return width
    return min(range(hi, lo - 1, -1), key=lambda t: (ceil_div(width, t) * t, -t))


@memoize
def conv2d(x_shape, w_shape, stride=1, padding=0, dilation=1, groups: int = 1,
           dtype: str = "float32", bias: bool = False, packed_weights: bool = False,
           config: dict | None = None) -> CpuOp:
    """2-D convolution (see the module docstring); inputs ``(x, w)`` or ``(x, w, bias)``.

    With ``packed_weights``, ``w`` is given already in the kernel's layout, made once with
    ``op.pack_weights(w)`` (for constant weights: the repacking leaves the hot path).
    """
    name = "conv2d"
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    n, c, h, w = check_shape(name, "input shape (N, C, H, W)", x_shape, ndim=4)
    k, cg, kh, kw = check_shape(name, "weight shape (K, C/groups, KH, KW)", w_shape, ndim=4)
    sh, sw = int_tuple(name, "stride", stride, 2)
    dh, dw = int_tuple(name, "dilation", dilation, 2)
    pt, pl, pb, pr = check_padding(name, padding)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise OpAttributeError(f"{name}: groups={groups!r} must be a positive int")
    if c % groups or k % groups:
        raise OpAttributeError(f"{name}: groups={groups} must divide the input channels ({c}) "
                               f"and the output channels ({k})")
    if cg * groups != c:
        raise OpShapeError(f"{name}: weight shape {list(w_shape)} has {cg} input channels per "
                           f"group, but the input has {c} channels in {groups} group(s) "
                           f"(expected {c // groups})")
    for attr, v in (("bias", bias), ("packed_weights", packed_weights)):
        if not isinstance(v, bool):
            raise OpAttributeError(f"{name}: {attr}={v!r} must be True or False")
    oh = conv_out_size(h, kh, sh, pt + pb, dh)
    ow = conv_out_size(w, kw, sw, pl + pr, dw)
    if oh < 1 or ow < 1:
        raise OpShapeError(f"{name}: the dilated kernel ({(kh - 1) * dh + 1}x"
                           f"{(kw - 1) * dw + 1}) is larger than the padded input "
                           f"({h + pt + pb}x{w + pl + pr})")
    acc = acc_dtype(dtype)
    lanes = vector_lanes(acc)
    kg = k // groups
    blocked = (groups == 1 and k >= lanes // 2) or kg % lanes == 0
    if blocked and kg >= 2 * lanes and (groups == 1 or kg % (2 * lanes) == 0):
        # 2 vectors of output channels x up to 8 columns: 16 accumulator registers
        defaults = {"oc_block": 2 * lanes, "ow_block": _pick_block(ow, 4, 8)}
    elif blocked:
        defaults = {"oc_block": lanes, "ow_block": _pick_block(ow, 6, 14)}
    if blocked:
        # pad 2 output rows' worth of input per parallel task, if that makes enough tasks
        defaults["pad_rows"] = 2 if n * ceil_div(oh, 2) >= PAD_TASKS_MIN else 0
    else:
        defaults = {"ow_block": _pick_block(ow, lanes, 2 * lanes) if ow > lanes
                    else ow}
    cfg = check_config(name, defaults, config, zero_ok=("pad_rows",))
    geom = _Geom(n, c, h, w, k, cg, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups, oh, ow)
    X = te.placeholder((n, c, h, w), dtype, name="X")
    B = te.placeholder((k,), acc, name="bias") if bias else None
    packer = None
    if blocked:
        ob = cfg["oc_block"]
        w_kernel = (groups * ceil_div(k // groups, ob), cg, kh, kw, ob)
        W = te.placeholder(w_kernel if packed_weights else (k, cg, kh, kw), dtype, name="W")
        s, out = _blocked(geom, X, W, B, acc, cfg, packed_weights)
        packer = functools.partial(pack_conv_weights, groups=groups, oc_block=ob)
    else:
        W = te.placeholder((k, cg, kh, kw), dtype, name="W")
        s, out = _spatial(geom, X, W, B, acc, cfg)
        packer = np.ascontiguousarray            # the spatial schedule reads w in place
    cfg = {"schedule": "blocked" if blocked else "spatial", **cfg}
    attrs = {"stride": (sh, sw), "padding": (pt, pl, pb, pr), "dilation": (dh, dw),
             "groups": groups, "bias": bias, "packed_weights": packed_weights}
    op = CpuOp(name, s, [X, W] + ([B] if bias else []), out, attrs=attrs, config=cfg,
               in_shapes=[(n, c, h, w), W.shape] + ([(k,)] if bias else []))
    if packed_weights:
        op.pack_weights = packer
    return op


def pack_conv_weights(w: np.ndarray, groups: int, oc_block: int) -> np.ndarray:
    """``(K, C/G, KH, KW)`` -> ``(G * ceil(K/G / oc_block), C/G, KH, KW, oc_block)``: blocks
    of ``oc_block`` output channels (zero-padded within each group), channel innermost."""
    k, cg, kh, kw = w.shape
    kg = k // groups
    kgb = ceil_div(kg, oc_block)
    wg = w.reshape(groups, kg, cg, kh, kw)
    if kgb * oc_block != kg:
        wg = np.pad(wg, ((0, 0), (0, kgb * oc_block - kg), (0, 0), (0, 0), (0, 0)))
    wb = wg.reshape(groups, kgb, oc_block, cg, kh, kw).transpose(0, 1, 3, 4, 5, 2)
    return np.ascontiguousarray(wb.reshape(groups * kgb, cg, kh, kw, oc_block))


class _Geom:
    """The shapes and attributes of one convolution."""

    def __init__(self, *vals) -> None:
        (self.n, self.c, self.h, self.w, self.k, self.cg, self.kh, self.kw, self.sh, self.sw,
         self.dh, self.dw, self.pt, self.pl, self.pb, self.pr, self.groups, self.oh,
         self.ow) = vals
        self.kg = self.k // self.groups


def _padded_input(g: _Geom, X, owp: int, phases: int = 1):
    """The zero-padded input, wide enough for ``owp`` output columns; None if not needed.

    With ``phases`` > 1 (the column stride of a spatial schedule), columns are stored
    de-interleaved: ``P[n, c, y, ph, q]`` is padded column ``q * phases + ph``, so that the
    columns one vector of strided output reads are contiguous.
    """
    hp = max(g.h + g.pt + g.pb, (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1)
    wp = max(g.w + g.pl + g.pr, (owp - 1) * g.sw + (g.kw - 1) * g.dw + 1)
    if (hp, wp) == (g.h, g.w) and g.pt == g.pl == 0 and phases == 1:
        return None
    zero = te.const(0.0 if X.dtype in FLOAT_DTYPES else 0, X.dtype)
    wq = ceil_div(wp, phases)

    def pad(n, c, y, x):
        conds = []
        if g.pt:
            conds.append(y >= g.pt)
        if hp > g.h + g.pt:
            conds.append(y < g.h + g.pt)
        if g.pl:
            conds.append(x >= g.pl)
        if wq * phases > g.w + g.pl:
            conds.append(x < g.w + g.pl)
        yy = te.min(te.max(y - g.pt, 0), g.h - 1) if conds else y
        xx = te.min(te.max(x - g.pl, 0), g.w - 1) if conds else x
        return te.select(te.all(*conds), X[n, c, yy, xx], zero) if conds else X[n, c, y, x]

    if phases == 1:
        return te.compute((g.n, g.c, hp, wp), pad, name="P")
    return te.compute((g.n, g.c, hp, phases, wq),
                      lambda n, c, y, ph, q: pad(n, c, y, q * phases + ph), name="P")


def _schedule_pad(s, P) -> None:
    axes = list(s[P].op.axis)
    outer = s[P].fuse(*axes[:-1])
    lanes = vector_lanes(P.dtype)
    if P.shape[-1] > lanes:
        _, xi = s[P].split(axes[-1], factor=lanes)
        s[P].vectorize(xi)
    if prod(P.shape) >= PARALLEL_MIN_WORK:
        s[P].parallel(outer)


def _cast(x, acc: str):
    return x if x.dtype == acc else te.cast(acc, x)


def _blocked(g: _Geom, X, W, B, acc: str, cfg: dict, packed: bool):
    ob, owt = cfg["oc_block"], cfg["ow_block"]
    owp = ceil_div(g.ow, owt) * owt
    kgb = ceil_div(g.kg, ob)              # weight blocks per group (padded with zeros)
    nkb = g.groups * kgb
    P = _padded_input(g, X, owp)
    src = P if P is not None else X
    zero = te.const(0.0 if X.dtype in FLOAT_DTYPES else 0, X.dtype)

    def pack(kb, c, ry, rx, v):
        kl = (kb % kgb) * ob + v if g.groups > 1 else kb * ob + v
        kk = (kb // kgb) * g.kg + kl if g.groups > 1 else kl
        if kgb * ob == g.kg:
            return W[kk, c, ry, rx]
        return te.select(kl < g.kg, W[te.min(kk, g.k - 1), c, ry, rx], zero)

    Wk = W if packed else te.compute((nkb, g.cg, g.kh, g.kw, ob), pack, name="Wk")
    rc = te.reduce_axis((0, g.cg), name="rc")
    ry = te.reduce_axis((0, g.kh), name="ry")
    rx = te.reduce_axis((0, g.kw), name="rx")

    def conv(n, kb, y, x, v):
        cin = (kb // kgb) * g.cg + rc if g.groups > 1 else rc
        a = src[n, cin, y * g.sh + ry * g.dh, x * g.sw + rx * g.dw]
        return te.sum(_cast(a, acc) * _cast(Wk[kb, rc, ry, rx, v], acc), axis=[rc, ry, rx])

    Acc = te.compute((g.n, nkb, g.oh, owp, ob), conv, name="Acc")

    def out(n, k, y, x):
        kp = (k // g.kg) * (kgb * ob) + k % g.kg if kgb * ob != g.kg and g.groups > 1 else k
        v = Acc[n, kp // ob, y, x, kp % ob]
        return v + B[k] if B is not None else v

    Out = te.compute((g.n, g.k, g.oh, g.ow), out, name="conv2d")
    s = te.create_schedule(Out)
    n, k, y, x = s[Out].op.axis
    ko, ki = s[Out].split(k, factor=ob)
    xo, xi = s[Out].split(x, factor=owt)
    rows = cfg["pad_rows"]
    if rows and P is not None:
        yo, yi = s[Out].split(y, factor=rows)
        s[Out].reorder(n, yo, ko, yi, xo, xi, ki)
        outer = s[Out].fuse(n, yo)
    else:
        s[Out].reorder(n, ko, y, xo, xi, ki)
        outer = s[Out].fuse(n, ko, y)
    s[Out].unroll(xi)
    s[Out].vectorize(ki)
    if prod(Out.shape) * g.cg * g.kh * g.kw >= PARALLEL_MIN_WORK * MACS_PER_WORK:
        s[Out].parallel(outer)
    s[Acc].compute_at(s[Out], xo)
    an, akb, ay, ax, av = s[Acc].op.axis
    arc, ary, arx = s[Acc].op.reduce_axis
    s[Acc].reorder(an, akb, ay, arc, ary, arx, ax, av)
    s[Acc].unroll(arx)
    s[Acc].unroll(ax)
    s[Acc].vectorize(av)
    if not packed:
        wkb, wc, wy, wx, wv = s[Wk].op.axis
        s[Wk].vectorize(wv)
        if prod(Wk.shape) >= PARALLEL_MIN_WORK:
            s[Wk].parallel(wkb)
    if P is not None:
        if rows:
            s[P].compute_at(s[Out], outer)
            pa = s[P].op.axis
            _, pxi = s[P].split(pa[-1], factor=vector_lanes(P.dtype))
            s[P].vectorize(pxi)
        else:
            _schedule_pad(s, P)
    return s, Out


def _spatial(g: _Geom, X, W, B, acc: str, cfg: dict):
    owt = cfg["ow_block"]
    owp = ceil_div(g.ow, owt) * owt
    P = _padded_input(g, X, owp, phases=g.sw)
    src = P if P is not None else X
    rc = te.reduce_axis((0, g.cg), name="rc")
    ry = te.reduce_axis((0, g.kh), name="ry")
    rx = te.reduce_axis((0, g.kw), name="rx")

    def conv(n, k, y, x):
        cin = (k // g.kg) * g.cg + rc if g.groups > 1 else rc
        yy = y * g.sh + ry * g.dh
        if g.sw > 1:       # de-interleaved columns: contiguous along x
            a = src[n, cin, yy, (rx * g.dw) % g.sw, x + (rx * g.dw) // g.sw]
        else:
            a = src[n, cin, yy, x + rx * g.dw]
        return te.sum(_cast(a, acc) * _cast(W[k, rc, ry, rx], acc), axis=[rc, ry, rx])

    Acc = te.compute((g.n, g.k, g.oh, owp), conv, name="Acc")
    if B is None:
        Out = te.compute((g.n, g.k, g.oh, g.ow), lambda n, k, y, x: Acc[n, k, y, x],
                         name="conv2d")
    else:
        Out = te.compute((g.n, g.k, g.oh, g.ow),
                         lambda n, k, y, x: Acc[n, k, y, x] + B[k], name="conv2d")
    s = te.create_schedule(Out)
    n, k, y, x = s[Out].op.axis
    xo, xi = s[Out].split(x, factor=owt)
    outer = s[Out].fuse(n, k, y)
    s[Out].vectorize(xi)
    if prod(Out.shape) * g.cg * g.kh * g.kw >= PARALLEL_MIN_WORK * MACS_PER_WORK:
        s[Out].parallel(outer)
    s[Acc].compute_at(s[Out], xo)
    an, ak, ay, ax = s[Acc].op.axis
    arc, ary, arx = s[Acc].op.reduce_axis
    s[Acc].reorder(an, ak, ay, arc, ary, arx, ax)
    s[Acc].vectorize(ax)
    if P is not None:
        _schedule_pad(s, P)
    return s, Out


__all__ = ["conv2d", "conv_out_size", "pack_conv_weights"]
