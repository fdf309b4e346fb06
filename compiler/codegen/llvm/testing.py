"""Terse constructors for hand-written loop IR (tests, demos, benchmarks of the backend).

    i = var("i")
    body = loop(i, 64, "vectorized", store(C, i, add(load(A, i), load(B, i))))
    f = ir.PrimFunc("add", (A, B, C), body)

Integer arguments become ``int32`` immediates (or the other operand's dtype); floats become
immediates of the other operand's dtype.
"""

from __future__ import annotations

from compiler.tir import ir


def var(name: str, dtype: str = "int32") -> ir.Var:
    return ir.Var(name, dtype)


def buf(name: str, shape, dtype: str = "float32", scope: str = "global") -> ir.Buffer:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    dims = tuple(d if isinstance(d, ir.Expr) else ir.IntImm(int(d), "int32") for d in shape)
    return ir.Buffer(name, dims, dtype, scope)


def const(value, dtype: str) -> ir.Expr:
    if ir.is_float(dtype):
        return ir.FloatImm(float(value), dtype)
    return ir.IntImm(int(value), dtype)


def _pair(a, b) -> tuple[ir.Expr, ir.Expr]:
    if not isinstance(a, ir.Expr) and not isinstance(b, ir.Expr):
        a = const(a, "float32" if isinstance(a, float) else "int32")
    if not isinstance(a, ir.Expr):
        a = const(a, ir.split_dtype(b.dtype)[0])
    if not isinstance(b, ir.Expr):
        b = const(b, ir.split_dtype(a.dtype)[0])
    return a, b


def binop(op: str, a, b) -> ir.BinOp:
    a, b = _pair(a, b)
    return ir.BinOp(op, a, b)


def add(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = binop("add", out, x)
    return out


def sub(a, b):
    return binop("sub", a, b)


def mul(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = binop("mul", out, x)
    return out


def lt(a, b):
    return binop("lt", a, b)


def load(b: ir.Buffer, index) -> ir.Load:
    return ir.Load(b, index if isinstance(index, ir.Expr) else const(index, "int32"))


def store(b: ir.Buffer, index, value) -> ir.Store:
    index = index if isinstance(index, ir.Expr) else const(index, "int32")
    value = value if isinstance(value, ir.Expr) else const(value, b.dtype)
    return ir.Store(b, index, value)


def loop(v: ir.Var, extent, kind: str, body: ir.Stmt, start=0) -> ir.For:
    ext = extent if isinstance(extent, ir.Expr) else const(extent, v.dtype)
    mn = start if isinstance(start, ir.Expr) else const(start, v.dtype)
    return ir.For(v, mn, ext, kind, body)


def seq(*stmts) -> ir.Seq:
    return ir.Seq(tuple(stmts))
