"""Memory scopes: where a buffer lives, with an optional capacity.

A ``cache_read``/``cache_write`` stage and every intermediate buffer have a scope. The CPU
flow knows two built-in scopes, ``"global"`` (main memory) and ``"local"`` (a private
temporary; a code generator may keep it in registers or on the stack). A target adds its own
scopes as ``MemoryScope`` objects with a capacity — the accelerator's ``inp``, ``wgt``,
``acc`` and ``uop`` buffers — and passes those objects to the schedule primitives; lowering
then checks that every allocation in a scope fits (``ScopeCapacityError`` names the tensor,
the scope, the bytes needed and the bytes available).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ScheduleScopeError


@dataclass(frozen=True)
class MemoryScope:
    """A named memory; ``capacity_bytes`` None means unbounded."""

    name: str
    capacity_bytes: int | None = None

    def __str__(self) -> str:
        return self.name


GLOBAL = MemoryScope("global")
LOCAL = MemoryScope("local")
BUILTIN_SCOPES = {s.name: s for s in (GLOBAL, LOCAL)}


def resolve_scope(scope: str | MemoryScope, where: str) -> MemoryScope:
    """A MemoryScope from a scope object or the name of a built-in scope."""
    if isinstance(scope, MemoryScope):
        return scope
    if isinstance(scope, str) and scope in BUILTIN_SCOPES:
        return BUILTIN_SCOPES[scope]
    raise ScheduleScopeError(
        f"{where}: unknown memory scope {scope!r}; use one of "
        f"{', '.join(repr(s) for s in BUILTIN_SCOPES)} or pass a MemoryScope object "
        f"(a target's scope, e.g. one with a capacity)")
