"""Where stages are computed relative to their readers: the rule behind ``compute_at``.

A stage ``S`` computed at loop ``x`` of stage ``T`` is computed once per iteration of ``x``,
at the start of its body. That is correct when every stage that reads ``S`` runs inside that
loop, after it:

* ``T`` itself (its body is inside all of its loops), or
* a stage attached, directly or through a chain of attachments, to ``T`` at ``x`` or at a
  loop nested inside ``x`` (stages attached at one loop run in topological order, so ``S``
  comes before its readers there).

So ``T`` need not read ``S`` directly: an epilogue ``post`` computed at the output tile loop
``out.xo`` lets its producer ``conv`` be computed at ``out.xo`` too. Readers are counted after
inlining (``effective_readers``): a reader that is inlined counts as its own readers.

Schedule primitives keep this invariant (``checked``): a primitive that would break it — a
``compute_at`` with a reader outside the loop, or a ``compute_root``, ``reorder`` or ``tile``
that moves a reader out — raises ``ScheduleAttachError`` and leaves the schedule unchanged,
so every schedule the primitives accept can be lowered. Bound inference (``bound.py``) uses
``enclosing`` to relax the loops between ``x`` and each reader.
"""

from __future__ import annotations

import contextlib

from ..errors import ScheduleAttachError
from .rewrite import index_of


def effective_readers(sched, stage) -> list:
    """Stages that read ``stage``'s tensor once inlined stages are substituted."""
    out, seen, todo = [], set(), list(sched.readers(stage))
    while todo:
        r = todo.pop(0)
        if r in seen:
            continue
        seen.add(r)
        if r.attach_type == "inline":
            todo += sched.readers(r)
        else:
            out.append(r)
    return sorted(out, key=sched.stages.index)


def consumes(sched, consumer, producer) -> bool:
    """Whether ``consumer`` reads ``producer``'s tensor, directly or through other stages."""
    seen, todo = set(), [consumer]
    while todo:
        st = todo.pop()
        for t in st.op.input_tensors():
            p = sched.stage_of(t)
            if p is producer:
                return True
            if p is not None and p not in seen:
                seen.add(p)
                todo.append(p)
    return False


def enclosing(stage) -> list:
    """``[(U, axis), ...]``: the loops ``stage`` is computed in, innermost attachment first
    (``stage`` at ``U.axis``, ``U`` at ...); empty for a stage at the root."""
    out, cur = [], stage
    while cur.attach_type == "at" and len(out) <= len(cur.sched.stages):
        out.append((cur.attach_stage, cur.attach_axis))
        cur = cur.attach_stage
    return out


def chain_inside(reader, t, pos: int) -> list | None:
    """The stages between ``reader`` (included) and ``t`` (excluded) when ``reader`` runs
    inside loop ``t.leaf[pos]`` (``[]`` for ``t`` itself), else None."""
    if reader is t:
        return []
    chain = [reader]
    for u, ax in enclosing(reader):
        if u is t:
            return chain if index_of(t.leaf, ax) >= pos else None
        chain.append(u)
    return None


def where(stage) -> str:
    """Where ``stage`` is computed, for messages."""
    if stage.attach_type == "at":
        return f"at loop '{stage.attach_axis.name}' of '{stage.attach_stage.name}'"
    return "inlined" if stage.attach_type == "inline" else "at the root"


def problems(sched) -> list[tuple]:
    """``(S, R)`` for every stage ``S`` computed at a loop that its reader ``R`` is outside."""
    out = []
    for st in sched.stages:
        if st.attach_type != "at":
            continue
        t = st.attach_stage
        pos = index_of(t.leaf, st.attach_axis)
        for r in effective_readers(sched, st):
            if pos < 0 or chain_inside(r, t, pos) is None:
                out.append((st, r))
    return out


def describe(st, r) -> str:
    """Why ``st``'s attachment does not cover its reader ``r``."""
    return (f"'{r.name}' reads '{st.name}' but is computed {where(r)}, outside loop "
            f"'{st.attach_axis.name}' of '{st.attach_stage.name}' where '{st.name}' is "
            f"computed")


@contextlib.contextmanager
def checked(sched, what: str, moved=None):
    """Run a change of attachments or loop order; if it leaves a stage computed outside a
    loop one of its readers needs, undo it and raise ``ScheduleAttachError``.

    ``what`` prefixes the message (``"stage 'B': compute_at(D, i)"``); ``moved`` is the stage
    being attached, whose fix is to move its readers rather than itself.
    """
    saved = [(s, list(s.leaf), list(s.all_axes), list(s.relations), s.attach_type,
              s.attach_stage, s.attach_axis) for s in sched.stages]

    def restore() -> None:
        for s, leaf, all_axes, rel, at, ast, aax in saved:
            s.leaf, s.all_axes, s.relations = leaf, all_axes, rel
            s.attach_type, s.attach_stage, s.attach_axis = at, ast, aax

    try:
        yield
    except BaseException:        # e.g. a nested check (tile's reorder): undo all of it
        restore()
        raise
    bad = problems(sched)
    if not bad:
        return
    st, r = bad[0]
    if st is moved:
        fix = (f"compute '{r.name}' inside that loop first (compute_at), or cache_read "
               f"'{st.name}' for '{r.name}'")
    else:
        fix = f"compute '{st.name}' elsewhere first (s[{st.name!r}].compute_root())"
    msg = f"{what}: {describe(st, r)}; {fix}"
    restore()
    raise ScheduleAttachError(msg)
