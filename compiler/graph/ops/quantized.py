"""Integer (int8) operators with requantization: what the accelerator computes, defined exactly.

Canonical attributes::

    QConv(x, w, multiplier?, residual?, bias?)
                                          the Conv window attributes (kernel_shape, strides,
                                          pads, dilations, group) + shift, relu
    QDense(x, w, multiplier?, bias?)      shift, relu; x (N, C), w (O, C): y = x @ w.T; an
                                          (N, C, H, W) x is flattened first (w: (O, C*H*W))
    QAdd(a, b)                            relu; a and b of one shape
    QGlobalAveragePool(x)                 shift, multiplier (``gap_params``), flatten
    Quantize(x)                           scale: float32 x -> int8 (the float boundary)
    Dequantize(q)                         scale: int8 q -> float32

``x``, ``w``, ``residual``, ``a``, ``b`` and the result are int8; ``multiplier`` and ``bias``
are int32 vectors with one value per output channel (the bias is at the accumulator's scale).
Semantics (int64 arithmetic, the accelerator's 32-bit accumulator, round-half-up shifts,
saturation when the result is stored)::

    acc = wrap32(conv(x, w))              or wrap32(x @ w.T)          exact int products
    acc = wrap32(acc + bias)                 with a bias
    acc = wrap32((acc * m + 2^(s-1)) >> s)   with a multiplier m (MULSHR; no rounding if s=0)
        | wrap32((acc + 2^(s-1)) >> s)       without one, if s > 0 (RSHR)
    acc = wrap32(acc + residual)             with a residual
    acc = max(acc, 0)                        if relu
    y   = int8(clip(acc, -128, 127))

    QAdd: y = int8(clip(relu?(int(a) + int(b)), -128, 127))
    QGlobalAveragePool: y = int8(clip(wrap32(rshr(sum_hw(x) * m, s)), -128, 127))  (m = 1 if 0)
    Quantize: y = int8(clip(round_half_even(x / scale), -128, 127))   (ONNX QuantizeLinear)
    Dequantize: y = float32(q) * float32(scale)

These are the operators of ``compiler.ops.vdla`` (conv2d, dense, add) on NCHW tensors: a
partitioner can offload them bit-exactly, and the CPU backend computes the same integers. The
quantization pass (float graphs to these, ``compiler.quantize``) inserts Quantize/Dequantize
where a graph goes from float to int8 and back.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import TensorType
from . import REQUIRED, OpDef, register
from .nn import CONV_ATTRS, _conv_normalize, conv, window_output

ACC_BITS = 32


def wrap(x: np.ndarray, bits: int = ACC_BITS) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits (kept as int64)."""
    half = 1 << (bits - 1)
    return ((np.asarray(x, dtype=np.int64) + half) & ((1 << bits) - 1)) - half


def requantize(acc: np.ndarray, shift: int, multiplier: np.ndarray | None = None,
               residual: np.ndarray | None = None, relu: bool = False,
               channel_axis: int = 1, bias: np.ndarray | None = None) -> np.ndarray:
    """The epilogue shared by QConv and QDense (see the module docstring); returns int8."""
    v = np.asarray(acc, dtype=np.int64)
    shape = [1] * v.ndim
    shape[channel_axis] = -1
    if bias is not None:
        v = wrap(v + np.asarray(bias, dtype=np.int64).reshape(shape))
    if multiplier is not None:
        v = v * np.asarray(multiplier, dtype=np.int64).reshape(shape)
        v = wrap((v + (1 << (shift - 1))) >> shift if shift else v)
    elif shift:
        v = wrap((v + (1 << (shift - 1))) >> shift)
    if residual is not None:
        v = wrap(v + residual.astype(np.int64))
    if relu:
        v = np.maximum(v, 0)
    return np.clip(v, -128, 127).astype(np.int8)


def _require_int8(ctx, i: int, what: str) -> TensorType:
    t = ctx.input(i, what)
    if t.dtype != "int8":
        ctx.fail(f"{what} has dtype {t.dtype}; this operator takes int8")
    return t


def _check_multiplier(ctx, i: int, channels: int, what: str = "multiplier") -> None:
    if ctx.has(i):
        m = ctx.inputs[i]
        if m.dtype != "int32" or m.shape != (channels,):
            ctx.fail(f"{what} must be int32[{channels}] (one per output channel), got {m}")


def _check_shift(ctx) -> dict:
    attrs = dict(ctx.attrs)
    shift = attrs["shift"]
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) \
            or not 0 <= int(shift) < 63:
        ctx.fail(f"shift={shift!r} must be an int in 0..62")
    attrs["shift"] = int(shift)
    attrs["relu"] = int(bool(attrs["relu"]))
    return attrs


# ------------------------------------------------------------------ QConv
def _qconv_normalize(ctx) -> dict:
    sub = type(ctx)(ctx.op, ctx.name, {k: v for k, v in ctx.attrs.items()
                                       if k not in ("shift", "relu")}, list(ctx.inputs[:2]))
    attrs = _conv_normalize(sub)
    q = _check_shift(ctx)
    return {**attrs, "shift": q["shift"], "relu": q["relu"]}


def _qconv_infer(ctx) -> list[TensorType]:
    x, w = _require_int8(ctx, 0, "input X"), _require_int8(ctx, 1, "weight W")
    g = ctx["group"]
    if g < 1 or x.shape[1] % g or w.shape[0] % g or w.shape[1] * g != x.shape[1]:
        ctx.fail(f"weight shape {w.shape} and input shape {x.shape} do not fit group={g}")
    _check_multiplier(ctx, 2, w.shape[0])
    out = (x.shape[0], w.shape[0]) + window_output(ctx, x.shape[2:], ctx.attrs)
    if ctx.has(3):
        r = _require_int8(ctx, 3, "residual")
        if r.shape != out:
            ctx.fail(f"residual shape {r.shape} differs from the result's {out}")
    _check_multiplier(ctx, 4, w.shape[0], "bias")
    return [TensorType(out, "int8")]


def _qconv(a, xs) -> np.ndarray:
    x, w = xs[0], xs[1]
    m = xs[2] if len(xs) > 2 else None
    r = xs[3] if len(xs) > 3 else None
    b = xs[4] if len(xs) > 4 else None
    attrs = {k: a[k] for k in ("kernel_shape", "strides", "pads", "dilations", "group")}
    acc = wrap(conv(attrs, x.astype(np.int64), w.astype(np.int64), None))
    return requantize(acc, a["shift"], m, r, bool(a["relu"]), bias=b)


register(OpDef("QConv", (2, 5), {**CONV_ATTRS, "shift": 0, "relu": 0}, _qconv_infer, _qconv,
               normalize=_qconv_normalize,
               doc="int8 convolution, requantized (accelerator semantics)"))


# ------------------------------------------------------------------ QDense
def _qdense_infer(ctx) -> list[TensorType]:
    x, w = _require_int8(ctx, 0, "input X"), _require_int8(ctx, 1, "weight W")
    if x.ndim not in (2, 4) or w.ndim != 2 or math.prod(x.shape[1:]) != w.shape[1]:
        ctx.fail(f"needs X (N, C) or (N, C, H, W) and W (O, C*H*W), got {x.shape} and "
                 f"{w.shape}")
    _check_multiplier(ctx, 2, w.shape[0])
    _check_multiplier(ctx, 3, w.shape[0], "bias")
    return [TensorType((x.shape[0], w.shape[0]), "int8")]


def _qdense(a, xs) -> np.ndarray:
    x = xs[0].reshape(xs[0].shape[0], -1)        # an NCHW input is flattened first
    acc = wrap(x.astype(np.int64) @ xs[1].astype(np.int64).T)
    return requantize(acc, a["shift"], xs[2] if len(xs) > 2 else None, None, bool(a["relu"]),
                      bias=xs[3] if len(xs) > 3 else None)


register(OpDef("QDense", (2, 4), {"shift": 0, "relu": 0}, _qdense_infer, _qdense,
               normalize=_check_shift, doc="int8 fully connected layer, requantized"))


# ------------------------------------------------------------------ QAdd
def _qadd_infer(ctx) -> list[TensorType]:
    a, b = _require_int8(ctx, 0, "input A"), _require_int8(ctx, 1, "input B")
    if a.shape != b.shape:
        ctx.fail(f"inputs must have one shape, got {a.shape} and {b.shape} (use Add with a "
                 f"broadcast for other shapes)")
    return [TensorType(a.shape, "int8")]


def _qadd(a, xs) -> np.ndarray:
    v = xs[0].astype(np.int16) + xs[1]
    if a["relu"]:
        v = np.maximum(v, 0)
    return np.clip(v, -128, 127).astype(np.int8)


register(OpDef("QAdd", (2, 2), {"relu": 0},
               _qadd_infer, _qadd,
               normalize=lambda c: {"relu": int(bool(c["relu"]))}, elementwise=True,
               doc="saturating int8 addition (a residual connection)"))


# ------------------------------------------------------------------ QGlobalAveragePool
def gap_params(hw: int) -> tuple[int, int]:
    """(shift, multiplier) of the integer mean over ``hw`` positions: RSHR by ``log2(hw)``
    (multiplier 0) when ``hw`` is a power of two, else MULSHR 16 by ``round(2^16 / hw)``
    (the accelerator's ``global_avg_pool2d``)."""
    if hw & (hw - 1) == 0:
        return hw.bit_length() - 1, 0
    return 16, round((1 << 16) / hw)


def _qgap_normalize(ctx) -> dict:
    a = dict(ctx.attrs)
    for k in ("shift", "multiplier"):
        v = a[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            ctx.fail(f"{k}={v!r} must be a non-negative int")
        a[k] = int(v)
    a["flatten"] = int(bool(a["flatten"]))
    return a


def _qgap_infer(ctx) -> list[TensorType]:
    x = _require_int8(ctx, 0, "input X")
    if x.ndim != 4:
        ctx.fail(f"needs an NCHW input, got shape {x.shape}")
    want = gap_params(x.shape[2] * x.shape[3])
    if (ctx["shift"], ctx["multiplier"]) != want:
        ctx.fail(f"shift={ctx['shift']}, multiplier={ctx['multiplier']} do not match the "
                 f"{x.shape[2]}x{x.shape[3]} window (expected shift={want[0]}, "
                 f"multiplier={want[1]})")
    shape = x.shape[:2] if ctx["flatten"] else x.shape[:2] + (1, 1)
    return [TensorType(shape, "int8")]


def _qgap(a, xs) -> np.ndarray:
    x = xs[0]
    total = x.astype(np.int64).sum(axis=(2, 3), keepdims=not a["flatten"])
    s, m = a["shift"], a["multiplier"]
    v = total * m if m else total
    if s:
        v = (v + (1 << (s - 1))) >> s
    return np.clip(wrap(v), -128, 127).astype(np.int8)


register(OpDef("QGlobalAveragePool", (1, 1), {"shift": REQUIRED, "multiplier": REQUIRED,
                                               "flatten": 0},
               _qgap_infer, _qgap, normalize=_qgap_normalize,
               doc="int8 global average pooling: the rounded integer mean (RSHR, or MULSHR by "
                   "a constant); flatten=1 gives (N, C) instead of (N, C, 1, 1)"))


# ------------------------------------------------------------------ Quantize / Dequantize
def _scale_normalize(ctx) -> dict:
    s = ctx.attrs["scale"]
    if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)) \
            or not np.isfinite(s) or float(s) <= 0:
        ctx.fail(f"scale={s!r} must be a positive finite number")
    return {"scale": float(s)}


def _quantize_infer(ctx) -> list[TensorType]:
    x = ctx.input(0, "input X")
    if x.dtype != "float32":
        ctx.fail(f"input has dtype {x.dtype}; Quantize takes float32")
    return [TensorType(x.shape, "int8")]


def _quantize(a, xs) -> np.ndarray:
    q = np.rint(xs[0].astype(np.float32) / np.float32(a["scale"]))
    return np.clip(q, -128, 127).astype(np.int8)


def _dequantize(a, xs) -> np.ndarray:
    return xs[0].astype(np.float32) * np.float32(a["scale"])


register(OpDef("Quantize", (1, 1), {"scale": REQUIRED}, _quantize_infer, _quantize,
               normalize=_scale_normalize, elementwise=True,
               doc="float32 -> int8 with a per-tensor scale (round half to even, saturate)"))
register(OpDef("Dequantize", (1, 1), {"scale": REQUIRED},
               lambda c: [TensorType(_require_int8(c, 0, "input Q").shape, "float32")],
               _dequantize, normalize=_scale_normalize, elementwise=True,
               doc="int8 -> float32 with a per-tensor scale"))
