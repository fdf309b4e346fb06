"""The partitioner: annotate, merge, check the cost, cut the graph into regions.

Before (``target="vdla"``; ``a``, ``b`` int8 and supported, ``s`` not)::

    %a = QConv(%x, %w1) {...}                 # conv1
    %b = QAdd(%a, %x) {relu=1}                # add1
    %f = Cast(%b) {to="float32"}              # to_float
    %s = Softmax(%f) {axis=1}                 # softmax

After::

    %b = Region(%x) {body=<graph region0>} @vdla        # vdla_region_0
      body = graph "region0" (%x) -> (%b) { %a = QConv(...) @vdla; %b = QAdd(...) @vdla }
    %f = Cast(%b) {to="float32"} @cpu                   # to_float
    %s = Softmax(%f) {axis=1} @cpu                      # softmax

Steps (``partition``):

1. annotate: ``support.vdla_support`` for every node (op, dtype, attributes, constants,
   shapes, the configuration);
2. merge: ``regions.merge_regions``: maximal convex regions of supported nodes;
3. cost: a region whose GEMM work is under ``min_cycles`` cycles of the GEMM core
   (``MACs / macs_per_cycle``; default 256, about the fixed cost of launching a program and
   moving its data) is "too small to be worth offloading" and stays on the CPU — a region of
   only element-wise work always does;
4. cut: each region becomes one ``Region`` node whose body holds its nodes and constants; the
   top-level graph lists CPU nodes and region nodes in a topological order.

With ``target="cpu"`` every node is a CPU node. The result's ``report`` lists every node.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from accel.isa.config import HardwareConfig

from ..graph.ir import Graph, Node, Value
from ..graph.verify import verify
from .errors import PartitionError
from .region import REGION_OP
from .regions import is_convex, merge_regions
from .report import NodePlacement, PartitionReport, RegionInfo
from .support import Support, node_macs, vdla_support

TARGETS = ("vdla", "cpu")
DEFAULT_MIN_CYCLES = 256


@dataclass
class Partition:
    """A partitioned graph (``Region`` nodes for accelerator regions), its report, and the
    regions' nodes (from the input graph) in order."""

    graph: Graph
    report: PartitionReport
    regions: list[list[Node]]


def _main_dtype(node: Node) -> str:
    return node.outputs[0].dtype if node.outputs else "-"


def partition(graph: Graph, target: str = "vdla", config: HardwareConfig | None = None, *,
              min_cycles: int = DEFAULT_MIN_CYCLES) -> Partition:
    """Partition ``graph`` (plain layout, optimized) for ``target`` ("vdla" or "cpu")."""
    if target not in TARGETS:
        raise PartitionError(f"unknown target {target!r}; expected one of "
                             f"{', '.join(TARGETS)}")
    if min_cycles < 0:
        raise PartitionError(f"min_cycles={min_cycles} must be >= 0")
    cfg = config or HardwareConfig()
    report = PartitionReport(target, cfg.to_dict())
    if target == "cpu":
        for n in graph.nodes:
            report.nodes.append(NodePlacement(n.name, n.op, _main_dtype(n), "cpu", None,
                                              "target", "compiled for the CPU "
                                              "(--target cpu)", node_macs(n)))
        nodes = [n.replace(target="cpu") for n in graph.nodes]
        return Partition(graph.with_nodes(nodes), report, [])

    decisions: dict[Node, Support] = {n: vdla_support(graph, n, cfg) for n in graph.nodes}
    candidates = merge_regions(graph, [n for n, d in decisions.items() if d.ok])
    regions: list[list[Node]] = []
    for nodes in candidates:
        macs = sum(decisions[n].macs for n in nodes)
        cycles = macs // cfg.macs_per_cycle
        if cycles < min_cycles or macs == 0:
            names = ", ".join(n.name for n in nodes[:4]) + (", ..." if len(nodes) > 4 else "")
            why = (f"too small to be worth offloading: its region ({names}) does {macs:,} "
                   f"MACs = {cycles:,} GEMM cycles at {cfg.macs_per_cycle} MACs/cycle "
                   f"(< min_cycles {min_cycles})" if macs else
                   f"too small to be worth offloading: its region ({names}) has no matrix "
                   f"work, only element-wise work")
            for n in nodes:
                decisions[n] = Support(False, "small", why, decisions[n].macs)
            continue
        regions.append(nodes)
    region_of = {n: k for k, nodes in enumerate(regions) for n in nodes}
    for n in graph.nodes:
        d = decisions[n]
        k = region_of.get(n)
        report.nodes.append(NodePlacement(n.name, n.op, _main_dtype(n),
                                          "vdla" if k is not None else "cpu", k,
                                          d.category if k is None else "offloaded",
                                          d.detail if k is None else "", node_macs(n)))
    parted, infos = cut(graph, regions)
    report.regions = infos
    return Partition(parted, report, regions)


# ---------------------------------------------------------------------- cutting
def _fresh(base: str, taken: set[str]) -> str:
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def cut(graph: Graph, regions: list[list[Node]]) -> tuple[Graph, list[RegionInfo]]:
    """Replace each (convex) region by a ``Region`` node; other nodes get target "cpu"."""
    region_of = {n: k for k, nodes in enumerate(regions) for n in nodes}
    node_names = {n.name for n in graph.nodes}
    units: list[Node] = []            # the top-level nodes, in the order built below
    unit_of: dict[Node, int] = {}
    infos: list[RegionInfo] = []
    for k, nodes in enumerate(regions):
        if not is_convex(graph, nodes):
            raise PartitionError(f"region {k} ({', '.join(n.name for n in nodes)}) is not "
                                 f"convex (a partitioner bug)")
        inside = {v.name for n in nodes for v in n.outputs}
        ins: dict[str, Value] = {}
        consts: dict[str, object] = {}
        for n in nodes:
            for v in n.inputs:
                if v is None or v.name in inside:
                    continue
                if v.name in graph.constants:
                    consts[v.name] = graph.constants[v.name]
                else:
                    ins.setdefault(v.name, v)
        members = set(nodes)
        outs = [v for n in nodes for v in n.outputs
                if graph.is_output(v.name)
                or any(u not in members for u in graph.consumers.get(v.name, ()))]
        name = _fresh(f"vdla_region_{k}", node_names)
        body = Graph(f"region{k}", tuple(ins.values()), tuple(outs),
                     tuple(n.replace(target="vdla") for n in nodes), consts)
        verify(body, f"body of region {k}")
        units.append(Node(REGION_OP, name, tuple(ins.values()), tuple(outs), {"body": body},
                          target="vdla"))
        infos.append(RegionInfo(k, name, [n.name for n in nodes],
                                sum(node_macs(n) for n in nodes), list(ins), [v.name
                                                                              for v in outs]))
    for n in graph.nodes:
        if n in region_of:
            unit_of[n] = region_of[n]
        else:
            unit_of[n] = len(units)
            units.append(n.replace(target="cpu"))
    order = _unit_order(graph, units, unit_of)
    top = [units[u] for u in order]
    used = {v.name for n in top for v in n.inputs if v is not None}
    used |= {v.name for v in graph.outputs}
    consts = {k: a for k, a in graph.constants.items() if k in used}
    parted = Graph(graph.name, graph.inputs, graph.outputs, tuple(top), consts)
    verify(parted, "partitioned graph")
    return parted, infos


def _unit_order(graph: Graph, units: list[Node], unit_of: dict[Node, int]) -> list[int]:
    """A topological order of the contracted graph, keeping the original order where it
    can (each unit ranked by its first node)."""
    index = {n: i for i, n in enumerate(graph.nodes)}
    first = [len(graph.nodes)] * len(units)
    deps: list[set[int]] = [set() for _ in units]
    for n in graph.nodes:
        first[unit_of[n]] = min(first[unit_of[n]], index[n])
        for v in n.inputs:
            p = graph.producers.get(v.name) if v is not None else None
            if p is not None and unit_of[p] != unit_of[n]:
                deps[unit_of[n]].add(unit_of[p])
    users: list[list[int]] = [[] for _ in units]
    for u, ds in enumerate(deps):
        for d in ds:
            users[d].append(u)
    waiting = [len(ds) for ds in deps]
    ready = [(first[u], u) for u in range(len(units)) if not waiting[u]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, u = heapq.heappop(ready)
        order.append(u)
        for w in users[u]:
            waiting[w] -= 1
            if not waiting[w]:
                heapq.heappush(ready, (first[w], w))
    if len(order) != len(units):
        raise PartitionError("the partitioned graph has a cycle (a region is not convex)")
    return order


__all__ = ["DEFAULT_MIN_CYCLES", "Partition", "TARGETS", "cut", "partition"]
