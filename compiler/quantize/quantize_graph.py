"""The quantization pass: a calibrated float graph -> int8 accelerator operators.

Before (after ``optimize(fuse=False)``)::

    %c = Conv(%x, %w, %b) {...};  %r = Relu(%c)
    %c2 = Conv(%r, %w2, %b2);     %a = Add(%c2, %r);  %r2 = Relu(%a)
    %p = MaxPool(%r2);  %f = Flatten(%p);  %y = Gemm(%f, %fw, %fb) {transB=1}

After::

    %xq = Quantize(%x) {scale=s_x}
    %rq = QConv(%xq, %wq, %m, %bq) {shift=k, relu=1}        # %bq: the bias (see below)
    %c2q = QConv(%rq, %w2q, %m2, %b2q) {shift=k2}
    %r2q = QAdd(%c2q, %rq) {relu=1}
    %pq = MaxPool(%r2q);  %fq = Flatten(%pq)
    %yq = QDense(%fq, %fwq, %fm) {shift=k3}
    %y = Add(Dequantize(%yq) {scale=s_y}, %fb)                # float bias on the CPU

Rules, node by node in order:

* Conv (constant weights) [+ Relu as its only user] -> QConv with per-channel weights.
* Gemm (alpha=1, transA=0, constant B) / MatMul (2-d, constant B) -> QDense; a Relu is fused
  only without a bias. QDense has no bias operand, so a bias stays a float Add after the
  Dequantize (on the CPU; fine for the classifier, which leaves int8 anyway).
* Add of two same-shape tensors [+ Relu as its only user] -> QAdd.
* Relu, MaxPool, Flatten, Reshape of an int8 tensor stay themselves on int8 (exact).
* Anything else runs in float on a Dequantize of its inputs; int8 operands come from a Quantize.

Convolution bias: QConv cannot add a value to the accumulator, but it adds its ``residual``
operand after requantization, before the ReLU and the saturation. The bias enters as a constant
int8 residual holding ``round(b[o] / s_out)`` broadcast over the output (exactly
``relu(conv + b)`` up to the 1/2-LSB rounding of the bias; QConv's semantics are not changed).
A convolution whose result is also added to a residual is therefore a QConv followed by QAdd.

Scales: QAdd, Relu, MaxPool, Flatten and Reshape do not rescale, so their int8 operands and
results share one scale: values joined by them form a class (union-find) whose scale is the
largest calibrated max-abs of its members / 127. A QConv/QDense result takes its class's scale
through its requantization multipliers.
"""

from __future__ import annotations

import numpy as np

from ..graph.builder import GraphBuilder
from ..graph.ir import Graph, Node, Value
from .errors import QuantizeError
from .scheme import quantize_weight, requant_params, tensor_scale

PASSTHROUGH = ("Relu", "MaxPool", "Flatten", "Reshape")


class _Classes:
    """Union-find over value names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, *names: str) -> None:
        roots = [self.find(n) for n in names]
        for r in roots[1:]:
            self.parent[r] = roots[0]


def _single_relu(graph: Graph, v: Value) -> Node | None:
    users = graph.consumers.get(v.name, ())
    if len(users) == 1 and users[0].op == "Relu" and not graph.is_output(v.name):
        return users[0]
    return None


def _dense_weight(graph: Graph, node: Node) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(W as (O, C) float, bias (O,) or None) of a Gemm/MatMul with constant weights."""
    x = node.inputs[0]
    b = graph.const(node.inputs[1])
    if b is None or x.ndim != 2 or b.ndim != 2 or x.dtype != "float32":
        return None
    if node.op == "MatMul":
        return b.T, None
    a = node.attrs
    if a["alpha"] != 1.0 or a["transA"]:
        return None
    w = b if a["transB"] else b.T
    bias = None
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        c = graph.const(node.inputs[2])
        if c is None or c.size not in (1, w.shape[0]) or (c.ndim == 2 and c.shape[0] != 1):
            return None
        bias = np.broadcast_to(c.reshape(-1) * a["beta"], (w.shape[0],)).astype(np.float32)
    return w, bias


def _plan(graph: Graph) -> tuple[dict[str, tuple], set[str]]:
    """{node name: (kind, info)} for the nodes to quantize, and the fused-away Relu names."""
    plan: dict[str, tuple] = {}
    fused: set[str] = set()
    int8: set[str] = set()          # float values that will exist as int8
    for n in graph.nodes:
        if n.name in fused:
            continue
        out = n.outputs[0]
        if n.op == "Conv" and out.dtype == "float32" and out.ndim == 4 \
                and graph.const(n.inputs[1]) is not None \
                and (len(n.inputs) < 3 or n.inputs[2] is None
                     or graph.const(n.inputs[2]) is not None):
            relu = _single_relu(graph, out)
            plan[n.name] = ("conv", relu)
        elif n.op in ("Gemm", "MatMul") and _dense_weight(graph, n) is not None:
            w, bias = _dense_weight(graph, n)
            relu = _single_relu(graph, out) if bias is None else None
            plan[n.name] = ("dense", relu)
        elif n.op == "Add" and out.dtype == "float32" and len(n.inputs) == 2 \
                and all(v is not None and graph.const(v) is None and v.shape == out.shape
                        for v in n.inputs):
            plan[n.name] = ("add", _single_relu(graph, out))
        elif n.op in PASSTHROUGH and n.inputs[0].name in int8 and out.dtype == "float32":
            plan[n.name] = ("pass", None)
        else:
            continue
        kind, relu = plan[n.name]
        if relu is not None:
            fused.add(relu.name)
        final = relu.outputs[0] if relu is not None else out
        if kind == "dense" and _dense_weight(graph, n)[1] is not None:
            continue                 # the result is float (bias added after Dequantize)
        int8.add(final.name)
    return plan, fused


def quantize_graph(graph: Graph, ranges: dict[str, float]) -> Graph:
    """Rewrite ``graph`` (plain layout, unfused) to int8 operators using calibrated
    ``ranges`` ({value name: max-abs}, from ``calibrate``)."""
    if any(v.layout for n in graph.nodes for v in n.outputs):
        raise QuantizeError("quantize the plain-layout graph (before the layout pass)")
    plan, fused = _plan(graph)

    # --- scale classes
    classes = _Classes()
    out_of: dict[str, str] = {}      # node name -> name of the float value its int8 result
    for n in graph.nodes:            # stands for
        if n.name not in plan:
            continue
        kind, relu = plan[n.name]
        final = (relu or n).outputs[0].name
        out_of[n.name] = final
        if kind == "add":
            classes.union(final, n.inputs[0].name, n.inputs[1].name)
        elif kind == "pass":
            classes.union(final, n.inputs[0].name)
    class_max: dict[str, float] = {}
    names = {v.name for n in graph.nodes for v in n.outputs} | {v.name for v in graph.inputs}
    for name in names:
        r = classes.find(name)
        class_max[r] = max(class_max.get(r, 0.0), ranges.get(name, 0.0))

    def scale(name: str) -> float:
        return tensor_scale(class_max.get(classes.find(name), 0.0))

    # --- emit
    b = GraphBuilder(graph.name)
    fmap: dict[str, Value] = {}
    qmap: dict[str, Value] = {}
    for v in graph.inputs:
        fmap[v.name] = b.input(v.name, v.shape, v.dtype)

    def fval(v: Value) -> Value:
        if v.name in fmap:
            return fmap[v.name]
        if v.name in graph.constants:
            fmap[v.name] = b.constant(graph.constants[v.name], v.name)
        elif v.name in qmap:
            name = v.name if not b.is_defined(v.name) else None
            fmap[v.name] = b.node("Dequantize", [qmap[v.name]], {"scale": scale(v.name)},
                                  name=f"{v.name}_dequantize",
                                  outputs=[name] if name else None)[0]
        else:
            raise QuantizeError(f"value '{v.name}' is used before it is defined")
        return fmap[v.name]

    def qval(v: Value) -> Value:
        if v.name not in qmap:
            qmap[v.name] = b.node("Quantize", [fval(v)], {"scale": scale(v.name)},
                                  name=f"{v.name}_quantize", outputs=[b.fresh(f"{v.name}_q")])[0]
        return qmap[v.name]

    def qname(final: str) -> list[str]:
        return [b.fresh(f"{final}_q")]

    for n in graph.nodes:
        if n.name in fused:
            continue
        if n.name not in plan:
            outs = b.node(n.op, [None if v is None else fval(v) for v in n.inputs],
                          n.attrs, name=n.name, outputs=[v.name for v in n.outputs])
            for v, o in zip(n.outputs, outs):
                fmap[v.name] = o
            continue
        kind, relu = plan[n.name]
        final = out_of[n.name]
        if kind == "pass":
            qmap[final] = b.node(n.op, [qval(n.inputs[0])] + [fval(v) for v in n.inputs[1:]
                                                             if v is not None],
                                 n.attrs, name=n.name, outputs=qname(final))[0]
        elif kind == "add":
            qmap[final] = b.node("QAdd", [qval(n.inputs[0]), qval(n.inputs[1])],
                                 {"relu": int(relu is not None)}, name=n.name,
                                 outputs=qname(final))[0]
        elif kind == "conv":
            x = n.inputs[0]
            wq, sw = quantize_weight(graph.const(n.inputs[1]))
            s_out = scale(final)
            shift, m = requant_params(scale(x.name) * sw / s_out)
            ins = [qval(x), b.constant(wq, f"{n.inputs[1].name}_q")]
            ins.append(None if m is None else b.constant(m, f"{n.name}_multiplier"))
            attrs = {k: n.attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations",
                                               "group")}
            bias = graph.const(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] is not None \
                else None
            bq = None if bias is None else \
                np.clip(np.rint(bias.astype(np.float64) / s_out), -128, 127).astype(np.int8)
            if bq is not None and np.any(bq):
                out_shape = n.outputs[0].shape
                ins.append(b.constant(np.ascontiguousarray(np.broadcast_to(
                    bq.reshape(1, -1, 1, 1), out_shape)), f"{n.name}_bias_q"))
            while ins and ins[-1] is None:
                ins.pop()
            qmap[final] = b.node("QConv", ins, {**attrs, "shift": shift,
                                                "relu": int(relu is not None)},
                                 name=n.name, outputs=qname(final))[0]
        elif kind == "dense":
            w, bias = _dense_weight(graph, n)
            x = n.inputs[0]
            wq, sw = quantize_weight(w)
            out = n.outputs[0].name
            # with a bias, calibration saw y + bias: bound the QDense result by both
            s_out = scale(final) if bias is None else \
                tensor_scale(ranges.get(out, 0.0) + float(np.max(np.abs(bias))))
            shift, m = requant_params(scale(x.name) * sw / s_out)
            ins = [qval(x), b.constant(wq, f"{n.name}_weight_q")]
            if m is not None:
                ins.append(b.constant(m, f"{n.name}_multiplier"))
            yq = b.node("QDense", ins, {"shift": shift, "relu": int(relu is not None)},
                        name=n.name, outputs=qname(final))[0]
            if bias is None:
                qmap[final] = yq
            else:
                y = b.node("Dequantize", [yq], {"scale": s_out}, name=f"{n.name}_dequantize",
                           outputs=[b.fresh(f"{out}_dq")])[0]
                fmap[out] = b.node("Add", [y, b.constant(bias, f"{n.name}_bias")],
                                   name=f"{n.name}_bias", outputs=[out])[0]
    return b.build([fval(v) for v in graph.outputs])


__all__ = ["quantize_graph"]
