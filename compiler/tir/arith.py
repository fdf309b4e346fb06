"""Arithmetic on loop-IR expressions: constant folding, canonical index arithmetic, bounds.

``simplify(node, ranges)`` rewrites an expression or statement to a simpler equal one:

* constant folding with the IR's integer semantics (wrap-around, floordiv/floormod, truncating
  ``div``/``mod``) and float32 rounding for float32 immediates;
* integer ``+ - *`` trees are put into a canonical *linear form* ``c1*t1 + c2*t2 + ... + k``
  (terms in order of first appearance), which cancels ``x - x``, folds ``x*1``, ``x+0``,
  ``x*0``, distributes constants and re-joins ``(x // c) * c + x % c`` into ``x``;
* ``floordiv``/``floormod`` by a positive constant: ``(a*c + b) // c -> a + b // c``,
  ``(a*c + b) % c -> b % c``, ``(x // a) // b -> x // (a*b)``, ``(x % a) % b -> x % b`` when
  ``b`` divides ``a``, and ``x // c -> 0``, ``x % c -> x`` when the ranges prove ``0 <= x < c``;
* comparisons, ``min``/``max`` and ``select`` decided from the ranges when provable;
* statements: ``if`` with a constant condition is resolved, loops of extent 0 disappear.

``ranges`` maps loop ``Var``s to inclusive integer intervals ``(lo, hi)``; the statement
simplifier adds each ``For``'s range on the way down. Float expressions only get constant
folding (``x + 0.0`` is not ``x`` for ``x = -0.0``).
"""

from __future__ import annotations

import math

import numpy as np

from . import ir
from .functor import IRMutator

Ranges = dict  # ir.Var -> (lo, hi), inclusive ints


# ---------------------------------------------------------------------- constants
def wrap(value: int, dtype: str) -> int:
    """``value`` reduced to the range of integer ``dtype`` (two's complement wrap-around)."""
    if dtype == "bool":
        return int(bool(value))
    bits = int("".join(ch for ch in dtype if ch.isdigit()))
    value &= (1 << bits) - 1
    if not dtype.startswith("uint") and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fold_int(op: str, a: int, b: int, dtype: str) -> int | None:
    """Integer ``a op b`` with the IR's semantics, or None (division by zero)."""
    if op in ("div", "mod", "floordiv", "floormod") and b == 0:
        return None
    r = {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
        "div": lambda: _trunc_div(a, b), "mod": lambda: a - b * _trunc_div(a, b),
        "floordiv": lambda: a // b, "floormod": lambda: a % b,
        "min": lambda: min(a, b), "max": lambda: max(a, b),
        "and": lambda: int(bool(a) and bool(b)), "or": lambda: int(bool(a) or bool(b)),
        "eq": lambda: int(a == b), "ne": lambda: int(a != b), "lt": lambda: int(a < b),
        "le": lambda: int(a <= b), "gt": lambda: int(a > b), "ge": lambda: int(a >= b),
    }[op]()
    return r


def _np_float(dtype: str):
    return np.float32 if dtype == "float32" else np.float64


def fold_float(op: str, a: float, b: float, dtype: str) -> float | int | None:
    f = _np_float(dtype)
    x, y = f(a), f(b)
    with np.errstate(all="ignore"):
        r = {
            "add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y,
            "div": lambda: x / y if y != 0 else None,
            "min": lambda: min(x, y), "max": lambda: max(x, y),
            "eq": lambda: int(x == y), "ne": lambda: int(x != y), "lt": lambda: int(x < y),
            "le": lambda: int(x <= y), "gt": lambda: int(x > y), "ge": lambda: int(x >= y),
        }.get(op, lambda: None)()
    return None if r is None else (r if isinstance(r, int) else float(r))


def is_const(e, value=None) -> bool:
    if isinstance(e, (ir.IntImm, ir.FloatImm)):
        return value is None or e.value == value
    return False


def _is_int(dtype: str) -> bool:
    return ir.is_int(dtype) and ir.split_dtype(dtype)[1] == 1


# ---------------------------------------------------------------------- linear form
class Lin:
    """``sum(coeff * term) + const`` over int terms (insertion-ordered)."""

    __slots__ = ("terms", "const")

    def __init__(self, terms: dict | None = None, const: int = 0) -> None:
        self.terms = terms if terms is not None else {}
        self.const = const

    def add(self, other: Lin, scale: int = 1) -> Lin:
        t = dict(self.terms)
        for k, c in other.terms.items():
            t[k] = t.get(k, 0) + c * scale
        return Lin({k: c for k, c in t.items() if c != 0}, self.const + other.const * scale)

    def scale(self, s: int) -> Lin:
        if s == 0:
            return Lin()
        return Lin({k: c * s for k, c in self.terms.items()}, self.const * s)


def linear(e: ir.Expr) -> Lin:
    """The linear form of an integer expression (non-linear parts become terms)."""
    if isinstance(e, ir.IntImm):
        return Lin({}, e.value)
    if isinstance(e, ir.BinOp) and e.op in ("add", "sub"):
        return linear(e.a).add(linear(e.b), 1 if e.op == "add" else -1)
    if isinstance(e, ir.BinOp) and e.op == "mul":
        la, lb = linear(e.a), linear(e.b)
        if not lb.terms:
            return la.scale(lb.const)
        if not la.terms:
            return lb.scale(la.const)
        return Lin({e: 1}, 0)
    if isinstance(e, ir.Neg):
        return linear(e.a).scale(-1)
    return Lin({e: 1}, 0)


def _rejoin_divmod(lin: Lin) -> Lin:
    """``(x // c) * (k*c) + (x % c) * k  ->  x * k``."""
    changed = True
    while changed:
        changed = False
        for t, coef in list(lin.terms.items()):
            if (isinstance(t, ir.BinOp) and t.op == "floordiv" and isinstance(t.b, ir.IntImm)
                    and t.b.value > 0 and coef % t.b.value == 0):
                k = coef // t.b.value
                mod = ir.BinOp("floormod", t.a, t.b)
                if lin.terms.get(mod) == k:
                    terms = {a: b for a, b in lin.terms.items() if a != t and a != mod}
                    lin = Lin(terms, lin.const).add(linear(t.a), k)
                    changed = True
                    break
    return lin


def rebuild(lin: Lin, dtype: str) -> ir.Expr:
    """Expression of a linear form: positive terms first, constant last."""
    items = [(t, c) for t, c in lin.terms.items() if c != 0]
    items.sort(key=lambda tc: tc[1] < 0)  # stable: positives keep their order
    out: ir.Expr | None = None
    for t, c in items:
        mag = abs(c)
        term = t if mag == 1 else ir.BinOp("mul", t, ir.IntImm(mag, dtype))
        if out is None:
            out = term if c > 0 else ir.Neg(term)
        else:
            out = ir.BinOp("add" if c > 0 else "sub", out, term)
    k = wrap(lin.const, dtype)
    if out is None:
        return ir.IntImm(k, dtype)
    if k > 0:
        out = ir.BinOp("add", out, ir.IntImm(k, dtype))
    elif k < 0:
        out = ir.BinOp("sub", out, ir.IntImm(-k, dtype))
    return out


# ---------------------------------------------------------------------- constant bounds
def const_bound(e: ir.Expr, ranges: Ranges | None = None) -> tuple[int | None, int | None]:
    """Inclusive integer bounds of ``e`` given variable ranges (None where unbounded)."""
    ranges = ranges or {}
    return _bound(e, ranges)


def _bound(e, ranges) -> tuple:  # noqa: C901 - one case per node
    if isinstance(e, ir.IntImm):
        return e.value, e.value
    if isinstance(e, ir.Var):
        return ranges.get(e, (None, None))
    if isinstance(e, ir.Cast) and _is_int(e.dtype) and _is_int(e.value.dtype):
        lo, hi = _bound(e.value, ranges)
        if lo is not None and hi is not None and wrap(lo, e.dtype) == lo \
                and wrap(hi, e.dtype) == hi:
            return lo, hi
        return None, None
    if isinstance(e, ir.Neg):
        lo, hi = _bound(e.a, ranges)
        return (None if hi is None else -hi), (None if lo is None else -lo)
    if isinstance(e, ir.Select):
        a, b = _bound(e.true_value, ranges), _bound(e.false_value, ranges)
        return _hull(a, b)
    if not isinstance(e, ir.BinOp) or not _is_int(e.dtype):
        return None, None
    a, b = _bound(e.a, ranges), _bound(e.b, ranges)
    op = e.op
    if op == "add":
        return _opt(a[0], b[0], int.__add__), _opt(a[1], b[1], int.__add__)
    if op == "sub":
        return _opt(a[0], b[1], int.__sub__), _opt(a[1], b[0], int.__sub__)
    if op == "mul":
        if None in a or None in b:
            if b[0] is not None and b[0] == b[1] and b[0] >= 0:
                c = b[0]
                return _opt(a[0], c, int.__mul__), _opt(a[1], c, int.__mul__)
            return None, None
        ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
        return min(ps), max(ps)
    if op in ("floordiv", "floormod") and isinstance(e.b, ir.IntImm) and e.b.value > 0:
        c = e.b.value
        if op == "floordiv":
            return (None if a[0] is None else a[0] // c), (None if a[1] is None else a[1] // c)
        if a[0] is not None and a[1] is not None and a[0] >= 0 and a[1] < c:
            return a
        return 0, c - 1
    if op == "min":
        return _opt(a[0], b[0], min, True), _opt(a[1], b[1], min, False)
    if op == "max":
        return _opt(a[0], b[0], max, False), _opt(a[1], b[1], max, True)
    return None, None


def _opt(x, y, f, keep_one: bool | None = None):
    if x is None or y is None:
        if keep_one is True:       # min of lows with one unknown is unknown
            return None
        if keep_one is False:      # e.g. min of highs: the known one bounds it
            return y if x is None else x
        return None
    return f(x, y)


def _hull(a, b):
    lo = None if a[0] is None or b[0] is None else min(a[0], b[0])
    hi = None if a[1] is None or b[1] is None else max(a[1], b[1])
    return lo, hi


def _lin_bound(lin: Lin, ranges) -> tuple:
    lo = hi = lin.const
    for t, c in lin.terms.items():
        tl, th = _bound(t, ranges)
        if c < 0:
            tl, th = th, tl
        lo = None if lo is None or tl is None else lo + c * tl
        hi = None if hi is None or th is None else hi + c * th
    return lo, hi


# ---------------------------------------------------------------------- the simplifier
class Simplifier(IRMutator):
    """Expression and statement simplifier (see the module docstring)."""

    def __init__(self, ranges: Ranges | None = None) -> None:
        self.ranges: Ranges = dict(ranges or {})

    # ---- expressions
    def visit_BinOp(self, n: ir.BinOp):  # noqa: C901 - rule table
        a, b = self.visit(n.a), self.visit(n.b)
        dt = a.dtype
        if isinstance(a, ir.IntImm) and isinstance(b, ir.IntImm):
            r = fold_int(n.op, a.value, b.value, dt)
            if r is not None:
                return ir.IntImm(wrap(r, n.dtype), n.dtype)
        if isinstance(a, ir.FloatImm) and isinstance(b, ir.FloatImm):
            r = fold_float(n.op, a.value, b.value, dt)
            if r is not None:
                return ir.IntImm(r, "bool") if n.dtype == "bool" else ir.FloatImm(r, dt)
        if n.op in ("and", "or"):
            return self._logic(n.op, a, b, n)
        if not _is_int(dt):
            return self._same(n, a, b)
        op = n.op
        if op in ("add", "sub", "mul"):
            return rebuild(_rejoin_divmod(linear(ir.BinOp(op, a, b))), dt)
        if op in ("floordiv", "floormod") and isinstance(b, ir.IntImm) and b.value > 0:
            return self._divmod(op, a, b.value, dt)
        if op in ("div", "mod") and isinstance(b, ir.IntImm) and b.value > 0:
            lo, _ = _bound(a, self.ranges)
            if lo is not None and lo >= 0:  # truncating == flooring for a >= 0
                return self._divmod("floordiv" if op == "div" else "floormod", a, b.value, dt)
        if op in ("min", "max"):
            d = _lin_bound(linear(a).add(linear(b), -1), self.ranges)
            if d[1] is not None and d[1] <= 0:       # a <= b
                return a if op == "min" else b
            if d[0] is not None and d[0] >= 0:       # a >= b
                return b if op == "min" else a
        if op in ir.COMPARE_OPS:
            r = self._compare(op, a, b)
            if r is not None:
                return ir.IntImm(int(r), "bool")
        return self._same(n, a, b)

    @staticmethod
    def _same(n, a, b):
        return n if a is n.a and b is n.b else ir.BinOp(n.op, a, b)

    def _logic(self, op, a, b, n):
        for x, y in ((a, b), (b, a)):
            if isinstance(x, ir.IntImm):
                if op == "and":
                    return y if x.value else ir.IntImm(0, "bool")
                return ir.IntImm(1, "bool") if x.value else y
        return self._same(n, a, b)

    def _compare(self, op, a, b) -> bool | None:
        lo, hi = _lin_bound(linear(a).add(linear(b), -1), self.ranges)
        if op == "lt":
            return True if hi is not None and hi < 0 else False if lo is not None and lo >= 0 \
                else None
        if op == "le":
            return True if hi is not None and hi <= 0 else False if lo is not None and lo > 0 \
                else None
        if op == "gt":
            return True if lo is not None and lo > 0 else False if hi is not None and hi <= 0 \
                else None
        if op == "ge":
            return True if lo is not None and lo >= 0 else False if hi is not None and hi < 0 \
                else None
        if lo is not None and lo == hi:
            return (lo == 0) if op == "eq" else (lo != 0)
        if (lo is not None and lo > 0) or (hi is not None and hi < 0):
            return op == "ne"
        return None

    def _divmod(self, op: str, a: ir.Expr, c: int, dt: str) -> ir.Expr:
        if c == 1:
            return a if op == "floordiv" else ir.IntImm(0, dt)
        lin = linear(a)
        div_terms = {t: k // c for t, k in lin.terms.items() if k % c == 0}
        rest = Lin({t: k for t, k in lin.terms.items() if k % c != 0}, lin.const)
        if op == "floordiv":
            q = Lin(div_terms, 0)
            lo, hi = _lin_bound(rest, self.ranges)
            if lo is not None and hi is not None and lo // c == hi // c:
                q.const += lo // c
                return rebuild(q, dt)
            inner = rebuild(rest, dt)
            if (isinstance(inner, ir.BinOp) and inner.op == "floordiv"
                    and isinstance(inner.b, ir.IntImm) and inner.b.value > 0):
                term = ir.BinOp("floordiv", inner.a, ir.IntImm(inner.b.value * c, dt))
            else:
                term = ir.BinOp("floordiv", inner, ir.IntImm(c, dt))
            return rebuild(q.add(Lin({term: 1}, 0)), dt)
        # floormod: multiples of c vanish; coefficients and constant reduce modulo c
        rest = Lin({t: k % c for t, k in rest.terms.items()}, lin.const % c)
        lo, hi = _lin_bound(rest, self.ranges)
        if lo is not None and hi is not None and lo // c == hi // c:
            rest.const -= (lo // c) * c
            return rebuild(rest, dt)
        inner = rebuild(rest, dt)
        if (isinstance(inner, ir.BinOp) and inner.op == "floormod"
                and isinstance(inner.b, ir.IntImm) and inner.b.value % c == 0):
            inner = inner.a
        return ir.BinOp("floormod", inner, ir.IntImm(c, dt))

    def visit_Neg(self, n: ir.Neg):
        a = self.visit(n.a)
        if isinstance(a, ir.IntImm):
            return ir.IntImm(wrap(-a.value, a.dtype), a.dtype)
        if isinstance(a, ir.FloatImm):
            return ir.FloatImm(-a.value, a.dtype)
        if _is_int(a.dtype):
            return rebuild(linear(a).scale(-1), a.dtype)
        return n if a is n.a else ir.Neg(a)

    def visit_Not(self, n: ir.Not):
        a = self.visit(n.a)
        if isinstance(a, ir.IntImm):
            return ir.IntImm(int(not a.value), "bool")
        neg = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}
        if isinstance(a, ir.BinOp) and a.op in neg and _is_int(a.a.dtype):
            return ir.BinOp(neg[a.op], a.a, a.b)
        if isinstance(a, ir.Not):
            return a.a
        return n if a is n.a else ir.Not(a)

    def visit_Cast(self, n: ir.Cast):
        v = self.visit(n.value)
        if v.dtype == n.dtype:
            return v
        if isinstance(v, (ir.IntImm, ir.FloatImm)):
            r = fold_cast(v, n.dtype)
            if r is not None:
                return r
        return n if v is n.value else ir.Cast(n.dtype, v)

    def visit_Select(self, n: ir.Select):
        c = self.visit(n.cond)
        t, f = self.visit(n.true_value), self.visit(n.false_value)
        if isinstance(c, ir.IntImm):
            return t if c.value else f
        if c is n.cond and t is n.true_value and f is n.false_value:
            return n
        return ir.Select(c, t, f)

    # ---- statements
    def visit_For(self, n: ir.For):
        mn, ext = self.visit(n.min), self.visit(n.extent)
        if isinstance(ext, ir.IntImm) and ext.value <= 0:
            return ir.Seq(())
        lo, _ = _bound(mn, self.ranges)
        _, mhi = _bound(mn, self.ranges)
        _, ehi = _bound(ext, self.ranges)
        saved = self.ranges.get(n.var)
        if lo is not None and mhi is not None and ehi is not None:
            self.ranges[n.var] = (lo, mhi + ehi - 1)
        body = self.visit(n.body)
        if saved is None:
            self.ranges.pop(n.var, None)
        else:
            self.ranges[n.var] = saved
        if mn is n.min and ext is n.extent and body is n.body:
            return n
        return ir.For(n.var, mn, ext, n.kind, body, n.annotations)

    def visit_IfThenElse(self, n: ir.IfThenElse):
        c = self.visit(n.cond)
        if isinstance(c, ir.IntImm):
            if c.value:
                return self.visit(n.then_case)
            return self.visit(n.else_case) if n.else_case is not None else ir.Seq(())
        t = self.visit(n.then_case)
        e = self.visit(n.else_case) if n.else_case is not None else None
        if c is n.cond and t is n.then_case and e is n.else_case:
            return n
        return ir.IfThenElse(c, t, e)


def fold_cast(v: ir.IntImm | ir.FloatImm, dtype: str) -> ir.Expr | None:
    """A constant cast, or None when the result is not well defined (NaN, overflow)."""
    if dtype == "bool":
        return ir.IntImm(int(v.value != 0), "bool")
    if _is_int(dtype):
        if isinstance(v, ir.FloatImm):
            if not math.isfinite(v.value):
                return None
            return ir.IntImm(wrap(int(v.value), dtype), dtype)   # truncation toward zero
        return ir.IntImm(wrap(v.value, dtype), dtype)
    if ir.is_float(dtype) and ir.split_dtype(dtype)[1] == 1:
        return ir.FloatImm(float(_np_float(dtype)(v.value)), dtype)
    return None


def simplify(node, ranges: Ranges | None = None):
    """Simplified copy of an expression, statement or PrimFunc (see the module docstring)."""
    return Simplifier(ranges).visit(node)


def can_prove(cond: ir.Expr, ranges: Ranges | None = None) -> bool:
    """True when ``cond`` simplifies to the constant true under ``ranges``."""
    r = simplify(cond, ranges)
    return isinstance(r, ir.IntImm) and bool(r.value)


# ---------------------------------------------------------------------- symbolic intervals
def eval_interval(e: ir.Expr, relax: dict) -> tuple[ir.Expr, ir.Expr] | None:
    """Symbolic inclusive interval ``(lo, hi)`` of integer ``e`` when each Var in ``relax``
    ranges over its ``(lo_expr, hi_expr)``; other Vars are fixed. None if not analysable."""
    r = _interval(e, relax)
    if r is None:
        return None
    return simplify(r[0]), simplify(r[1])


def _interval(e, relax):  # noqa: C901 - one case per node
    if isinstance(e, ir.IntImm):
        return e, e
    if isinstance(e, ir.Var):
        return relax.get(e, (e, e))
    if isinstance(e, ir.Cast) and _is_int(e.dtype) and _is_int(e.value.dtype):
        r = _interval(e.value, relax)
        return r if r is None else (ir.Cast(e.dtype, r[0]), ir.Cast(e.dtype, r[1]))
    if isinstance(e, ir.Neg):
        r = _interval(e.a, relax)
        return None if r is None else (ir.Neg(r[1]), ir.Neg(r[0]))
    if isinstance(e, ir.Select):
        a, b = _interval(e.true_value, relax), _interval(e.false_value, relax)
        if a is None or b is None:
            return None
        return ir.BinOp("min", a[0], b[0]), ir.BinOp("max", a[1], b[1])
    if not isinstance(e, ir.BinOp) or not _is_int(e.dtype):
        return None
    if not _uses(e, relax):
        return e, e
    a, b = _interval(e.a, relax), _interval(e.b, relax)
    if a is None or b is None:
        return None
    op = e.op
    if op == "add":
        return ir.BinOp("add", a[0], b[0]), ir.BinOp("add", a[1], b[1])
    if op == "sub":
        return ir.BinOp("sub", a[0], b[1]), ir.BinOp("sub", a[1], b[0])
    if op == "mul":
        for x, y in ((a, b), (b, a)):
            if y[0] is y[1] and isinstance(simplify(y[0]), ir.IntImm):
                c = simplify(y[0])
                if c.value >= 0:
                    return ir.BinOp("mul", x[0], c), ir.BinOp("mul", x[1], c)
                return ir.BinOp("mul", x[1], c), ir.BinOp("mul", x[0], c)
        return None
    if op in ("floordiv", "floormod") and isinstance(e.b, ir.IntImm) and e.b.value > 0:
        if op == "floordiv":
            return ir.BinOp("floordiv", a[0], e.b), ir.BinOp("floordiv", a[1], e.b)
        return ir.IntImm(0, e.dtype), ir.IntImm(e.b.value - 1, e.dtype)
    if op in ("min", "max"):
        return ir.BinOp(op, a[0], b[0]), ir.BinOp(op, a[1], b[1])
    return None


def _uses(e, relax) -> bool:
    from .functor import post_order_visit

    found = []

    def fn(n):
        if isinstance(n, ir.Var) and n in relax:
            found.append(n)

    post_order_visit(e, fn)
    return bool(found)
