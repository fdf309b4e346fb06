"""The numpy reference executor: runs a graph op by op with each operator's reference
semantics (``compiler.graph.ops``, ONNX semantics).

It is the test oracle of the compiler (imported models against stored outputs, every pass
before against after, every backend against it), not the fast path. Values stored in a packed
layout are unpacked to logical arrays before an operator runs and packed after, so a graph
computes the same logical results whatever layouts the layout pass chose.

Example::

    from compiler.frontend.onnx import from_onnx
    from compiler.graph import reference

    graph = from_onnx("model.onnx")
    outputs = reference.run(graph, {"data": x})      # {output name: array}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .errors import ExecutionError, InputMismatchError
from .ir import Graph, Node, Value, dtype_of
from .layout import pack, unpack
from .ops import get_op, run_compute


def check_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """Match user inputs to graph inputs (by name, or by position for a sequence) and check
    their shapes and dtypes; ``InputMismatchError`` says what is wrong and how to fix it."""
    if not isinstance(inputs, Mapping):
        inputs = list(inputs)
        if len(inputs) != len(graph.inputs):
            raise InputMismatchError(
                f"graph '{graph.name}' takes {len(graph.inputs)} inputs "
                f"({', '.join(v.name for v in graph.inputs)}), got {len(inputs)}")
        inputs = {v.name: a for v, a in zip(graph.inputs, inputs)}
    names = {v.name for v in graph.inputs}
    unknown = sorted(set(inputs) - names)
    if unknown:
        raise InputMismatchError(f"graph '{graph.name}' has no input(s) {unknown}; its inputs "
                                 f"are {sorted(names)}")
    out = {}
    for v in graph.inputs:
        if v.name not in inputs:
            raise InputMismatchError(f"input '{v.name}' ({v.type}) of graph '{graph.name}' "
                                     f"is missing")
        a = np.asarray(inputs[v.name])
        expected = v.type.physical_shape
        if tuple(a.shape) != tuple(expected):
            raise InputMismatchError(
                f"input '{v.name}' has shape {tuple(a.shape)}, but the graph was compiled for "
                f"{tuple(expected)}; pass an array of that shape (or recompile with another "
                f"input shape)")
        if dtype_of(a) != v.dtype:
            raise InputMismatchError(f"input '{v.name}' has dtype {dtype_of(a)}, expected "
                                     f"{v.dtype}; convert it with .astype('{v.dtype}')")
        out[v.name] = a
    return out


def _last_uses(graph: Graph) -> dict[int, list[str]]:
    """Node index -> names of values whose last use is that node (freed after it runs)."""
    last: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            if v is not None:
                last[v.name] = i
    keep = {v.name for v in graph.outputs}
    by_node: dict[int, list[str]] = {}
    for name, i in last.items():
        if name not in keep:
            by_node.setdefault(i, []).append(name)
    return by_node


def run_node(node: Node, arrays: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Run one node on stored (physical) arrays; returns its stored outputs."""
    logical = [None if v is None else unpack(a, v.layout, v.shape)
               for v, a in zip(node.inputs, arrays)]
    try:
        with np.errstate(all="ignore"):
            outs = run_compute(get_op(node.op), node.attrs, logical)
    except (ExecutionError, InputMismatchError):
        raise
    except Exception as e:  # a numpy failure inside an operator: say where
        raise ExecutionError(f"{node.op} node '{node.name}' failed: {type(e).__name__}: {e}"
                             ) from e
    stored = []
    for v, a in zip(node.outputs, outs):
        a = np.asarray(a)
        if tuple(a.shape) != v.shape or dtype_of(a) != v.dtype:
            raise ExecutionError(f"{node.op} node '{node.name}' produced "
                                 f"{dtype_of(a)}{list(a.shape)} for '{v.name}', typed "
                                 f"{v.type} (an operator's reference disagrees with its "
                                 f"type inference)")
        stored.append(pack(a, v.layout) if v.layout else a)
    return stored


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], *,
        observer: Callable[[Node, list[np.ndarray]], None] | None = None
        ) -> dict[str, np.ndarray]:
    """Run ``graph``; returns {output name: array} in the graph's output order.

    ``observer(node, outputs)`` is called after each node (stored arrays), for debugging and
    for comparing intermediate values.
    """
    env: dict[str, np.ndarray] = dict(check_inputs(graph, inputs))
    env.update(graph.constants)
    frees = _last_uses(graph)
    for i, node in enumerate(graph.nodes):
        outs = run_node(node, [None if v is None else env[v.name] for v in node.inputs])
        for v, a in zip(node.outputs, outs):
            env[v.name] = a
        if observer is not None:
            observer(node, outs)
        for name in frees.get(i, ()):
            if name not in graph.constants:
                env.pop(name, None)
    return {v.name: env[v.name] for v in graph.outputs}


def logical_outputs(graph: Graph, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs converted to their logical layout (when a graph output is stored packed)."""
    vals: dict[str, Value] = {v.name: v for v in graph.outputs}
    return {k: unpack(a, vals[k].layout, vals[k].shape) if vals[k].layout else a
            for k, a in outputs.items()}


__all__ = ["run", "run_node", "check_inputs", "logical_outputs"]
