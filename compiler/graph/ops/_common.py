"""Helpers shared by the operator families: broadcasting, axes, dtype checks."""

from __future__ import annotations

import numpy as np

from ..errors import GraphBuildError
from ..ir import FLOAT_DTYPES, TensorType


def broadcast_shapes(ctx, shapes) -> tuple[int, ...]:
    """numpy broadcasting of several shapes; a ShapeInferenceError naming them otherwise."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            ctx.fail(f"shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast "
                     f"(dimension {i} of the result)")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def same_dtype(ctx, types, what: str = "inputs") -> str:
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) > 1:
        ctx.fail(f"{what} have different dtypes ({', '.join(sorted(dtypes))}); insert a Cast")
    return dtypes.pop()


def require_float(ctx, t: TensorType, what: str = "input") -> None:
    if t.dtype not in FLOAT_DTYPES:
        ctx.fail(f"{what} has dtype {t.dtype}; this operator needs a floating-point tensor")


def norm_axis(ctx, axis: int, rank: int, attr: str = "axis", extra: int = 0) -> int:
    """A possibly negative axis in [-rank-extra, rank+extra) -> [0, rank+extra)."""
    r = rank + extra
    if not -r <= axis < r:
        ctx.fail(f"attribute {attr}={axis} is out of range for rank {rank}", GraphBuildError)
    return axis % r if r else 0


def ints(value) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


def floats(value) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(value).reshape(-1))


def spatial_attr(ctx, key: str, n: int, default: int) -> tuple[int, ...]:
    """A per-spatial-dimension attribute (strides, dilations) with its length checked."""
    v = ctx.attrs.get(key)
    if v is None:
        return (default,) * n
    v = ints(v)
    if len(v) != n:
        ctx.fail(f"attribute {key}={list(v)} needs {n} values (one per spatial dimension)",
                 GraphBuildError)
    if any(x < 1 for x in v):
        ctx.fail(f"attribute {key}={list(v)} must be positive", GraphBuildError)
    return v
