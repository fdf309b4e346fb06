"""Constant folding: evaluate at compile time every node whose inputs are all constants, and
every node whose result follows from static shapes alone (``Shape``).

Before::

    const %w_shape: int64[4] = [64, 3, 7, 7]
    %w = ConstantOfShape() {shape=[64, 3, 7, 7], value=0.02}
    %s = Shape(%x)                          # %x: float32[1,3,224,224]
    %n = Gather(%s, %zero)
    %y = Conv(%x, %w)

After::

    const %w: float32[64,3,7,7]
    const %s: int64[4] = [1, 3, 224, 224]
    const %n: int64[] = [1]
    %y = Conv(%x, %w)

Results are computed by the reference semantics (``compiler.graph.reference.run_node``), so
folding cannot change what the graph computes. Constants nobody uses any more (the shape
computations above, once a Reshape has its target as an attribute) are left to dead-code
elimination.
"""

from __future__ import annotations

from ..builder import Rewrite
from ..ir import Graph, Node
from ..ops import get_op
from ..reference import run_node


def fold_constants(graph: Graph) -> Graph:
    """Replace computable-at-compile-time nodes by constants."""

    def visit(rw: Rewrite, node: Node):
        opdef = get_op(node.op)
        if opdef.value_from_types is not None and not any(o.layout for o in node.outputs):
            values = opdef.value_from_types(node.attrs, [v.type for v in node.inputs])
        else:
            ins = rw.inputs(node)
            if any(v is not None and v.name not in rw.b.constants for v in ins):
                return None
            values = run_node(node, [None if v is None else rw.b.constants[v.name]
                                     for v in ins])
        for old, arr in zip(node.outputs, values):
            rw.constant(arr, old, layout=old.layout)
        return True

    return Rewrite(graph).run(visit)
