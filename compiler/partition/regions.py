"""Merging supported nodes into convex regions (no cycles through the rest of the graph).

A region is *convex* when no path leaves it and re-enters it: for nodes ``a`` and ``c`` in a
region, every node on a path ``a -> ... -> c`` is in the region too. Only convex regions can
become one node of the partitioned graph without making it cyclic. Example: ``a`` and ``c``
supported, ``b`` not, edges ``a -> b -> c`` and ``a -> c``: merging ``{a, c}`` would need ``b``'s
result inside the region and the region's result inside ``b``. So ``a`` and ``c`` stay apart::

    a (vdla) ──> b (cpu) ──> c (vdla)        regions: {a}, {c}
      └──────────────────────^

Convex regions are not enough, though: two convex regions ``A`` and ``B`` with edges
``a1 -> b1`` and ``b2 -> x -> a2`` each contain no leave-and-re-enter path, yet as two nodes of
the partitioned graph they form a cycle ``A -> B -> A``. So merging is decided on the
*contracted* graph, where every region so far is one node.

Algorithm (greedy contraction along edges, as in XLA's cycle-free clustering and TVM's
MergeCompilerRegions): every supported node starts as its own cluster; visiting the nodes in
topological order, each edge ``u -> v`` between supported nodes of different clusters ``A``
and ``B`` merges them unless the contracted graph has a path between ``A`` and ``B`` (in either
direction) through some other cluster or node: then the merged cluster would lie on a cycle.
That is one graph search per edge, in which reaching any node of a cluster continues from
all of its nodes. The contracted graph starts as the (acyclic) graph itself and no merge
makes a cycle, so the final regions cut the graph into an acyclic graph of regions and CPU
nodes; every region is convex, and the result is maximal along edges: no two adjacent
clusters can still be merged.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..graph.ir import Graph, Node


def _successors(graph: Graph) -> dict[Node, list[Node]]:
    succ: dict[Node, list[Node]] = {n: [] for n in graph.nodes}
    for n in graph.nodes:
        for v in n.outputs:
            for user in graph.consumers.get(v.name, ()):
                if user not in succ[n]:
                    succ[n].append(user)
    return succ


def _predecessors(graph: Graph, node: Node) -> list[Node]:
    preds = []
    for v in node.inputs:
        p = graph.producers.get(v.name) if v is not None else None
        if p is not None and p not in preds:
            preds.append(p)
    return preds


class _Clusters:
    """Supported nodes grouped into clusters; unsupported nodes are clusters of their own.
    Edges between clusters are those of the contracted (quotient) graph."""

    def __init__(self, graph: Graph, nodes: Iterable[Node]) -> None:
        self.index = {n: i for i, n in enumerate(graph.nodes)}
        self.succ = _successors(graph)
        self.of: dict[Node, int] = {}
        self.members: dict[int, set[Node]] = {}
        for n in nodes:
            self.of[n] = self.index[n]
            self.members[self.index[n]] = {n}

    def _unit(self, n: Node) -> tuple[Node, ...] | set[Node]:
        c = self.of.get(n)
        return self.members[c] if c is not None else (n,)

    def _path_outside(self, src: set[Node], dst: set[Node]) -> bool:
        """Is there a path from ``src`` to ``dst`` in the contracted graph through at least
        one other cluster or node? (Entering a cluster anywhere means leaving it from any of
        its nodes: that is what contracting it into one node does.)"""
        seen: set[int | Node] = set()
        stack: list[Node] = []

        def visit(s: Node) -> None:
            key = self.of.get(s, s)
            if key not in seen:
                seen.add(key)
                stack.append(s)

        for n in src:
            for s in self.succ[n]:
                if s not in src and s not in dst:
                    visit(s)
        while stack:
            for m in self._unit(stack.pop()):
                for s in self.succ[m]:
                    if s in dst:
                        return True
                    if s not in src:
                        visit(s)
        return False

    def try_merge(self, a: int, b: int) -> bool:
        ma, mb = self.members[a], self.members[b]
        if self._path_outside(ma, mb) or self._path_outside(mb, ma):
            return False
        keep, gone = (a, b) if len(ma) >= len(mb) else (b, a)
        for n in self.members[gone]:
            self.of[n] = keep
        self.members[keep] |= self.members.pop(gone)
        return True


def merge_regions(graph: Graph, supported: Iterable[Node]) -> list[list[Node]]:
    """Maximal convex regions of the ``supported`` nodes, each in topological order, ordered
    by their first node."""
    clusters = _Clusters(graph, supported)
    for v in graph.nodes:
        if v not in clusters.of:
            continue
        for u in _predecessors(graph, v):
            if u in clusters.of and clusters.of[u] != clusters.of[v]:
                clusters.try_merge(clusters.of[u], clusters.of[v])
    index = clusters.index
    regions = [sorted(m, key=index.__getitem__) for m in clusters.members.values()]
    return sorted(regions, key=lambda r: index[r[0]])


def is_convex(graph: Graph, nodes: Iterable[Node]) -> bool:
    """True if no path leaves ``nodes`` and comes back (a checker for tests and asserts)."""
    region = set(nodes)
    if not region:
        return True
    return not _Clusters(graph, [])._path_outside(region, region)


__all__ = ["is_convex", "merge_regions"]
