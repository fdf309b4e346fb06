"""Small read-only analyses of the loop IR used by the LLVM backend."""

from __future__ import annotations

from compiler.tir import ir
from compiler.tir.functor import free_vars, post_order_visit

from .fold import fold_constants
from .nodes import MaskedLoad, MaskedStore

_ACCESS = (ir.Load, ir.Store, MaskedLoad, MaskedStore, ir.BufferLoad, ir.BufferStore)


def as_ramp(e: ir.Expr) -> tuple[ir.Expr, ir.Expr] | None:
    """Write a vector integer expression as ``base + stride * lane`` if it is linear in the lane.

    Returns ``(base, stride)`` with scalar, constant-folded expressions, or None::

        ramp(i*8, 1, 8) + x8(j)   ->  (i*8 + j, 1)
        x8(k) * ramp(0, 2, 8)     ->  (0, 2*k)  (folded)
        A[ramp(0, 1, 8)]          ->  None (a gathered value is not linear)
    """
    r = _linear(e)
    if r is None:
        return None
    return fold_constants(r[0]), fold_constants(r[1])


def _linear(e):
    if isinstance(e, ir.Ramp):
        return e.base, e.stride
    if isinstance(e, ir.Broadcast):
        return e.value, ir.IntImm(0, e.value.dtype)
    if isinstance(e, ir.Cast) and ir.is_int(e.dtype) and ir.is_int(e.value.dtype):
        inner = _linear(e.value)
        if inner is None:
            return None
        dt = ir.split_dtype(e.dtype)[0]
        return ir.Cast(dt, inner[0]), ir.Cast(dt, inner[1])
    if isinstance(e, ir.BinOp) and e.op in ("add", "sub", "mul") and ir.is_int(e.dtype):
        a, b = _linear(e.a), _linear(e.b)
        if a is None or b is None:
            return None
        if e.op in ("add", "sub"):
            return ir.BinOp(e.op, a[0], b[0]), ir.BinOp(e.op, a[1], b[1])
        # mul: one side must be uniform (stride 0)
        a_stride, b_stride = fold_constants(a[1]), fold_constants(b[1])
        if isinstance(b_stride, ir.IntImm) and b_stride.value == 0:
            return ir.BinOp("mul", a[0], b[0]), ir.BinOp("mul", a_stride, b[0])
        if isinstance(a_stride, ir.IntImm) and a_stride.value == 0:
            return ir.BinOp("mul", a[0], b[0]), ir.BinOp("mul", a[0], b_stride)
    return None


def const_int(e: ir.Expr) -> int | None:
    """The value of ``e`` if it folds to an integer constant."""
    e = fold_constants(e)
    return e.value if isinstance(e, ir.IntImm) else None


def accessed_buffers(node) -> list[ir.Buffer]:
    """Buffers loaded or stored in ``node`` and not allocated inside it (first-use order)."""
    used: dict = {}
    allocated: set = set()

    def fn(n):
        if isinstance(n, _ACCESS):
            used.setdefault(n.buffer, None)
        elif isinstance(n, ir.Allocate):
            allocated.add(n.buffer)

    post_order_visit(node, fn)
    return [b for b in used if b not in allocated]


def written_buffers(node) -> set[ir.Buffer]:
    """Buffers stored to anywhere in ``node``."""
    out: set = set()

    def fn(n):
        if isinstance(n, (ir.Store, MaskedStore, ir.BufferStore)):
            out.add(n.buffer)

    post_order_visit(node, fn)
    return out


def unbound_vars(node) -> list[ir.Var]:
    """Variables used in ``node`` but bound neither by a For nor by a LetStmt inside it."""
    return free_vars(node)


def contains_load(e: ir.Expr) -> bool:
    """True if evaluating ``e`` reads memory."""
    found = False

    def fn(n):
        nonlocal found
        if isinstance(n, (ir.Load, MaskedLoad, ir.BufferLoad)):
            found = True

    post_order_visit(e, fn)
    return found
