"""Operators that passes create: fused anchors with an epilogue, and layout conversions.

Canonical attributes::

    FusedConv(x, w, b?, operands...)      the Conv attributes + epilogue
    FusedGemm(a, b, c?, operands...)      the Gemm attributes + epilogue
    FusedMatMul(a, b, operands...)        epilogue
    LayoutTransform(x)                    src_layout, dst_layout ("" = plain)

``epilogue`` is a tuple of ``EpilogueOp``: elementwise steps applied in order to the anchor's
result, e.g. ``(EpilogueOp("Add", operand=3), EpilogueOp("Relu"))`` is conv + residual add +
relu. A binary step's operand is the fused node's input at index ``operand``; it broadcasts to
the anchor's output shape without changing it. The anchor's own optional input (bias / C)
keeps its slot, ``None`` when absent, so operands start at index 3 (2 for FusedMatMul).

``LayoutTransform`` is the identity on logical tensors: its output stores the same tensor in
``dst_layout``. The layout pass inserts it where a packed region begins or ends.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphBuildError
from ..ir import EpilogueOp, TensorType
from ..layout import check_layout
from . import OpDef, get_op, register
from ._common import broadcast_shapes, same_dtype
from .elementwise import EPILOGUE_OPS, apply_epilogue
from .nn import CONV_ATTRS, conv, gemm

# anchor op -> (fused op, number of the anchor's own input slots)
FUSED_ANCHORS = {"Conv": ("FusedConv", 3), "Gemm": ("FusedGemm", 3),
                 "MatMul": ("FusedMatMul", 2)}


def _check_epilogue(ctx, n_slots: int) -> tuple[EpilogueOp, ...]:
    steps = tuple(ctx.attrs.get("epilogue") or ())
    for s in steps:
        if not isinstance(s, EpilogueOp) or s.op not in EPILOGUE_OPS:
            ctx.fail(f"epilogue step {s!r} is not an EpilogueOp of {', '.join(EPILOGUE_OPS)}",
                     GraphBuildError)
        binary = EPILOGUE_OPS[s.op] == 2
        if binary != (s.operand is not None):
            ctx.fail(f"epilogue step {s}: {s.op} {'needs' if binary else 'takes no'} operand",
                     GraphBuildError)
        if binary and not n_slots <= s.operand < len(ctx.inputs):
            ctx.fail(f"epilogue step {s}: operand index {s.operand} is not one of the "
                     f"operand inputs ({n_slots}..{len(ctx.inputs) - 1})", GraphBuildError)
    return steps


def _fused(anchor: str):
    fused_name, n_slots = FUSED_ANCHORS[anchor]
    base = get_op(anchor)

    def split_ctx(ctx):
        anchor_ctx = type(ctx)(ctx.op, ctx.name, dict(ctx.attrs), list(ctx.inputs[:n_slots]))
        anchor_ctx.attrs.pop("epilogue", None)
        return anchor_ctx

    def normalize(ctx) -> dict:
        steps = _check_epilogue(ctx, n_slots)
        sub = split_ctx(ctx)
        attrs = base.normalize(sub) if base.normalize else dict(sub.attrs)
        return {**attrs, "epilogue": steps}

    def infer(ctx) -> list[TensorType]:
        sub = split_ctx(ctx)
        out = base.infer(sub)[0]
        for s in ctx["epilogue"]:
            if s.operand is not None:
                t = ctx.input(s.operand)
                same_dtype(ctx, [out, t], "the anchor's result and the epilogue operand")
                if broadcast_shapes(ctx, [out.shape, t.shape]) != out.shape:
                    ctx.fail(f"epilogue operand of shape {t.shape} would change the result "
                             f"shape {out.shape}")
        return [TensorType(out.shape, out.dtype)]

    def compute(attrs, xs):
        a = {k: v for k, v in attrs.items() if k != "epilogue"}
        slots = list(xs[:n_slots]) + [None] * (n_slots - len(xs[:n_slots]))
        if anchor == "Conv":
            y = conv(a, slots[0], slots[1], slots[2])
        elif anchor == "Gemm":
            y = gemm(a, slots[0], slots[1], slots[2])
        else:
            y = np.asarray(np.matmul(slots[0], slots[1])).astype(slots[0].dtype, copy=False)
        for s in attrs["epilogue"]:
            y = apply_epilogue(s, y, xs[s.operand] if s.operand is not None else None)
        return y

    attrs = dict(base.attrs) if anchor != "Conv" else dict(CONV_ATTRS)
    attrs["epilogue"] = ()
    register(OpDef(fused_name, (2, -1), attrs, infer, compute, normalize=normalize,
                   doc=f"{anchor} followed by an epilogue of elementwise steps"))


for _anchor in FUSED_ANCHORS:
    _fused(_anchor)


# ------------------------------------------------------------------ LayoutTransform
def _lt_normalize(ctx) -> dict:
    x = ctx.input(0)
    src, dst = ctx["src_layout"] or "", ctx["dst_layout"] or ""
    check_layout(src, x.shape)
    check_layout(dst, x.shape)
    if src != x.layout:
        ctx.fail(f"src_layout '{src}' differs from the input's layout '{x.layout}'",
                 GraphBuildError)
    if src == dst:
        ctx.fail(f"converts layout '{src}' to itself", GraphBuildError)
    return {"src_layout": src, "dst_layout": dst}


register(OpDef("LayoutTransform", (1, 1), {"src_layout": "", "dst_layout": ""},
               lambda c: [TensorType(c.input(0).shape, c.input(0).dtype, c["dst_layout"])],
               lambda a, xs: xs[0], normalize=_lt_normalize,
               doc="identity on logical tensors; changes the storage layout"))
