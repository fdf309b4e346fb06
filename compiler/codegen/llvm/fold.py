"""Constant folding for the backend's own rewrites (unrolling, vectorizing).

After an unrolled loop variable is replaced by constants, register-blocked code must index its
local accumulators with *constant* offsets, or LLVM's SROA cannot promote them to registers.
This folds integer arithmetic on immediates (wrap-around per dtype, floor and truncating
division exactly as ``ir.py`` defines them), the identities ``x+0, x-0, x*1, x*0``,
re-associates ``(x + c1) + c2``, folds Ramp/Broadcast of constants and drops branches whose
condition became constant::

    before:  A[(2*16 + 1) + ramp(0*8, 1, 8)]          if (3 < 4) S else T
    after:   A[ramp(33, 1, 8)]                        S
"""

from __future__ import annotations

from compiler.tir import ir
from compiler.tir.functor import IRMutator

from .dtypes import is_unsigned, scalar_of, wrap_int


def fold_constants(node):
    """Fold constant integer arithmetic in an expression or statement tree."""
    return _Folder().visit(node)


def _is_int_imm(e, value=None) -> bool:
    return isinstance(e, ir.IntImm) and (value is None or e.value == value)


def _int_dtype(dtype: str) -> bool:
    return ir.split_dtype(dtype)[1] == 1 and ir.is_int(dtype)


def eval_int_binop(op: str, a: int, b: int, dtype: str) -> int | None:
    """``a op b`` for integer ``dtype`` per ir.py semantics; None if undefined (x/0)."""
    if op in ir.COMPARE_OPS:
        return int({"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b,
                    "gt": a > b, "ge": a >= b}[op])
    if op in ("div", "mod", "floordiv", "floormod") and b == 0:
        return None
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "floordiv":
        r = a // b
    elif op == "floormod":
        r = a % b
    elif op == "div":
        r = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
    elif op == "mod":
        r = a - b * (abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1))
    elif op == "min":
        r = min(a, b)
    elif op == "max":
        r = max(a, b)
    elif op == "and":
        r = a & b
    elif op == "or":
        r = a | b
    else:  # pragma: no cover - BINOPS is closed
        return None
    return wrap_int(r, dtype)


class _Folder(IRMutator):
    def visit_BinOp(self, n):
        a, b = self.visit(n.a), self.visit(n.b)
        op = n.op
        if _is_int_imm(a) and _is_int_imm(b):
            r = eval_int_binop(op, a.value, b.value, a.dtype)
            if r is not None:
                return ir.IntImm(r, n.dtype)
        if _int_dtype(n.dtype) and op in ("add", "sub", "mul"):
            if op == "add" and _is_int_imm(a, 0):
                return b
            if op in ("add", "sub") and _is_int_imm(b, 0):
                return a
            if op == "mul" and (_is_int_imm(a, 1) or _is_int_imm(b, 1)):
                return b if _is_int_imm(a, 1) else a
            if op == "mul" and (_is_int_imm(a, 0) or _is_int_imm(b, 0)):
                return ir.IntImm(0, n.dtype)
            # (x + c1) + c2 -> x + (c1 + c2): keeps unrolled offsets in one constant
            if (op in ("add", "sub") and _is_int_imm(b) and isinstance(a, ir.BinOp)
                    and a.op in ("add", "sub") and _is_int_imm(a.b)):
                c1 = a.b.value if a.op == "add" else -a.b.value
                c = wrap_int(c1 + (b.value if op == "add" else -b.value), n.dtype)
                if c == 0:
                    return a.a
                if c < 0 and not is_unsigned(n.dtype):
                    return ir.BinOp("sub", a.a, ir.IntImm(-c, n.dtype))
                return ir.BinOp("add", a.a, ir.IntImm(c, n.dtype))
        if a is n.a and b is n.b:
            return n
        return ir.BinOp(op, a, b)

    def visit_Cast(self, n):
        v = self.visit(n.value)
        if _is_int_imm(v) and _int_dtype(n.dtype) and scalar_of(n.dtype) != "bool":
            return ir.IntImm(wrap_int(v.value, n.dtype), n.dtype)
        return n if v is n.value else ir.Cast(n.dtype, v)

    def visit_Ramp(self, n):
        base, stride = self.visit(n.base), self.visit(n.stride)
        if _is_int_imm(stride, 0):
            return ir.Broadcast(base, n.lanes)
        return n if base is n.base and stride is n.stride else ir.Ramp(base, stride, n.lanes)

    def visit_Select(self, n):
        c = self.visit(n.cond)
        if _is_int_imm(c):
            return self.visit(n.true_value if c.value else n.false_value)
        return self.generic(n)

    def visit_IfThenElse(self, n):
        c = self.visit(n.cond)
        if _is_int_imm(c):
            if c.value:
                return self.visit(n.then_case)
            if n.else_case is not None:
                return self.visit(n.else_case)
            return ir.Seq(())
        t = self.visit(n.then_case)
        e = self.visit(n.else_case) if n.else_case is not None else None
        if c is n.cond and t is n.then_case and e is n.else_case:
            return n
        return ir.IfThenElse(c, t, e)
