"""Vectorize: ``For(kind="vectorized")`` with a constant extent becomes vector expressions.

The loop variable is replaced by ``Ramp(min, 1, lanes)``; expressions that depend on it become
vectors (scalars meeting vectors are broadcast), integer ``+ - *`` on ramps stay ramps so that
contiguous accesses are recognised, loads/stores take the vector index (the code generator emits
a vector load/store for a stride-1 ramp and a gather/scatter otherwise), and a lane-dependent
``IfThenElse`` becomes predicated (masked) loads and stores::

    before:                                      after:
    for v in vectorized(0, 8):                   C[ramp(i*8, 1, 8)] =
        C[i*8 + v] = A[i*8 + v] * 2f                 A[ramp(i*8, 1, 8)] * x8(2f)

    for v in vectorized(0, 8):                   MaskedStore(C, ramp(i*8, 1, 8),
        if i*8 + v < n:                              MaskedLoad(A, ramp(i*8, 1, 8), m) + x8(1f),
            C[i*8 + v] = A[i*8 + v] + 1f             m)   where m = ramp(i*8, 1, 8) < x8(n)

Loop-body statements keep their order, and each runs for all lanes before the next starts —
the usual vectorization contract (TVM, Halide): a schedule may vectorize a loop only if its
iterations are independent. Inner loops with lane-independent bounds stay loops; a ``LetStmt``
of a vector value binds a new vector variable; an ``Allocate`` inside the loop is widened to one
private copy per lane. What cannot be vectorized (a lane-dependent loop bound, a store to a
lane-independent address, an already-vectorized inner loop) leaves the loop serial
("scalarized"), where LLVM's own loop vectorizer may still pick it up.
"""

from __future__ import annotations

from compiler.tir import ir
from compiler.tir.functor import IRMutator, substitute

from .analysis import written_buffers
from .errors import CodegenError
from .fold import fold_constants
from .nodes import MaskedLoad, MaskedStore

MAX_LANES = 1024
MAX_WIDE = 4  # wider than this many native vectors: split into a loop over native vectors


def vectorize_loops(stmt: ir.Stmt, native_bits: int | None = None) -> ir.Stmt:
    """Vectorize every ``vectorized`` loop with a constant extent (innermost first).

    With ``native_bits`` (the SIMD register width), a loop whose extent is a multiple of the
    native lane count W is first split when LLVM would handle the wide vector badly: a
    non-power-of-two extent (48 float32 lanes on AVX-512: LLVM would widen ``<48 x float>``
    to ``<64 x float>`` and waste registers) becomes an unrolled loop of W-lane vectorized
    loops, and an extent above ``MAX_WIDE * W`` a serial loop of W-lane vectorized loops.
    """
    return _LoopVectorizer(native_bits).visit(stmt)


class _Scalarize(Exception):
    """The loop body cannot be vectorized; keep the loop serial."""


class _LoopVectorizer(IRMutator):
    def __init__(self, native_bits: int | None) -> None:
        self.native_bits = native_bits

    def _split(self, n: ir.For, lanes: int) -> ir.Stmt | None:
        """``for v in vec(L)`` -> ``for o in <kind>(L/W): for i in vec(W)`` (see above)."""
        if self.native_bits is None:
            return None
        ebits = max((_elem_bits(b.dtype) for b in written_buffers(n.body)), default=32)
        width = max(1, self.native_bits // ebits)
        if lanes <= width or lanes % width:
            return None
        if lanes > MAX_WIDE * width:
            kind = "serial"      # very wide: a loop over native vectors, no code bloat
        elif lanes & (lanes - 1):
            kind = "unrolled"    # 48 lanes: three native vectors
        else:
            return None          # 2-4 native vectors: LLVM splits <32 x float> cleanly
        dt = n.var.dtype
        outer, inner = ir.Var(n.var.name + "_o", dt), ir.Var(n.var.name + "_i", dt)
        v = ir.BinOp("add", n.min, ir.BinOp("add", ir.BinOp("mul", outer, _imm(width, dt)),
                                            inner))
        body = substitute(n.body, {n.var: v})
        return ir.For(outer, _imm(0, dt), _imm(lanes // width, dt), kind,
                      ir.For(inner, _imm(0, dt), _imm(width, dt), "vectorized", body))

    def visit_For(self, n: ir.For):
        extent = fold_constants(n.extent)
        if n.kind == "vectorized" and isinstance(extent, ir.IntImm):
            split = self._split(n, extent.value)
            if split is not None:
                return self.visit(split)
        body = self.visit(n.body)
        if n.kind == "vectorized" and isinstance(extent, ir.IntImm):
            lanes = extent.value
            if lanes <= 0:
                return ir.Seq(())
            if lanes == 1:
                return _replace_var(body, n.var, n.min)
            if lanes <= MAX_LANES:
                try:
                    return fold_constants(_Vectorizer(n.var, n.min, lanes).stmt(body))
                except _Scalarize:
                    pass
            return ir.For(n.var, n.min, n.extent, "serial", body, n.annotations)
        if body is n.body:
            return n
        return ir.For(n.var, n.min, n.extent, n.kind, body, n.annotations)


def _replace_var(body, var, value):
    if isinstance(value, (ir.IntImm, ir.Var)):
        return substitute(body, {var: value})
    return ir.LetStmt(var, value, body)


def _nlanes(e: ir.Expr) -> int:
    return ir.split_dtype(e.dtype)[1]


def _imm(v: int, dtype: str) -> ir.IntImm:
    return ir.IntImm(v, dtype)


class _Vectorizer:
    """Rewrites one loop body with the loop variable as a ``lanes``-wide ramp."""

    def __init__(self, var: ir.Var, vmin: ir.Expr, lanes: int) -> None:
        self.lanes = lanes
        self.vmap: dict = {var: ir.Ramp(vmin, _imm(1, var.dtype), lanes)}
        self.mask: ir.Expr | None = None
        self.widened: dict = {}

    # ------------------------------------------------------------------ helpers
    def bcast(self, e: ir.Expr) -> ir.Expr:
        return e if _nlanes(e) == self.lanes else ir.Broadcast(e, self.lanes)

    def binop(self, op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
        """``a op b`` with scalars broadcast; integer + - * keep ramps as ramps."""
        la, lb = _nlanes(a), _nlanes(b)
        if la == 1 and lb == 1:
            return ir.BinOp(op, a, b)
        if ir.is_int(a.dtype) and op in ("add", "sub", "mul"):
            ra, rb = _as_linear(a), _as_linear(b)
            if ra is not None and rb is not None:
                (ba, sa), (bb, sb) = ra, rb
                if op in ("add", "sub"):
                    return _ramp(ir.BinOp(op, ba, bb), ir.BinOp(op, sa, sb), self.lanes)
                if _is_zero(sb):
                    return _ramp(ir.BinOp("mul", ba, bb), ir.BinOp("mul", sa, bb), self.lanes)
                if _is_zero(sa):
                    return _ramp(ir.BinOp("mul", ba, bb), ir.BinOp("mul", ba, sb), self.lanes)
        return ir.BinOp(op, self.bcast(a), self.bcast(b))

    # ------------------------------------------------------------------ expressions
    def expr(self, e: ir.Expr) -> ir.Expr:  # noqa: C901 - one case per node type
        if isinstance(e, (ir.IntImm, ir.FloatImm)):
            return e
        if isinstance(e, ir.Var):
            if e in self.vmap:
                return self.vmap[e]
            if _nlanes(e) != 1:
                raise _Scalarize()
            return e
        if isinstance(e, ir.BinOp):
            a, b = self.expr(e.a), self.expr(e.b)
            if a is e.a and b is e.b:
                return e
            return self.binop(e.op, a, b)
        if isinstance(e, ir.Not):
            a = self.expr(e.a)
            return e if a is e.a else ir.Not(a)
        if isinstance(e, ir.Neg):
            a = self.expr(e.a)
            return e if a is e.a else ir.Neg(a)
        if isinstance(e, ir.Cast):
            v = self.expr(e.value)
            if v is e.value:
                return e
            if isinstance(v, ir.Ramp) and ir.is_int(e.dtype) and ir.is_int(v.dtype):
                # an integer cast of a ramp stays a ramp (int64 indices of int32 loop vars)
                return ir.Ramp(ir.Cast(e.dtype, v.base), ir.Cast(e.dtype, v.stride), v.lanes)
            return ir.Cast(ir.with_lanes(e.dtype, _nlanes(v)), v)
        if isinstance(e, ir.Select):
            c, t, f = self.expr(e.cond), self.expr(e.true_value), self.expr(e.false_value)
            if c is e.cond and t is e.true_value and f is e.false_value:
                return e
            return ir.Select(self.bcast(c), self.bcast(t), self.bcast(f))
        if isinstance(e, ir.Call):
            args = tuple(self.expr(a) for a in e.args)
            if all(x is y for x, y in zip(args, e.args)):
                return e
            return ir.Call(e.name, tuple(self.bcast(a) for a in args),
                           ir.with_lanes(e.dtype, self.lanes))
        if isinstance(e, ir.Load):
            return self.load(e.buffer, e.index)
        if isinstance(e, ir.BufferLoad):
            raise CodegenError(f"BufferLoad of '{e.buffer.name}' reached the LLVM backend; "
                               f"flatten the storage (lower the function) first")
        # Ramp, Broadcast, MaskedLoad: already a vector (nested vectorization)
        raise _Scalarize()

    def index(self, buf: ir.Buffer, index: ir.Expr) -> tuple[ir.Buffer, ir.Expr]:
        idx = self.expr(index)
        if _nlanes(idx) != 1 and _nlanes(idx) != self.lanes:
            raise _Scalarize()
        wide = self.widened.get(buf)
        if wide is None:
            return buf, idx
        # one private copy per lane: element i of lane l lives at i*lanes + l
        lanes_c = _imm(self.lanes, idx.dtype)
        lane = ir.Ramp(_imm(0, idx.dtype), _imm(1, idx.dtype), self.lanes)
        return wide, self.binop("add", self.binop("mul", idx, lanes_c), lane)

    def load(self, buf: ir.Buffer, index: ir.Expr) -> ir.Expr:
        b, idx = self.index(buf, index)
        if self.mask is not None:
            return MaskedLoad(b, self.bcast(idx), self.mask)
        if b is buf and idx is index:
            return ir.Load(buf, index)
        return ir.Load(b, idx)

    # ------------------------------------------------------------------ statements
    def stmt(self, s: ir.Stmt) -> ir.Stmt:  # noqa: C901 - one case per node type
        if isinstance(s, ir.Store):
            b, idx = self.index(s.buffer, s.index)
            val = self.expr(s.value)
            if _nlanes(idx) == 1:
                # every lane would store to the same address: order matters, stay serial
                raise _Scalarize()
            if self.mask is not None:
                return MaskedStore(b, idx, self.bcast(val), self.mask)
            return ir.Store(b, idx, self.bcast(val))
        if isinstance(s, ir.Seq):
            return ir.Seq(tuple(self.stmt(x) for x in s.stmts))
        if isinstance(s, ir.For):
            mn, ext = self.expr(s.min), self.expr(s.extent)
            if _nlanes(mn) != 1 or _nlanes(ext) != 1:
                raise _Scalarize()
            kind = "serial" if s.kind in ("parallel", "vectorized") else s.kind
            return ir.For(s.var, mn, ext, kind, self.stmt(s.body), s.annotations)
        if isinstance(s, ir.IfThenElse):
            return self.if_then_else(s)
        if isinstance(s, ir.LetStmt):
            val = self.expr(s.value)
            var = s.var
            if _nlanes(val) != 1:
                var = ir.Var(s.var.name, val.dtype)
                self.vmap[s.var] = var
            return ir.LetStmt(var, val, self.stmt(s.body))
        if isinstance(s, ir.Allocate):
            buf = s.buffer
            size: ir.Expr = _imm(self.lanes, "int32")
            for d in buf.shape:
                d = d if isinstance(d, ir.Expr) else _imm(int(d), "int32")
                d = d if d.dtype == "int32" else ir.Cast("int32", d)
                size = ir.BinOp("mul", size, d)
            wide = ir.Buffer(buf.name, (fold_constants(size),), buf.dtype, buf.scope)
            self.widened[buf] = wide
            return ir.Allocate(wide, self.stmt(s.body))
        if isinstance(s, ir.AttrStmt):
            return ir.AttrStmt(s.key, s.node, s.value, self.stmt(s.body))
        if isinstance(s, ir.Evaluate):
            return ir.Evaluate(self.expr(s.value))
        if isinstance(s, ir.BufferStore):
            raise CodegenError(f"BufferStore to '{s.buffer.name}' reached the LLVM backend; "
                               f"flatten the storage (lower the function) first")
        raise _Scalarize()

    def if_then_else(self, s: ir.IfThenElse) -> ir.Stmt:
        cond = self.expr(s.cond)
        if _nlanes(cond) == 1:
            then = self.stmt(s.then_case)
            other = self.stmt(s.else_case) if s.else_case is not None else None
            return ir.IfThenElse(cond, then, other)
        # evaluate the condition once, before either branch runs: the branches may change
        # memory the condition reads
        cv = ir.Var("mask", cond.dtype)
        outer = self.mask
        self.mask = cv if outer is None else ir.BinOp("and", outer, cv)
        parts = [self.stmt(s.then_case)]
        if s.else_case is not None:
            self.mask = ir.Not(cv) if outer is None else ir.BinOp("and", outer, ir.Not(cv))
            parts.append(self.stmt(s.else_case))
        self.mask = outer
        return ir.LetStmt(cv, cond, ir.Seq(tuple(parts)))


def _elem_bits(dtype: str) -> int:
    base = ir.split_dtype(dtype)[0]
    return 8 if base == "bool" else int("".join(ch for ch in base if ch.isdigit()))


def _is_zero(e: ir.Expr) -> bool:
    e = fold_constants(e)
    return isinstance(e, ir.IntImm) and e.value == 0


def _as_linear(e: ir.Expr):
    if isinstance(e, ir.Ramp):
        return e.base, e.stride
    if isinstance(e, ir.Broadcast):
        return e.value, _imm(0, e.value.dtype)
    if _nlanes(e) == 1:
        return e, _imm(0, e.dtype)
    return None


def _ramp(base: ir.Expr, stride: ir.Expr, lanes: int) -> ir.Expr:
    base, stride = fold_constants(base), fold_constants(stride)
    if isinstance(stride, ir.IntImm) and stride.value == 0:
        return ir.Broadcast(base, lanes)
    return ir.Ramp(base, stride, lanes)
