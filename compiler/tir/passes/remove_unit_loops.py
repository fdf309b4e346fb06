"""Pass: loops of extent 1 become their loop variable's value.

Before::

    for i.outer in range(1):
      for j in range(8):
        B[i.outer * 8 + j] = A[i.outer * 8 + j]

After::

    for j in range(8):
      B[j] = A[j]

Every loop kind is removed this way (a vectorized or parallel loop of one iteration is just
its body). Annotations of a removed loop are dropped; pragmas live in ``AttrStmt``s around
the loop and stay.
"""

from __future__ import annotations

from .. import ir
from ..arith import simplify
from ..functor import IRMutator, substitute


class _RemoveUnitLoops(IRMutator):
    def visit_For(self, n: ir.For):
        body = self.visit(n.body)
        if isinstance(n.extent, ir.IntImm) and n.extent.value == 1:
            return simplify(substitute(body, {n.var: n.min}))
        if body is n.body:
            return n
        return ir.For(n.var, n.min, n.extent, n.kind, body, n.annotations)


def remove_unit_loops(func: ir.PrimFunc) -> ir.PrimFunc:
    body = _RemoveUnitLoops().visit(func.body)
    return func if body is func.body else ir.PrimFunc(func.name, func.params, body, func.attrs)
