"""Layout transformation: chosen operators work on packed tensors ("NCHW{n}n{c}c", the
accelerator's layout), with ``LayoutTransform`` nodes inserted only where a value crosses
between a packed and a plain operator.

Before (``channel_block=16``)::

    %c1 = Conv(%x, %w1) {...}                    # %x: float32[1,16,8,8]
    %r1 = Relu(%c1)
    %c2 = Conv(%r1, %w2) {...}
    %y  = Flatten(%c2)

After::

    %x__packed: float32[1,16,8,8]{NCHW1n16c} = LayoutTransform(%x) {dst_layout="NCHW1n16c"}
    const %w1: float32[16,16,3,3]{OIHW16o16i}     # weights packed at compile time
    %c1__packed: ...{NCHW1n16c} = Conv(%x__packed, %w1) {...}
    %r1__packed: ...{NCHW1n16c} = Relu(%c1__packed)
    %c2__packed: ...{NCHW1n16c} = Conv(%r1__packed, %w2) {...}
    %c2: float32[1,16,8,8] = LayoutTransform(%c2__packed) {src_layout="NCHW1n16c"}
    %y = Flatten(%c2)

Shapes stay logical (the packed type's ``physical_shape`` is the stored one) and attributes keep
their logical meaning, so operators compute exactly what they did. A value needed in two
layouts is converted once.

Converted: the operators in ``ops`` whose outputs are 4-d, with 4-d activation inputs;
Conv/FusedConv only with group=1 and constant weights (packed to "OIHW{c_out}o{c_in}i");
Concat only along channels that are whole blocks. Lower-rank constant operands of elementwise
operators are broadcast to 4-d and packed; 1-d parameters (bias, batch-norm statistics) and
scalar bounds stay plain. Channels that are not a multiple of the block are zero-padded in
storage.

With ``out_channel_block`` different from ``channel_block`` (the accelerator's BLOCK_OUT vs
BLOCK_IN), convolutions read NCHW{n}n{c_in}c and write NCHW{n}n{c_out}c, other operators keep
the layout their input has, and a conversion between the two packed layouts goes where a
convolution reads another's result.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..builder import GraphBuilder
from ..errors import GraphBuildError
from ..ir import Graph, Node, Value
from ..layout import Layout, pack

PACKABLE_OPS = frozenset({
    "Conv", "FusedConv", "Relu", "LeakyRelu", "Sigmoid", "HardSwish", "Clip", "Add", "Sub",
    "Mul", "Div", "Sum", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat",
    "BatchNormalization", "Identity",
})
_BROADCAST_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Sum"})


def _roles(graph: Graph, node: Node) -> list[str | None] | None:
    """Per input: "in" (a packed activation the operator reads), "out" (a packed operand
    combined with a convolution's result: a residual), "weight", "plain", None (omitted);
    None if the node is not convertible."""
    if any(o.ndim != 4 for o in node.outputs):
        return None
    conv = node.op in ("Conv", "FusedConv")
    if conv and (node.attrs["group"] != 1 or graph.const(node.inputs[1]) is None):
        return None
    if node.op == "Concat" and node.attrs["axis"] != 1:
        return None
    roles: list[str | None] = []
    for i, v in enumerate(node.inputs):
        if v is None:
            roles.append(None)
        elif conv and i == 1:
            roles.append("weight")
        elif conv and i == 2:
            roles.append("plain")
        elif conv and i >= 3:
            if v.ndim != 4 and graph.const(v) is None:
                return None
            roles.append("out")
        elif v.ndim == 4:
            roles.append("in")
        elif node.op in _BROADCAST_OPS:
            if graph.const(v) is None:
                return None
            roles.append("in")           # a broadcast constant, made 4-d and packed
        else:
            roles.append("plain")
    return roles if "in" in roles else None


def transform_layout(graph: Graph, *, batch_block: int = 1, channel_block: int = 16,
                     out_channel_block: int | None = None,
                     ops: Iterable[str] | None = None) -> Graph:
    """Convert ``ops`` (default ``PACKABLE_OPS``) to NCHW{batch_block}n{channel_block}c.

    ``out_channel_block`` (default ``channel_block``): the channel block of convolution
    results when it differs from the block the convolution reads (the accelerator's
    BLOCK_OUT vs BLOCK_IN); other operators keep the packed layout their input has.
    """
    bo = channel_block if out_channel_block is None else out_channel_block
    if min(batch_block, channel_block, bo) < 1:
        raise GraphBuildError(f"block sizes must be positive, got batch_block={batch_block}, "
                              f"channel_block={channel_block}, out_channel_block={bo}")
    if any(v.layout for n in graph.nodes for v in n.outputs):
        raise GraphBuildError("transform_layout expects a graph in the plain layout; this one "
                              "already has packed values")
    act_in = f"NCHW{batch_block}n{channel_block}c"
    act_out = f"NCHW{batch_block}n{bo}c"
    wgt = f"OIHW{bo}o{channel_block}i"
    ops = PACKABLE_OPS if ops is None else frozenset(ops)
    b = GraphBuilder(graph.name)
    # old value name -> {layout: new value}; "" is the plain version
    versions: dict[str, dict[str, Value]] = {
        v.name: {"": b.input(v.name, v.shape, v.dtype)} for v in graph.inputs}

    def get(v: Value, layout: str) -> Value:
        have = versions.setdefault(v.name, {})
        if layout in have:
            return have[layout]
        arr = graph.const(v)
        if arr is not None:
            if not layout:
                have[""] = b.constant(arr, v.name)
            else:
                shape = (1,) * (4 - arr.ndim) + arr.shape
                have[layout] = b.constant(pack(arr.reshape(shape), layout),
                                          f"{v.name}__{layout}", layout=layout, shape=shape)
            return have[layout]
        src_layout = next(iter(have))       # the version the value was produced in
        name = b.fresh(v.name if not layout else f"{v.name}__{layout}")
        have[layout] = b.node("LayoutTransform", [have[src_layout]],
                              {"src_layout": src_layout, "dst_layout": layout},
                              name=f"{v.name}/to_{layout or 'plain'}", outputs=[name])[0]
        return have[layout]

    def packed_layout_of(v: Value) -> str | None:
        return next((lay for lay in versions.get(v.name, {}) if lay), None)

    for node in graph.nodes:
        roles = _roles(graph, node) if node.op in ops else None
        if roles is not None and node.op not in ("Conv", "FusedConv"):
            # keep the layout the first activation already has (no conversion needed)
            first = next(v for v, r in zip(node.inputs, roles) if r == "in")
            layout = packed_layout_of(first) or act_in
            block = Layout.parse(layout).block("C")
            if node.op == "Concat" and any(v.shape[1] % block for v in node.inputs):
                roles = None
        if roles is None:
            outs = b.node(node.op, [None if v is None else get(v, "") for v in node.inputs],
                          node.attrs, name=node.name, target=node.target,
                          outputs=[b.fresh(o.name) for o in node.outputs])
            for o, n in zip(node.outputs, outs):
                versions[o.name] = {"": n}
            continue
        conv = node.op in ("Conv", "FusedConv")
        in_layout, out_layout = (act_in, act_out) if conv else (layout, layout)
        want = {"in": in_layout, "out": out_layout, "weight": wgt}
        inputs = [None if r is None else get(v, "") if r == "plain" else get(v, want[r])
                  for v, r in zip(node.inputs, roles)]
        outs = b.node(node.op, inputs, node.attrs, name=node.name, target=node.target,
                      outputs=[b.fresh(f"{o.name}__packed") for o in node.outputs],
                      layouts=[out_layout] * len(node.outputs))
        for o, n in zip(node.outputs, outs):
            versions[o.name] = {out_layout: n}
    return b.build([get(v, "") for v in graph.outputs])
