"""Pass: drop statements that do nothing.

Empty ``Seq``s disappear from their parents; a ``For``, ``IfThenElse`` (with no else),
``AttrStmt`` or ``Allocate`` whose body is empty becomes empty itself; nested ``Seq``s are
flattened and a one-statement ``Seq`` is its statement.

Before::

    for i in range(4):
      if False-after-simplify: <removed, left as Seq(())>
    B[0] = 1.0f

After::

    B[0] = 1.0f
"""

from __future__ import annotations

from .. import ir
from ..functor import IRMutator, seq


def _empty(s) -> bool:
    return isinstance(s, ir.Seq) and not s.stmts


class _RemoveNoOp(IRMutator):
    def visit_Seq(self, n: ir.Seq):
        parts = [self.visit(s) for s in n.stmts]
        out = seq(*[p for p in parts if not _empty(p)])
        return out if not isinstance(out, ir.Seq) or out.stmts else ir.Seq(())

    def visit_For(self, n: ir.For):
        r = self.generic(n)
        return ir.Seq(()) if _empty(r.body) else r

    def visit_IfThenElse(self, n: ir.IfThenElse):
        r = self.generic(n)
        then_e = _empty(r.then_case)
        else_e = r.else_case is None or _empty(r.else_case)
        if then_e and else_e:
            return ir.Seq(())
        if else_e and r.else_case is not None:
            return ir.IfThenElse(r.cond, r.then_case)
        if then_e:
            return ir.IfThenElse(ir.Not(r.cond), r.else_case)
        return r

    def visit_AttrStmt(self, n: ir.AttrStmt):
        r = self.generic(n)
        return ir.Seq(()) if _empty(r.body) else r

    def visit_Allocate(self, n: ir.Allocate):
        r = self.generic(n)
        return ir.Seq(()) if _empty(r.body) else r

    def visit_LetStmt(self, n: ir.LetStmt):
        r = self.generic(n)
        return ir.Seq(()) if _empty(r.body) else r


def remove_no_op(func: ir.PrimFunc) -> ir.PrimFunc:
    body = _RemoveNoOp().visit(func.body)
    return func if body is func.body else ir.PrimFunc(func.name, func.params, body, func.attrs)
