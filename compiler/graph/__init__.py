"""The graph IR: typed operator graphs imported from ONNX (or PyTorch through ONNX), the
passes that optimize them, and a numpy reference executor.

Layers::

    ir          TensorType, Value, Node, Graph, EpilogueOp (grammar in its docstring)
    ops         operator registry: canonical attributes, type inference, reference semantics
    builder     GraphBuilder (build with inference), Rewrite / rebuild (graph-to-graph)
    layout      packed layouts ("NCHW1n16c"): parse, pack, unpack
    printer     print_graph (also ``str(graph)``)
    verify      the structural verifier
    reference   the numpy reference executor (the test oracle)
    passes      constant folding, dead-code elimination, batch-norm folding, fusion, layout
                transformation; ``optimize`` runs them in order

Example::

    from compiler.frontend.onnx import from_onnx
    from compiler.graph import optimize, reference

    g = from_onnx("resnet50.onnx", input_shapes={"data": (1, 3, 224, 224)})
    g = optimize(g)                      # fold, fuse (see compiler.graph.passes)
    print(g)                             # readable text
    out = reference.run(g, {"data": x})  # numpy reference results

A partitioner annotates nodes with ``node.replace(target="vdla")`` (``Graph.with_nodes``) or a
``Rewrite`` pass; every node keeps its source-model name, canonical attributes and typed
inputs/outputs, so each can be lowered to ``compiler.ops.cpu`` or ``compiler.ops.vdla``.
"""

from . import reference
from .builder import GraphBuilder, Rewrite, rebuild
from .errors import (
    DynamicShapeError,
    ExecutionError,
    GraphBuildError,
    GraphError,
    GraphVerifyError,
    InputMismatchError,
    LayoutError,
    ShapeInferenceError,
    StaticValueError,
    UnknownOpError,
)
from .ir import EpilogueOp, Graph, Node, TensorType, Value
from .layout import Layout
from .ops import all_ops, get_op
from .passes import optimize
from .printer import print_graph
from .verify import verify

__all__ = [
    "DynamicShapeError", "EpilogueOp", "ExecutionError", "Graph", "GraphBuildError",
    "GraphBuilder", "GraphError", "GraphVerifyError", "InputMismatchError", "Layout",
    "LayoutError", "Node", "Rewrite", "ShapeInferenceError", "StaticValueError", "TensorType",
    "UnknownOpError", "Value", "all_ops", "get_op", "optimize", "print_graph", "rebuild",
    "reference", "verify",
]
