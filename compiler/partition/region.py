"""The composite ``Region`` operator: a partitioned subgraph that runs on one backend.

Canonical attributes::

    Region(x0, x1, ...)        body: the subgraph (a ``Graph``); its inputs are the region's
                               inputs in order, its outputs the region's outputs

The node's ``target`` says where the body runs ("vdla"). The values the region node reads and
defines are the very values its body's inputs and outputs are, so a partitioned graph prints,
verifies and runs (``compiler.graph.reference``) like any other graph::

    %r1 = Region(%x) {body=<graph region0>} @vdla  # vdla_region_0
      body = graph "region0" (%x: int8[1,16,8,8]) -> (%r1: int8[1,16,8,8]) {
        const %w: int8[16,16,3,3]
        %c = QConv(%x, %w) {..., relu=1, shift=8} @vdla  # conv1
        %r1 = QAdd(%c, %x) {relu=1} @vdla  # add1
      }

Registered with the graph IR's operator registry when ``compiler.partition`` is imported.
"""

from __future__ import annotations

from ..graph.errors import GraphBuildError
from ..graph.ir import Graph, TensorType
from ..graph.ops import REQUIRED, OpDef, get_op, register

REGION_OP = "Region"


def _normalize(ctx) -> dict:
    body = ctx.attrs["body"]
    if not isinstance(body, Graph):
        ctx.fail(f"attribute body must be a Graph, got {type(body).__name__}", GraphBuildError)
    if len(ctx.inputs) != len(body.inputs):
        ctx.fail(f"takes {len(body.inputs)} inputs (its body's), got {len(ctx.inputs)}",
                 GraphBuildError)
    return {"body": body}


def _infer(ctx) -> list[TensorType]:
    body: Graph = ctx["body"]
    for i, (t, v) in enumerate(zip(ctx.inputs, body.inputs)):
        if t is None or (t.shape, t.dtype) != (v.shape, v.dtype):
            ctx.fail(f"input {i} is {t}, but the body's input '{v.name}' is {v.type}")
    return [TensorType(v.shape, v.dtype, v.layout) for v in body.outputs]


def _compute(attrs, xs) -> list:
    from ..graph import reference

    body: Graph = attrs["body"]
    out = reference.run(body, {v.name: x for v, x in zip(body.inputs, xs)})
    return [out[v.name] for v in body.outputs]


def _register() -> None:
    try:
        get_op(REGION_OP)
    except GraphBuildError:
        register(OpDef(REGION_OP, (0, -1), {"body": REQUIRED}, _infer, _compute,
                       normalize=_normalize,
                       doc="a partitioned subgraph run by one backend (node.target)"))


_register()
