"""The partition report: every node, where it runs and why; as text and as JSON.

Text (``report.format()``)::

    partition for target vdla (config default 1x16x16): 6 nodes; 1 accelerator region
    (4 nodes, 2,359,296 MACs); 2 nodes on the CPU
      node      op       dtype    target  region  why
      conv1     QConv    int8     vdla    0       1,179,648 MACs
      add1      QAdd     int8     vdla    0
      ...
      softmax   Softmax  float32  cpu     -       op: operator Softmax is not supported by
                                                  the accelerator

JSON (``report.to_dict()``): ``{"target", "config", "nodes": [{"node", "op", "dtype",
"target", "region", "category", "reason", "macs", "kernel"}], "regions": [{"id", "node",
"nodes", "macs", "inputs", "outputs"}], "summary": {...}}``. ``category`` is ``offloaded``
for accelerator nodes and otherwise one of ``target`` (compiled for the CPU), ``op``,
``dtype``, ``attribute``, ``constant``, ``shape``, ``small`` (see ``support.py``). ``kernel``
names the CPU implementation once the module is built (``llvm:conv2d``, ``numpy: ...``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CATEGORIES = ("offloaded", "target", "op", "dtype", "attribute", "constant", "shape", "small")


@dataclass
class NodePlacement:
    """Where one node of the optimized graph runs, and why."""

    node: str
    op: str
    dtype: str
    target: str                 # "vdla" or "cpu"
    region: int | None          # accelerator region id
    category: str               # CATEGORIES
    reason: str                 # a sentence ("" for offloaded nodes)
    macs: int = 0
    kernel: str = ""            # CPU implementation (filled in by the module builder)


@dataclass
class RegionInfo:
    id: int
    node: str                   # the Region node's name in the partitioned graph
    nodes: list[str]
    macs: int
    inputs: list[str]
    outputs: list[str]


@dataclass
class PartitionReport:
    target: str
    config: dict[str, Any]
    nodes: list[NodePlacement] = field(default_factory=list)
    regions: list[RegionInfo] = field(default_factory=list)

    # ------------------------------------------------------------------ queries
    def placement(self, node: str) -> NodePlacement:
        for p in self.nodes:
            if p.node == node:
                return p
        raise KeyError(f"no node '{node}' in the partition report")

    def summary(self) -> dict[str, Any]:
        on_vdla = [p for p in self.nodes if p.target == "vdla"]
        why: dict[str, int] = {}
        for p in self.nodes:
            if p.target != "vdla":
                why[p.category] = why.get(p.category, 0) + 1
        return {"nodes": len(self.nodes), "vdla_nodes": len(on_vdla),
                "cpu_nodes": len(self.nodes) - len(on_vdla), "regions": len(self.regions),
                "vdla_macs": sum(p.macs for p in on_vdla),
                "total_macs": sum(p.macs for p in self.nodes), "cpu_reasons": why}

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "config": self.config,
                "nodes": [asdict(p) for p in self.nodes],
                "regions": [asdict(r) for r in self.regions], "summary": self.summary()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PartitionReport:
        return cls(doc["target"], dict(doc.get("config") or {}),
                   [NodePlacement(**p) for p in doc["nodes"]],
                   [RegionInfo(**r) for r in doc["regions"]])

    def format(self, *, max_rows: int | None = None) -> str:
        s = self.summary()
        cfg = self.config.get("NAME", "default") if self.config else "-"
        head = (f"partition for target {self.target} (config {cfg}): {s['nodes']} nodes; "
                f"{s['regions']} accelerator region(s) ({s['vdla_nodes']} nodes, "
                f"{s['vdla_macs']:,} of {s['total_macs']:,} MACs); {s['cpu_nodes']} nodes on "
                f"the CPU")
        if s["cpu_reasons"]:
            head += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(s["cpu_reasons"].items())) \
                + ")"
        rows = [("node", "op", "dtype", "target", "region", "why")]
        shown = self.nodes if max_rows is None else self.nodes[:max_rows]
        for p in shown:
            if p.target == "vdla":
                why = f"{p.macs:,} MACs" if p.macs else ""
            else:
                why = f"{p.category}: {p.reason}" if p.reason else p.category
            if p.kernel:
                why = f"{why} [{p.kernel}]" if why else f"[{p.kernel}]"
            rows.append((p.node, p.op, p.dtype, p.target,
                         "-" if p.region is None else str(p.region), why))
        widths = [min(max(len(r[i]) for r in rows), 28) for i in range(5)]
        lines = [head]
        for r in rows:
            lines.append(("  " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths))
                          + "  " + r[5]).rstrip())
        if max_rows is not None and len(self.nodes) > max_rows:
            lines.append(f"  ... {len(self.nodes) - max_rows} more nodes")
        return "\n".join(lines)


__all__ = ["CATEGORIES", "NodePlacement", "PartitionReport", "RegionInfo"]
