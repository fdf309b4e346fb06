"""Data movement: concat, reshape, flatten, transpose, pad.

Every operator here copies (the kernel writes a new array), with the injective schedule of
``base.schedule_injective``; dimensions are merged where the memory order allows, so the
inner loop is as long and contiguous as possible:

* concat along ``axis`` is a 2-D problem ``(outer, sum of widths)``, where an input's width
  is its extent along ``axis`` times the extent of the dimensions after it;
* reshape and flatten are a flat copy (the memory order does not change);
* transpose merges dimensions that stay adjacent under the permutation;
* pad (``constant``, ``edge`` or ``reflect``) takes ONNX ``pads`` order (all begins, then
  all ends); negative pads crop.
"""

from __future__ import annotations

import numpy as np

from ... import te
from .base import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    CpuOp,
    check_dtype,
    check_shape,
    memoize,
    norm_axis,
    prod,
    schedule_injective,
)
from .errors import OpAttributeError, OpShapeError


def _finish(name: str, inputs, out, in_shapes, out_shape, attrs=None) -> CpuOp:
    s = te.create_schedule(out)
    schedule_injective(s, out)
    return CpuOp(name, s, inputs, out, attrs=attrs, in_shapes=in_shapes, out_shape=out_shape)


@memoize
def concat(shapes, axis: int = 0, dtype: str = "float32") -> CpuOp:
    """Join tensors along ``axis``; the other dimensions must agree."""
    name = "concat"
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    if not shapes:
        raise OpShapeError(f"{name}: needs at least one input shape")
    shapes = [check_shape(name, f"shape of input {i}", s) for i, s in enumerate(shapes)]
    nd = len(shapes[0])
    ax = norm_axis(name, axis, nd)
    for i, s in enumerate(shapes):
        if len(s) != nd or s[:ax] != shapes[0][:ax] or s[ax + 1:] != shapes[0][ax + 1:]:
            raise OpShapeError(f"{name}: input {i} has shape {list(s)}, which differs from "
                               f"input 0 {list(shapes[0])} outside axis {ax}")
    outer = prod(shapes[0][:ax])
    inner = prod(shapes[0][ax + 1:])
    widths = [s[ax] * inner for s in shapes]
    offsets = list(np.cumsum([0] + widths[:-1]))
    total = sum(widths)
    ins = [te.placeholder((outer, wd), dtype, name=f"X{i}") for i, wd in enumerate(widths)]

    def body(o, j):
        v = ins[-1][o, te.max(j - int(offsets[-1]), 0)]
        for t, off, wd in reversed(list(zip(ins[:-1], offsets[:-1], widths[:-1]))):
            v = te.select(j < int(off) + wd, t[o, te.min(te.max(j - int(off), 0), wd - 1)], v)
        return v

    out = te.compute((outer, total), body, name=name)
    out_shape = shapes[0][:ax] + (sum(s[ax] for s in shapes),) + shapes[0][ax + 1:]
    return _finish(name, ins, out, shapes, out_shape, {"axis": ax})


def _copy(name: str, shape, out_shape, dtype: str, attrs) -> CpuOp:
    n = prod(shape)
    X = te.placeholder((n,), dtype, name="X")
    out = te.compute((n,), lambda i: X[i], name=name)
    return _finish(name, [X], out, [shape], out_shape, attrs)


@memoize
def reshape(shape, new_shape, dtype: str = "float32", allowzero: bool = False) -> CpuOp:
    """Copy into ``new_shape``: one entry may be -1 (inferred); 0 copies the input's extent
    at that position unless ``allowzero`` (ONNX ``Reshape``)."""
    name = "reshape"
    shape = check_shape(name, "input shape", shape)
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    try:
        req = [int(d) for d in new_shape]
    except (TypeError, ValueError):
        raise OpAttributeError(f"{name}: new_shape={new_shape!r} must be ints") from None
    out = []
    for i, d in enumerate(req):
        if d == 0 and not allowzero:
            if i >= len(shape):
                raise OpAttributeError(f"{name}: new_shape {req} has 0 at position {i}, past "
                                       f"the input's {len(shape)} dimensions")
            d = shape[i]
        out.append(d)
    if out.count(-1) > 1 or any(d < -1 or d == 0 for d in out):
        raise OpAttributeError(f"{name}: new_shape {req} must have positive extents and at "
                               f"most one -1")
    n = prod(shape)
    if -1 in out:
        known = prod(d for d in out if d != -1)
        if n % known:
            raise OpShapeError(f"{name}: cannot infer -1 in {req}: {n} elements are not a "
                               f"multiple of {known}")
        out[out.index(-1)] = n // known
    if prod(out) != n:
        raise OpShapeError(f"{name}: {list(shape)} ({n} elements) cannot become {out} "
                           f"({prod(out)} elements)")
    return _copy(name, shape, tuple(out), dtype, {"new_shape": tuple(out)})


@memoize
def flatten(shape, axis: int = 1, dtype: str = "float32") -> CpuOp:
    """``(prod(shape[:axis]), prod(shape[axis:]))`` (ONNX ``Flatten``; axis may equal ndim)."""
    name = "flatten"
    shape = check_shape(name, "input shape", shape)
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    if not isinstance(axis, int) or not -len(shape) <= axis <= len(shape):
        raise OpAttributeError(f"{name}: axis={axis!r} must be in [-{len(shape)}, "
                               f"{len(shape)}]")
    ax = axis + len(shape) if axis < 0 else axis
    out = (prod(shape[:ax]), prod(shape[ax:]))
    return _copy(name, shape, out, dtype, {"axis": ax})


@memoize
def transpose(shape, perm=None, dtype: str = "float32") -> CpuOp:
    """Permute dimensions: output dimension ``d`` is input dimension ``perm[d]`` (default:
    reversed)."""
    name = "transpose"
    shape = check_shape(name, "input shape", shape)
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    nd = len(shape)
    perm = tuple(range(nd))[::-1] if perm is None else tuple(perm)
    if sorted(perm) != list(range(nd)):
        raise OpAttributeError(f"{name}: perm={list(perm)} is not a permutation of "
                               f"0..{nd - 1}")
    out_shape = tuple(shape[p] for p in perm)
    # merge runs of output dims that are consecutive input dims (and drop extent-1 dims)
    keep = [p for p in perm if shape[p] > 1] or [perm[0]]
    groups: list[list[int]] = []
    for p in keep:
        if groups and p == groups[-1][-1] + 1:
            groups[-1].append(p)
        else:
            groups.append([p])
    order = sorted(range(len(groups)), key=lambda g: groups[g][0])   # input order of groups
    in_dims = tuple(prod(shape[d] for d in groups[g]) for g in order)
    out_dims = tuple(prod(shape[d] for d in g) for g in groups)
    X = te.placeholder(in_dims, dtype, name="X")
    pos = {g: k for k, g in enumerate(order)}      # group -> input dimension index

    def body(*idx):
        src = [None] * len(groups)
        for g, i in enumerate(idx):
            src[pos[g]] = i
        return X[tuple(src)]

    out = te.compute(out_dims, body, name=name)
    return _finish(name, [X], out, [shape], out_shape, {"perm": perm})


@memoize
def pad(shape, pads, mode: str = "constant", value: float = 0.0,
        dtype: str = "float32") -> CpuOp:
    """Pad (ONNX ``Pad``): ``pads`` = begins of every dimension, then ends; negative crops.

    ``mode``: ``constant`` (``value``), ``edge`` (repeat the border) or ``reflect`` (mirror
    without repeating the border; pads must be smaller than the extent).
    """
    name = "pad"
    shape = check_shape(name, "input shape", shape)
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    nd = len(shape)
    try:
        pads = tuple(int(p) for p in pads)
    except (TypeError, ValueError):
        raise OpAttributeError(f"{name}: pads={pads!r} must be {2 * nd} ints") from None
    if len(pads) != 2 * nd:
        raise OpAttributeError(f"{name}: pads has {len(pads)} values, expected {2 * nd} (begin "
                               f"and end for each of the {nd} dimensions)")
    if mode not in ("constant", "edge", "reflect"):
        raise OpAttributeError(f"{name}: mode={mode!r} is not supported; use 'constant', "
                               f"'edge' or 'reflect'")
    begin, end = pads[:nd], pads[nd:]
    out_shape = tuple(s + b + e for s, b, e in zip(shape, begin, end))
    if any(o < 1 for o in out_shape):
        raise OpShapeError(f"{name}: pads {list(pads)} leave no elements of {list(shape)}")
    if mode == "reflect" and any(p >= s for s, b, e in zip(shape, begin, end)
                                 for p in (b, e)):
        raise OpAttributeError(f"{name}: reflect pads {list(pads)} must be smaller than the "
                               f"extents {list(shape)}")
    if dtype in FLOAT_DTYPES:
        fill = te.const(float(value), dtype)
    else:
        if not float(value).is_integer():
            raise OpAttributeError(f"{name}: value={value!r} must be an integer for {dtype}")
        info = np.iinfo(dtype)
        if not info.min <= int(value) <= info.max:
            raise OpAttributeError(f"{name}: value={value!r} does not fit {dtype}")
        fill = te.const(int(value), dtype)
    X = te.placeholder(shape, dtype, name="X")

    def body(*idx):
        src, conds = [], []
        for i, n, b, e in zip(idx, shape, begin, end):
            j = i - b if b else i
            if b > 0 or e > 0:          # the index can leave [0, n)
                if mode == "constant":
                    conds.append(te.all(j >= 0, j < n))
                    j = te.min(te.max(j, 0), n - 1)
                elif mode == "edge":
                    j = te.min(te.max(j, 0), n - 1)
                else:
                    j = te.select(j < 0, -j, te.select(j >= n, 2 * (n - 1) - j, j))
            src.append(j)
        v = X[tuple(src)]
        return te.select(te.all(*conds), v, fill) if conds else v

    out = te.compute(out_shape, body, name=name)
    return _finish(name, [X], out, [shape], out_shape,
                   {"pads": pads, "mode": mode, "value": value})


__all__ = ["concat", "flatten", "pad", "reshape", "transpose"]
