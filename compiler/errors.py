"""Exception classes for user-facing errors of the compiler.

Every message says what went wrong, where (the compute, stage, axis or buffer) and, when there
is one, how to fix it. Internal invariants use ``assert``; these classes are for mistakes a user
can make.

Hierarchy::

    CompilerError (accel.isa.errors.VdlaError)
      TEError                 building tensor expressions
        TEDtypeError          mixing dtypes, math on the wrong dtype
        TEShapeError          wrong number of indices, bad shapes, out-of-range constants
      ScheduleError           a schedule primitive got an invalid argument
        ScheduleAxisError     the axis is not a leaf axis of the stage, or cannot take the kind
        ScheduleAttachError   compute_at / compute_inline cannot be applied
        ScheduleScopeError    an unknown memory scope
        TensorizeError        the tensorized region does not match the intrinsic
      LowerError              a schedule that cannot be lowered (names the stage)
        ScopeCapacityError    an allocation does not fit its memory scope
      IRVerifyError           the structural verifier found a broken loop IR
      InterpError             the reference interpreter hit an invalid access
"""

from __future__ import annotations

from accel.isa.errors import VdlaError


class CompilerError(VdlaError):
    """Base class of every error the compiler reports to a user."""


class TEError(CompilerError, ValueError):
    """An invalid tensor expression."""


class TEDtypeError(TEError, TypeError):
    """Operands of different dtypes, or an operation the dtype does not support."""


class TEShapeError(TEError):
    """A shape or indexing mistake: arity, extents, constant indices out of range."""


class ScheduleError(CompilerError, ValueError):
    """A schedule primitive was given an invalid argument."""


class ScheduleAxisError(ScheduleError):
    """The axis is not a leaf axis of the stage, or cannot be given the requested kind."""


class ScheduleAttachError(ScheduleError):
    """compute_at / compute_inline / cache stages cannot be applied as asked."""


class ScheduleScopeError(ScheduleError):
    """An unknown memory scope name."""


class TensorizeError(ScheduleError):
    """The region to tensorize does not match the intrinsic's declaration."""


class LowerError(CompilerError):
    """A schedule that cannot be lowered to loop IR."""


class ScopeCapacityError(LowerError):
    """An allocation does not fit the capacity of its memory scope."""

    def __init__(self, tensor: str, scope: str, needed: int, available: int) -> None:
        self.tensor, self.scope, self.needed, self.available = tensor, scope, needed, available
        super().__init__(
            f"buffer '{tensor}' needs {needed} bytes in scope '{scope}', which has {available} "
            f"bytes; split the axes outside its compute_at point further, or compute it "
            f"at an inner axis")


class IRVerifyError(CompilerError):
    """The loop IR is structurally broken (a compiler bug, or hand-written IR)."""


class InterpError(CompilerError):
    """The reference interpreter found an invalid access (out of bounds, bad argument)."""
