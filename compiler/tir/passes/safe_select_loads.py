"""Pass: loads inside ``Select`` branches cannot go out of bounds.

``Select`` evaluates both branches (ir.py), but padding is written as
``te.select(in_bounds, A[i - 1], 0)``, whose true branch reads ``A[-1]`` when the condition
is false. A load in a branch whose index is not provably inside its buffer (from the loop
ranges) gets its index replaced by 0 when the branch is not taken, so every executed load is
in bounds and the result is unchanged.

Before::

    B[i] = select(1 <= i, A[[i - 1]], 0.0f)

After::

    B[i] = select(1 <= i, A[[select(1 <= i, i - 1, 0)]], 0.0f)
"""

from __future__ import annotations

from .. import ir
from ..arith import const_bound
from ..functor import IRMutator


def _size(buf: ir.Buffer) -> int | None:
    n = 1
    for s in buf.shape:
        if isinstance(s, ir.IntImm):
            n *= s.value
        elif isinstance(s, int):
            n *= s
        else:
            return None
    return n


class _Guard(IRMutator):
    """Rewrites the loads of one branch (``taken``: the index to use when the branch runs)."""

    def __init__(self, cond: ir.Expr, when_true: bool, ranges: dict) -> None:
        self.cond, self.when_true, self.ranges = cond, when_true, ranges

    def visit_Load(self, n: ir.Load):
        idx = self.visit(n.index)
        lo, hi = const_bound(idx, self.ranges)
        size = _size(n.buffer)
        if lo is not None and hi is not None and size is not None and 0 <= lo and hi < size:
            return n if idx is n.index else ir.Load(n.buffer, idx)
        zero = ir.IntImm(0, idx.dtype)
        safe = ir.Select(self.cond, idx, zero) if self.when_true else \
            ir.Select(self.cond, zero, idx)
        return ir.Load(n.buffer, safe)


class _SafeSelect(IRMutator):
    def __init__(self) -> None:
        self.ranges: dict = {}

    def visit_For(self, n: ir.For):
        if isinstance(n.min, ir.IntImm) and isinstance(n.extent, ir.IntImm):
            self.ranges[n.var] = (n.min.value, n.min.value + n.extent.value - 1)
        return self.generic(n)

    def visit_Select(self, n: ir.Select):
        n = self.generic(n)
        t = _Guard(n.cond, True, self.ranges).visit(n.true_value)
        f = _Guard(n.cond, False, self.ranges).visit(n.false_value)
        if t is n.true_value and f is n.false_value:
            return n
        return ir.Select(n.cond, t, f)


def safe_select_loads(func: ir.PrimFunc) -> ir.PrimFunc:
    body = _SafeSelect().visit(func.body)
    return func if body is func.body else ir.PrimFunc(func.name, func.params, body, func.attrs)
