"""Unroll: ``For(kind="unrolled")`` with a constant extent becomes copies of its body.

Each copy has the loop variable replaced by its constant value and is constant-folded, so
register-blocked code ends up indexing its local accumulators at constant offsets, which
LLVM's SROA then promotes to registers::

    before:                                   after:
    for ii in unrolled(0, 2):                 acc[ramp(0, 1, 16)] = acc[ramp(0, 1, 16)] + ...
        acc[ramp(ii*16, 1, 16)] = ...         acc[ramp(16, 1, 16)] = acc[ramp(16, 1, 16)] + ...

Loops whose extent is not constant, or whose unrolled size would exceed ``max_nodes`` IR
nodes, stay serial loops (LLVM's own unroller may still unroll them).
"""

from __future__ import annotations

from compiler.tir import ir
from compiler.tir.functor import IRMutator, post_order_visit, substitute

from .fold import fold_constants

MAX_NODES = 200_000


def unroll_loops(stmt: ir.Stmt, max_nodes: int = MAX_NODES) -> ir.Stmt:
    """Fully unroll every ``unrolled`` loop with a constant extent (innermost first)."""
    return _Unroller(max_nodes).visit(stmt)


def _size(node) -> int:
    count = 0

    def fn(_n):
        nonlocal count
        count += 1

    post_order_visit(node, fn)
    return count


class _Unroller(IRMutator):
    def __init__(self, max_nodes: int) -> None:
        self.max_nodes = max_nodes

    def visit_For(self, n: ir.For):
        body = self.visit(n.body)
        extent = fold_constants(n.extent)
        if n.kind == "unrolled" and isinstance(extent, ir.IntImm):
            if extent.value <= 0:
                return ir.Seq(())
            if extent.value * _size(body) <= self.max_nodes:
                copies = []
                for k in range(extent.value):
                    value = fold_constants(ir.BinOp("add", n.min, ir.IntImm(k, n.var.dtype)))
                    copies.append(fold_constants(substitute(body, {n.var: value})))
                return ir.Seq(tuple(copies))
        kind = "serial" if n.kind == "unrolled" else n.kind
        if body is n.body and kind == n.kind:
            return n
        return ir.For(n.var, n.min, n.extent, kind, body, n.annotations)
