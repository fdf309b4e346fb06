"""Batch-norm folding: a convolution followed by per-channel affine operators (inference
BatchNormalization, Mul / Add / Sub by a per-channel constant) becomes one convolution with
new weights and bias.

Before::

    %c = Conv(%x, %w) {...}
    %n = BatchNormalization(%c, %gamma, %beta, %mean, %var) {epsilon=1e-05}
    %m = Mul(%n, %s)                  # %s: float32[64,1,1], a constant
    %y = Add(%m, %t)                  # %t: float32[64,1,1], a constant

After::

    %y = Conv(%x, %w2, %b2) {...}     # w2 = w * k[:, None, None, None], b2 = b * k + shift

A chain of two or more such operators that does not follow a convolution (a pre-activation
batch norm after a Concat, say) becomes one ``BatchNormalization(%x, k, d, 0, 1)`` with
``epsilon=0``, i.e. one per-channel ``x * k + d``.

For an output channel ``o``, BatchNormalization is ``y = x * k + d`` with
``k = gamma / sqrt(var + eps)``, ``d = beta - mean * k``; Mul/Add/Sub by a constant that only
varies along the channel axis are affine the same way. The chain is folded while each value
has a single consumer (so nothing else sees the intermediate) and is not a graph output; the
convolution's weights, bias and every affine parameter must be constants. Folding is done in
float64 and rounded once.
"""

from __future__ import annotations

import numpy as np

from ..builder import Rewrite
from ..ir import Graph, Node, Value


def _per_channel(graph: Graph, v: Value | None, out: Value) -> np.ndarray | None:
    """The per-output-channel vector of a constant operand, or None if it is not one."""
    arr = graph.const(v)
    if arr is None or v.layout or arr.dtype != np.dtype(out.dtype):
        return None
    if arr.ndim > out.ndim:
        return None
    shape = (1,) * (out.ndim - arr.ndim) + arr.shape
    channels = out.shape[1]
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(arr.reshape(-1).astype(np.float64), (channels,)) if arr.size \
        else None


def _affine(graph: Graph, node: Node, x: Value) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) per channel if ``node`` applied to ``x`` is ``x * scale + shift``."""
    out = node.outputs[0]
    if out.shape != x.shape or out.layout or x.layout:
        return None
    c = x.shape[1]
    if node.op == "BatchNormalization" and node.inputs[0] == x:
        params = [graph.const(v) for v in node.inputs[1:]]
        if any(p is None for p in params):
            return None
        gamma, beta, mean, var = (p.astype(np.float64) for p in params)
        k = gamma / np.sqrt(var + node.attrs["epsilon"])
        return k, beta - mean * k
    if node.op in ("Mul", "Add", "Sub", "Sum") and len(node.inputs) == 2:
        a, b = node.inputs
        if node.op == "Sub" and a != x:
            return None
        other = b if a == x else a
        if other == x:
            return None
        vec = _per_channel(graph, other, out)
        if vec is None:
            return None
        if node.op == "Mul":
            return vec, np.zeros(c)
        return np.ones(c), (-vec if node.op == "Sub" else vec)
    return None


def _chain(graph: Graph, start: Value, first: tuple | None = None
           ) -> tuple[list[Node], np.ndarray, np.ndarray]:
    """The foldable affine nodes after value ``start`` and their combined (scale, shift);
    ``first``: an already matched (node, (scale, shift)) that starts the chain."""
    c = start.shape[1]
    scale, shift = np.ones(c), np.zeros(c)
    chain: list[Node] = []
    cur = start
    if first is not None:
        node, (scale, shift) = first
        chain.append(node)
        cur = node.outputs[0]
    while not graph.is_output(cur.name):
        users = graph.consumers.get(cur.name, ())
        if len(users) != 1:
            break
        step = _affine(graph, users[0], cur)
        if step is None:
            break
        k, d = step
        scale, shift = scale * k, shift * k + d
        chain.append(users[0])
        cur = users[0].outputs[0]
    return chain, scale, shift


def fold_batchnorm(graph: Graph) -> Graph:
    """Fold BatchNormalization and per-channel Mul/Add/Sub constants into preceding Convs."""

    def visit(rw: Rewrite, node: Node):
        if node.op != "Conv":
            return _standalone(rw, node)
        if node.outputs[0].layout:
            return None
        x, w, b = (list(node.inputs) + [None])[:3]
        w_arr, b_arr = graph.const(w), graph.const(b)
        if w_arr is None or w.layout or (b is not None and (b_arr is None or b.layout)):
            return None
        chain, scale, shift = _chain(graph, node.outputs[0])
        if not chain:
            return None
        dtype = w_arr.dtype
        w2 = (w_arr.astype(np.float64) * scale.reshape((-1,) + (1,) * (w_arr.ndim - 1)))
        b0 = b_arr.astype(np.float64) if b_arr is not None else np.zeros(len(scale))
        b2 = b0 * scale + shift
        last = chain[-1].outputs[0]
        wv = rw.b.constant(w2.astype(dtype), f"{w.name}_folded")
        bv = rw.b.constant(b2.astype(dtype), f"{node.name}_bias_folded")
        (y,) = rw.b.node("Conv", [rw.value(x), wv, bv], node.attrs, name=node.name,
                         outputs=[rw.out_name(last)], target=node.target)
        rw.map(last, y)
        _claim(rw, chain, y)
        return True

    def _standalone(rw: Rewrite, node: Node):
        x = node.inputs[0] if node.inputs else None
        if x is None or x.ndim < 2 or not np.dtype(x.dtype).kind == "f":
            return None
        if node.op in ("Mul", "Add", "Sum") and len(node.inputs) == 2 and \
                graph.const(node.inputs[0]) is not None:
            x = node.inputs[1]
        step = _affine(graph, node, x)
        if step is None:
            return None
        chain, scale, shift = _chain(graph, x, (node, step))
        if len(chain) < 2:
            return None
        c = x.shape[1]
        dtype = np.dtype(x.dtype)
        params = [rw.b.constant(a.astype(dtype), f"{node.name}_{what}") for a, what in
                  ((scale, "scale"), (shift, "shift"), (np.zeros(c), "mean"),
                   (np.ones(c), "var"))]
        last = chain[-1].outputs[0]
        (y,) = rw.b.node("BatchNormalization", [rw.value(x)] + params, {"epsilon": 0.0},
                         name=node.name, outputs=[rw.out_name(last)], target=node.target)
        rw.map(last, y)
        _claim(rw, chain, y)
        return True

    return Rewrite(graph).run(visit)


def _claim(rw: Rewrite, chain: list[Node], y: Value) -> None:
    """Mark the folded nodes done: their outputs are never used again."""
    for n in chain:
        for o in n.outputs:
            rw.env.setdefault(o.name, y)
