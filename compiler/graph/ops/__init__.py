"""The operator registry: each operator's canonical attributes, type inference and reference
semantics (a numpy computation), defined once.

An ``OpDef`` pairs:

* ``normalize(ctx) -> attrs``: fill defaults, resolve what the input types determine
  (``auto_pad`` into explicit ``pads``, a Reshape's ``-1``/``0`` into the output shape, negative
  axes) and validate. Idempotent: a canonical node normalizes to itself.
* ``infer(ctx) -> [TensorType]``: the output types (logical shapes) from the canonical attrs
  and the input types.
* ``compute(attrs, arrays) -> [ndarray]``: ONNX semantics on logical numpy arrays. This is the
  reference the executor (``compiler.graph.reference``) and constant folding run, and the
  oracle for every backend.

Operators (families in ``elementwise``, ``nn``, ``tensor``, ``fused``, ``quantized``)::

    elementwise  Relu Sigmoid HardSwish LeakyRelu Clip Identity Cast Add Sub Mul Div Sum
    nn           Conv ConvTranspose MaxPool AveragePool GlobalAveragePool BatchNormalization
                 LRN Softmax Gemm MatMul
    tensor       Concat Split Slice Flatten Reshape Transpose Pad Resize ConstantOfShape
                 Unsqueeze Squeeze Shape Gather
    fused        FusedConv FusedGemm FusedMatMul LayoutTransform
    quantized    QConv QDense QAdd (int8 with requantization: the accelerator's operators)

Each family module documents its operators' canonical attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GraphBuildError, ShapeInferenceError, UnknownOpError
from ..ir import TensorType

REQUIRED = object()  # marks an attribute without a default


class OpContext:
    """What ``normalize`` and ``infer`` see: the node's identity, attrs and input types."""

    def __init__(self, op: str, name: str, attrs: dict, inputs: list[TensorType | None]):
        self.op, self.name, self.attrs, self.inputs = op, name, attrs, inputs

    def fail(self, message: str, cls=ShapeInferenceError):
        raise cls(f"{self.op} node '{self.name}': {message}")

    def input(self, i: int, what: str = "") -> TensorType:
        """Type of input ``i``; a clear error when it is omitted."""
        if i >= len(self.inputs) or self.inputs[i] is None:
            self.fail(f"input {i}{f' ({what})' if what else ''} is required",
                      GraphBuildError)
        return self.inputs[i]

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def __getitem__(self, key: str) -> Any:
        return self.attrs[key]


@dataclass(frozen=True)
class OpDef:
    """One operator of the graph IR."""

    name: str
    num_inputs: tuple[int, int]                 # (min, max); max -1: variadic
    attrs: Mapping[str, Any]                    # attribute name -> default (or REQUIRED)
    infer: Callable[[OpContext], list[TensorType]]
    compute: Callable[[Mapping, list], Any]     # -> ndarray or list of ndarrays
    normalize: Callable[[OpContext], dict] | None = None
    # value of the output computable from input types alone (Shape); used for shape inference
    value_from_types: Callable[[Mapping, list], list] | None = None
    elementwise: bool = False                   # output[i] depends only on inputs[...][i]
    doc: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    assert op.name not in _REGISTRY, f"operator {op.name} registered twice"
    _REGISTRY[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    """The definition of operator ``name``; ``UnknownOpError`` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownOpError(f"the graph IR has no operator '{name}'; known operators: "
                             f"{', '.join(sorted(_REGISTRY))}") from None


def all_ops() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def normalize_attrs(opdef: OpDef, ctx: OpContext) -> dict:
    """Check attribute names, fill defaults, then run the operator's own normalization."""
    unknown = sorted(set(ctx.attrs) - set(opdef.attrs))
    if unknown:
        ctx.fail(f"unknown attribute(s) {', '.join(unknown)} (allowed: "
                 f"{', '.join(sorted(opdef.attrs)) or 'none'})", GraphBuildError)
    attrs = {}
    for key, default in opdef.attrs.items():
        if key in ctx.attrs and ctx.attrs[key] is not None:
            attrs[key] = ctx.attrs[key]
        elif default is REQUIRED:
            ctx.fail(f"attribute '{key}' is required", GraphBuildError)
        else:
            attrs[key] = default
    lo, hi = opdef.num_inputs
    n = len(ctx.inputs)
    while n > lo and ctx.inputs[n - 1] is None:   # trailing omitted optional inputs
        n -= 1
    if n < lo or (hi >= 0 and n > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi if hi >= 0 else 'any number of'}"
        ctx.fail(f"takes {want} inputs, got {n}", GraphBuildError)
    ctx.inputs = ctx.inputs[:n]
    ctx.attrs = attrs
    if opdef.normalize is not None:
        attrs = opdef.normalize(ctx)
        ctx.attrs = attrs
    return attrs


def run_compute(opdef: OpDef, attrs: Mapping, arrays: list) -> list[np.ndarray]:
    out = opdef.compute(attrs, arrays)
    return list(out) if isinstance(out, (list, tuple)) else [out]


# the families register their operators on import
from . import elementwise, nn, tensor, fused, quantized  # noqa: E402,F401,I001
