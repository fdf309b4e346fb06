"""Tensor-expression values: a thin operator-overloading wrapper over loop-IR expressions.

A ``TExpr`` holds one loop-IR ``Expr`` (``.node``); Python operators build new loop-IR nodes:

=========================  =========================================================
``a + b``, ``a - b``,      ``BinOp`` add/sub/mul; operands must have the same dtype
``a * b``, ``-a``
``a / b``                  floats only (``div``); integers must use ``//``
``a // b``, ``a % b``      integers only: ``floordiv``/``floormod`` (round toward -inf)
``a < b`` ... ``a == b``   comparisons, dtype ``bool``
``a & b``, ``a | b``, ``~a``  logical and/or/not on ``bool``
=========================  =========================================================

Python constants adopt the dtype of the other operand: ``A[i] + 1`` on an int8 ``A`` adds an
int8 ``1`` (an error if the constant does not fit), ``X[i] * 2`` on float32 multiplies by
``2.0f``; a Python float next to an integer expression is an error. There is no other implicit
promotion: ``int8 + int32`` is an error that asks for ``te.cast``, because silent widening is
how accumulators overflow unnoticed on an int8 accelerator.

``==`` and ``!=`` build comparisons too; used as a Python bool (``if a == b``) they answer
whether the two operands are the same node, so tensor expressions stay usable as dict keys.
Any other tensor expression used as a Python bool raises ``TEError``.
"""

from __future__ import annotations

import builtins

from ..errors import TEDtypeError, TEError
from ..tir import ir
from ..tir.printer import expr_str

_VERB = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
         "floordiv": "floor-divide", "floormod": "take floormod of", "min": "take min of",
         "max": "take max of", "and": "and", "or": "or"}
_SYM = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "floormod": "%",
        "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
        "and": "&", "or": "|", "min": ",", "max": ","}
_INT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2**31, 2**31 - 1),
              "int64": (-2**63, 2**63 - 1), "uint8": (0, 255), "uint32": (0, 2**32 - 1),
              "bool": (0, 1)}


class TExpr:
    """A tensor-expression value wrapping one loop-IR ``Expr`` (see the module docstring)."""

    __slots__ = ("node",)

    def __init__(self, node: ir.Expr) -> None:
        self.node = node

    @property
    def dtype(self) -> str:
        return self.node.dtype

    def astype(self, dtype: str) -> TExpr:
        return cast(dtype, self)

    def __str__(self) -> str:
        return expr_str(self.node)

    def __repr__(self) -> str:
        return f"TExpr({self})"

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TEError(f"the tensor expression `{self}` cannot be used as a Python bool; use "
                      f"te.select(cond, a, b) for a data-dependent choice")

    # arithmetic
    def __add__(self, o): return binary("add", self, o)
    def __radd__(self, o): return binary("add", o, self)
    def __sub__(self, o): return binary("sub", self, o)
    def __rsub__(self, o): return binary("sub", o, self)
    def __mul__(self, o): return binary("mul", self, o)
    def __rmul__(self, o): return binary("mul", o, self)
    def __truediv__(self, o): return binary("div", self, o)
    def __rtruediv__(self, o): return binary("div", o, self)
    def __floordiv__(self, o): return binary("floordiv", self, o)
    def __rfloordiv__(self, o): return binary("floordiv", o, self)
    def __mod__(self, o): return binary("floormod", self, o)
    def __rmod__(self, o): return binary("floormod", o, self)
    def __neg__(self):
        if self.dtype == "bool":
            raise TEDtypeError(f"cannot negate the bool `{self}`; use ~ for logical not")
        return TExpr(ir.Neg(self.node))

    # comparisons and logic
    def __lt__(self, o): return binary("lt", self, o)
    def __le__(self, o): return binary("le", self, o)
    def __gt__(self, o): return binary("gt", self, o)
    def __ge__(self, o): return binary("ge", self, o)
    def __eq__(self, o): return _Equality("eq", self, o)  # type: ignore[override]
    def __ne__(self, o): return _Equality("ne", self, o)  # type: ignore[override]
    def __and__(self, o): return binary("and", self, o)
    def __rand__(self, o): return binary("and", o, self)
    def __or__(self, o): return binary("or", self, o)
    def __ror__(self, o): return binary("or", o, self)
    def __invert__(self):
        if self.dtype != "bool":
            raise TEDtypeError(f"~ needs a bool, got {self.dtype} `{self}`")
        return TExpr(ir.Not(self.node))


class _Equality(TExpr):
    """``a == b``: a comparison expression whose Python truth is node identity."""

    __slots__ = ("_same",)

    def __init__(self, op: str, a, b) -> None:
        na = a.node if isinstance(a, TExpr) else a
        nb = b.node if isinstance(b, TExpr) else b
        same = na is nb
        object.__setattr__(self, "_same", same if op == "eq" else not same)
        super().__init__(binary(op, a, b).node)

    def __bool__(self) -> bool:
        return self._same


# ---------------------------------------------------------------------- conversion
def _is_py(x) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, TExpr)


def as_node(x, dtype: str | None = None, where: str = "") -> ir.Expr:
    """Loop-IR node of a TExpr, an IR Expr or a Python number (constants take ``dtype``)."""
    if isinstance(x, TExpr):
        return x.node
    if isinstance(x, ir.Expr):
        return x
    if isinstance(x, bool):
        return ir.IntImm(int(x), "bool")
    if isinstance(x, int):
        dt = dtype or "int32"
        if ir.is_float(dt):
            return ir.FloatImm(float(x), dt)
        lo, hi = _INT_RANGE.get(dt, (None, None))
        if lo is not None and not lo <= x <= hi:
            raise TEDtypeError(f"the constant {x} does not fit {dt}{where}; use te.cast on "
                               f"the other operand or a smaller constant")
        return ir.IntImm(x, dt)
    if isinstance(x, float):
        dt = dtype or "float32"
        if not ir.is_float(dt):
            raise TEDtypeError(f"cannot combine the Python float {x} with {dt}{where}; "
                               f"use te.cast to make the other operand a float")
        return ir.FloatImm(x, dt)
    raise TEError(f"expected a tensor expression or a number, got {type(x).__name__} {x!r}")


def wrap(node: ir.Expr) -> TExpr:
    return TExpr(node)


def _text(x) -> str:
    return str(x) if isinstance(x, TExpr) else expr_str(x) if isinstance(x, ir.Expr) else repr(x)


def promote(a, b, verb: str, shown: str) -> tuple[ir.Expr, ir.Expr]:
    """Nodes of ``a`` and ``b`` with one dtype (Python constants adopt the other's dtype)."""
    if _is_py(a) and _is_py(b):
        raise TEError(f"both operands are Python numbers{shown}")
    if _is_py(a):
        nb = as_node(b)
        na = as_node(a, nb.dtype, shown)
    else:
        na = as_node(a)
        nb = as_node(b, na.dtype, shown)
    if na.dtype != nb.dtype:
        raise TEDtypeError(f"cannot {verb} {na.dtype} and {nb.dtype}{shown}; insert te.cast")
    return na, nb


def binary(op: str, a, b) -> TExpr:
    """Build ``a op b`` with the promotion rules of the module docstring."""
    shown = f" in `{_text(a)} {_SYM[op]} {_text(b)}`"
    if op in ("min", "max"):
        shown = f" in `te.{op}({_text(a)}, {_text(b)})`"
    na, nb = promote(a, b, _VERB.get(op, "compare"), shown)
    dt = na.dtype
    if op in ("and", "or"):
        if dt != "bool":
            raise TEDtypeError(f"{_SYM[op]} needs bool operands, got {dt}{shown}")
    elif dt == "bool" and op not in ("eq", "ne"):
        raise TEDtypeError(f"cannot {_VERB.get(op, 'compare')} bool values{shown}; "
                           f"use & | ~ or te.cast")
    if op == "div" and ir.is_int(dt):
        raise TEDtypeError(f"`/` on {dt} values{shown}: use // for floor division, or "
                           f"te.cast to a float")
    if op in ("floordiv", "floormod") and ir.is_float(dt):
        raise TEDtypeError(f"`{_SYM[op]}` needs integers, got {dt}{shown}; for floats use "
                           f"te.floor(a / b)")
    return TExpr(ir.BinOp(op, na, nb))


# ---------------------------------------------------------------------- functions
def const(value, dtype: str | None = None) -> TExpr:
    """A constant of ``dtype`` (default int32 / float32 / bool by Python type)."""
    return TExpr(as_node(value, dtype))


def cast(dtype: str, x) -> TExpr:
    """Convert ``x`` to ``dtype``: integer narrowing wraps; float -> int truncates toward 0."""
    if dtype not in ir.SCALAR_DTYPES:
        raise TEDtypeError(f"te.cast: unknown dtype {dtype!r}; expected one of "
                           f"{', '.join(ir.SCALAR_DTYPES)}")
    n = as_node(x)
    return TExpr(n if n.dtype == dtype else ir.Cast(dtype, n))


def select(cond, true_value, false_value) -> TExpr:
    """``true_value`` where ``cond`` else ``false_value`` (both are evaluated)."""
    c = as_node(cond)
    if c.dtype != "bool":
        raise TEDtypeError(f"te.select: the condition `{_text(cond)}` is {c.dtype}, not bool; "
                           f"compare it, e.g. `x != 0`")
    shown = f" in `te.select({_text(cond)}, {_text(true_value)}, {_text(false_value)})`"
    tv, fv = promote(true_value, false_value, "select between", shown)
    return TExpr(ir.Select(c, tv, fv))


if_then_else = select


def all(*conds) -> TExpr:  # noqa: A001 - mirrors TVM's te.all
    """Logical and of bool expressions."""
    out = as_node(conds[0]) if conds else ir.IntImm(1, "bool")
    for c in conds[1:]:
        out = binary("and", TExpr(out), c).node
    return TExpr(out)


def any(*conds) -> TExpr:  # noqa: A001 - mirrors TVM's te.any
    """Logical or of bool expressions."""
    out = as_node(conds[0]) if conds else ir.IntImm(0, "bool")
    for c in conds[1:]:
        out = binary("or", TExpr(out), c).node
    return TExpr(out)


def _float_call(name: str, *args) -> TExpr:
    nodes = [as_node(a) for a in args if not _is_py(a)]
    dt = nodes[0].dtype if nodes else "float32"
    ns = [as_node(a, dt) for a in args]
    for n in ns:
        if not ir.is_float(n.dtype) or n.dtype != dt:
            call = f"te.{name}({', '.join(_text(a) for a in args)})"
            raise TEDtypeError(f"te.{name} needs float operands of one dtype, got "
                               f"{', '.join(x.dtype for x in ns)} in `{call}`; insert "
                               f"te.cast(\"float32\", ...)")
    return TExpr(ir.Call(name, tuple(ns), dt))


def exp(x) -> TExpr: return _float_call("exp", x)
def log(x) -> TExpr: return _float_call("log", x)
def sqrt(x) -> TExpr: return _float_call("sqrt", x)
def tanh(x) -> TExpr: return _float_call("tanh", x)
def sigmoid(x) -> TExpr: return _float_call("sigmoid", x)
def erf(x) -> TExpr: return _float_call("erf", x)
def floor(x) -> TExpr: return _float_call("floor", x)
def ceil(x) -> TExpr: return _float_call("ceil", x)
def round(x) -> TExpr: return _float_call("round", x)  # noqa: A001 - half to even, as numpy
def pow(x, y) -> TExpr: return _float_call("pow", x, y)  # noqa: A001


def abs(x) -> TExpr:  # noqa: A001
    """``|x|``: the ``abs`` intrinsic for floats, a select for integers (wraps at INT_MIN)."""
    n = as_node(x)
    if ir.is_float(n.dtype):
        return TExpr(ir.Call("abs", (n,), n.dtype))
    zero = ir.IntImm(0, n.dtype)
    return TExpr(ir.Select(ir.BinOp("lt", n, zero), ir.Neg(n), n))


__all__ = ["TExpr", "as_node", "binary", "const", "cast", "select", "if_then_else", "all",
           "any", "exp", "log", "sqrt", "tanh", "sigmoid", "erf", "floor", "ceil", "round",
           "pow", "abs"]
_builtins = builtins  # the module shadows all/any/abs/round/pow; keep the originals reachable
