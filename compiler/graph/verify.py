"""Structural verifier of the graph IR, run between passes when debugging.

``verify(graph, where="...")`` raises ``GraphVerifyError`` naming the first problem and the
node it is in. It checks that:

* every value name is defined once (graph inputs, constants, node outputs) and node names are
  unique;
* every node input and graph output is defined before use, and each use carries the type of
  the definition (shape, dtype, layout);
* constants are stored with the dtype and physical shape their type and layout imply;
* every operator is registered, its attributes are canonical (normalizing them again changes
  nothing) and its output types are what inference gives (logical shape and dtype); layouts
  parse and fit their tensor's rank;
* ``target`` is None or a non-empty string.

Enable it between passes with ``optimize(..., verify=True)`` or ``VDLA_VERIFY_IR=1``.
"""

from __future__ import annotations

import numpy as np

from .errors import GraphError, GraphVerifyError
from .ir import Graph, Node, Value, dtype_of
from .layout import Layout, check_layout
from .ops import OpContext, get_op, normalize_attrs


def _fail(where: str, message: str, node: Node | None = None) -> None:
    at = f" in {node.op} node '{node.name}'" if node is not None else ""
    raise GraphVerifyError(f"graph verification failed{where}{at}: {message}")


def _same_attrs(a, b) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y):
            continue
        if x != y:
            return False
    return True


def verify(graph: Graph, where: str = "") -> None:
    """Raise ``GraphVerifyError`` if ``graph`` is structurally broken."""
    where = f" ({where})" if where else ""
    defined: dict[str, Value] = {}

    def define(v: Value, node: Node | None = None) -> None:
        if v.name in defined:
            _fail(where, f"value '{v.name}' is defined twice", node)
        try:
            check_layout(v.layout, v.shape, f"value '{v.name}'")
        except GraphError as e:
            _fail(where, str(e), node)
        defined[v.name] = v

    for v in graph.inputs:
        define(v)
    const_types: dict[str, Value] = {}

    def use(v: Value, node: Node | None) -> None:
        if v.name in graph.constants and v.name not in defined:
            arr = graph.constants[v.name]
            phys = Layout.parse(v.layout).physical_shape(v.shape) if v.layout else v.shape
            if dtype_of(arr) != v.dtype or tuple(arr.shape) != tuple(phys):
                _fail(where, f"constant '{v.name}' is stored as {dtype_of(arr)}{list(arr.shape)}"
                             f" but typed {v.type}", node)
            define(v)
            const_types[v.name] = v
        if v.name not in defined:
            _fail(where, f"value '{v.name}' is used before it is defined", node)
        if defined[v.name] != v:
            _fail(where, f"value '{v.name}' is used as {v.type} but defined as "
                         f"{defined[v.name].type}", node)

    node_names: set[str] = set()
    for node in graph.nodes:
        if node.name in node_names:
            _fail(where, f"node name '{node.name}' is used twice", node)
        node_names.add(node.name)
        if node.target is not None and (not isinstance(node.target, str) or not node.target):
            _fail(where, f"target {node.target!r} must be None or a backend name", node)
        for v in node.inputs:
            if v is not None:
                use(v, node)
        try:
            opdef = get_op(node.op)
            ctx = OpContext(node.op, node.name, dict(node.attrs),
                            [v.type if v is not None else None for v in node.inputs])
            attrs = normalize_attrs(opdef, ctx)
            if len(ctx.inputs) != len(node.inputs):
                _fail(where, "trailing omitted inputs should be dropped", node)
            if not _same_attrs(attrs, node.attrs):
                _fail(where, f"attributes are not canonical: {dict(node.attrs)} normalizes to "
                             f"{attrs}", node)
            types = opdef.infer(ctx)
        except GraphVerifyError:
            raise
        except GraphError as e:
            _fail(where, f"re-inference failed: {e}", node)
        if len(types) != len(node.outputs):
            _fail(where, f"{len(node.outputs)} outputs, inference gives {len(types)}", node)
        for t, v in zip(types, node.outputs):
            if (t.shape, t.dtype) != (v.shape, v.dtype):
                _fail(where, f"output '{v.name}' is typed {v.type} but inference gives "
                             f"{t.dtype}{list(t.shape)}", node)
            if node.op == "LayoutTransform" and v.layout != t.layout:
                _fail(where, f"output layout '{v.layout}' differs from dst_layout "
                             f"'{t.layout}'", node)
            define(v, node)
    for v in graph.outputs:
        use(v, None)
    unused = set(graph.constants) - set(const_types)
    if unused:
        _fail(where, f"constants {sorted(unused)[:5]} are stored but never used")
