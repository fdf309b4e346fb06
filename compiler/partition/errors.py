"""Exception classes of the partitioner.

Hierarchy::

    CompilerError (compiler.errors)
      PartitionError          an invalid request (unknown target, bad threshold) or a
                              partitioner invariant broken (a non-convex region)
"""

from __future__ import annotations

from ..errors import CompilerError


class PartitionError(CompilerError, ValueError):
    """The partitioner cannot do what was asked."""


__all__ = ["PartitionError"]
