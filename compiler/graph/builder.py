"""``GraphBuilder``: build a typed graph node by node (normalizing attributes and inferring
types as it goes), and ``Rewrite``: the graph-to-graph rebuild that passes are written with.

Example::

    b = GraphBuilder("mlp")
    x = b.input("x", (1, 784), "float32")
    w = b.constant(np.zeros((784, 10), "float32"), "w")
    (y,) = b.node("MatMul", [x, w], name="fc")
    (z,) = b.node("Relu", [y], name="relu")
    graph = b.build([z])

The builder also tracks *known values*: small tensors computable at build time (constants,
``Shape`` of a static tensor, and small computations on known values). Importers use
``known_value`` to resolve shape parameters such as a Reshape target computed by
Shape -> Gather -> Concat; the nodes computing them stay in the graph until constant folding
and dead-code elimination remove them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import GraphBuildError
from .ir import DTYPES, Graph, Node, TensorType, Value, dtype_of
from .layout import Layout, check_layout, unpack
from .ops import OpContext, get_op, normalize_attrs, run_compute

# known values above this many elements are not computed at build time (they are weights
# or activations, not shape parameters)
KNOWN_VALUE_LIMIT = 1 << 12


class GraphBuilder:
    """Accumulates inputs, constants and nodes; ``build`` returns the immutable ``Graph``."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.nodes: list[Node] = []
        self.constants: dict[str, np.ndarray] = {}
        self._const_values: dict[str, Value] = {}
        self._names: set[str] = set()
        self._node_names: set[str] = set()
        self._known: dict[str, np.ndarray] = {}
        self._counter = 0

    # ------------------------------------------------------------ names
    def fresh(self, base: str) -> str:
        """A value name not used yet, derived from ``base``."""
        base = base or "v"
        if base not in self._names:
            return base
        while True:
            self._counter += 1
            name = f"{base}_{self._counter}"
            if name not in self._names:
                return name

    def _claim(self, name: str) -> str:
        if name in self._names:
            raise GraphBuildError(f"value name '{name}' is defined twice")
        self._names.add(name)
        return name

    def _node_name(self, name: str | None, op: str) -> str:
        base = name or op.lower()
        if base not in self._node_names:
            self._node_names.add(base)
            return base
        i = 1
        while f"{base}_{i}" in self._node_names:
            i += 1
        self._node_names.add(f"{base}_{i}")
        return f"{base}_{i}"

    def is_defined(self, name: str) -> bool:
        return name in self._names

    # ------------------------------------------------------------ leaves
    def input(self, name: str, shape: Sequence[int], dtype: str) -> Value:
        """Declare a graph input (fed at run time)."""
        if dtype not in DTYPES:
            raise GraphBuildError(f"input '{name}': dtype '{dtype}' is not supported; "
                                  f"supported: {', '.join(DTYPES)}")
        if any(int(d) < 0 for d in shape):
            raise GraphBuildError(f"input '{name}': shape {tuple(shape)} has a negative "
                                  f"dimension")
        v = Value(self._claim(name), TensorType(tuple(shape), dtype))
        self.inputs.append(v)
        return v

    def constant(self, array: np.ndarray, name: str | None = None, *, layout: str = "",
                 shape: Sequence[int] | None = None) -> Value:
        """Add a constant. With a packed ``layout``, ``array`` is stored (physical) and
        ``shape`` is its logical shape. A name already taken gets a fresh variant."""
        array = np.asarray(array)
        dtype = dtype_of(array)
        if dtype not in DTYPES:
            raise GraphBuildError(f"constant '{name}': dtype '{dtype}' is not supported")
        if layout:
            if shape is None:
                raise GraphBuildError(f"constant '{name}' in layout '{layout}' needs its "
                                      f"logical shape")
            check_layout(layout, shape, f"constant '{name}'")
            expected = Layout.parse(layout).physical_shape(shape)
            if tuple(array.shape) != expected:
                raise GraphBuildError(f"constant '{name}': stored shape {array.shape} is not "
                                      f"{expected}, the layout '{layout}' of shape {shape}")
        else:
            shape = array.shape
        v = Value(self._claim(self.fresh(name or "const")), TensorType(shape, dtype, layout))
        self.constants[v.name] = array
        self._const_values[v.name] = v
        return v

    # ------------------------------------------------------------ nodes
    def node(self, op: str, inputs: Sequence[Value | None], attrs: Mapping[str, Any] | None
             = None, *, name: str | None = None, outputs: Sequence[str] | None = None,
             layouts: Sequence[str] | None = None, target: str | None = None
             ) -> tuple[Value, ...]:
        """Add a node; returns its output values (types inferred).

        ``outputs``: names for the outputs (fresh names derived from the node name otherwise);
        ``layouts``: storage layouts of the outputs (default: what the operator infers, i.e.
        plain except for LayoutTransform).
        """
        opdef = get_op(op)
        node_name = self._node_name(name, op)
        for v in inputs:
            if v is not None and v.name not in self._names:
                raise GraphBuildError(f"{op} node '{node_name}': input '{v.name}' is not "
                                      f"defined in this graph")
        ctx = OpContext(op, node_name, dict(attrs or {}), [v.type if v is not None else None
                                                           for v in inputs])
        canonical = normalize_attrs(opdef, ctx)
        inputs = list(inputs)[:len(ctx.inputs)]
        out_types = opdef.infer(ctx)
        if layouts is not None:
            if len(layouts) != len(out_types):
                raise GraphBuildError(f"{op} node '{node_name}': {len(layouts)} layouts for "
                                      f"{len(out_types)} outputs")
            out_types = [t.with_layout(layout) for t, layout in zip(out_types, layouts)]
        for t in out_types:
            check_layout(t.layout, t.shape, f"output of {op} node '{node_name}'")
        if outputs is not None and len(outputs) != len(out_types):
            raise GraphBuildError(f"{op} node '{node_name}': {len(outputs)} output names for "
                                  f"{len(out_types)} outputs")
        names = list(outputs) if outputs is not None else \
            [self.fresh(node_name if len(out_types) == 1 else f"{node_name}:{i}")
             for i in range(len(out_types))]
        outs = tuple(Value(self._claim(n), t) for n, t in zip(names, out_types))
        self.nodes.append(Node(op, node_name, tuple(inputs), outs, canonical, target))
        self._propagate(opdef, canonical, inputs, outs)
        return outs

    def op(self, op: str, *inputs: Value | None, name: str | None = None, **attrs: Any) -> Value:
        """Shorthand for a single-output node: ``b.op("Relu", x)``."""
        return self.node(op, inputs, attrs, name=name)[0]

    # ------------------------------------------------------------ known values
    def known_value(self, value: Value | None) -> np.ndarray | None:
        """The logical value of ``value`` if it is known at build time, else None."""
        if value is None:
            return None
        if value.name in self._known:
            return self._known[value.name]
        if value.name in self.constants:
            return unpack(self.constants[value.name], value.layout, value.shape)
        return None

    def _propagate(self, opdef, attrs, inputs, outs) -> None:
        if any(o.layout for o in outs):
            return
        if opdef.value_from_types is not None:
            vals = opdef.value_from_types(attrs, [v.type for v in inputs if v is not None])
        elif (sum(o.type.size for o in outs) <= KNOWN_VALUE_LIMIT
              and all(v is None or self.known_value(v) is not None for v in inputs)):
            vals = run_compute(opdef, attrs, [self.known_value(v) for v in inputs])
        else:
            return
        for o, val in zip(outs, vals):
            self._known[o.name] = np.asarray(val)

    # ------------------------------------------------------------ result
    def build(self, outputs: Sequence[Value]) -> Graph:
        """The graph with these outputs; constants nobody uses are dropped."""
        for v in outputs:
            if v.name not in self._names:
                raise GraphBuildError(f"graph output '{v.name}' is not defined")
        used = {v.name for n in self.nodes for v in n.inputs if v is not None}
        used |= {v.name for v in outputs}
        consts = {k: a for k, a in self.constants.items() if k in used}
        return Graph(self.name, tuple(self.inputs), tuple(outputs), tuple(self.nodes), consts)


# ---------------------------------------------------------------------- rewriting
class Rewrite:
    """One graph-to-graph rebuild: old values map to new ones (``env``).

    ``Rewrite(graph).run(fn)`` visits the old nodes in order and calls ``fn(rw, node)``; ``fn``
    returns None to copy the node unchanged (re-inferred), or emits replacement nodes with
    ``rw.b`` and maps the old outputs with ``rw.map``. A node whose outputs were all mapped
    by an earlier call (look-ahead fusion) is skipped. Graph outputs keep their names.
    """

    def __init__(self, graph: Graph) -> None:
        self.old = graph
        self.b = GraphBuilder(graph.name)
        self.env: dict[str, Value] = {}
        self.rename: dict[str, str] = {}     # old value name -> name its replacement gets
        for v in graph.inputs:
            self.env[v.name] = self.b.input(v.name, v.shape, v.dtype)

    def value(self, old: Value | None) -> Value | None:
        """The new value standing for ``old`` (constants are copied on first use)."""
        if old is None:
            return None
        if old.name in self.env:
            return self.env[old.name]
        if old.name in self.old.constants:
            new = self.b.constant(self.old.constants[old.name], old.name, layout=old.layout,
                                  shape=old.shape)
            self.env[old.name] = new
            return new
        raise GraphBuildError(f"value '{old.name}' is used before it is defined")

    def inputs(self, node: Node) -> list[Value | None]:
        return [self.value(v) for v in node.inputs]

    def map(self, old: Value, new: Value) -> None:
        self.env[old.name] = new

    def out_name(self, old: Value) -> str:
        """Name for the value replacing ``old``: its own (or the renamed one), if free."""
        name = self.rename.get(old.name, old.name)
        return name if not self.b.is_defined(name) else self.b.fresh(name)

    def copy(self, node: Node, inputs: Sequence[Value | None] | None = None,
             **changes: Any) -> tuple[Value, ...]:
        """Emit ``node`` again (optionally with other inputs / op / attrs / target)."""
        outs = self.b.node(changes.get("op", node.op),
                           self.inputs(node) if inputs is None else inputs,
                           changes.get("attrs", node.attrs), name=changes.get("name", node.name),
                           outputs=[self.out_name(o) for o in node.outputs],
                           layouts=changes.get("layouts", [o.layout for o in node.outputs]),
                           target=changes.get("target", node.target))
        for o, n in zip(node.outputs, outs):
            self.map(o, n)
        return outs

    def constant(self, array: np.ndarray, like: Value, layout: str = "") -> Value:
        """A constant replacing the old value ``like`` (keeps its name when free)."""
        new = self.b.constant(array, self.out_name(like), layout=layout, shape=like.shape)
        self.map(like, new)
        return new

    def run(self, fn: Callable[[Rewrite, Node], Any] | None = None) -> Graph:
        for node in self.old.nodes:
            if all(o.name in self.env for o in node.outputs):
                continue
            if fn is None or fn(self, node) is None:
                if not all(o.name in self.env for o in node.outputs):
                    self.copy(node)
        outputs = []
        for old in self.old.outputs:
            new = self.value(old)
            if new.name != old.name and not self.b.is_defined(old.name):
                # keep the graph's output names stable for callers
                new = self.b.node("Identity", [new], name=f"{old.name}_out",
                                  outputs=[old.name])[0]
            outputs.append(new)
        return self.b.build(outputs)


def rebuild(graph: Graph, fn: Callable[[Rewrite, Node], Any] | None = None) -> Graph:
    """``Rewrite(graph).run(fn)``; with no ``fn``, a re-inferred copy."""
    return Rewrite(graph).run(fn)
