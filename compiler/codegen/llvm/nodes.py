"""Backend-private loop-IR nodes produced by the vectorizer.

``ir.py`` has no predicated memory access; vectorizing a loop whose body is guarded by a
lane-dependent condition (``if i*8 + v < n: C[i*8 + v] = ...``) needs one, so the vectorizer
emits these two nodes and only this backend consumes them::

    MaskedLoad(buffer, index, mask)           lanes whose mask is false read nothing (value 0)
    MaskedStore(buffer, index, value, mask)   lanes whose mask is false write nothing

``index``, ``value`` and ``mask`` are vectors of the same lane count (``mask`` is
``boolxN``). They implement ``map_children``/``children`` so the generic traversals of
``compiler.tir.functor`` handle them.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.tir import ir


@dataclass(frozen=True)
class MaskedLoad(ir.Expr):
    buffer: ir.Buffer
    index: ir.Expr
    mask: ir.Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return ir.with_lanes(self.buffer.dtype, ir.split_dtype(self.index.dtype)[1])

    def children(self):
        return (self.index, self.mask)

    def map_children(self, f):
        i, m = f(self.index), f(self.mask)
        return self if i is self.index and m is self.mask else MaskedLoad(self.buffer, i, m)


@dataclass(frozen=True)
class MaskedStore(ir.Stmt):
    buffer: ir.Buffer
    index: ir.Expr
    value: ir.Expr
    mask: ir.Expr

    def children(self):
        return (self.index, self.value, self.mask)

    def map_children(self, f):
        i, v, m = f(self.index), f(self.value), f(self.mask)
        if i is self.index and v is self.value and m is self.mask:
            return self
        return MaskedStore(self.buffer, i, v, m)
