"""Data-movement and shape operators. Shape parameters are attributes (static graphs).

Canonical attributes::

    Concat(x0, x1, ...)        axis (non-negative)
    Split(x)                   axis, split: sizes of the outputs along axis (one output each)
    Slice(x)                   starts, ends, axes, steps: one entry per sliced axis, axes
                               non-negative, starts/ends clamped as ONNX does (so a negative
                               step's "before the first element" end is -(dim+1))
    Flatten(x)                 axis in [0, rank]
    Reshape(x)                 shape: the output shape, fully resolved (no 0 or -1 left unless
                               allowzero=1 keeps a real 0 dimension); allowzero
    Transpose(x)               perm
    Pad(x)                     pads (begins then ends, one per axis; negative crops), mode
                               ("constant", "reflect", "edge", "wrap"), value
    Resize(x)                  mode ("nearest"), coordinate_transformation_mode, nearest_mode,
                               sizes (output shape), scales (per-axis float factors used by the
                               coordinate transformation)
    ConstantOfShape()          shape, value, dtype
    Unsqueeze(x)               axes (non-negative, in the output's rank, sorted)
    Squeeze(x)                 axes (non-negative, sorted; those dimensions are 1)
    Shape(x)                   start, end (clamped, non-negative); int64 output
    Gather(x, indices)         axis (non-negative); negative indices count from the end
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import GraphBuildError
from ..ir import DTYPES, TensorType
from . import REQUIRED, OpDef, register
from ._common import floats, ints, norm_axis, same_dtype


# ------------------------------------------------------------------ Concat / Split
def _concat_infer(ctx) -> list[TensorType]:
    types = [ctx.input(i) for i in range(len(ctx.inputs))]
    dtype = same_dtype(ctx, types)
    axis = ctx["axis"]
    first = types[0].shape
    for t in types[1:]:
        if len(t.shape) != len(first) or any(a != b for i, (a, b) in
                                             enumerate(zip(t.shape, first)) if i != axis):
            ctx.fail(f"input shapes {', '.join(str(x.shape) for x in types)} differ outside "
                     f"the concatenation axis {axis}")
    shape = list(first)
    shape[axis] = sum(t.shape[axis] for t in types)
    return [TensorType(tuple(shape), dtype)]


register(OpDef("Concat", (1, -1), {"axis": REQUIRED}, _concat_infer,
               lambda a, xs: np.concatenate(xs, axis=a["axis"]),
               normalize=lambda c: {"axis": norm_axis(c, int(c["axis"]), c.input(0).ndim)}))


def _split_normalize(ctx) -> dict:
    x = ctx.input(0)
    axis = norm_axis(ctx, int(ctx["axis"]), x.ndim)
    split = ints(ctx["split"])
    if sum(split) != x.shape[axis] or any(s < 0 for s in split):
        ctx.fail(f"split sizes {list(split)} do not add up to dimension {axis} of shape "
                 f"{x.shape}")
    return {"axis": axis, "split": split}


def _split_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    out = []
    for s in ctx["split"]:
        shape = list(x.shape)
        shape[ctx["axis"]] = s
        out.append(TensorType(tuple(shape), x.dtype))
    return out


register(OpDef("Split", (1, 1), {"axis": 0, "split": REQUIRED}, _split_infer,
               lambda a, xs: np.split(xs[0], np.cumsum(a["split"])[:-1], axis=a["axis"]),
               normalize=_split_normalize))


# ------------------------------------------------------------------ Slice
def _slice_normalize(ctx) -> dict:
    x = ctx.input(0)
    starts, ends = ints(ctx["starts"]), ints(ctx["ends"])
    axes = ints(ctx["axes"]) if ctx.attrs.get("axes") is not None else tuple(range(len(starts)))
    steps = ints(ctx["steps"]) if ctx.attrs.get("steps") is not None else (1,) * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        ctx.fail(f"starts {list(starts)}, ends {list(ends)}, axes {list(axes)} and steps "
                 f"{list(steps)} must have the same length", GraphBuildError)
    axes = tuple(norm_axis(ctx, a, x.ndim, "axes") for a in axes)
    if len(set(axes)) != len(axes):
        ctx.fail(f"axes {list(axes)} repeat an axis", GraphBuildError)
    rs, re_ = [], []
    for s, e, st, ax in zip(starts, ends, steps, axes):
        dim = x.shape[ax]
        if st == 0:
            ctx.fail("a step of 0 is not allowed", GraphBuildError)
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            e = -(dim + 1) if e == -1 else e
        rs.append(s)
        re_.append(e)
    return {"starts": tuple(rs), "ends": tuple(re_), "axes": axes, "steps": steps}


def _slices(a, ndim: int) -> tuple[slice, ...]:
    sl = [slice(None)] * ndim
    for s, e, st, ax in zip(a["starts"], a["ends"], a["steps"], a["axes"]):
        sl[ax] = slice(s, None if e < 0 else e, st)
    return tuple(sl)


def _slice_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    shape = list(x.shape)
    for ax, sl in enumerate(_slices(ctx.attrs, x.ndim)):
        shape[ax] = len(range(*sl.indices(x.shape[ax])))
    return [TensorType(tuple(shape), x.dtype)]


register(OpDef("Slice", (1, 1), {"starts": REQUIRED, "ends": REQUIRED, "axes": None,
                                 "steps": None}, _slice_infer,
               lambda a, xs: np.ascontiguousarray(xs[0][_slices(a, xs[0].ndim)]),
               normalize=_slice_normalize))


# ------------------------------------------------------------------ reshapes
def _flatten_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    a = ctx["axis"]
    return [TensorType((math.prod(x.shape[:a]), math.prod(x.shape[a:])), x.dtype)]


def _flat_shape(a, shape) -> tuple[int, int]:
    return math.prod(shape[:a["axis"]]), math.prod(shape[a["axis"]:])


def _flatten_normalize(ctx) -> dict:
    r, axis = ctx.input(0).ndim, int(ctx["axis"])
    if not -r <= axis <= r:
        ctx.fail(f"attribute axis={axis} is out of range [-{r}, {r}]", GraphBuildError)
    return {"axis": axis + r if axis < 0 else axis}


register(OpDef("Flatten", (1, 1), {"axis": 1}, _flatten_infer,
               lambda a, xs: xs[0].reshape(_flat_shape(a, xs[0].shape)),
               normalize=_flatten_normalize))


def _reshape_normalize(ctx) -> dict:
    x = ctx.input(0)
    target = list(ints(ctx["shape"]))
    allowzero = int(ctx["allowzero"])
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= x.ndim:
                ctx.fail(f"shape {target}: a 0 at position {i} copies a dimension the input "
                         f"{x.shape} does not have", GraphBuildError)
            target[i] = x.shape[i]
    if target.count(-1) > 1 or any(d < -1 for d in target):
        ctx.fail(f"shape {target} may hold at most one -1 and no other negative value",
                 GraphBuildError)
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known == 0 or x.size % known:
            ctx.fail(f"cannot reshape {x.shape} ({x.size} elements) to {target}")
        target[target.index(-1)] = x.size // known
    if math.prod(target) != x.size:
        ctx.fail(f"cannot reshape {x.shape} ({x.size} elements) to {tuple(target)} "
                 f"({math.prod(target)} elements)")
    return {"shape": tuple(target), "allowzero": int(allowzero and 0 in target)}


register(OpDef("Reshape", (1, 1), {"shape": REQUIRED, "allowzero": 0},
               lambda c: [TensorType(c["shape"], c.input(0).dtype)],
               lambda a, xs: xs[0].reshape(a["shape"]), normalize=_reshape_normalize))


def _transpose_normalize(ctx) -> dict:
    x = ctx.input(0)
    perm = ints(ctx["perm"]) if ctx.attrs.get("perm") is not None else \
        tuple(range(x.ndim))[::-1]
    if sorted(perm) != list(range(x.ndim)):
        ctx.fail(f"perm {list(perm)} is not a permutation of the {x.ndim} axes of {x.shape}",
                 GraphBuildError)
    return {"perm": perm}


register(OpDef("Transpose", (1, 1), {"perm": None},
               lambda c: [TensorType(tuple(c.input(0).shape[p] for p in c["perm"]),
                                     c.input(0).dtype)],
               lambda a, xs: np.ascontiguousarray(xs[0].transpose(a["perm"])),
               normalize=_transpose_normalize))


def _unsqueeze_normalize(ctx) -> dict:
    x = ctx.input(0)
    axes = ints(ctx["axes"])
    out_rank = x.ndim + len(axes)
    axes = tuple(sorted(norm_axis(ctx, a, out_rank, "axes") for a in axes))
    if len(set(axes)) != len(axes):
        ctx.fail(f"axes {list(axes)} repeat an axis", GraphBuildError)
    return {"axes": axes}


def _unsqueeze_shape(shape, axes) -> tuple[int, ...]:
    it = iter(shape)
    return tuple(1 if i in axes else next(it) for i in range(len(shape) + len(axes)))


register(OpDef("Unsqueeze", (1, 1), {"axes": REQUIRED},
               lambda c: [TensorType(_unsqueeze_shape(c.input(0).shape, c["axes"]),
                                     c.input(0).dtype)],
               lambda a, xs: xs[0].reshape(_unsqueeze_shape(xs[0].shape, a["axes"])),
               normalize=_unsqueeze_normalize))


def _squeeze_normalize(ctx) -> dict:
    x = ctx.input(0)
    if ctx.attrs.get("axes") is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = tuple(sorted({norm_axis(ctx, a, x.ndim, "axes") for a in ints(ctx["axes"])}))
    bad = [a for a in axes if x.shape[a] != 1]
    if bad:
        ctx.fail(f"cannot squeeze axes {bad} of shape {x.shape}: their size is not 1")
    return {"axes": axes}


def _squeeze_shape(shape, axes) -> tuple[int, ...]:
    return tuple(d for i, d in enumerate(shape) if i not in axes)


register(OpDef("Squeeze", (1, 1), {"axes": None},
               lambda c: [TensorType(_squeeze_shape(c.input(0).shape, c["axes"]),
                                     c.input(0).dtype)],
               lambda a, xs: xs[0].reshape(_squeeze_shape(xs[0].shape, a["axes"])),
               normalize=_squeeze_normalize))


# ------------------------------------------------------------------ Pad
PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _pad_normalize(ctx) -> dict:
    x = ctx.input(0)
    pads = ints(ctx["pads"])
    if len(pads) != 2 * x.ndim:
        ctx.fail(f"pads {list(pads)} needs {2 * x.ndim} values (begins then ends) for shape "
                 f"{x.shape}", GraphBuildError)
    mode = ctx["mode"]
    if mode not in PAD_MODES:
        ctx.fail(f"mode '{mode}' is not one of {', '.join(PAD_MODES)}", GraphBuildError)
    value = ctx["value"]
    value = float(value) if x.dtype.startswith("float") else int(value)
    return {"pads": pads, "mode": mode, "value": value}


def _pad_infer(ctx) -> list[TensorType]:
    x = ctx.input(0)
    n = x.ndim
    p = ctx["pads"]
    shape = tuple(d + p[i] + p[n + i] for i, d in enumerate(x.shape))
    if min(shape, default=1) < 0:
        ctx.fail(f"pads {list(p)} crop more than the shape {x.shape} holds")
    if ctx["mode"] != "constant":
        for i, d in enumerate(x.shape):
            if (p[i] > 0 or p[n + i] > 0) and d == 0:
                ctx.fail(f"mode '{ctx['mode']}' cannot pad an empty dimension {i}")
    return [TensorType(shape, x.dtype)]


def pad(a, x: np.ndarray) -> np.ndarray:
    n = x.ndim
    p = a["pads"]
    crop = tuple(slice(max(0, -p[i]), x.shape[i] - max(0, -p[n + i])) for i in range(n))
    x = x[crop]
    widths = [(max(0, p[i]), max(0, p[n + i])) for i in range(n)]
    if a["mode"] == "constant":
        return np.pad(x, widths, mode="constant", constant_values=x.dtype.type(a["value"]))
    return np.pad(x, widths, mode=PAD_MODES[a["mode"]])


register(OpDef("Pad", (1, 1), {"pads": REQUIRED, "mode": "constant", "value": 0.0},
               _pad_infer, lambda a, xs: pad(a, xs[0]), normalize=_pad_normalize))


# ------------------------------------------------------------------ Resize (nearest)
COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
               "asymmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _resize_normalize(ctx) -> dict:
    x = ctx.input(0)
    a = dict(ctx.attrs)
    if a["mode"] != "nearest":
        ctx.fail(f"mode '{a['mode']}' is not supported; only 'nearest'", GraphBuildError)
    if a["coordinate_transformation_mode"] not in COORD_MODES:
        ctx.fail(f"coordinate_transformation_mode '{a['coordinate_transformation_mode']}' is "
                 f"not supported; supported: {', '.join(COORD_MODES)}", GraphBuildError)
    if a["nearest_mode"] not in NEAREST_MODES:
        ctx.fail(f"nearest_mode '{a['nearest_mode']}' is not one of "
                 f"{', '.join(NEAREST_MODES)}", GraphBuildError)
    sizes, scales = ints(a["sizes"]), floats(a["scales"])
    if len(sizes) != x.ndim or len(scales) != x.ndim:
        ctx.fail(f"sizes {list(sizes)} and scales {list(scales)} need one value per axis of "
                 f"{x.shape}", GraphBuildError)
    if any(s <= 0 for s in scales) or any(s < 0 for s in sizes):
        ctx.fail(f"scales {list(scales)} must be positive and sizes {list(sizes)} "
                 f"non-negative", GraphBuildError)
    return {"mode": "nearest", "coordinate_transformation_mode":
            a["coordinate_transformation_mode"], "nearest_mode": a["nearest_mode"],
            "sizes": sizes, "scales": scales}


def nearest_indices(mode: str, rounding: str, n_in: int, n_out: int, scale: float):
    """Input index of each output position along one axis (ONNX Resize, nearest)."""
    j = np.arange(n_out, dtype=np.float64)
    if mode == "half_pixel":
        x = (j + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        adjustment = n_out / (scale * n_in)
        x = (n_in / 2) * (1 - adjustment) + (j + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        x = (j + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(j)
    elif mode == "align_corners":
        x = j * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(j)
    else:   # asymmetric
        x = j / scale
    if rounding == "round_prefer_floor":
        idx = np.ceil(x - 0.5)
    elif rounding == "round_prefer_ceil":
        idx = np.floor(x + 0.5)
    elif rounding == "floor":
        idx = np.floor(x)
    else:
        idx = np.ceil(x)
    return np.clip(idx, 0, n_in - 1).astype(np.int64)


def resize(a, x: np.ndarray) -> np.ndarray:
    for ax, (n_out, scale) in enumerate(zip(a["sizes"], a["scales"])):
        if n_out == x.shape[ax] and scale == 1.0:
            continue
        idx = nearest_indices(a["coordinate_transformation_mode"], a["nearest_mode"],
                              x.shape[ax], n_out, scale)
        x = np.take(x, idx, axis=ax)
    return np.ascontiguousarray(x)


register(OpDef("Resize", (1, 1), {"mode": "nearest", "coordinate_transformation_mode":
                                  "half_pixel", "nearest_mode": "round_prefer_floor",
                                  "sizes": REQUIRED, "scales": REQUIRED},
               lambda c: [TensorType(c["sizes"], c.input(0).dtype)],
               lambda a, xs: resize(a, xs[0]), normalize=_resize_normalize))


# ------------------------------------------------------------------ ConstantOfShape / Shape
def _cos_normalize(ctx) -> dict:
    dtype = ctx["dtype"]
    if dtype not in DTYPES:
        ctx.fail(f"dtype '{dtype}' is not supported", GraphBuildError)
    shape = ints(ctx["shape"])
    if any(d < 0 for d in shape):
        ctx.fail(f"shape {list(shape)} has a negative dimension", GraphBuildError)
    value = ctx["value"]
    value = bool(value) if dtype == "bool" else float(value) if dtype.startswith("float") \
        else int(value)
    return {"shape": shape, "value": value, "dtype": dtype}


register(OpDef("ConstantOfShape", (0, 0), {"shape": REQUIRED, "value": 0.0,
                                           "dtype": "float32"},
               lambda c: [TensorType(c["shape"], c["dtype"])],
               lambda a, xs: np.full(a["shape"], a["value"], dtype=a["dtype"]),
               normalize=_cos_normalize))


def _shape_normalize(ctx) -> dict:
    r = ctx.input(0).ndim
    start, end = int(ctx["start"]), ctx.attrs.get("end")
    end = r if end is None else int(end)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return {"start": start, "end": max(start, end)}


def _shape_value(a, types) -> list[np.ndarray]:
    return [np.array(types[0].shape[a["start"]:a["end"]], dtype=np.int64)]


register(OpDef("Shape", (1, 1), {"start": 0, "end": None},
               lambda c: [TensorType((c["end"] - c["start"],), "int64")],
               lambda a, xs: np.array(xs[0].shape[a["start"]:a["end"]], dtype=np.int64),
               normalize=_shape_normalize, value_from_types=_shape_value))


# ------------------------------------------------------------------ Gather
def _gather_infer(ctx) -> list[TensorType]:
    x, idx = ctx.input(0), ctx.input(1, "indices")
    if idx.dtype not in ("int32", "int64"):
        ctx.fail(f"indices have dtype {idx.dtype}; expected int32 or int64")
    if x.ndim == 0:
        ctx.fail("cannot gather from a scalar")
    ax = ctx["axis"]
    return [TensorType(x.shape[:ax] + idx.shape + x.shape[ax + 1:], x.dtype)]


def gather(a, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    dim = x.shape[a["axis"]]
    idx = np.where(idx < 0, idx + dim, idx)
    if idx.size and (idx.min() < 0 or idx.max() >= dim):
        from ..errors import ExecutionError

        raise ExecutionError(f"Gather: an index is out of range for axis {a['axis']} of size "
                             f"{dim}")
    return np.take(x, idx, axis=a["axis"])


register(OpDef("Gather", (2, 2), {"axis": 0}, _gather_infer,
               lambda a, xs: gather(a, xs[0], xs[1]),
               normalize=lambda c: {"axis": norm_axis(c, int(c["axis"]), c.input(0).ndim)}))
