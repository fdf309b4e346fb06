"""Exception classes for user-facing errors of the graph IR, its passes and its executor.

Every message names the node (its name from the source model and its operator), the value or
the graph input, and says how to fix the problem when there is a fix.

Hierarchy::

    CompilerError (compiler.errors)
      GraphError                  base of everything below
        GraphBuildError           a node's inputs or attributes do not fit its operator
          ShapeInferenceError     shapes or dtypes that cannot be combined (names both)
          StaticValueError        a shape parameter (a Reshape target, Slice bounds...) that is
                                  only known at run time; carries ``value_name``
          DynamicShapeError       a graph input with a dimension nobody fixed
          UnknownOpError          an operator the graph IR does not define
        LayoutError               an invalid layout string, or one that does not fit a tensor
        GraphVerifyError          the structural verifier found a broken graph
        ExecutionError            the reference executor was given wrong inputs
          InputMismatchError      a missing input, or one with the wrong shape or dtype
"""

from __future__ import annotations

from ..errors import CompilerError


class GraphError(CompilerError):
    """Base class of the graph IR's user-facing errors."""


class GraphBuildError(GraphError, ValueError):
    """A node cannot be built: wrong number of inputs, a bad attribute, an unsupported value."""


class ShapeInferenceError(GraphBuildError):
    """Input shapes or dtypes that the operator cannot combine."""


class StaticValueError(GraphBuildError):
    """An input that must be a compile-time constant (a shape parameter) is computed at run time.

    ``value_name`` is the name of that value, so that callers (for example the ONNX backend-test
    adapter) can bind it as a constant and try again.
    """

    def __init__(self, message: str, value_name: str) -> None:
        self.value_name = value_name
        super().__init__(message)


class DynamicShapeError(GraphBuildError):
    """A graph input has a dimension that is not a fixed number and was not given a value.

    ``inputs`` maps each such input name to its shape as declared by the model (symbolic
    dimensions as strings, unknown ones as ``None``).
    """

    def __init__(self, message: str, inputs: dict[str, tuple]) -> None:
        self.inputs = inputs
        super().__init__(message)


class UnknownOpError(GraphBuildError):
    """The graph IR has no definition of the operator."""


class LayoutError(GraphError, ValueError):
    """A layout string that cannot be parsed, or that does not fit the tensor's rank."""


class GraphVerifyError(GraphError):
    """The graph is structurally broken (a pass bug, or a hand-built graph)."""


class ExecutionError(GraphError):
    """The reference executor cannot run the graph with the inputs it was given."""


class InputMismatchError(ExecutionError, ValueError):
    """A graph input is missing, unknown, or has the wrong shape or dtype."""
