"""Graphs as JSON (no pickle): the ``graph`` entry of a compiled module's manifest.

Grammar (JSON)::

    graph     {"name": str, "inputs": [value], "outputs": [str], "constants": {name: const},
               "nodes": [node]}
    value     {"name": str, "shape": [int], "dtype": str, "layout": str}
    const     {"shape": [int], "dtype": str, "layout": str, "array": ref}
                                    ref: where the array is stored (a module entry name)
    node      {"op": str, "name": str, "inputs": [str | null], "outputs": [value],
               "attrs": {name: attr}, "target": str | null}
    attr      int | bool | str | null | [attr]                 (lists are tuples)
              | {"$float": "nan" | "inf" | "-inf"} | float
              | {"$epilogue": {"op": str, "attrs": {name: attr}, "operand": int | null}}
              | {"$graph": graph}                              (a Region's body)

Node inputs and graph outputs refer to values by name; a name must be defined before use (a
graph input, a constant, or an earlier node's output), which ``graph_from_json`` checks. Arrays
are not part of the JSON: ``store(hint, array) -> ref`` saves one and ``load(ref)`` reads it
back (the module stores them as ``.npy`` entries).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from compiler.graph.ir import EpilogueOp, Graph, Node, TensorType, Value

from .errors import ModuleFormatError


# ---------------------------------------------------------------------- encode
def _value(v: Value) -> dict[str, Any]:
    return {"name": v.name, "shape": list(v.shape), "dtype": v.dtype, "layout": v.layout}


def encode_attr(v: Any, store: Callable[[str, np.ndarray], str]) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else {"$float": repr(f)}
    if isinstance(v, (tuple, list)):
        return [encode_attr(x, store) for x in v]
    if isinstance(v, EpilogueOp):
        return {"$epilogue": {"op": v.op, "attrs": {k: encode_attr(x, store)
                                                    for k, x in v.attrs.items()},
                              "operand": v.operand}}
    if isinstance(v, Graph):
        return {"$graph": graph_to_json(v, store)}
    raise TypeError(f"attribute value {v!r} of type {type(v).__name__} cannot be stored")


def graph_to_json(graph: Graph, store: Callable[[str, np.ndarray], str]) -> dict[str, Any]:
    """The JSON form of ``graph``; ``store`` saves each constant array and names it."""
    consts: dict[str, Any] = {}
    for n in graph.nodes:
        for v in n.inputs:
            if v is not None and v.name in graph.constants and v.name not in consts:
                consts[v.name] = {**_value(v), "array": store(v.name, graph.constants[v.name])}
    for v in graph.outputs:
        if v.name in graph.constants and v.name not in consts:
            consts[v.name] = {**_value(v), "array": store(v.name, graph.constants[v.name])}
    for c in consts.values():
        del c["name"]
    nodes = []
    for n in graph.nodes:
        nodes.append({"op": n.op, "name": n.name,
                      "inputs": [None if v is None else v.name for v in n.inputs],
                      "outputs": [_value(v) for v in n.outputs],
                      "attrs": {k: encode_attr(a, store) for k, a in n.attrs.items()},
                      "target": n.target})
    return {"name": graph.name, "inputs": [_value(v) for v in graph.inputs],
            "outputs": [v.name for v in graph.outputs], "constants": consts, "nodes": nodes}


# ---------------------------------------------------------------------- decode
def _bad(what: str) -> ModuleFormatError:
    return ModuleFormatError(f"the module's graph is corrupted: {what}")


def _decode_value(doc: Any, name: str | None = None) -> Value:
    try:
        return Value(str(name if name is not None else doc["name"]),
                     TensorType(tuple(int(d) for d in doc["shape"]), str(doc["dtype"]),
                                str(doc.get("layout", ""))))
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(f"bad value entry {doc!r} ({e})") from None


def decode_attr(doc: Any, load: Callable[[str], np.ndarray]) -> Any:
    if isinstance(doc, list):
        return tuple(decode_attr(x, load) for x in doc)
    if isinstance(doc, dict):
        if "$float" in doc:
            return float(doc["$float"])
        if "$epilogue" in doc:
            e = doc["$epilogue"]
            return EpilogueOp(str(e["op"]), {k: decode_attr(x, load)
                                             for k, x in e["attrs"].items()}, e["operand"])
        if "$graph" in doc:
            return graph_from_json(doc["$graph"], load)
        raise _bad(f"unknown attribute encoding {sorted(doc)}")
    return doc


def graph_from_json(doc: dict[str, Any], load: Callable[[str], np.ndarray]) -> Graph:
    """Rebuild a graph from ``graph_to_json``'s form; ``load(ref)`` reads a constant."""
    try:
        inputs = [_decode_value(v) for v in doc["inputs"]]
        defined: dict[str, Value] = {v.name: v for v in inputs}
        constants: dict[str, np.ndarray] = {}
        for name, c in doc["constants"].items():
            v = _decode_value(c, name)
            arr = load(c["array"])
            if tuple(arr.shape) != v.type.physical_shape or arr.dtype.name != v.dtype:
                raise _bad(f"constant '{name}' is stored as {arr.dtype.name}"
                           f"{list(arr.shape)} but typed {v.type}")
            defined[name] = v
            constants[name] = arr
        nodes = []
        for nd in doc["nodes"]:
            ins = []
            for ref in nd["inputs"]:
                if ref is not None and ref not in defined:
                    raise _bad(f"node '{nd['name']}' uses value '{ref}', which is not defined "
                               f"before it")
                ins.append(None if ref is None else defined[ref])
            outs = [_decode_value(v) for v in nd["outputs"]]
            for v in outs:
                defined[v.name] = v
            attrs = {k: decode_attr(a, load) for k, a in nd["attrs"].items()}
            nodes.append(Node(str(nd["op"]), str(nd["name"]), tuple(ins), tuple(outs), attrs,
                              nd.get("target")))
        outputs = []
        for ref in doc["outputs"]:
            if ref not in defined:
                raise _bad(f"graph output '{ref}' is not defined")
            outputs.append(defined[ref])
        return Graph(str(doc["name"]), tuple(inputs), tuple(outputs), tuple(nodes), constants)
    except ModuleFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(f"{type(e).__name__}: {e}") from None


__all__ = ["decode_attr", "encode_attr", "graph_from_json", "graph_to_json"]
