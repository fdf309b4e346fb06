"""Readable text form of a graph (``str(graph)`` / ``print_graph``).

Example::

    graph "tiny" (%x: float32[1,3,8,8]) -> (%y: float32[1,4,8,8]) {
      const %w: float32[4,3,3,3]
      const %b: float32[4] = [0.1, 0.2, 0.3, 0.4]
      %y: float32[1,4,8,8] = FusedConv(%x, %w, %b) {dilations=[1, 1], epilogue=[Relu],
        group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]} @vdla  # conv1
    }

Values are ``%name: dtype[shape]`` (``{layout}`` appended when packed); omitted optional inputs
print as ``_``; ``@target`` shows a partitioner's choice; the comment is the node's source
name. Constants with at most ``inline`` elements show their values.
"""

from __future__ import annotations

import re

import numpy as np

from .ir import Graph, Node, Value, format_attr

_PLAIN = re.compile(r"^[A-Za-z0-9_.:/\-]+$")


def _ref(v: Value | None) -> str:
    if v is None:
        return "_"
    return f"%{v.name}" if _PLAIN.match(v.name) else f'%"{v.name}"'


def _decl(v: Value) -> str:
    return f"{_ref(v)}: {v.type}"


def _attrs(node: Node, indent: str, inline: int) -> tuple[list[str], list[str]]:
    parts, nested = [], []
    for k in sorted(node.attrs):
        v = node.attrs[k]
        if isinstance(v, Graph):
            nested.append((k, v))
            parts.append(f"{k}=<graph {v.name}>")
        else:
            parts.append(f"{k}={format_attr(v)}")
    lines = []
    for k, g in nested:
        body = print_graph(g, inline=inline).splitlines()
        lines += [f"{indent}  {k} = {body[0]}"] + [f"{indent}  {line}" for line in body[1:]]
    return (["{" + ", ".join(parts) + "}"] if parts else []), lines


def _array_text(a: np.ndarray) -> str:
    flat = a.reshape(-1).tolist()
    return "[" + ", ".join(repr(x) if isinstance(x, float) else str(x) for x in flat) + "]"


def print_graph(graph: Graph, *, inline: int = 8) -> str:
    """The graph as text; constants of at most ``inline`` elements show their values."""
    ins = ", ".join(_decl(v) for v in graph.inputs)
    outs = ", ".join(_decl(v) for v in graph.outputs)
    lines = [f'graph "{graph.name}" ({ins}) -> ({outs}) {{']
    seen = set()
    const_vals = [v for n in graph.nodes for v in n.inputs if v is not None] + \
        list(graph.outputs)
    for v in const_vals:
        if v.name in graph.constants and v.name not in seen:
            seen.add(v.name)
            a = graph.constants[v.name]
            text = f"  const {_decl(v)}"
            if a.size <= inline:
                text += f" = {_array_text(a)}"
            lines.append(text)
    for n in graph.nodes:
        lhs = ", ".join(_decl(o) for o in n.outputs)
        args = ", ".join(_ref(v) for v in n.inputs)
        attr_part, nested = _attrs(n, "  ", inline)
        text = f"  {lhs} = {n.op}({args})"
        if attr_part:
            text += " " + attr_part[0]
        if n.target:
            text += f" @{n.target}"
        text += f"  # {n.name}"
        lines.append(text)
        lines.extend(nested)
    lines.append("}")
    return "\n".join(lines)
