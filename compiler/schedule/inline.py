"""Inlining: the effective body of each stage after ``compute_inline`` substitution.

A read ``B[e0, e1]`` of an inlined stage ``B[i, j] = f(i, j)`` becomes ``f(e0, e1)``, in
topological order, so chains of inlined stages collapse fully. The schedule itself is not
changed: lowering and bound inference work on these effective bodies.
"""

from __future__ import annotations

from ..errors import LowerError
from ..te.tensor import ProducerLoad, Reduce
from ..tir.functor import IRMutator, substitute


class _Inline(IRMutator):
    def __init__(self, sched, bodies: dict) -> None:
        self.sched = sched
        self.bodies = bodies

    def visit_ProducerLoad(self, n: ProducerLoad):
        n = n.map_children(self.visit)
        st = self.sched.stage_of(n.tensor)
        if st is None or st.attach_type != "inline":
            return n
        body = self.bodies[st]
        if isinstance(body, Reduce):
            raise LowerError(f"stage '{st.name}' is a reduction and cannot be inlined")
        vmap = {a.var: i for a, i in zip(st.op.axis, n.indices)}
        return substitute(body, vmap)


def effective_bodies(sched) -> dict:
    """Stage -> compute body with every read of an inlined stage substituted."""
    bodies: dict = {}
    for st in sched.stages:      # topological: producers first
        bodies[st] = _Inline(sched, bodies).visit(st.op.body)
    return bodies
