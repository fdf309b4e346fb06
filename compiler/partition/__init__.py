"""BYOC-style partitioning: which nodes run on the accelerator, which on the CPU, and why.

Layers::

    support     vdla_support(graph, node, cfg) -> Support: per-node predicate (op, dtype,
                attributes, constants, shapes, the HardwareConfig), with a reason
    regions     merge_regions(graph, nodes): maximal convex regions (no cycle through the
                rest of the graph); is_convex
    partition   partition(graph, target, config, min_cycles): annotate, merge, cost check
                ("too small to be worth offloading"), cut into ``Region`` nodes
    region      the ``Region`` composite operator (a nested ``Graph`` run by one backend)
    report      PartitionReport: every node, its target and reason; text and JSON

Example::

    from compiler.partition import partition

    p = partition(optimized_graph, target="vdla", config=HardwareConfig())
    print(p.report.format())        # where each node runs and why
    print(p.graph)                  # CPU nodes @cpu, Region nodes @vdla with their bodies

The accelerator computes int8 only (``compiler.graph.ops.quantized``: QConv, QDense, QAdd,
and int8 Relu / MaxPool); float32 nodes stay on the CPU with the reason "dtype float32 not
supported by the accelerator (int8 only; quantize first)". The compiled module and the
executor that run a partitioned graph are in ``runtime`` (``runtime.module``).
"""

from . import region  # noqa: F401 - registers the Region operator
from .errors import PartitionError
from .partition import DEFAULT_MIN_CYCLES, TARGETS, Partition, cut, partition
from .region import REGION_OP
from .regions import is_convex, merge_regions
from .report import CATEGORIES, NodePlacement, PartitionReport, RegionInfo
from .support import VDLA_OPS, Support, build_vdla_op, node_macs, vdla_op_args, vdla_support

__all__ = [
    "CATEGORIES", "DEFAULT_MIN_CYCLES", "NodePlacement", "Partition", "PartitionError",
    "PartitionReport", "REGION_OP", "RegionInfo", "Support", "TARGETS", "VDLA_OPS",
    "build_vdla_op", "cut", "is_convex", "merge_regions", "node_macs", "partition",
    "vdla_op_args", "vdla_support",
]
