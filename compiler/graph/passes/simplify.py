"""Simplify trivial operators: drop Identity (what Dropout imports as), turn Sum into Add.

Before::

    %a = Conv(%x, %w)
    %b = Identity(%a)
    %c = Sum(%b, %r)
    %d = Sum(%c)

After::

    %a = Conv(%x, %w)
    %d = Add(%a, %r)          # Sum of two -> Add; Sum of one and Identity -> their input

An Identity whose output is a graph output and whose input is a graph input (or another graph
output, or a constant) stays: the output keeps its own name. Otherwise the value it forwards
takes the output's name.
"""

from __future__ import annotations

from ..builder import Rewrite
from ..ir import Graph, Node


def _is_forward(node: Node) -> bool:
    return node.op == "Identity" or (node.op == "Sum" and len(node.inputs) == 1)


def simplify(graph: Graph) -> Graph:
    """Remove Identity / one-input Sum nodes; two-input Sum becomes Add."""
    rw = Rewrite(graph)
    # an Identity producing a graph output hands its name to the value it forwards, when that
    # value is an ordinary node output used by nobody else
    for node in graph.nodes:
        if not _is_forward(node) or not graph.is_output(node.outputs[0].name):
            continue
        src = node.inputs[0].name
        if (src in graph.producers and not graph.is_output(src)
                and len(graph.consumers.get(src, ())) == 1 and src not in rw.rename):
            rw.rename[src] = node.outputs[0].name

    def visit(rw: Rewrite, node: Node):
        if _is_forward(node):
            src = rw.value(node.inputs[0])
            out = node.outputs[0]
            if graph.is_output(out.name) and src.name != out.name:
                return None     # keep: the output name must survive
            rw.map(out, src)
            return True
        if node.op == "Sum" and len(node.inputs) == 2:
            rw.copy(node, op="Add")
            return True
        return None

    return rw.run(visit)
