"""Dead-code elimination: drop nodes and constants that no graph output depends on.

Before::

    %s = Shape(%x)
    %t = Concat(%s, %k) {axis=0}     # the Reshape took its target as an attribute
    %y = Reshape(%x) {shape=[1, 9216]}
    return %y

After::

    %y = Reshape(%x) {shape=[1, 9216]}
    return %y

Graph inputs always stay (callers feed them even when unused). Every operator is pure, so a
node is dead exactly when none of its outputs is used.
"""

from __future__ import annotations

from ..ir import Graph


def eliminate_dead_code(graph: Graph) -> Graph:
    """Keep only the nodes (and constants) that graph outputs depend on."""
    live = {v.name for v in graph.outputs}
    keep = []
    for node in reversed(graph.nodes):
        if any(o.name in live for o in node.outputs):
            keep.append(node)
            live.update(v.name for v in node.inputs if v is not None)
    if len(keep) == len(graph.nodes) and set(graph.constants) <= live:
        return graph
    constants = {k: a for k, a in graph.constants.items() if k in live}
    return graph.with_nodes(reversed(keep), constants=constants)
