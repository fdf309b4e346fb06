"""A stable, readable text form of the loop IR (used by golden tests and error messages).

``print_ir(node)`` accepts a PrimFunc, a statement or an expression. The output is
Python-flavoured and deterministic: two prints of the same IR are byte-identical, and variables
that share a name get ``_1``, ``_2`` suffixes in order of first appearance. Example::

    func main(A: float32[4, 8], B: float32[8, 6], C: float32[4, 6]):
      for i in range(4):
        for j in range(6):
          C[i * 6 + j] = 0f
          for k in range(8):
            C[i * 6 + j] = C[i * 6 + j] + A[i * 8 + k] * B[k * 6 + j]

Conventions:
  * ``for v in range(E):`` is a serial loop over ``[0, E)``; ``range(m, m + E)`` when the
    minimum is not 0. Other kinds prefix the keyword: ``parallel for``, ``vectorized for``,
    ``unrolled for``, ``vthread for``; annotations follow as ``# key=value``.
  * ``A[i, j]`` is a multi-dimensional ``BufferLoad``/``BufferStore``; after storage flattening
    loads and stores print with one flat index, ``A[i * 8 + j]``. Flat accesses to 1-D buffers
    are marked ``A[[i]]`` so they cannot be confused with ``BufferLoad``.
  * Integer operators follow Python: ``//`` and ``%`` are floordiv/floormod; ``/`` is ``div``
    (truncating for integers) and ``truncmod(a, b)`` is ``mod``.
  * Immediates: ``3`` is int32, ``3i8`` int8, ``3i64`` int64, ``1.5f`` float32, ``1.5`` float64,
    ``True``/``False`` bool.
"""

from __future__ import annotations

from . import ir

_PREC = {"or": 1, "and": 2, "eq": 3, "ne": 3, "lt": 3, "le": 3, "gt": 3, "ge": 3,
         "add": 4, "sub": 4, "mul": 5, "div": 5, "floordiv": 5, "floormod": 5}
_SYM = {"or": "or", "and": "and", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">",
        "ge": ">=", "add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//",
        "floormod": "%"}
_SUFFIX = {"int8": "i8", "int16": "i16", "int64": "i64", "uint8": "u8", "uint32": "u32",
           "float32": "f", "float64": ""}


class Printer:
    """Holds the variable-name table of one printing session."""

    def __init__(self) -> None:
        self.names: dict[object, str] = {}
        self.used: set[str] = set()

    def name(self, obj, base: str) -> str:
        if obj in self.names:
            return self.names[obj]
        n, k = base, 0
        while n in self.used:
            k += 1
            n = f"{base}_{k}"
        self.used.add(n)
        self.names[obj] = n
        return n

    # ------------------------------------------------------------------ expressions
    def expr(self, e, prec: int = 0) -> str:  # noqa: C901 - one case per node
        if isinstance(e, ir.IntImm):
            if e.dtype == "bool":
                return "True" if e.value else "False"
            s = str(e.value) + _SUFFIX.get(e.dtype, "")
            return f"({s})" if e.value < 0 and prec > 0 else s
        if isinstance(e, ir.FloatImm):
            s = repr(float(e.value)) + _SUFFIX.get(e.dtype, "")
            return f"({s})" if e.value < 0 and prec > 0 else s
        if isinstance(e, ir.Var):
            return self.name(e, e.name)
        if isinstance(e, ir.BinOp):
            if e.op in ("min", "max"):
                return f"{e.op}({self.expr(e.a)}, {self.expr(e.b)})"
            if e.op == "mod":
                return f"truncmod({self.expr(e.a)}, {self.expr(e.b)})"
            p = _PREC[e.op]
            # left-associative; the right operand of an equal-precedence op gets parentheses
            # (exact for floats, where a + (b + c) != (a + b) + c)
            lhs_p = p + 1 if p == 3 else p
            s = f"{self.expr(e.a, lhs_p)} {_SYM[e.op]} {self.expr(e.b, p + 1)}"
            return f"({s})" if p < prec else s
        if isinstance(e, ir.Not):
            s = f"not {self.expr(e.a, 6)}"
            return f"({s})" if prec > 2 else s
        if isinstance(e, ir.Neg):
            s = f"-{self.expr(e.a, 6)}"
            return f"({s})" if prec > 5 else s
        if isinstance(e, ir.Cast):
            return f"{e.dtype}({self.expr(e.value)})"
        if isinstance(e, ir.Select):
            return (f"select({self.expr(e.cond)}, {self.expr(e.true_value)}, "
                    f"{self.expr(e.false_value)})")
        if isinstance(e, ir.Call):
            return f"{e.name}({', '.join(self.expr(a) for a in e.args)})"
        if isinstance(e, ir.BufferLoad):
            return f"{self.buf(e.buffer)}[{', '.join(self.expr(i) for i in e.indices)}]"
        if isinstance(e, ir.Load):
            return self.flat(e.buffer, e.index)
        if isinstance(e, ir.Ramp):
            return f"ramp({self.expr(e.base)}, {self.expr(e.stride)}, {e.lanes})"
        if isinstance(e, ir.Broadcast):
            return f"broadcast({self.expr(e.value)}, {e.lanes})"
        if hasattr(e, "print_with"):
            return e.print_with(self)
        return repr(e)

    def buf(self, b: ir.Buffer) -> str:
        return self.name(b, b.name)

    def flat(self, b: ir.Buffer, index) -> str:
        idx = self.expr(index)
        if len(b.shape) == 1:
            return f"{self.buf(b)}[[{idx}]]"
        return f"{self.buf(b)}[{idx}]"

    def buffer_decl(self, b: ir.Buffer) -> str:
        shape = ", ".join(self.expr(s) if isinstance(s, ir.Expr) else str(s) for s in b.shape)
        scope = "" if b.scope == "global" else f" in {b.scope}"
        return f"{self.buf(b)}: {b.dtype}[{shape}]{scope}"

    # ------------------------------------------------------------------ statements
    def stmt(self, s, ind: int, out: list[str]) -> None:  # noqa: C901 - one case per node
        pad = "  " * ind
        if isinstance(s, ir.Seq):
            for x in s.stmts:
                self.stmt(x, ind, out)
        elif isinstance(s, ir.For):
            kind = "" if s.kind == "serial" else s.kind + " "
            v = self.name(s.var, s.var.name)
            if isinstance(s.min, ir.IntImm) and s.min.value == 0:
                rng = f"range({self.expr(s.extent)})"
            else:
                rng = f"range({self.expr(s.min)}, {self.expr(ir.BinOp('add', s.min, s.extent))})"
            ann = "".join(f"  # {k}={val}" for k, val in s.annotations)
            out.append(f"{pad}{kind}for {v} in {rng}:{ann}")
            self.stmt(s.body, ind + 1, out)
        elif isinstance(s, ir.IfThenElse):
            out.append(f"{pad}if {self.expr(s.cond)}:")
            self.stmt(s.then_case, ind + 1, out)
            if s.else_case is not None:
                out.append(f"{pad}else:")
                self.stmt(s.else_case, ind + 1, out)
        elif isinstance(s, ir.BufferStore):
            idx = ", ".join(self.expr(i) for i in s.indices)
            out.append(f"{pad}{self.buf(s.buffer)}[{idx}] = {self.expr(s.value)}")
        elif isinstance(s, ir.Store):
            out.append(f"{pad}{self.flat(s.buffer, s.index)} = {self.expr(s.value)}")
        elif isinstance(s, ir.Allocate):
            out.append(f"{pad}allocate {self.buffer_decl(s.buffer)}:")
            self.stmt(s.body, ind + 1, out)
        elif isinstance(s, ir.LetStmt):
            out.append(f"{pad}let {self.name(s.var, s.var.name)} = {self.expr(s.value)}")
            self.stmt(s.body, ind, out)
        elif isinstance(s, ir.AttrStmt):
            node = self.attr_value(s.node)
            out.append(f"{pad}attr [{node}] {s.key} = {self.attr_value(s.value)}:")
            self.stmt(s.body, ind + 1, out)
        elif isinstance(s, ir.Evaluate):
            out.append(f"{pad}evaluate({self.expr(s.value)})")
        else:
            out.append(f"{pad}<{type(s).__name__}>")

    def attr_value(self, v) -> str:
        if isinstance(v, ir.Expr):
            return self.expr(v)
        if isinstance(v, ir.Buffer):
            return self.buf(v)
        if isinstance(v, str):
            return repr(v)
        return str(v)

    def func(self, f: ir.PrimFunc) -> str:
        params = []
        for p in f.params:
            if isinstance(p, ir.Buffer):
                params.append(self.buffer_decl(p))
            else:
                params.append(f"{self.name(p, p.name)}: {p.dtype}")
        out = [f"func {f.name}({', '.join(params)}):"]
        for k, v in f.attrs:
            out.append(f"  # attr {k} = {v!r}")
        self.stmt(f.body, 1, out)
        return "\n".join(out) + "\n"


def print_ir(node) -> str:
    """Text of a PrimFunc, statement or expression (see the module docstring)."""
    p = Printer()
    if isinstance(node, ir.PrimFunc):
        return p.func(node)
    if isinstance(node, ir.Stmt):
        out: list[str] = []
        p.stmt(node, 0, out)
        return "\n".join(out) + "\n"
    return p.expr(node)


def expr_str(e) -> str:
    """One-line text of an expression (for error messages)."""
    return Printer().expr(e)
