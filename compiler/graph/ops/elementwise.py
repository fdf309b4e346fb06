"""Elementwise operators (ONNX semantics, numpy broadcasting).

Canonical attributes::

    Relu(x) | Sigmoid(x) | HardSwish(x) | Identity(x)
    LeakyRelu(x)               alpha=0.01
    Clip(x, min?, max?)        bounds are (scalar) inputs, possibly constants; omitted = no bound
    Cast(x)                    to: dtype name ("float32", ...)
    Add(a, b) | Sub(a, b) | Mul(a, b) | Div(a, b)
                               same dtype; integer Div truncates toward zero
    Sum(x0, x1, ...)           one or more inputs, broadcast
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphBuildError
from ..ir import DTYPES, TensorType
from . import OpDef, register
from ._common import broadcast_shapes, require_float, same_dtype


def _same_type(ctx) -> list[TensorType]:
    t = ctx.input(0)
    return [TensorType(t.shape, t.dtype)]


def _float_same_type(ctx) -> list[TensorType]:
    require_float(ctx, ctx.input(0))
    return _same_type(ctx)


def _unary(name: str, fn, *, attrs=None, float_only=True, doc=""):
    register(OpDef(name, (1, 1), attrs or {}, _float_same_type if float_only else _same_type,
                   lambda a, x: fn(a, x[0]), elementwise=True, doc=doc))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def _hardswish(x: np.ndarray) -> np.ndarray:
    return (x * np.clip(x / 6 + 0.5, 0, 1)).astype(x.dtype)


_unary("Relu", lambda a, x: np.maximum(x, x.dtype.type(0)), float_only=False)
_unary("Sigmoid", lambda a, x: _sigmoid(x))
_unary("HardSwish", lambda a, x: _hardswish(x))
_unary("LeakyRelu", lambda a, x: np.where(x < 0, x * x.dtype.type(a["alpha"]), x),
       attrs={"alpha": 0.01})
_unary("Identity", lambda a, x: x, float_only=False)


# ------------------------------------------------------------------ Clip
def _clip_infer(ctx) -> list[TensorType]:
    t = ctx.input(0)
    for i in (1, 2):
        if ctx.has(i):
            b = ctx.inputs[i]
            if b.size != 1:
                ctx.fail(f"input {i} ({'min' if i == 1 else 'max'}) must be a scalar, got "
                         f"shape {b.shape}")
            same_dtype(ctx, [t, b], "the input and its bounds")
    return [TensorType(t.shape, t.dtype)]


def _clip(a, xs) -> np.ndarray:
    x = xs[0]
    lo = xs[1] if len(xs) > 1 and xs[1] is not None else None
    hi = xs[2] if len(xs) > 2 and xs[2] is not None else None
    out = x
    if lo is not None:
        out = np.maximum(out, lo.reshape(()))
    if hi is not None:
        out = np.minimum(out, hi.reshape(()))
    return out.astype(x.dtype, copy=False)


register(OpDef("Clip", (1, 3), {}, _clip_infer, _clip, elementwise=True))


# ------------------------------------------------------------------ Cast
def _cast_normalize(ctx) -> dict:
    to = ctx.attrs["to"]
    if to not in DTYPES:
        ctx.fail(f"cannot cast to '{to}'; supported dtypes: {', '.join(DTYPES)}",
                 GraphBuildError)
    return {"to": to}


def _cast(a, xs) -> np.ndarray:
    x = xs[0]
    if np.dtype(a["to"]).kind in "iu" and x.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return np.trunc(x).astype(a["to"])
    return x.astype(a["to"])


register(OpDef("Cast", (1, 1), {"to": None}, lambda c: [TensorType(c.input(0).shape,
                                                                    c.attrs["to"])],
               _cast, normalize=_cast_normalize, elementwise=True))


# ------------------------------------------------------------------ binary / variadic
def _broadcast_infer(ctx) -> list[TensorType]:
    types = [ctx.input(i) for i in range(len(ctx.inputs))]
    dtype = same_dtype(ctx, types)
    return [TensorType(broadcast_shapes(ctx, [t.shape for t in types]), dtype)]


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.floor_divide(a, b)
            if a.dtype.kind == "i":   # C semantics: round toward zero
                q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))).astype(a.dtype)
        return q.astype(a.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(a, b).astype(a.dtype)


def _binary(name: str, fn):
    register(OpDef(name, (2, 2), {}, _broadcast_infer,
                   lambda a, xs: np.asarray(fn(xs[0], xs[1])).astype(xs[0].dtype, copy=False),
                   elementwise=True))


_binary("Add", np.add)
_binary("Sub", np.subtract)
_binary("Mul", np.multiply)
_binary("Div", _div)


def _sum(a, xs) -> np.ndarray:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return np.asarray(out).astype(xs[0].dtype, copy=False)


register(OpDef("Sum", (1, -1), {}, _broadcast_infer, _sum, elementwise=True))

# operators an epilogue may hold, with their arity (the fusion pass and FusedConv use this)
EPILOGUE_OPS = {"Add": 2, "Mul": 2, "Relu": 1, "Clip": 1, "LeakyRelu": 1, "Sigmoid": 1,
                "HardSwish": 1}


def apply_epilogue(step, x: np.ndarray, operand: np.ndarray | None) -> np.ndarray:
    """Reference semantics of one ``EpilogueOp`` on the running value ``x``."""
    if step.op == "Add":
        return (x + operand).astype(x.dtype, copy=False)
    if step.op == "Mul":
        return (x * operand).astype(x.dtype, copy=False)
    if step.op == "Relu":
        return np.maximum(x, x.dtype.type(0))
    if step.op == "Clip":
        lo, hi = step.attrs.get("min"), step.attrs.get("max")
        if lo is not None:
            x = np.maximum(x, x.dtype.type(lo))
        if hi is not None:
            x = np.minimum(x, x.dtype.type(hi))
        return x
    if step.op == "LeakyRelu":
        return np.where(x < 0, x * x.dtype.type(step.attrs.get("alpha", 0.01)), x)
    if step.op == "Sigmoid":
        return _sigmoid(x)
    if step.op == "HardSwish":
        return _hardswish(x)
    raise GraphBuildError(f"operator {step.op} cannot be an epilogue step; allowed: "
                          f"{', '.join(EPILOGUE_OPS)}")
