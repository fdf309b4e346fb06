"""Reference CNNs built directly as ONNX (``onnx.helper``), with seeded random weights.

``resnet(depth=18)`` is the ResNet v1 of He et al. (ImageNet layout: 7x7/2 stem convolution,
3x3/2 max pooling, four stages of basic blocks with 1x1/2 projection shortcuts, global average
pooling, a fully connected classifier), exactly the graph torchvision's ``resnet18`` exports:
Conv (no bias) + BatchNormalization + Relu, residual Add + Relu. It needs neither torch nor a
download; weights are He-normal, batch-norm statistics and affine parameters are drawn near
their trained ranges so the network has realistic activation statistics. ``width``, ``image``
and ``blocks`` make small variants for tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class _Net:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count: dict[str, int] = {}

    def name(self, kind: str) -> str:
        k = self.count.get(kind, 0) + 1
        self.count[kind] = k
        return f"{kind}{k}"

    def const(self, name: str, a: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        name = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int, relu: bool) -> str:
        w = self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        c = self.node("Conv", [x, self.const(self.name("w"), w)], kernel_shape=[k, k],
                      strides=[stride, stride], pads=[k // 2] * 4)
        bn = self.name("bn")
        scale = self.rng.uniform(0.5, 1.5, cout)
        bias = self.rng.uniform(-0.2, 0.2, cout)
        mean = self.rng.uniform(-0.2, 0.2, cout)
        var = self.rng.uniform(0.5, 1.5, cout)
        y = self.node("BatchNormalization",
                      [c, self.const(f"{bn}_scale", scale), self.const(f"{bn}_bias", bias),
                       self.const(f"{bn}_mean", mean), self.const(f"{bn}_var", var)],
                      epsilon=1e-5)
        return self.node("Relu", [y]) if relu else y


def resnet(depth: int = 18, *, image: int = 224, classes: int = 1000, width: int = 64,
           blocks: Sequence[int] | None = None, batch: int = 1, seed: int = 0
           ) -> onnx.ModelProto:
    """ResNet-``depth`` (18 or 34; or ``blocks`` per stage) as an ONNX model with input ``x``
    (batch, 3, image, image) float32 and output ``y`` (batch, classes) logits."""
    stages = tuple(blocks) if blocks is not None else STAGES.get(depth)
    if stages is None:
        raise ValueError(f"resnet: depth must be one of {sorted(STAGES)} (or pass blocks=)")
    if image % 32:
        raise ValueError(f"resnet: image size {image} must be a multiple of 32")
    net = _Net(seed)
    x = net.conv_bn("x", 3, width, 7, 2, True)
    x = net.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = width
    for s, n in enumerate(stages):
        cout = width << s
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            y = net.conv_bn(x, cin, cout, 3, stride, True)
            y = net.conv_bn(y, cout, cout, 3, 1, False)
            short = net.conv_bn(x, cin, cout, 1, stride, False) \
                if stride != 1 or cin != cout else x
            x = net.node("Relu", [net.node("Add", [y, short])])
            cin = cout
    x = net.node("Flatten", [net.node("GlobalAveragePool", [x])])
    w = net.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin)
    fc_b = net.rng.uniform(-0.1, 0.1, classes)
    net.nodes.append(helper.make_node("Gemm", [x, net.const("fc_w", w), net.const("fc_b", fc_b)],
                                      ["y"], name="fc", transB=1))
    graph = helper.make_graph(
        net.nodes, f"resnet{depth}",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, 3, image, image])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, classes])],
        net.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="vdla", ir_version=8)
    onnx.checker.check_model(model)
    return model


__all__ = ["resnet"]
