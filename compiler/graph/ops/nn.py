"""Neural-network operators: convolutions, pooling, normalization, softmax, dense products.

Canonical attributes (N spatial dimensions; ``pads`` = N begins then N ends, as in ONNX;
``auto_pad`` is accepted when building and resolved into explicit ``pads``)::

    Conv(x, w, b?)             kernel_shape, strides, pads, dilations, group
    ConvTranspose(x, w, b?)    kernel_shape, strides, pads, dilations, group, output_padding
                               (an ``output_shape`` is resolved into pads/output_padding)
    MaxPool(x)                 kernel_shape, strides, pads, dilations, ceil_mode
    AveragePool(x)             kernel_shape, strides, pads, dilations, ceil_mode,
                               count_include_pad
    GlobalAveragePool(x)
    BatchNormalization(x, scale, bias, mean, var)
                               epsilon (inference form: running statistics)
    LRN(x)                     size, alpha, beta, bias
    Softmax(x)                 axis (opset-13 semantics: normalize along one axis)
    Gemm(a, b, c?)             alpha, beta, transA, transB
    MatMul(a, b)               numpy matmul semantics (1-d operands, broadcast batch dims)
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..errors import GraphBuildError
from ..ir import TensorType
from . import REQUIRED, OpDef, register
from ._common import broadcast_shapes, ints, norm_axis, require_float, same_dtype, spatial_attr

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


# ------------------------------------------------------------------ window geometry
def _window_attrs(ctx, nsp: int, kernel: tuple[int, ...]) -> dict:
    """kernel_shape/strides/dilations/pads with auto_pad resolved (for convs and pools)."""
    in_sp = ctx.input(0).shape[2:]
    strides = spatial_attr(ctx, "strides", nsp, 1)
    dilations = spatial_attr(ctx, "dilations", nsp, 1)
    auto_pad = ctx.attrs.get("auto_pad") or "NOTSET"
    if auto_pad not in AUTO_PADS:
        ctx.fail(f"auto_pad='{auto_pad}' is not one of {', '.join(AUTO_PADS)}",
                 GraphBuildError)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads_b, pads_e = [], []
        for i in range(nsp):
            out = -(-in_sp[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                        - in_sp[i])
            small, big = total // 2, total - total // 2
            pads_b.append(small if auto_pad == "SAME_UPPER" else big)
            pads_e.append(big if auto_pad == "SAME_UPPER" else small)
        pads = tuple(pads_b + pads_e)
    elif auto_pad == "VALID" or ctx.attrs.get("pads") is None:
        pads = (0,) * (2 * nsp)
    else:
        pads = ints(ctx.attrs["pads"])
        if len(pads) != 2 * nsp:
            ctx.fail(f"attribute pads={list(pads)} needs {2 * nsp} values (begin and end per "
                     f"spatial dimension)", GraphBuildError)
        if any(p < 0 for p in pads):
            ctx.fail(f"negative pads {list(pads)} are not supported", GraphBuildError)
    return {"kernel_shape": tuple(kernel), "strides": strides, "pads": pads,
            "dilations": dilations}


def window_output(ctx, in_sp, attrs, ceil_mode: bool = False) -> tuple[int, ...]:
    """Output spatial extent of a convolution / pooling window."""
    k, s, p, d = attrs["kernel_shape"], attrs["strides"], attrs["pads"], attrs["dilations"]
    n = len(in_sp)
    out = []
    for i in range(n):
        span = in_sp[i] + p[i] + p[n + i] - d[i] * (k[i] - 1) - 1
        o = (-(-span // s[i]) if ceil_mode else span // s[i]) + 1
        if ceil_mode and (o - 1) * s[i] >= in_sp[i] + p[i]:
            o -= 1   # the last window must start inside the input or its begin padding
        if o < 1:
            ctx.fail(f"the window (kernel {k[i]}, dilation {d[i]}) does not fit spatial "
                     f"dimension {i} of size {in_sp[i]} with pads {p[i]}+{p[n + i]}")
        out.append(o)
    return tuple(out)


def _spatial_slices(offset, dilations, strides, out_sp):
    return tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                 for o, d, s, n in zip(offset, dilations, strides, out_sp))


# ------------------------------------------------------------------ Conv
def _conv_normalize(ctx) -> dict:
    x, w = ctx.input(0, "X"), ctx.input(1, "W")
    if x.ndim < 3:
        ctx.fail(f"input X must be (N, C, spatial...), got shape {x.shape}")
    nsp = x.ndim - 2
    if w.ndim != x.ndim:
        ctx.fail(f"weight shape {w.shape} and input shape {x.shape} have different ranks")
    kernel = ints(ctx.attrs["kernel_shape"]) if ctx.attrs.get("kernel_shape") else w.shape[2:]
    if tuple(kernel) != tuple(w.shape[2:]):
        ctx.fail(f"kernel_shape={list(kernel)} does not match the weight shape {w.shape}")
    attrs = _window_attrs(ctx, nsp, kernel)
    attrs["group"] = int(ctx.attrs["group"])
    return attrs


def _conv_infer(ctx) -> list[TensorType]:
    x, w = ctx.input(0), ctx.input(1)
    require_float(ctx, x, "input X")
    same_dtype(ctx, [t for t in ctx.inputs if t is not None])
    g = ctx["group"]
    if g < 1 or x.shape[1] % g or w.shape[0] % g:
        ctx.fail(f"group={g} must divide the input channels ({x.shape[1]}) and the output "
                 f"channels ({w.shape[0]})")
    if w.shape[1] * g != x.shape[1]:
        ctx.fail(f"weight shape {w.shape} expects {w.shape[1] * g} input channels with "
                 f"group={g}, but the input has shape {x.shape}")
    if ctx.has(2) and ctx.inputs[2].shape != (w.shape[0],):
        ctx.fail(f"bias shape {ctx.inputs[2].shape} should be ({w.shape[0]},)")
    out_sp = window_output(ctx, x.shape[2:], ctx.attrs)
    return [TensorType((x.shape[0], w.shape[0]) + out_sp, x.dtype)]


def conv(attrs, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """N-d grouped convolution: one batched matrix product per kernel offset."""
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    pads, strides, dil, g = attrs["pads"], attrs["strides"], attrs["dilations"], attrs["group"]
    ks = w.shape[2:]
    acc_dtype = np.float32 if x.dtype == np.float16 else x.dtype
    xp = np.pad(x.astype(acc_dtype, copy=False),
                [(0, 0), (0, 0)] + [(pads[i], pads[nsp + i]) for i in range(nsp)])
    out_sp = tuple((xp.shape[2 + i] - dil[i] * (ks[i] - 1) - 1) // strides[i] + 1
                   for i in range(nsp))
    o, cg = w.shape[0], c // g
    og, npix = o // g, math.prod(out_sp)
    xg = xp.reshape((n, g, cg) + xp.shape[2:])
    wg = w.astype(acc_dtype, copy=False).reshape((g, og, cg) + tuple(ks))
    acc = np.zeros((n, g, og, npix), acc_dtype)
    for k in itertools.product(*(range(kk) for kk in ks)):
        patch = xg[(slice(None),) * 3 + _spatial_slices(k, dil, strides, out_sp)]
        patch = patch.reshape(n, g, cg, npix)
        wk = wg[(Ellipsis,) + k]                               # (g, og, cg)
        if cg == 1:
            acc += wk[None, :, :, :] * patch                   # depthwise: no reduction
        else:
            acc += np.matmul(wk, patch)
    out = acc.reshape((n, o) + out_sp)
    if b is not None:
        out = out + b.astype(acc_dtype).reshape((1, o) + (1,) * nsp)
    return out.astype(x.dtype, copy=False)


CONV_ATTRS = {"kernel_shape": None, "strides": None, "pads": None, "dilations": None,
              "group": 1, "auto_pad": "NOTSET"}
register(OpDef("Conv", (2, 3), CONV_ATTRS, _conv_infer,
               lambda a, xs: conv(a, xs[0], xs[1], xs[2] if len(xs) > 2 else None),
               normalize=_conv_normalize))


# ------------------------------------------------------------------ ConvTranspose
def _convt_normalize(ctx) -> dict:
    x, w = ctx.input(0, "X"), ctx.input(1, "W")
    if x.ndim < 3 or w.ndim != x.ndim:
        ctx.fail(f"input shape {x.shape} and weight shape {w.shape} must both be "
                 f"(N/C, C/M, spatial...) of the same rank")
    nsp = x.ndim - 2
    kernel = ints(ctx.attrs["kernel_shape"]) if ctx.attrs.get("kernel_shape") else w.shape[2:]
    if tuple(kernel) != tuple(w.shape[2:]):
        ctx.fail(f"kernel_shape={list(kernel)} does not match the weight shape {w.shape}")
    strides = spatial_attr(ctx, "strides", nsp, 1)
    dil = spatial_attr(ctx, "dilations", nsp, 1)
    opad = ints(ctx.attrs["output_padding"]) if ctx.attrs.get("output_padding") else (0,) * nsp
    if len(opad) != nsp:
        ctx.fail(f"output_padding={list(opad)} needs {nsp} values", GraphBuildError)
    auto_pad = ctx.attrs.get("auto_pad") or "NOTSET"
    out_shape = ctx.attrs.get("output_shape")
    in_sp = x.shape[2:]
    full = [strides[i] * (in_sp[i] - 1) + opad[i] + (kernel[i] - 1) * dil[i] + 1
            for i in range(nsp)]
    if out_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if out_shape is None:
            out_shape = [in_sp[i] * strides[i] for i in range(nsp)]
        out_shape = ints(out_shape)[-nsp:]
        total = [full[i] - out_shape[i] for i in range(nsp)]
        if auto_pad == "SAME_UPPER":
            pads = tuple(t // 2 for t in total) + tuple(t - t // 2 for t in total)
        else:
            pads = tuple(t - t // 2 for t in total) + tuple(t // 2 for t in total)
    elif auto_pad == "VALID" or ctx.attrs.get("pads") is None:
        pads = (0,) * (2 * nsp)
    else:
        pads = ints(ctx.attrs["pads"])
        if len(pads) != 2 * nsp:
            ctx.fail(f"attribute pads={list(pads)} needs {2 * nsp} values", GraphBuildError)
    return {"kernel_shape": tuple(kernel), "strides": strides, "pads": pads,
            "dilations": dil, "group": int(ctx.attrs["group"]), "output_padding": opad}


def _convt_out(x_sp, a) -> tuple[int, ...]:
    n = len(x_sp)
    k, s, p, d, op = (a["kernel_shape"], a["strides"], a["pads"], a["dilations"],
                      a["output_padding"])
    return tuple(s[i] * (x_sp[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - p[i] - p[n + i]
                 for i in range(n))


def _convt_infer(ctx) -> list[TensorType]:
    x, w = ctx.input(0), ctx.input(1)
    require_float(ctx, x, "input X")
    same_dtype(ctx, [t for t in ctx.inputs if t is not None])
    g = ctx["group"]
    if g < 1 or x.shape[1] % g or w.shape[0] != x.shape[1]:
        ctx.fail(f"weight shape {w.shape} does not fit input shape {x.shape} with group={g}")
    out_c = w.shape[1] * g
    if ctx.has(2) and ctx.inputs[2].shape != (out_c,):
        ctx.fail(f"bias shape {ctx.inputs[2].shape} should be ({out_c},)")
    out_sp = _convt_out(x.shape[2:], ctx.attrs)
    if min(out_sp) < 1:
        ctx.fail(f"the output spatial shape {out_sp} is empty")
    return [TensorType((x.shape[0], out_c) + out_sp, x.dtype)]


def conv_transpose(a, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    g, s, d = a["group"], a["strides"], a["dilations"]
    ks, in_sp = w.shape[2:], x.shape[2:]
    cg, og = c // g, w.shape[1]
    acc_dtype = np.float32 if x.dtype == np.float16 else x.dtype
    xg = x.astype(acc_dtype, copy=False).reshape(n, g, cg, math.prod(in_sp))
    wg = w.astype(acc_dtype, copy=False).reshape((g, cg, og) + tuple(ks))
    full_sp = [s[i] * (in_sp[i] - 1) + (ks[i] - 1) * d[i] + 1 for i in range(nsp)]
    full = np.zeros((n, g, og) + tuple(full_sp), acc_dtype)
    for k in itertools.product(*(range(kk) for kk in ks)):
        contrib = np.matmul(np.swapaxes(wg[(Ellipsis,) + k], 1, 2), xg)   # (n, g, og, P)
        full[(slice(None),) * 3 + _spatial_slices(k, d, s, in_sp)] += \
            contrib.reshape((n, g, og) + tuple(in_sp))
    out_sp = _convt_out(in_sp, a)
    p = a["pads"]
    front = [max(0, -p[i]) for i in range(nsp)]
    back = [max(0, p[i] + out_sp[i] - full_sp[i]) for i in range(nsp)]
    if any(front) or any(back):
        full = np.pad(full, [(0, 0)] * 3 + list(zip(front, back)))
    out = full[(slice(None),) * 3 + tuple(slice(p[i] + front[i], p[i] + front[i] + out_sp[i])
                                          for i in range(nsp))]
    out = out.reshape((n, g * og) + out_sp)
    if b is not None:
        out = out + b.astype(acc_dtype).reshape((1, g * og) + (1,) * nsp)
    return out.astype(x.dtype, copy=False)


register(OpDef("ConvTranspose", (2, 3),
               {**CONV_ATTRS, "output_padding": None, "output_shape": None}, _convt_infer,
               lambda a, xs: conv_transpose(a, xs[0], xs[1], xs[2] if len(xs) > 2 else None),
               normalize=_convt_normalize))


# ------------------------------------------------------------------ pooling
def _pool_normalize(ctx) -> dict:
    x = ctx.input(0)
    if x.ndim < 3:
        ctx.fail(f"input must be (N, C, spatial...), got shape {x.shape}")
    kernel = ints(ctx.attrs["kernel_shape"])
    if len(kernel) != x.ndim - 2:
        ctx.fail(f"kernel_shape={list(kernel)} needs {x.ndim - 2} values", GraphBuildError)
    attrs = _window_attrs(ctx, x.ndim - 2, kernel)
    attrs["ceil_mode"] = int(ctx.attrs["ceil_mode"])
    if "count_include_pad" in ctx.attrs:
        attrs["count_include_pad"] = int(ctx.attrs["count_include_pad"])
    return attrs


def _pool_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    out_sp = window_output(ctx, x.shape[2:], ctx.attrs, bool(ctx["ceil_mode"]))
    return [TensorType(x.shape[:2] + out_sp, x.dtype)]


def pool(a, x: np.ndarray, kind: str) -> np.ndarray:
    """Max or average pooling over strided, dilated windows (one pass per kernel offset)."""
    nsp = x.ndim - 2
    ks, s, p, d = a["kernel_shape"], a["strides"], a["pads"], a["dilations"]
    in_sp = x.shape[2:]
    ceil_mode = bool(a["ceil_mode"])
    out_sp = []
    for i in range(nsp):
        span = in_sp[i] + p[i] + p[nsp + i] - d[i] * (ks[i] - 1) - 1
        o = (-(-span // s[i]) if ceil_mode else span // s[i]) + 1
        if ceil_mode and (o - 1) * s[i] >= in_sp[i] + p[i]:
            o -= 1
        out_sp.append(o)
    need = [(out_sp[i] - 1) * s[i] + d[i] * (ks[i] - 1) + 1 for i in range(nsp)]
    end_pad = [max(p[nsp + i], need[i] - in_sp[i] - p[i]) for i in range(nsp)]
    widths = [(0, 0), (0, 0)] + [(p[i], end_pad[i]) for i in range(nsp)]
    if kind == "max":
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = np.pad(x, widths, constant_values=fill)
        acc = None
        for k in itertools.product(*(range(kk) for kk in ks)):
            win = xp[(slice(None),) * 2 + _spatial_slices(k, d, s, out_sp)]
            acc = win.copy() if acc is None else np.maximum(acc, win, out=acc)
        return acc
    acc_dtype = np.float32 if x.dtype == np.float16 else x.dtype
    xp = np.pad(x.astype(acc_dtype, copy=False), widths)
    # which padded positions count in the divisor: the input, plus the explicit pads when
    # count_include_pad (never the extra positions that ceil_mode adds)
    mask = np.zeros([in_sp[i] + p[i] + end_pad[i] for i in range(nsp)], acc_dtype)
    if a.get("count_include_pad", 0):
        mask[tuple(slice(0, in_sp[i] + p[i] + p[nsp + i]) for i in range(nsp))] = 1
    else:
        mask[tuple(slice(p[i], p[i] + in_sp[i]) for i in range(nsp))] = 1
    acc = np.zeros(x.shape[:2] + tuple(out_sp), acc_dtype)
    count = np.zeros(out_sp, acc_dtype)
    for k in itertools.product(*(range(kk) for kk in ks)):
        sl = _spatial_slices(k, d, s, out_sp)
        acc += xp[(slice(None),) * 2 + sl]
        count += mask[sl]
    return (acc / np.maximum(count, 1)).astype(x.dtype, copy=False)


POOL_ATTRS = {"kernel_shape": REQUIRED, "strides": None, "pads": None, "dilations": None,
              "ceil_mode": 0, "auto_pad": "NOTSET"}
register(OpDef("MaxPool", (1, 1), POOL_ATTRS, _pool_infer,
               lambda a, xs: pool(a, xs[0], "max"), normalize=_pool_normalize))
register(OpDef("AveragePool", (1, 1), {**POOL_ATTRS, "count_include_pad": 0}, _pool_infer,
               lambda a, xs: pool(a, xs[0], "avg"), normalize=_pool_normalize))


def _gap_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    if x.ndim < 3:
        ctx.fail(f"input must be (N, C, spatial...), got shape {x.shape}")
    require_float(ctx, x)
    return [TensorType(x.shape[:2] + (1,) * (x.ndim - 2), x.dtype)]


register(OpDef("GlobalAveragePool", (1, 1), {}, _gap_infer,
               lambda a, xs: xs[0].mean(axis=tuple(range(2, xs[0].ndim)), keepdims=True,
                                        dtype=np.float64 if xs[0].dtype == np.float64
                                        else np.float32).astype(xs[0].dtype)))


# ------------------------------------------------------------------ normalization
def _bn_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    require_float(ctx, x)
    if x.ndim < 2:
        ctx.fail(f"input must be (N, C, ...), got shape {x.shape}")
    for i, what in enumerate(("scale", "bias", "mean", "var"), 1):
        t = ctx.input(i, what)
        if t.shape != (x.shape[1],):
            ctx.fail(f"{what} has shape {t.shape}; expected ({x.shape[1]},) (one per channel)")
    return [TensorType(x.shape, x.dtype)]


def batch_norm(a, x, scale, bias, mean, var) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    r = lambda v: v.reshape(shape).astype(x.dtype, copy=False)  # noqa: E731
    inv = 1.0 / np.sqrt(r(var) + x.dtype.type(a["epsilon"]))
    return ((x - r(mean)) * inv * r(scale) + r(bias)).astype(x.dtype, copy=False)


register(OpDef("BatchNormalization", (5, 5), {"epsilon": 1e-5}, _bn_infer,
               lambda a, xs: batch_norm(a, *xs)))


def _lrn_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    require_float(ctx, x)
    if x.ndim < 3:
        ctx.fail(f"input must be (N, C, spatial...), got shape {x.shape}")
    if int(ctx["size"]) < 1:
        ctx.fail(f"size={ctx['size']} must be positive", GraphBuildError)
    return [TensorType(x.shape, x.dtype)]


def lrn(a, x: np.ndarray) -> np.ndarray:
    size = int(a["size"])
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.pad(np.square(x), [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    csum = np.cumsum(sq, axis=1, dtype=np.float64)
    csum = np.concatenate([np.zeros_like(csum[:, :1]), csum], axis=1)
    window = csum[:, size:] - csum[:, :-size]
    denom = (a["bias"] + a["alpha"] / size * window) ** a["beta"]
    return (x / denom).astype(x.dtype)


register(OpDef("LRN", (1, 1), {"size": REQUIRED, "alpha": 1e-4, "beta": 0.75, "bias": 1.0},
               _lrn_infer, lambda a, xs: lrn(a, xs[0]),
               normalize=lambda c: {**c.attrs, "size": int(c["size"]),
                                    "alpha": float(c["alpha"]), "beta": float(c["beta"]),
                                    "bias": float(c["bias"])}))


def _softmax_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    require_float(ctx, x)
    return [TensorType(x.shape, x.dtype)]


def softmax(a, x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=a["axis"], keepdims=True))
    return (e / e.sum(axis=a["axis"], keepdims=True)).astype(x.dtype, copy=False)


register(OpDef("Softmax", (1, 1), {"axis": -1}, _softmax_infer,
               lambda a, xs: softmax(a, xs[0]),
               normalize=lambda c: {"axis": norm_axis(c, int(c["axis"]), c.input(0).ndim)}))


# ------------------------------------------------------------------ dense products
def _gemm_infer(ctx) -> list[TensorType]:
    a, b = ctx.input(0, "A"), ctx.input(1, "B")
    dtype = same_dtype(ctx, [t for t in ctx.inputs if t is not None])
    if a.ndim != 2 or b.ndim != 2:
        ctx.fail(f"A and B must be matrices, got shapes {a.shape} and {b.shape}")
    m, k = a.shape[::-1] if ctx["transA"] else a.shape
    k2, n = b.shape[::-1] if ctx["transB"] else b.shape
    if k != k2:
        ctx.fail(f"inner dimensions differ: A{'ᵀ' if ctx['transA'] else ''} is ({m}, {k}), "
                 f"B{'ᵀ' if ctx['transB'] else ''} is ({k2}, {n})")
    if ctx.has(2) and broadcast_shapes(ctx, [ctx.inputs[2].shape, (m, n)]) != (m, n):
        ctx.fail(f"C of shape {ctx.inputs[2].shape} does not broadcast to ({m}, {n})")
    return [TensorType((m, n), dtype)]


def gemm(at, a, b, c) -> np.ndarray:
    a = a.T if at["transA"] else a
    b = b.T if at["transB"] else b
    y = np.matmul(a, b)
    if at["alpha"] != 1.0:
        y = y * a.dtype.type(at["alpha"])
    if c is not None:
        y = y + (c * c.dtype.type(at["beta"]) if at["beta"] != 1.0 else c)
    return y.astype(a.dtype, copy=False)


register(OpDef("Gemm", (2, 3), {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
               _gemm_infer, lambda a, xs: gemm(a, xs[0], xs[1], xs[2] if len(xs) > 2 else None),
               normalize=lambda c: {"alpha": float(c["alpha"]), "beta": float(c["beta"]),
                                    "transA": int(c["transA"]), "transB": int(c["transB"])}))


def matmul_shape(ctx, a: tuple, b: tuple) -> tuple[int, ...]:
    if not a or not b:
        ctx.fail("MatMul operands must have at least one dimension")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        ctx.fail(f"inner dimensions differ: shapes {a} and {b}")
    batch = broadcast_shapes(ctx, [a2[:-2], b2[:-2]])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _matmul_infer(ctx) -> list[TensorType]:
    a, b = ctx.input(0), ctx.input(1)
    return [TensorType(matmul_shape(ctx, a.shape, b.shape), same_dtype(ctx, [a, b]))]


register(OpDef("MatMul", (2, 2), {}, _matmul_infer,
               lambda a, xs: np.asarray(np.matmul(xs[0], xs[1])).astype(xs[0].dtype,
                                                                        copy=False)))
