"""Evaluate loop-IR integer expressions over whole loop nests at once, with numpy.

The code generator knows every loop extent at compile time, so instead of symbolic analysis it
evaluates index expressions and conditions on the grid of a loop nest: a nest of loops
``l0 .. l(n-1)`` (extents ``e0 .. e(n-1)``) is the grid of shape ``(e0, .., e(n-1))``, loop
``li`` is ``arange(ei)`` along axis ``i``, and the variables of enclosing loops are plain ints.
The results are exact (int64; index arithmetic does not overflow, SPEC of the loop IR).

    nest = Nest.of(for_stmt)                 # the perfectly nested loops and their body
    idx = evaluate(store.index, nest.env(outer_env))   # array broadcastable to nest.shape
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...tir import ir
from .errors import VdlaPatternError

_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
        "gt": np.greater, "ge": np.greater_equal}


def _floordiv(a, b):
    b = np.asarray(b)
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.floor_divide(a, safe))


def _floormod(a, b):
    b = np.asarray(b)
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.mod(a, safe))


def _truncdiv(a, b):
    q = _floordiv(np.abs(a), np.abs(b))
    return np.where((np.asarray(a) < 0) != (np.asarray(b) < 0), -q, q)


def _truncmod(a, b):
    return np.asarray(a) - np.asarray(b) * _truncdiv(a, b)


_BIN = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "floordiv": _floordiv,
        "floormod": _floormod, "div": _truncdiv, "mod": _truncmod, "min": np.minimum,
        "max": np.maximum, "and": np.logical_and, "or": np.logical_or, **_CMP}


def _wrap(v, dtype: str):
    if dtype == "bool":
        return np.asarray(v).astype(bool)
    bits = int("".join(c for c in dtype if c.isdigit()))
    if bits >= 64:
        return v
    v = np.asarray(v, dtype=np.int64)
    if dtype.startswith("uint"):
        return v & ((1 << bits) - 1)
    half = 1 << (bits - 1)
    return ((v + half) & ((1 << bits) - 1)) - half


def evaluate(e: ir.Expr, env: dict):
    """The value of integer/bool expression ``e``; ``env`` maps Vars to ints or arrays."""
    if isinstance(e, ir.IntImm):
        return bool(e.value) if e.dtype == "bool" else e.value
    if isinstance(e, ir.Var):
        try:
            return env[e]
        except KeyError:
            raise VdlaPatternError(f"variable '{e.name}' has no value here (a loop the code "
                                   f"generator cannot evaluate)") from None
    if isinstance(e, ir.BinOp):
        a, b = evaluate(e.a, env), evaluate(e.b, env)
        if e.op in ("and", "or") and ir.is_int(e.dtype) and e.dtype != "bool":
            f = np.bitwise_and if e.op == "and" else np.bitwise_or
            return f(a, b)
        return _BIN[e.op](a, b)
    if isinstance(e, ir.Not):
        a = evaluate(e.a, env)
        return np.logical_not(a) if e.dtype == "bool" else np.invert(a)
    if isinstance(e, ir.Neg):
        return np.negative(evaluate(e.a, env))
    if isinstance(e, ir.Cast):
        if not ir.is_int(e.dtype):
            raise VdlaPatternError(f"cannot evaluate a cast to {e.dtype} at compile time")
        return _wrap(evaluate(e.value, env), e.dtype)
    if isinstance(e, ir.Select):
        return np.where(evaluate(e.cond, env), evaluate(e.true_value, env),
                        evaluate(e.false_value, env))
    raise VdlaPatternError(f"cannot evaluate {type(e).__name__} at compile time")


def scalar(e: ir.Expr, env: dict) -> int:
    """``e`` evaluated to one Python int (all its variables have int values)."""
    v = evaluate(e, env)
    if np.ndim(v):
        raise VdlaPatternError("expected a scalar value")
    return int(v)


@dataclass
class Nest:
    """Perfectly nested loops ``loops`` (outermost first) around ``body``.

    Guards (``IfThenElse`` without else) between the loops are collected in ``conds``; the
    body is the first statement that is neither a loop nor such a guard.
    """

    loops: list[ir.For]
    conds: list[ir.Expr]
    body: ir.Stmt

    @classmethod
    def of(cls, s: ir.Stmt) -> Nest:
        loops, conds = [], []
        while True:
            if isinstance(s, ir.For) and s.kind != "vthread":
                if not isinstance(s.extent, ir.IntImm) or not isinstance(s.min, ir.IntImm):
                    raise VdlaPatternError(f"loop '{s.var.name}' has a non-constant range")
                loops.append(s)
                s = s.body
            elif isinstance(s, ir.IfThenElse) and s.else_case is None:
                conds.append(s.cond)
                s = s.then_case
            else:
                return cls(loops, conds, s)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(lp.extent.value for lp in self.loops)

    def env(self, outer: dict) -> dict:
        """``outer`` plus each loop variable as an arange along its own axis."""
        env = dict(outer)
        n = len(self.loops)
        for i, lp in enumerate(self.loops):
            shape = [1] * n
            shape[i] = lp.extent.value
            env[lp.var] = (np.arange(lp.extent.value, dtype=np.int64)
                           + lp.min.value).reshape(shape)
        return env

    def grid(self, e: ir.Expr, env: dict) -> np.ndarray:
        """``e`` over the whole nest, broadcast to ``shape`` (int64 or bool)."""
        v = np.asarray(evaluate(e, env))
        return np.broadcast_to(v, self.shape) if v.shape != self.shape else v

    def mask(self, env: dict) -> np.ndarray:
        m = np.ones(self.shape, dtype=bool)
        for c in self.conds:
            m &= self.grid(c, env).astype(bool)
        return m
