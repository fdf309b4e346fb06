"""Pooling over NCHW tensors: max, average (ONNX ``count_include_pad``), global max/average.

Windows follow ONNX ``MaxPool`` / ``AveragePool``: ``kernel``, ``stride`` (default 1, as in
ONNX), ``padding`` (int, ``(ph, pw)`` or ``(top, left, bottom, right)``), ``dilation`` (max
pool), ``ceil_mode``. Output size ``floor((H + top + bottom - dh*(KH-1) - 1) / sh) + 1``, or
with ``ceil_mode`` the ceiling, minus one when the last window would start past the input
and its top/left padding (ONNX Runtime, PyTorch).

Padding never wins a max (it is the lowest value of the dtype). The average divides by the
number of window elements inside the input (``count_include_pad=False``) or inside the
padded input (``True``; windows hanging past the padding in ceil mode still do not count
the overhang), exactly as ONNX Runtime does. The divisor depends only on the output
position, so it is computed once into a small ``(OH, OW)`` table of reciprocals.

Schedule: a parallel loop over (n, c, output row); output columns vectorized, the window
loops inside (strided gathers for stride 2). Global pooling reduces ``H*W`` in vector lanes
(``lanes`` partial results per channel), then across the lanes.
"""

from __future__ import annotations

import numpy as np

from ... import te
from .base import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    PARALLEL_MIN_WORK,
    CpuOp,
    ceil_div,
    check_dtype,
    check_padding,
    check_shape,
    int_tuple,
    memoize,
    vector_lanes,
)
from .errors import OpAttributeError, OpShapeError


def pool_out_size(size: int, k: int, stride: int, pad_begin: int, pad_end: int,
                  dilation: int, ceil_mode: bool) -> int:
    span = size + pad_begin + pad_end - dilation * (k - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = ceil_div(span, stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _lowest(dtype: str):
    if dtype in FLOAT_DTYPES:
        return te.const(float("-inf"), dtype)
    return te.const(int(np.iinfo(dtype).min), dtype)


def _pool_geometry(name, x_shape, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = check_shape(name, "input shape (N, C, H, W)", x_shape, ndim=4)
    kh, kw = int_tuple(name, "kernel", kernel, 2)
    sh, sw = int_tuple(name, "stride", stride, 2)
    dh, dw = int_tuple(name, "dilation", dilation, 2)
    pads = check_padding(name, padding)
    if not isinstance(ceil_mode, bool):
        raise OpAttributeError(f"{name}: ceil_mode={ceil_mode!r} must be True or False")
    if pads[0] >= (kh - 1) * dh + 1 or pads[2] >= (kh - 1) * dh + 1 \
            or pads[1] >= (kw - 1) * dw + 1 or pads[3] >= (kw - 1) * dw + 1:
        raise OpAttributeError(f"{name}: padding {list(pads)} must be smaller than the "
                               f"(dilated) kernel {kh}x{kw}, or a window could see only "
                               f"padding")
    oh = pool_out_size(h, kh, sh, pads[0], pads[2], dh, ceil_mode)
    ow = pool_out_size(w, kw, sw, pads[1], pads[3], dw, ceil_mode)
    if oh < 1 or ow < 1:
        raise OpShapeError(f"{name}: the kernel {kh}x{kw} does not fit the padded input "
                           f"{h + pads[0] + pads[2]}x{w + pads[1] + pads[3]}")
    return (n, c, h, w), (kh, kw), (sh, sw), (dh, dw), pads, (oh, ow)


def _window(X, pads, strides, dils):
    """Index helpers: input row/col of a window element and whether it is in [lo, hi)."""
    (pt, pl, _, _), (sh, sw), (dh, dw) = pads, strides, dils

    def pos(y, ry, x, rx):
        return y * sh + ry * dh - pt, x * sw + rx * dw - pl

    def inside(iy, ix, bounds):
        (y0, y1), (x0, x1) = bounds
        return te.all(iy >= y0, iy < y1, ix >= x0, ix < x1)

    def load(n, c, iy, ix):
        h, w = X.shape[2], X.shape[3]
        return X[n, c, te.min(te.max(iy, 0), h - 1), te.min(te.max(ix, 0), w - 1)]

    return pos, inside, load


@memoize
def max_pool2d(x_shape, kernel, stride=1, padding=0, dilation=1, ceil_mode: bool = False,
               dtype: str = "float32") -> CpuOp:
    """Max over each window (ONNX ``MaxPool``); padding is the dtype's lowest value."""
    name = "max_pool2d"
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    (n, c, h, w), (kh, kw), strides, dils, pads, (oh, ow) = _pool_geometry(
        name, x_shape, kernel, stride, padding, dilation, ceil_mode)
    X = te.placeholder((n, c, h, w), dtype, name="X")
    pos, inside, load = _window(X, pads, strides, dils)
    ry, rx = te.reduce_axis((0, kh), name="ry"), te.reduce_axis((0, kw), name="rx")
    exact = pads == (0, 0, 0, 0) and (oh - 1) * strides[0] + (kh - 1) * dils[0] < h \
        and (ow - 1) * strides[1] + (kw - 1) * dils[1] < w

    def body(b, ch, y, x):
        iy, ix = pos(y, ry, x, rx)
        if exact:
            return te.max(X[b, ch, iy, ix], axis=[ry, rx])
        v = te.select(inside(iy, ix, ((0, h), (0, w))), load(b, ch, iy, ix), _lowest(dtype))
        return te.max(v, axis=[ry, rx])

    Out = te.compute((n, c, oh, ow), body, name=name)
    s = te.create_schedule(Out)
    Red = s.cache_write(Out, "local")
    _schedule_reduce_then_copy(s, Red, Out, n * c * oh * ow * kh * kw)
    attrs = {"kernel": (kh, kw), "stride": strides, "padding": pads, "dilation": dils,
             "ceil_mode": ceil_mode}
    return CpuOp(name, s, [X], Out, attrs=attrs)


@memoize
def avg_pool2d(x_shape, kernel, stride=1, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = False, dtype: str = "float32") -> CpuOp:
    """Mean over each window (ONNX ``AveragePool``); see the module docstring for the
    divisor."""
    name = "avg_pool2d"
    dtype = check_dtype(name, dtype, FLOAT_DTYPES)
    if not isinstance(count_include_pad, bool):
        raise OpAttributeError(f"{name}: count_include_pad={count_include_pad!r} must be True "
                               f"or False")
    (n, c, h, w), (kh, kw), strides, dils, pads, (oh, ow) = _pool_geometry(
        name, x_shape, kernel, stride, padding, 1, ceil_mode)
    X = te.placeholder((n, c, h, w), dtype, name="X")
    pos, inside, load = _window(X, pads, strides, dils)
    image = ((0, h), (0, w))
    padded = ((-pads[0], h + pads[2]), (-pads[1], w + pads[3]))
    counted = padded if count_include_pad else image
    ry, rx = te.reduce_axis((0, kh), name="ry"), te.reduce_axis((0, kw), name="rx")
    cy, cx = te.reduce_axis((0, kh), name="cy"), te.reduce_axis((0, kw), name="cx")

    def count(y, x):
        iy, ix = pos(y, cy, x, cx)
        one, zero = te.const(1.0, "float32"), te.const(0.0, "float32")
        return te.sum(te.select(inside(iy, ix, counted), one, zero), axis=[cy, cx])

    Cnt = te.compute((oh, ow), count, name="Cnt")
    Inv = te.compute((oh, ow), lambda y, x: 1.0 / Cnt[y, x], name="Inv")

    def body(b, ch, y, x):
        iy, ix = pos(y, ry, x, rx)
        v = te.select(inside(iy, ix, image), load(b, ch, iy, ix), 0.0)
        return te.sum(v, axis=[ry, rx])

    Sum = te.compute((n, c, oh, ow), body, name="Sum")
    Out = te.compute((n, c, oh, ow), lambda b, ch, y, x: Sum[b, ch, y, x] * Inv[y, x],
                     name=name)
    s = te.create_schedule(Out)
    _schedule_reduce_then_copy(s, Sum, Out, n * c * oh * ow * kh * kw)
    attrs = {"kernel": (kh, kw), "stride": strides, "padding": pads, "ceil_mode": ceil_mode,
             "count_include_pad": count_include_pad}
    return CpuOp(name, s, [X], Out, attrs=attrs)


def _schedule_reduce_then_copy(s, Red, Out, work: int) -> None:
    """``Out = f(Red)``: a block of output columns is reduced in registers, then stored."""
    n, c, y, x = s[Out].op.axis
    lanes = vector_lanes(Out.dtype)
    outer = s[Out].fuse(n, c, y)
    xo, xi = s[Out].split(x, factor=lanes) if Out.shape[3] > lanes else (None, x)
    s[Out].vectorize(xi)
    if work >= PARALLEL_MIN_WORK:
        s[Out].parallel(outer)
    s[Red].compute_at(s[Out], xo if xo is not None else outer)
    _, _, _, rx = s[Red].op.axis
    rry, rrx = s[Red].op.reduce_axis
    s[Red].reorder(rry, rrx, rx)
    s[Red].vectorize(rx)


def _global(name: str, x_shape, dtype: str, combiner: str) -> CpuOp:
    x_shape = check_shape(name, "input shape (N, C, ...)", x_shape, min_ndim=3)
    n, c = x_shape[:2]
    hw = int(np.prod(x_shape[2:]))
    lanes = vector_lanes(dtype)
    nb = ceil_div(hw, lanes)
    X = te.placeholder((n * c, hw), dtype, name="X")
    b = te.reduce_axis((0, nb), name="b")
    ident = te.const(0.0, dtype) if combiner == "sum" else _lowest(dtype)
    red = te.sum if combiner == "sum" else te.max

    def part(i, v):
        j = b * lanes + v
        x = X[i, j] if nb * lanes == hw else \
            te.select(j < hw, X[i, te.min(j, hw - 1)], ident)
        return red(x * te.const(1.0 / hw, dtype) if combiner == "sum" else x, axis=b)

    Part = te.compute((n * c, lanes), part, name="Part")
    v = te.reduce_axis((0, lanes), name="v")
    Out = te.compute((n * c,), lambda i: red(Part[i, v], axis=v), name=name)
    s = te.create_schedule(Out)
    (i,) = s[Out].op.axis
    if n * c * hw >= PARALLEL_MIN_WORK:
        s[Out].parallel(i)
    s[Part].compute_at(s[Out], i)
    _, pv = s[Part].op.axis
    (pb,) = s[Part].op.reduce_axis
    s[Part].reorder(pb, pv)
    s[Part].vectorize(pv)
    out_shape = (n, c) + (1,) * (len(x_shape) - 2)
    return CpuOp(name, s, [X], Out, in_shapes=[x_shape], out_shape=out_shape)


@memoize
def global_avg_pool2d(x_shape, dtype: str = "float32") -> CpuOp:
    """Mean over all spatial positions: ``(N, C, ...)`` -> ``(N, C, 1, ...)``."""
    dtype = check_dtype("global_avg_pool2d", dtype, FLOAT_DTYPES)
    return _global("global_avg_pool2d", x_shape, dtype, "sum")


@memoize
def global_max_pool2d(x_shape, dtype: str = "float32") -> CpuOp:
    """Max over all spatial positions: ``(N, C, ...)`` -> ``(N, C, 1, ...)``."""
    dtype = check_dtype("global_max_pool2d", dtype, ALL_DTYPES)
    return _global("global_max_pool2d", x_shape, dtype, "max")


__all__ = ["avg_pool2d", "global_avg_pool2d", "global_max_pool2d", "max_pool2d",
           "pool_out_size"]
