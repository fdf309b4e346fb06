"""Exception classes for user-facing errors of the front ends (model import).

Hierarchy::

    CompilerError (compiler.errors)
      FrontendError                 base of the front ends' own errors
        ModelLoadError              unreadable file: missing, truncated, corrupted, invalid
        UnsupportedModelError       operators, attributes, dtypes or opsets vdla does not
                                    support; ONE error lists every problem of the model
        MissingDependencyError      an optional dependency (PyTorch) is not installed
      compiler.graph.errors.DynamicShapeError   a model input dimension nobody fixed
      compiler.graph.errors.StaticValueError    a shape parameter computed at run time
      compiler.graph.errors.GraphBuildError     a node whose shapes or attributes do not fit
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CompilerError
from ..graph.errors import DynamicShapeError, GraphBuildError, StaticValueError

__all__ = ["FrontendError", "ModelLoadError", "UnsupportedModelError", "Problem",
           "MissingDependencyError", "DynamicShapeError", "GraphBuildError",
           "StaticValueError"]


class FrontendError(CompilerError):
    """Base class of the front ends' errors."""


class ModelLoadError(FrontendError, ValueError):
    """The model file cannot be read or is not a valid model."""


# Problem.op_type values that name a tensor or the model, not an operator
TENSOR_LEVEL = frozenset({"input", "output", "initializer", "opset"})


@dataclass(frozen=True)
class Problem:
    """One unsupported feature: where it is and why."""

    op_type: str          # operator (or "input"/"initializer" for a tensor-level problem)
    node: str             # node (or tensor) name
    opset: int | None     # the model's opset for the operator's domain
    reason: str           # what is not supported

    def __str__(self) -> str:
        at = f" (opset {self.opset})" if self.opset is not None else ""
        return f"{self.op_type} '{self.node}'{at}: {self.reason}"


class UnsupportedModelError(FrontendError):
    """Everything in a model that vdla cannot import, listed in one error (``problems``)."""

    def __init__(self, model: str, problems: list[Problem]) -> None:
        self.problems = list(problems)
        ops = sorted({p.op_type for p in problems} - TENSOR_LEVEL)
        lines = "\n".join(f"  - {p}" for p in problems)
        where = f" (operators: {', '.join(ops)})" if ops else ""
        super().__init__(
            f"model '{model}' uses {len(problems)} unsupported feature(s){where}:\n{lines}\n"
            f"vdla's ONNX importer supports: {', '.join(supported_ops_text())}")


class MissingDependencyError(FrontendError, ImportError):
    """An optional dependency is missing; the message says what to install."""


def supported_ops_text() -> list[str]:
    from .onnx_ops import CONVERTERS

    return sorted(CONVERTERS)
