"""Structural verifier of the loop IR, run between passes when debugging.

``verify(func, stage="...", flattened=None)`` raises ``IRVerifyError`` naming the first
problem and the statement it is in. It checks that:

* every ``Var`` is defined (a parameter, an enclosing ``For`` or ``LetStmt``) before use,
  and no loop or let re-defines a variable already in scope;
* every buffer accessed is a parameter or allocated by an enclosing ``Allocate`` (and no
  buffer is allocated twice in nested scopes);
* dtypes are consistent: ``BinOp`` operands agree, comparisons give bool, conditions are
  bool, indices and loop bounds are integers, a store's value has its buffer's dtype,
  ``Call`` names are in ``ir.INTRINSICS``;
* after flattening (``flattened=True``) no ``BufferLoad``/``BufferStore`` remains, before it
  (``flattened=False``) no ``Load``/``Store`` appears; multi-dim accesses use one index per
  dimension;
* loop kinds are valid and vectorized loops have a constant extent;
* no tensor-expression node (``ProducerLoad``, ``Reduce``) survived lowering.

Enable it between passes with ``lower(..., verify=True)`` or ``VDLA_VERIFY_IR=1``.
"""

from __future__ import annotations

from ..errors import IRVerifyError
from . import ir
from .printer import Printer


class _Verifier:
    def __init__(self, flattened: bool | None, where: str) -> None:
        self.flattened = flattened
        self.where = where
        self.vars: set = set()
        self.bufs: set = set()
        self.printer = Printer()

    def fail(self, msg: str, node) -> None:
        if isinstance(node, ir.Stmt):
            text = "\n".join(
                line for line in _stmt_text(self.printer, node).splitlines()[:3])
        else:
            text = self.printer.expr(node)
        raise IRVerifyError(f"IR verification failed{self.where}: {msg}\n  in: {text}")

    # ------------------------------------------------------------------ expressions
    def expr(self, e, ctx) -> None:  # noqa: C901 - one case per node
        if not isinstance(e, ir.Expr):
            self.fail(f"expected an expression, got {type(e).__name__}", ctx)
        t = type(e).__name__
        if t in ("ProducerLoad", "Reduce"):
            self.fail(f"tensor-expression node {t} left in the loop IR", ctx)
        if isinstance(e, (ir.IntImm, ir.FloatImm)):
            return
        if isinstance(e, ir.Var):
            if e not in self.vars:
                self.fail(f"variable '{e.name}' used outside the scope that defines it", ctx)
            return
        if isinstance(e, ir.BinOp):
            self.expr(e.a, ctx)
            self.expr(e.b, ctx)
            if e.a.dtype != e.b.dtype:
                self.fail(f"operands of {e.op} have dtypes {e.a.dtype} and {e.b.dtype}", e)
            base = ir.split_dtype(e.dtype)[0]
            if e.op in ir.COMPARE_OPS and base != "bool":
                self.fail(f"comparison {e.op} has dtype {e.dtype}, not bool", e)
            if e.op in ("and", "or") and ir.split_dtype(e.a.dtype)[0] != "bool":
                self.fail(f"{e.op} on non-bool {e.a.dtype}", e)
            if e.op not in ir.COMPARE_OPS and e.dtype != e.a.dtype:
                self.fail(f"{e.op} result dtype {e.dtype} differs from operands {e.a.dtype}", e)
            return
        if isinstance(e, (ir.Not, ir.Neg)):
            self.expr(e.a, ctx)
            return
        if isinstance(e, ir.Cast):
            if ir.split_dtype(e.dtype)[0] not in ir.SCALAR_DTYPES:
                self.fail(f"cast to unknown dtype {e.dtype}", e)
            self.expr(e.value, ctx)
            return
        if isinstance(e, ir.Select):
            for x in (e.cond, e.true_value, e.false_value):
                self.expr(x, ctx)
            if ir.split_dtype(e.cond.dtype)[0] != "bool":
                self.fail(f"select condition has dtype {e.cond.dtype}", e)
            if e.true_value.dtype != e.false_value.dtype:
                self.fail(f"select branches have dtypes {e.true_value.dtype} and "
                          f"{e.false_value.dtype}", e)
            return
        if isinstance(e, ir.Call):
            if e.name not in ir.INTRINSICS:
                self.fail(f"unknown intrinsic '{e.name}'", e)
            for a in e.args:
                self.expr(a, ctx)
            return
        if isinstance(e, ir.BufferLoad):
            if self.flattened:
                self.fail("BufferLoad after storage flattening", e)
            self.buffer(e.buffer, e)
            self.indices(e.buffer, e.indices, e, ctx)
            return
        if isinstance(e, ir.Load):
            if self.flattened is False:
                self.fail("flat Load before storage flattening", e)
            self.buffer(e.buffer, e)
            self.expr(e.index, ctx)
            if not ir.is_int(e.index.dtype):
                self.fail(f"index of {e.buffer.name} has dtype {e.index.dtype}", e)
            return
        if isinstance(e, ir.Ramp):
            self.expr(e.base, ctx)
            self.expr(e.stride, ctx)
            return
        if isinstance(e, ir.Broadcast):
            self.expr(e.value, ctx)
            return
        self.fail(f"unknown expression node {t}", ctx)

    def indices(self, buf, indices, node, ctx) -> None:
        if len(indices) != len(buf.shape):
            self.fail(f"{buf.name} has {len(buf.shape)} dimensions but is accessed with "
                      f"{len(indices)} indices", node)
        for i in indices:
            self.expr(i, ctx)
            if not ir.is_int(i.dtype):
                self.fail(f"index of {buf.name} has dtype {i.dtype}", node)

    def buffer(self, buf, node) -> None:
        if buf not in self.bufs:
            self.fail(f"buffer '{buf.name}' is neither a parameter nor allocated here", node)

    # ------------------------------------------------------------------ statements
    def stmt(self, s) -> None:  # noqa: C901 - one case per node
        if isinstance(s, ir.Seq):
            for x in s.stmts:
                self.stmt(x)
        elif isinstance(s, ir.For):
            if s.kind not in ir.FOR_KINDS:
                self.fail(f"invalid loop kind {s.kind!r}", s)
            self.expr(s.min, s)
            self.expr(s.extent, s)
            for x in (s.min, s.extent):
                if not ir.is_int(x.dtype):
                    self.fail(f"loop bound of '{s.var.name}' has dtype {x.dtype}", s)
            if s.kind == "vectorized" and not isinstance(s.extent, ir.IntImm):
                self.fail(f"vectorized loop '{s.var.name}' has a non-constant extent", s)
            self.define(s.var, s)
            self.stmt(s.body)
            self.vars.discard(s.var)
        elif isinstance(s, ir.IfThenElse):
            self.expr(s.cond, s)
            if ir.split_dtype(s.cond.dtype)[0] != "bool":
                self.fail(f"if condition has dtype {s.cond.dtype}", s)
            self.stmt(s.then_case)
            if s.else_case is not None:
                self.stmt(s.else_case)
        elif isinstance(s, ir.BufferStore):
            if self.flattened:
                self.fail("BufferStore after storage flattening", s)
            self.buffer(s.buffer, s)
            self.indices(s.buffer, s.indices, s, s)
            self.value(s.buffer, s.value, s)
        elif isinstance(s, ir.Store):
            if self.flattened is False:
                self.fail("flat Store before storage flattening", s)
            self.buffer(s.buffer, s)
            self.expr(s.index, s)
            self.value(s.buffer, s.value, s)
        elif isinstance(s, ir.Allocate):
            if s.buffer in self.bufs:
                self.fail(f"buffer '{s.buffer.name}' allocated twice", s)
            self.bufs.add(s.buffer)
            self.stmt(s.body)
            self.bufs.discard(s.buffer)
        elif isinstance(s, ir.LetStmt):
            self.expr(s.value, s)
            if s.var.dtype != s.value.dtype:
                self.fail(f"let '{s.var.name}': {s.var.dtype} bound to {s.value.dtype}", s)
            self.define(s.var, s)
            self.stmt(s.body)
            self.vars.discard(s.var)
        elif isinstance(s, ir.AttrStmt):
            if isinstance(s.value, ir.Expr):
                self.expr(s.value, s)
            self.stmt(s.body)
        elif isinstance(s, ir.Evaluate):
            self.expr(s.value, s)
        else:
            self.fail(f"unknown statement node {type(s).__name__}", s)

    def define(self, var, s) -> None:
        if var in self.vars:
            self.fail(f"variable '{var.name}' is defined again inside its own scope", s)
        self.vars.add(var)

    def value(self, buf, value, s) -> None:
        self.expr(value, s)
        if ir.split_dtype(value.dtype)[0] != buf.dtype:
            self.fail(f"storing {value.dtype} into {buf.dtype} buffer '{buf.name}'", s)


def _stmt_text(p: Printer, s) -> str:
    out: list[str] = []
    p.stmt(s, 0, out)
    return "\n".join(out)


def verify(func: ir.PrimFunc, stage: str = "", flattened: bool | None = None) -> None:
    """Check ``func`` (see the module docstring); ``stage`` names the pass for messages."""
    v = _Verifier(flattened, f" after {stage}" if stage else "")
    for p in func.params:
        if isinstance(p, ir.Buffer):
            if p in v.bufs:
                v.fail(f"parameter buffer '{p.name}' listed twice", func.body)
            v.bufs.add(p)
        elif isinstance(p, ir.Var):
            v.vars.add(p)
        else:
            v.fail(f"parameter {p!r} is neither a Buffer nor a Var", func.body)
    v.stmt(func.body)
