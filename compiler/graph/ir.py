"""The graph IR: a typed dataflow graph of tensor operators, the input of partitioning/lowering.

Nodes are small immutable dataclasses; values are named (SSA: each name is defined once, by a
graph input, a constant or one node output). Grammar::

    dtype      ::= "bool" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16"
                 | "uint32" | "uint64" | "float16" | "float32" | "float64"   (numpy names)
    layout     ::= ""                        plain: the logical (ONNX) dimension order
                 | <packed layout>           e.g. "NCHW1n16c", "OIHW16o16i" (compiler.graph.layout)

    TensorType(shape, dtype, layout)         shape: tuple of ints, the LOGICAL shape (always
                                             static); the stored (physical) shape follows from
                                             the layout: TensorType.physical_shape
    Value(name, type)                        a named tensor
    Node(op, name, inputs, outputs, attrs, target)
                                             op: operator name (compiler.graph.ops registry:
                                             ONNX names such as "Conv", plus "FusedConv",
                                             "FusedGemm", "FusedMatMul", "LayoutTransform");
                                             name: the node's name in the source model;
                                             inputs: tuple of Value | None (None: an omitted
                                             optional input); outputs: tuple of Value;
                                             attrs: canonical attributes (read-only mapping);
                                             target: None, or the backend a partitioner chose
                                             ("cpu", "vdla", ...)
    EpilogueOp(op, attrs, operand)           one elementwise step fused after a FusedConv /
                                             FusedGemm / FusedMatMul anchor (attrs["epilogue"])
    Graph(name, inputs, outputs, nodes, constants)
                                             inputs: tuple of Value (fed at run time);
                                             outputs: tuple of Value; nodes: tuple of Node in
                                             topological order; constants: name -> numpy array
                                             (stored in its physical layout)

Attribute values are ints, floats, strings, bools, tuples of those, tuples of ``EpilogueOp``,
or (for a partitioner's composite nodes) a nested ``Graph``. Shape parameters that ONNX passes as
inputs (a Reshape target, Slice bounds, Pad amounts, Resize sizes...) are attributes here: the
graph is static, so they are resolved when the node is built (``GraphBuilder``).

Semantics: every operator follows ONNX semantics on logical shapes (``compiler.graph.ops``
documents each one and its canonical attributes). A value stored in a packed layout holds the
same logical tensor, rearranged; ``LayoutTransform`` is the identity on logical tensors.

Graphs are built with ``GraphBuilder`` (which infers types) and transformed by passes that
build new graphs; ``Graph.with_nodes`` / ``Node.replace`` cover small edits such as a
partitioner setting ``target``, after which ``verify`` checks the result.

For a partitioner and the lowering: ``graph.nodes`` is a topological order;
``graph.producers[name]`` / ``graph.consumers[name]`` give the edges; every node input and
output is a ``Value`` with its static shape, dtype and layout (``Value.type.nbytes`` for sizes);
constant inputs are ``graph.const(value)``; ``compiler.graph.ops.get_op(node.op)`` gives the
operator's definition (``elementwise``, canonical ``attrs``, reference ``compute``). Annotate
with ``graph.with_nodes([n.replace(target=...) for n in graph.nodes])``; a composite node that
holds a region can carry the region as a nested ``Graph`` attribute (the printer shows it),
once its operator is registered with ``compiler.graph.ops.register``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64")
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def is_int(dtype: str) -> bool:
    return dtype in INT_DTYPES


def dtype_of(array: np.ndarray) -> str:
    """The IR dtype name of a numpy array (``"float32"``...)."""
    return np.dtype(array.dtype).name


@dataclass(frozen=True)
class TensorType:
    """A static tensor type: logical shape, element type and storage layout."""

    shape: tuple[int, ...]
    dtype: str
    layout: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of logical elements."""
        return math.prod(self.shape)

    @property
    def physical_shape(self) -> tuple[int, ...]:
        """The shape of the stored array (the logical shape unless the layout is packed)."""
        if not self.layout:
            return self.shape
        from .layout import Layout

        return Layout.parse(self.layout).physical_shape(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.physical_shape) * np.dtype(self.dtype).itemsize

    def with_layout(self, layout: str) -> TensorType:
        return TensorType(self.shape, self.dtype, layout)

    def __str__(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        text = f"{self.dtype}[{dims}]"
        return f"{text}{{{self.layout}}}" if self.layout else text


@dataclass(frozen=True)
class Value:
    """A named tensor: a graph input, a constant or a node output."""

    name: str
    type: TensorType

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def layout(self) -> str:
        return self.type.layout

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    def __str__(self) -> str:
        return f"%{self.name}: {self.type}"


@dataclass(frozen=True)
class EpilogueOp:
    """One elementwise step applied to a fused anchor's result, in order.

    ``op`` is an elementwise operator ("Add", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid",
    "HardSwish"); ``attrs`` its attributes (Clip's bounds are attributes ``min``/``max`` here);
    ``operand`` the index, in the fused node's inputs, of a binary step's other operand
    (``None`` for unary steps). Binary steps are commutative, so the order of operands does
    not matter.
    """

    op: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    operand: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    def __str__(self) -> str:
        parts = [f"%in{self.operand}"] if self.operand is not None else []
        parts += [f"{k}={format_attr(v)}" for k, v in sorted(self.attrs.items())]
        return f"{self.op}({', '.join(parts)})" if parts else self.op


@dataclass(frozen=True, eq=False)
class Node:
    """One operator application. ``eq=False``: nodes are compared by identity."""

    op: str
    name: str
    inputs: tuple[Value | None, ...]
    outputs: tuple[Value, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    target: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    @property
    def output(self) -> Value:
        """The single output (most operators have one)."""
        assert len(self.outputs) == 1, f"{self.op} node '{self.name}' has several outputs"
        return self.outputs[0]

    def replace(self, **changes: Any) -> Node:
        """A copy with some fields changed (``node.replace(target="vdla")``)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        return f"Node({self.op} '{self.name}')"


@dataclass(frozen=True, eq=False)
class Graph:
    """A typed graph; nodes in topological order. Build with ``GraphBuilder``."""

    name: str
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    nodes: tuple[Node, ...]
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "constants", MappingProxyType(dict(self.constants)))

    # ----------------------------------------------------------------- lookups
    @cached_property
    def producers(self) -> Mapping[str, Node]:
        """Value name -> the node that defines it (graph inputs and constants are absent)."""
        return MappingProxyType({v.name: n for n in self.nodes for v in n.outputs})

    @cached_property
    def consumers(self) -> Mapping[str, tuple[Node, ...]]:
        """Value name -> the nodes that use it, in graph order (each node once)."""
        uses: dict[str, list[Node]] = {}
        for n in self.nodes:
            for v in dict.fromkeys(v.name for v in n.inputs if v is not None):
                uses.setdefault(v, []).append(n)
        return MappingProxyType({k: tuple(v) for k, v in uses.items()})

    @cached_property
    def values(self) -> Mapping[str, Value]:
        """Every value by name: inputs, constants (as used by nodes or outputs), node outputs."""
        table: dict[str, Value] = {v.name: v for v in self.inputs}
        for n in self.nodes:
            for v in n.inputs:
                if v is not None and v.name in self.constants:
                    table.setdefault(v.name, v)
            for v in n.outputs:
                table[v.name] = v
        for v in self.outputs:
            table.setdefault(v.name, v)
        return MappingProxyType(table)

    def value(self, name: str) -> Value:
        return self.values[name]

    def const(self, value: Value | str | None) -> np.ndarray | None:
        """The constant array stored under a value (physical layout), or None."""
        if value is None:
            return None
        return self.constants.get(value if isinstance(value, str) else value.name)

    def is_output(self, name: str) -> bool:
        return name in self._output_names

    @cached_property
    def _output_names(self) -> frozenset[str]:
        return frozenset(v.name for v in self.outputs)

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    # ----------------------------------------------------------------- edits
    def with_nodes(self, nodes, *, constants: Mapping[str, np.ndarray] | None = None,
                   outputs=None) -> Graph:
        """The same graph with other nodes (and optionally other constants / outputs)."""
        return Graph(self.name, self.inputs, tuple(outputs) if outputs is not None else
                     self.outputs, tuple(nodes),
                     self.constants if constants is None else constants)

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)

    def __repr__(self) -> str:
        return (f"Graph('{self.name}': {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
                f"{len(self.constants)} constants, {len(self.outputs)} outputs)")


def format_attr(v: Any) -> str:
    """Attribute value as the printer shows it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if isinstance(v, EpilogueOp):
        return str(v)
    return str(v)
