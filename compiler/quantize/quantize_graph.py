"""The quantization pass: a calibrated float graph -> int8 accelerator operators.

Before (after ``optimize(fuse=False)``)::

    %c = Conv(%x, %w, %b) {...};  %r = Relu(%c)
    %c2 = Conv(%r, %w2, %b2);     %a = Add(%c2, %r);  %r2 = Relu(%a)
    %p = GlobalAveragePool(%r2);  %f = Flatten(%p);  %y = Gemm(%f, %fw, %fb) {transB=1}

After::

    %xq = Quantize(%x) {scale=s_x}
    %rq = QConv(%xq, %wq, %m, None, %bq) {shift=k, relu=1}     # bias %bq in the accumulator
    %r2q = QConv(%rq, %w2q, %m2, %rq, %b2q) {shift=k2, relu=1}  # conv + residual add + relu
    %fq = QGlobalAveragePool(%r2q) {shift, multiplier, flatten=1}
    %yq = QDense(%fq, %fwq, %fm, %fbq) {shift=k3}
    %y = Dequantize(%yq) {scale=s_y}

Rules, node by node in order:

* Conv (constant weights and bias) [+ Relu as its only user] -> QConv with per-channel
  weights; the bias becomes an int32 vector at the accumulator's scale ``s_x * s_w[o]``,
  ``round(b[o] / (s_x * s_w[o]))``, added before the requantization (QConv input 4).
* Gemm (alpha=1, transA=0, constant B and C) / MatMul (2-d, constant B) [+ Relu] -> QDense,
  its bias likewise an int32 vector (QDense input 3). A Flatten of an int8 NCHW tensor used
  only by it is absorbed: QDense reads the NCHW tensor (the accelerator runs it as a
  convolution with an H x W kernel, with no re-layout between the layers).
* Add of two same-shape tensors [+ Relu as its only user]: if one operand is a convolution
  (without its own Relu) used only here, one QConv with the other operand as its residual
  (added after the requantization, before the ReLU and the saturation: no intermediate int8
  rounding of the convolution); otherwise QAdd.
* GlobalAveragePool of an int8 tensor [+ Flatten] -> QGlobalAveragePool (the rounded integer
  mean, ``compiler.graph.ops.quantized.gap_params``; ``flatten=1`` absorbs the Flatten).
* Relu, MaxPool, Flatten, Reshape of an int8 tensor stay themselves on int8 (exact).
* Anything else runs in float on a Dequantize of its inputs; int8 operands come from a Quantize.

Scales: QAdd, a QConv's residual, Relu, MaxPool, global pooling, Flatten and Reshape do not
rescale, so their int8 operands and
results share one scale: values joined by them form a class (union-find) whose scale is the
largest calibrated max-abs of its members / 127. A QConv/QDense result takes its class's scale
through its requantization multipliers.
"""

from __future__ import annotations

import numpy as np

from ..graph.builder import GraphBuilder
from ..graph.ir import Graph, Node, Value
from ..graph.ops.quantized import gap_params
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
    order = {n.name: i for i, n in enumerate(graph.nodes)}
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
            flat = graph.producers.get(n.inputs[0].name)
            if flat is not None and flat.op == "Flatten" and plan.get(flat.name) == \
                    ("pass", None) and flat.inputs[0].ndim == 4 \
                    and flat.attrs.get("axis", 1) == 1 \
                    and len(graph.consumers.get(flat.outputs[0].name, ())) == 1 \
                    and not graph.is_output(flat.outputs[0].name):
                del plan[flat.name]          # the dense layer reads the NCHW tensor itself
                fused.add(flat.name)
            else:
                flat = None
            plan[n.name] = ("dense", _single_relu(graph, out), flat)
        elif n.op == "Add" and out.dtype == "float32" and len(n.inputs) == 2 \
                and all(v is not None and graph.const(v) is None and v.shape == out.shape
                        for v in n.inputs):
            relu = _single_relu(graph, out)
            conv = _fusable_conv(graph, n, plan, order)
            if conv is not None:      # conv + add (+ relu): one QConv with a residual
                fused.add(conv.name)
                del plan[conv.name]
                other = n.inputs[1] if n.inputs[0] is conv.outputs[0] else n.inputs[0]
                plan[n.name] = ("conv_add", relu, conv, other)
            else:
                plan[n.name] = ("add", relu)
        elif n.op == "GlobalAveragePool" and n.inputs[0].name in int8 and out.ndim == 4:
            users = graph.consumers.get(out.name, ())
            flat = users[0] if len(users) == 1 and users[0].op == "Flatten" \
                and users[0].attrs.get("axis", 1) == 1 and not graph.is_output(out.name) \
                else None
            plan[n.name] = ("gap", flat)
        elif n.op in PASSTHROUGH and n.inputs[0].name in int8 and out.dtype == "float32":
            plan[n.name] = ("pass", None)
        else:
            continue
        kind, relu = plan[n.name][:2]
        if relu is not None:
            fused.add(relu.name)
        final = relu.outputs[0] if relu is not None else out
        int8.add(final.name)
    return plan, fused


def _fusable_conv(graph: Graph, add: Node, plan: dict, order: dict) -> Node | None:
    """The planned convolution (without its own ReLU) feeding ``add`` as its only use, the
    later one if both operands are such convolutions."""
    a, b = add.inputs
    if a is b:
        return None
    best = None
    for v in (a, b):
        n = graph.producers.get(v.name)
        if n is None or plan.get(n.name, (None,))[0] != "conv" or plan[n.name][1] is not None \
                or len(graph.consumers.get(v.name, ())) != 1 or graph.is_output(v.name):
            continue
        if best is None or order[n.name] > order[best.name]:
            best = n
    return best


def _int32_bias(bias: np.ndarray, s_acc: np.ndarray, b: GraphBuilder, name: str) -> Value:
    """The bias at the accumulator's scale, ``round(bias / s_acc)``, as an int32 constant."""
    q = np.rint(np.asarray(bias, np.float64) / s_acc)
    lim = float(np.iinfo(np.int32).max)
    if np.any(np.abs(q) > lim):
        raise QuantizeError(f"node '{name}': the bias does not fit the int32 accumulator at "
                            f"scale {float(np.min(s_acc)):.3g} (largest |bias| "
                            f"{float(np.max(np.abs(bias))):.3g})")
    return b.constant(q.astype(np.int32), f"{name}_bias_q")


def _bias(graph: Graph, node: Node, i: int, s_acc: np.ndarray, b: GraphBuilder,
          name: str) -> Value | None:
    v = node.inputs[i] if len(node.inputs) > i else None
    c = None if v is None else graph.const(v)
    if c is None or not np.any(c):
        return None
    return _int32_bias(c.reshape(-1), s_acc, b, name)


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
        kind, relu = plan[n.name][:2]
        final = (relu or n).outputs[0].name
        out_of[n.name] = final
        if kind in ("add", "conv_add"):
            classes.union(final, n.inputs[0].name, n.inputs[1].name)
        elif kind in ("pass", "gap"):
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
        kind, relu = plan[n.name][:2]
        final = out_of[n.name]
        if kind == "pass":
            qmap[final] = b.node(n.op, [qval(n.inputs[0])] + [fval(v) for v in n.inputs[1:]
                                                             if v is not None],
                                 n.attrs, name=n.name, outputs=qname(final))[0]
        elif kind == "gap":
            x = n.inputs[0]
            shift, mult = gap_params(x.shape[2] * x.shape[3])
            qmap[final] = b.node("QGlobalAveragePool", [qval(x)],
                                 {"shift": shift, "multiplier": mult,
                                  "flatten": int(relu is not None)},
                                 name=n.name, outputs=qname(final))[0]
        elif kind == "add":
            qmap[final] = b.node("QAdd", [qval(n.inputs[0]), qval(n.inputs[1])],
                                 {"relu": int(relu is not None)}, name=n.name,
                                 outputs=qname(final))[0]
        elif kind in ("conv", "conv_add"):
            conv, residual = (n, None) if kind == "conv" else plan[n.name][2:]
            x = conv.inputs[0]
            wq, sw = quantize_weight(graph.const(conv.inputs[1]))
            s_acc = scale(x.name) * sw              # the accumulator's per-channel scale
            shift, m = requant_params(s_acc / scale(final))
            ins = [qval(x), b.constant(wq, f"{conv.inputs[1].name}_q"),
                   None if m is None else b.constant(m, f"{conv.name}_multiplier"),
                   None if residual is None else qval(residual),
                   _bias(graph, conv, 2, s_acc, b, conv.name)]
            while ins[-1] is None:
                ins.pop()
            attrs = {k: conv.attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations",
                                                  "group")}
            qmap[final] = b.node("QConv", ins, {**attrs, "shift": shift,
                                                "relu": int(relu is not None)},
                                 name=n.name, outputs=qname(final))[0]
        elif kind == "dense":
            w, bias = _dense_weight(graph, n)
            flat = plan[n.name][2]
            x = n.inputs[0] if flat is None else flat.inputs[0]
            wq, sw = quantize_weight(w)
            s_acc = scale(x.name) * sw
            shift, m = requant_params(s_acc / scale(final))
            ins = [qval(x), b.constant(wq, f"{n.name}_weight_q"),
                   None if m is None else b.constant(m, f"{n.name}_multiplier"),
                   None if bias is None else _int32_bias(bias, s_acc, b, n.name)]
            while ins[-1] is None:
                ins.pop()
            qmap[final] = b.node("QDense", ins, {"shift": shift,
                                                 "relu": int(relu is not None)},
                                 name=n.name, outputs=qname(final))[0]
    return b.build([fval(v) for v in graph.outputs])


__all__ = ["quantize_graph"]
