"""ALU lowering: the value of an accumulator store becomes a chain of ALU (and GEMM) steps.

An elementwise stage in scope ``acc`` stores ``Y[i] = value``. The ALU computes in place
(``ACC[dst] = op(ACC[dst], imm or ACC[src])``, SPEC.md 5.6), so ``value`` is read as a *chain*:
a base operand followed by steps that each combine the running value with one operand::

    value  := base | step(value, operand)
    base   := acc-load            (in place when Y shares its storage, else reset + ADD)
            | acc(inp-load)       (an int8 tile widened: reset + GEMM with a selector weight)
            | constant            (reset, then ADD/SHR immediates to build it)
    step   := value + c | value - c | value * c | min(value, c) | max(value, c)  (immediates)
            | value + Z | value * Z | min(value, Z) | max(value, Z)           (Z in acc)
            | value + acc(R)                    (R in inp: GEMM with a selector weight block)
            | value // 2^s                                              -> SHR s
            | acc((int64(value) + 2^(s-1)) // 2^s)                        -> RSHR s
            | acc((int64(value) * int64(M) + 2^(s-1)) // 2^s)             -> MULSHR s (M in acc)

where ``acc(x)`` is a cast to the accumulator type and immediates are 16-bit signed. These are
exactly the operations' semantics (the 64-bit forms make RSHR/MULSHR exact), so the
schedule's reference meaning and the hardware agree bit for bit.

Example (``relu(rshr(conv, 8))`` as one stage)::

    Y[i] = max(int32((int64(conv[i]) + 128i64) // 256i64), 0)
    -> base conv (in place), steps RSHR 8, MAX 0
"""

from __future__ import annotations

from dataclasses import dataclass

from ...tir import ir
from ...tir.printer import expr_str
from .errors import VdlaPatternError

IMM_MIN, IMM_MAX = -(1 << 15), (1 << 15) - 1
_COMMUTATIVE = {"add": "add", "mul": "mul", "min": "min", "max": "max"}


@dataclass(frozen=True)
class Operand:
    """``imm`` (``value``), or a Load from an ``acc`` or ``inp`` buffer."""

    kind: str
    value: int = 0
    load: ir.Load | None = None


@dataclass(frozen=True)
class Step:
    """One ALU operation on the running value (``op`` of SPEC.md 5.6, lower case), or
    ``"gemm_add"`` for an ``inp`` operand added through the GEMM core."""

    op: str
    operand: Operand
    shift: int = 0


@dataclass(frozen=True)
class Chain:
    base: Operand
    steps: tuple[Step, ...]


def _pow2(e) -> int | None:
    if isinstance(e, ir.IntImm) and e.value > 0 and e.value & (e.value - 1) == 0:
        return e.value.bit_length() - 1
    return None


def _strip_cast(e: ir.Expr, dtype: str) -> ir.Expr | None:
    return e.value if isinstance(e, ir.Cast) and e.dtype == dtype else None


class AluParser:
    """Parse a store value into a ``Chain`` (``scope_of(buffer)`` gives a buffer's memory)."""

    def __init__(self, acc_dtype: str, scope_of, where: str) -> None:
        self.acc = acc_dtype
        self.scope_of = scope_of
        self.where = where

    def fail(self, e: ir.Expr, why: str) -> VdlaPatternError:
        return VdlaPatternError(f"{self.where}: `{expr_str(e)}` {why}")

    def operand(self, e: ir.Expr) -> Operand | None:
        if isinstance(e, ir.IntImm):
            return Operand("imm", e.value)
        if isinstance(e, ir.Load) and self.scope_of(e.buffer) == "acc":
            return Operand("acc", load=e)
        inner = _strip_cast(e, self.acc)
        if isinstance(inner, ir.Load) and self.scope_of(inner.buffer) == "inp":
            return Operand("inp", load=inner)
        return None

    def parse(self, e: ir.Expr) -> Chain:
        if e.dtype != self.acc:
            raise self.fail(e, f"has dtype {e.dtype}; accumulator stages compute in {self.acc}")
        return self._chain(e)

    def _chain(self, e: ir.Expr) -> Chain:
        op = self.operand(e)
        if op is not None:
            return Chain(op, ())
        if isinstance(e, ir.Cast) and e.dtype == self.acc:
            if e.value.dtype == self.acc:
                return self._chain(e.value)
            return self._wide(e)
        if isinstance(e, ir.BinOp):
            return self._binop(e)
        raise self.fail(e, "is not an operation of the accelerator's ALU (add, mul, min, max "
                           "with an immediate or accumulator operand, shifts by powers of two, "
                           "RSHR, MULSHR)")

    def _step(self, e: ir.Expr, inner: ir.Expr, step: Step) -> Chain:
        c = self._chain(inner)
        return Chain(c.base, c.steps + (step,))

    def _imm(self, e: ir.Expr, v: int) -> Operand:
        if not IMM_MIN <= v <= IMM_MAX:
            raise self.fail(e, f"needs the constant {v}, which does not fit the ALU's 16-bit "
                               f"signed immediate ({IMM_MIN}..{IMM_MAX})")
        return Operand("imm", v)

    def _binop(self, e: ir.BinOp) -> Chain:
        a, b = e.a, e.b
        if e.op == "sub" and isinstance(b, ir.IntImm):
            return self._step(e, a, Step("add", self._imm(e, -b.value)))
        if e.op == "floordiv":
            s = _pow2(b)
            if s is None:
                raise self.fail(e, "divides by something other than a power of two")
            if s == 0:
                return self._chain(a)
            return self._step(e, a, Step("shr", Operand("imm", s)))
        if e.op not in _COMMUTATIVE:
            raise self.fail(e, f"uses '{e.op}', which the ALU cannot compute")
        oa, ob = self.operand(a), self.operand(b)
        if ob is None and oa is not None:       # commutative: put the operand second
            a, b, oa, ob = b, a, ob, oa
        if ob is None:
            raise self.fail(e, "combines two computed values; the ALU combines the running "
                               "value with one immediate or one stored tile")
        if ob.kind == "imm":
            ob = self._imm(e, ob.value)
        if ob.kind == "inp" and e.op != "add":
            raise self.fail(e, "uses an input-buffer tile in an operation other than add")
        return self._step(e, a, Step("gemm_add" if ob.kind == "inp" else e.op, ob))

    def _wide(self, e: ir.Cast) -> Chain:
        """``acc(int64 expression)``: RSHR or MULSHR written exactly in 64 bits."""
        v = e.value
        s = 0
        rnd = None
        if isinstance(v, ir.BinOp) and v.op == "floordiv":
            s = _pow2(v.b)
            if s is None or s == 0:
                raise self.fail(e, "is a 64-bit division that is not a rounding shift")
            v = v.a
            if not (isinstance(v, ir.BinOp) and v.op == "add" and isinstance(v.b, ir.IntImm)):
                raise self.fail(e, "is a 64-bit shift without the rounding term 2^(s-1) "
                                   "(use // on the accumulator type for a plain shift)")
            rnd = v.b.value
            v = v.a
            if rnd != 1 << (s - 1):
                raise self.fail(e, f"rounds with {rnd}, not 2^(s-1) = {1 << (s - 1)}")
        if isinstance(v, ir.BinOp) and v.op == "mul":
            x, m = _strip_cast(v.a, "int64"), _strip_cast(v.b, "int64")
            mo = self.operand(m) if m is not None else None
            if x is None or mo is None or mo.kind != "acc":
                xm, mm = _strip_cast(v.b, "int64"), _strip_cast(v.a, "int64")
                mo = self.operand(mm) if mm is not None else None
                x = xm
            if x is None or mo is None or mo.kind != "acc":
                raise self.fail(e, "multiplies in 64 bits but not by an accumulator tile "
                                   "(MULSHR's multiplier lives in the accumulator)")
            if s > 2 * _bits(self.acc) - 2:
                raise self.fail(e, f"shifts by {s}; MULSHR allows 0..{2 * _bits(self.acc) - 2}")
            return self._step(e, x, Step("mulshr", mo, s))
        x = _strip_cast(v, "int64")
        if x is None or rnd is None:
            raise self.fail(e, "is a 64-bit computation the ALU cannot do (expected RSHR "
                               "`acc((int64(x) + 2^(s-1)) // 2^s)` or MULSHR)")
        if s > _bits(self.acc):
            raise self.fail(e, f"shifts by {s}, more than the accumulator width")
        return self._step(e, x, Step("rshr", Operand("imm", s)))


def _bits(dtype: str) -> int:
    return int("".join(c for c in dtype if c.isdigit()))


def materialize(c: int, acc_bits: int) -> list[tuple[str, int]]:
    """ALU immediates that build constant ``c`` from a reset accumulator: [(op, imm), ...]."""
    half = 1 << (acc_bits - 1)
    c = ((c + half) & ((1 << acc_bits) - 1)) - half
    if IMM_MIN <= c <= IMM_MAX:
        return [("add", c)] if c else []
    lo = ((c + (1 << 15)) & 0xFFFF) - (1 << 15)
    hi = (c - lo) >> 16
    hi = ((hi + (1 << 15)) & 0xFFFF) - (1 << 15)       # hi << 16 wraps alike
    out = [("add", hi), ("shr", -16)]
    return out + ([("add", lo)] if lo else [])
