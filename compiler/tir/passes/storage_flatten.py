"""Pass: multi-dimensional buffer accesses become flat, row-major element accesses.

Every buffer is dense and row-major: the flat index of ``B[i0, ..., in]`` with shape
``(s0, ..., sn)`` is ``((i0 * s1 + i1) * s2 + ...) + in``. Buffers keep their (multi-dim)
shape, which code generators use for sizes; only the accesses change.

Before::

    allocate T: float32[4, 8]:
      T[i, j] = A[i, j] + 1.0f

After::

    allocate T: float32[4, 8]:
      T[i * 8 + j] = A[i * 8 + j] + 1.0f
"""

from __future__ import annotations

from .. import ir
from ..arith import simplify
from ..functor import IRMutator


def flat_index(buffer: ir.Buffer, indices) -> ir.Expr:
    """Row-major flat index of ``indices`` into ``buffer`` (simplified)."""
    if buffer.strides is not None:
        idx: ir.Expr = ir.IntImm(0)
        for i, s in zip(indices, buffer.strides):
            s = s if isinstance(s, ir.Expr) else ir.IntImm(int(s))
            idx = ir.BinOp("add", idx, ir.BinOp("mul", i, s))
        return simplify(idx)
    idx = None
    for i, s in zip(indices, buffer.shape):
        s = s if isinstance(s, ir.Expr) else ir.IntImm(int(s))
        idx = i if idx is None else ir.BinOp("add", ir.BinOp("mul", idx, s), i)
    return simplify(idx if idx is not None else ir.IntImm(0))


class _Flatten(IRMutator):
    def visit_BufferLoad(self, n: ir.BufferLoad):
        idx = tuple(self.visit(i) for i in n.indices)
        return ir.Load(n.buffer, flat_index(n.buffer, idx))

    def visit_BufferStore(self, n: ir.BufferStore):
        idx = tuple(self.visit(i) for i in n.indices)
        return ir.Store(n.buffer, flat_index(n.buffer, idx), self.visit(n.value))


def storage_flatten(func: ir.PrimFunc) -> ir.PrimFunc:
    body = _Flatten().visit(func.body)
    return func if body is func.body else ir.PrimFunc(func.name, func.params, body, func.attrs)
