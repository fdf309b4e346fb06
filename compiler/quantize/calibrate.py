"""Calibration: run the float graph on user samples with the reference executor and record,
per float tensor, the largest magnitude seen (max-abs).

``samples`` is one array for a single-input graph, shaped like the input or ``(K, *shape[1:])``
with ``K`` a multiple of the input's batch size (run batch by batch), or a mapping from input
name to such arrays (all with the same number of batches).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..graph import reference
from ..graph.ir import Graph, Node
from .errors import QuantizeError


def _batches(graph: Graph, samples) -> list[dict[str, np.ndarray]]:
    if not isinstance(samples, Mapping):
        if len(graph.inputs) != 1:
            raise QuantizeError(
                f"graph '{graph.name}' has {len(graph.inputs)} inputs "
                f"({', '.join(v.name for v in graph.inputs)}); give calibration samples as an "
                f".npz with one array per input name")
        samples = {graph.inputs[0].name: samples}
    unknown = sorted(set(samples) - {v.name for v in graph.inputs})
    if unknown:
        raise QuantizeError(f"calibration samples for unknown input(s) {unknown}; the graph's "
                            f"inputs are {[v.name for v in graph.inputs]}")
    split: dict[str, list[np.ndarray]] = {}
    for v in graph.inputs:
        if v.name not in samples:
            raise QuantizeError(f"no calibration samples for input '{v.name}' ({v.type})")
        a = np.asarray(samples[v.name])
        shape = tuple(v.shape)
        if a.dtype.kind not in "fiu":
            raise QuantizeError(f"calibration samples for '{v.name}' have dtype {a.dtype}; "
                                f"numbers are needed")
        n = shape[0] if shape else 1
        if tuple(a.shape) == shape:
            parts = [a]
        elif (len(shape) >= 1 and a.ndim == len(shape) and tuple(a.shape[1:]) == shape[1:]
              and n > 0 and a.shape[0] % n == 0 and a.shape[0] > 0):
            parts = [a[i:i + n] for i in range(0, a.shape[0], n)]
        else:
            raise QuantizeError(
                f"calibration samples for input '{v.name}' have shape {tuple(a.shape)}; "
                f"expected {shape} or (K, {', '.join(map(str, shape[1:]))}) with K a multiple "
                f"of the batch size {n}")
        split[v.name] = [p.astype(v.dtype) for p in parts]
    counts = {len(p) for p in split.values()}
    if len(counts) != 1:
        raise QuantizeError(f"the inputs' calibration samples hold different numbers of "
                            f"batches: { {k: len(p) for k, p in split.items()} }")
    return [{k: p[i] for k, p in split.items()} for i in range(counts.pop())]


def calibrate(graph: Graph, samples) -> dict[str, float]:
    """{value name: max |x| over the samples} for every float input and node output."""
    ranges: dict[str, float] = {}

    def note(name: str, a: np.ndarray) -> None:
        if a.dtype.kind == "f" and a.size:
            ranges[name] = max(ranges.get(name, 0.0), float(np.max(np.abs(a))))

    def observe(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            note(v.name, a)

    for batch in _batches(graph, samples):
        for k, a in batch.items():
            note(k, a)
        reference.run(graph, batch, observer=observe)
    return ranges


__all__ = ["calibrate"]
