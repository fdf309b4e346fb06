"""Operator fusion: a Conv / Gemm / MatMul followed by a chain of elementwise operators becomes
one fused node whose epilogue lists the chain.

Before::

    %c = Conv(%x, %w, %b) {...}
    %s = Add(%c, %shortcut)            # residual
    %y = Relu(%s)

After::

    %y = FusedConv(%x, %w, %b, %shortcut) {..., epilogue=[Add(%in3), Relu]}

Fusable steps (``EPILOGUE_OPS``): Add / Mul / two-input Sum with any operand that broadcasts
to the anchor's output without changing it (a bias, a residual, a per-channel scale), and the
activations Relu, Clip (constant bounds), LeakyRelu, Sigmoid, HardSwish. The chain continues
while the running value has a single consumer and is not a graph output, so no intermediate
is needed elsewhere. The fused node is placed where the chain's last node was: every operand
(a residual computed by another branch, say) is defined by then. Anchors are claimed in graph
order; a step claimed by one anchor is not offered to another.
"""

from __future__ import annotations

from ..builder import Rewrite
from ..ir import EpilogueOp, Graph, Node, Value
from ..ops.elementwise import EPILOGUE_OPS
from ..ops.fused import FUSED_ANCHORS


def _scalar(graph: Graph, v: Value | None) -> float | None | bool:
    """A Clip bound as a float (None if omitted); False if it is not a constant scalar."""
    if v is None:
        return None
    arr = graph.const(v)
    if arr is None or arr.size != 1:
        return False
    return float(arr.reshape(-1)[0])


def _step(graph: Graph, node: Node, cur: Value, claimed: set) -> tuple | None:
    """(op, attrs, operand Value | None) if ``node`` can extend a chain ending at ``cur``."""
    out = node.outputs[0]
    if node in claimed or len(node.outputs) != 1 or out.shape != cur.shape \
            or out.dtype != cur.dtype or out.layout != cur.layout:
        return None
    op = "Add" if node.op == "Sum" and len(node.inputs) == 2 else node.op
    if op not in EPILOGUE_OPS:
        return None
    if EPILOGUE_OPS[op] == 2:
        if len(node.inputs) != 2 or cur not in node.inputs:
            return None
        other = node.inputs[1] if node.inputs[0] == cur else node.inputs[0]
        if other == cur or other.layout != cur.layout:
            return None
        return op, {}, other
    if node.inputs[0] != cur:
        return None
    attrs = dict(node.attrs)
    if op == "Clip":
        lo, hi = (_scalar(graph, v) for v in (list(node.inputs[1:]) + [None, None])[:2])
        if lo is False or hi is False:
            return None
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    return op, attrs, None


def plan_fusions(graph: Graph) -> dict[Node, tuple[Node, list]]:
    """{last node of a chain: (anchor, [(node, op, attrs, operand)])}, claimed in order."""
    plans: dict[Node, tuple[Node, list]] = {}
    claimed: set = set()
    for anchor in graph.nodes:
        if anchor.op not in FUSED_ANCHORS or anchor in claimed:
            continue
        cur = anchor.outputs[0]
        chain = []
        while not graph.is_output(cur.name):
            users = graph.consumers.get(cur.name, ())
            if len(users) != 1:
                break
            step = _step(graph, users[0], cur, claimed)
            if step is None:
                break
            chain.append((users[0],) + step)
            cur = users[0].outputs[0]
        if chain:
            claimed.add(anchor)
            claimed.update(s[0] for s in chain)
            plans[chain[-1][0]] = (anchor, chain)
    return plans


def fuse_ops(graph: Graph) -> Graph:
    """Fuse anchors (Conv, Gemm, MatMul) with their elementwise epilogues."""
    plans = plan_fusions(graph)
    if not plans:
        return graph
    skip = {n for anchor, chain in plans.values() for n in [anchor] + [s[0] for s in chain]}
    skip -= set(plans)

    def visit(rw: Rewrite, node: Node):
        if node in skip:
            return True
        if node not in plans:
            return None
        anchor, chain = plans[node]
        fused_op, n_slots = FUSED_ANCHORS[anchor.op]
        inputs = rw.inputs(anchor)
        inputs += [None] * (n_slots - len(inputs))
        epilogue = []
        for _, op, attrs, operand in chain:
            index = None
            if operand is not None:
                index = len(inputs)
                inputs.append(rw.value(operand))
            epilogue.append(EpilogueOp(op, attrs, index))
        while inputs and inputs[-1] is None:
            inputs.pop()
        out = node.outputs[0]
        (y,) = rw.b.node(fused_op, inputs, {**anchor.attrs, "epilogue": tuple(epilogue)},
                         name=anchor.name, outputs=[rw.out_name(out)],
                         layouts=[out.layout], target=anchor.target)
        rw.map(out, y)
        return True

    return Rewrite(graph).run(visit)

