"""Test helpers for the ONNX front end: build small models with ``onnx.helper`` and compare
vdla (import + reference executor, before and after the passes) with onnx's own
``ReferenceEvaluator``, an independent implementation of the ONNX semantics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..graph import reference
from ..graph.ir import Graph
from ..graph.passes import PackedLayout, optimize
from ..graph.testing import assert_close, random_inputs
from .onnx import from_onnx

Spec = tuple  # (name, numpy dtype or str, shape or None)


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Sequence[Spec],
               outputs: Sequence[Spec], initializers: Mapping[str, np.ndarray] | None = None,
               opset: int = 13, name: str = "test") -> onnx.ModelProto:
    """An ONNX model from nodes, (name, dtype, shape) inputs/outputs and initializers."""

    def info(spec: Spec) -> onnx.ValueInfoProto:
        n, dt, shape = spec
        return helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(dt)),
                                             shape)

    inits = [numpy_helper.from_array(np.asarray(a), k)
             for k, a in (initializers or {}).items()]
    g = helper.make_graph(list(nodes), name, [info(s) for s in inputs],
                          [info(s) for s in outputs], inits)
    # IR version 8 suits every opset here and every onnxruntime still in use
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="vdla-tests", ir_version=8)
    if any(s[2] is None for s in outputs):   # let ONNX shape inference declare them
        model = onnx.shape_inference.infer_shapes(model)
    return model


def onnx_reference(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
                   ) -> dict[str, np.ndarray]:
    """Outputs of ``onnx.reference.ReferenceEvaluator`` by output name."""
    from onnx.reference import ReferenceEvaluator

    outs = ReferenceEvaluator(model).run(None, dict(feeds))
    return {o.name: np.asarray(a) for o, a in zip(model.graph.output, outs)}


def assert_matches_onnx(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray] | None = None,
                        *, rtol: float = 1e-5, atol: float = 1e-6,
                        layout: PackedLayout | None = None, **import_kwargs) -> Graph:
    """Import ``model``; its outputs, before and after ``optimize`` (and with ``layout``),
    must match the ONNX reference evaluator. Returns the imported graph."""
    graph = from_onnx(model, **import_kwargs)
    feeds = random_inputs(graph) if feeds is None else dict(feeds)
    expected = onnx_reference(model, feeds)
    runtime = {v.name: feeds[v.name] for v in graph.inputs}
    assert_close(reference.run(graph, runtime), expected, rtol, atol, "imported")
    assert_close(reference.run(optimize(graph, verify=True), runtime), expected, rtol, atol,
                 "optimized")
    if layout is not None:
        packed = optimize(graph, layout=layout, verify=True)
        assert_close(reference.run(packed, runtime), expected, rtol, atol, "packed layout")
    return graph
