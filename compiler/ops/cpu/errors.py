"""Exception classes of the CPU operator library.

Every message names the operator and the offending attribute, shape or argument::

    CompilerError
      OpError                 base class of the operator library's errors
        OpAttributeError      an attribute value the operator does not support
        OpShapeError          input shapes that do not fit together
        OpDtypeError          a dtype the operator does not support
        OpArgumentError       op.run() got arrays of the wrong number, shape or dtype
"""

from __future__ import annotations

from ...errors import CompilerError


class OpError(CompilerError, ValueError):
    """An operator cannot be built or run as asked."""


class OpAttributeError(OpError):
    """An attribute value is invalid or not supported (names the operator and attribute)."""


class OpShapeError(OpError):
    """Input shapes that are invalid or do not fit together."""


class OpDtypeError(OpError, TypeError):
    """A dtype the operator does not support."""


class OpArgumentError(OpError):
    """``op.run`` was called with arrays of the wrong number, shape or dtype."""


__all__ = ["OpArgumentError", "OpAttributeError", "OpDtypeError", "OpError", "OpShapeError"]
