"""Expressions and memory accesses of the loop IR as LLVM instructions.

Two evaluation modes:

* ``emit(e)`` computes ``e`` exactly as ir.py defines it, in its own dtype: integer arithmetic
  wraps modulo 2^bits, ``floordiv``/``floormod`` round toward minus infinity, ``div``/``mod``
  truncate; an integer division by zero gives 0 and ``INT_MIN // -1`` wraps (numpy's results,
  never a trap).
* ``index(e)`` computes an *address*: load/store indices and loop bounds. Load-free integer
  expressions of 32 or 64 bits are evaluated in 64-bit arithmetic marked ``nsw`` (no signed
  wrap), as TVM does, so LLVM's scalar evolution sees affine indices, strength-reduces them and
  vectorizes; an index that overflowed 32 bits would be out of bounds anyway. Anything else
  (loads, narrow integers) is computed exactly and extended.

``ExprEmitter`` is a mixin of ``FunctionEmitter``, which provides ``b`` (the IRBuilder), ``mod``
(the module context), ``vars`` (Var -> Binding) and ``bufs`` (Buffer -> pointer).
"""

from __future__ import annotations

import llvmlite.ir as ll

from compiler.tir import ir

from . import intrinsics
from .analysis import as_ramp, const_int
from .dtypes import (
    I1,
    I8,
    I32,
    I64,
    bits,
    is_float,
    is_unsigned,
    itemsize,
    lanes_of,
    llvm_type,
    mem_type,
    scalar_of,
    wrap_int,
)
from .errors import CodegenError
from .fold import eval_int_binop
from .nodes import MaskedLoad

_ICMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
INDEX_DTYPES = ("int32", "int64", "uint32")


class Binding:
    """A variable's value: ``data`` in its dtype; ``index`` as i64 for address arithmetic."""

    __slots__ = ("data", "index")

    def __init__(self, data: ll.Value | None, index: ll.Value | None = None) -> None:
        self.data = data
        self.index = index


def _vec_type(t: ll.Type, lanes: int) -> ll.Type:
    return t if lanes == 1 else ll.VectorType(t, lanes)


def _lanes(v: ll.Value) -> int:
    return v.type.count if isinstance(v.type, ll.VectorType) else 1


def int_const(v: ll.Value) -> int | None:
    if isinstance(v, ll.Constant) and isinstance(v.type, ll.IntType) \
            and isinstance(v.constant, int):
        return v.constant
    return None


class ExprEmitter:
    """Mixin: translate expressions (see module docstring)."""

    b: ll.IRBuilder
    vars: dict
    bufs: dict

    # ------------------------------------------------------------------ small helpers
    def splat(self, v: ll.Value, lanes: int) -> ll.Value:
        """Broadcast scalar ``v`` to ``lanes`` lanes (no-op for lanes == 1)."""
        if lanes == 1 or isinstance(v.type, ll.VectorType):
            return v
        vt = ll.VectorType(v.type, lanes)
        if isinstance(v, ll.Constant) and isinstance(v.constant, (int, float)):
            return ll.Constant(vt, [v.constant] * lanes)
        undef = ll.Constant(vt, ll.Undefined)
        one = self.b.insert_element(undef, v, ll.Constant(I32, 0))
        return self.b.shuffle_vector(one, undef, ll.Constant(ll.VectorType(I32, lanes),
                                                             [0] * lanes))

    def iota(self, t: ll.Type, lanes: int) -> ll.Constant:
        vals = [float(i) for i in range(lanes)] if not isinstance(t, ll.IntType) \
            else list(range(lanes))
        return ll.Constant(ll.VectorType(t, lanes), vals)

    def const(self, value, dtype: str) -> ll.Value:
        """The immediate ``value`` of ``dtype`` (splat for vector dtypes)."""
        t = llvm_type(ir.with_lanes(dtype, 1))
        c = ll.Constant(t, float(value) if is_float(dtype) else wrap_int(int(value), dtype))
        return self.splat(c, lanes_of(dtype))

    @property
    def fmf(self) -> tuple[str, ...]:
        return self.mod.fmf

    # ------------------------------------------------------------------ exact evaluation
    def emit(self, e: ir.Expr) -> ll.Value:
        meth = getattr(self, "emit_" + type(e).__name__, None)
        if meth is None:
            raise CodegenError(f"the LLVM backend cannot translate expression "
                               f"{type(e).__name__}: {e!r}")
        return meth(e)

    def emit_IntImm(self, e: ir.IntImm) -> ll.Value:
        return self.const(e.value, e.dtype)

    def emit_FloatImm(self, e: ir.FloatImm) -> ll.Value:
        return self.const(e.value, e.dtype)

    def emit_Var(self, e: ir.Var) -> ll.Value:
        bnd = self.vars.get(e)
        if bnd is None:
            raise CodegenError(f"variable '{e.name}' is used but neither a parameter of "
                               f"'{self.func_name}' nor bound by an enclosing loop or let")
        if bnd.data is None:  # not cached: this block need not dominate later uses
            return self.b.trunc(bnd.index, llvm_type(e.dtype))
        return bnd.data

    def emit_Ramp(self, e: ir.Ramp) -> ll.Value:
        base = self.splat(self.emit(e.base), e.lanes)
        stride = self.splat(self.emit(e.stride), e.lanes)
        t = llvm_type(e.base.dtype)
        if is_float(e.dtype):
            return self.b.fadd(base, self.b.fmul(stride, self.iota(t, e.lanes)))
        return self.b.add(base, self.b.mul(stride, self.iota(t, e.lanes)))

    def emit_Broadcast(self, e: ir.Broadcast) -> ll.Value:
        return self.splat(self.emit(e.value), e.lanes)

    def emit_Not(self, e: ir.Not) -> ll.Value:
        a = self.emit(e.a)
        if is_float(e.dtype):
            raise CodegenError(f"Not of a float expression ({e!r}); compare with 0 instead")
        return self.b.xor(a, self.const(-1 if scalar_of(e.dtype) != "bool" else 1, e.dtype))

    def emit_Neg(self, e: ir.Neg) -> ll.Value:
        a = self.emit(e.a)
        if is_float(e.dtype):
            return self.b.fneg(a, flags=self.fmf)
        return self.b.sub(self.const(0, e.dtype), a)

    def emit_Select(self, e: ir.Select) -> ll.Value:
        c = self.emit(e.cond)
        t, f = self.emit(e.true_value), self.emit(e.false_value)
        n = max(_lanes(c), _lanes(t), _lanes(f))
        return self.b.select(self.splat(c, n) if _lanes(c) != 1 else c,
                             self.splat(t, n), self.splat(f, n))

    def emit_Cast(self, e: ir.Cast) -> ll.Value:
        return self.cast(self.emit(e.value), e.value.dtype, e.dtype)

    def emit_Call(self, e: ir.Call) -> ll.Value:
        return intrinsics.emit_call(self, e)

    def emit_Load(self, e: ir.Load) -> ll.Value:
        return self.load(e.buffer, e.index, None)

    def emit_MaskedLoad(self, e: MaskedLoad) -> ll.Value:
        return self.load(e.buffer, e.index, e.mask)

    def emit_BufferLoad(self, e: ir.BufferLoad) -> ll.Value:
        raise CodegenError(f"BufferLoad of '{e.buffer.name}' reached the LLVM backend; "
                           f"flatten the storage (lower the function) first")

    # ------------------------------------------------------------------ casts
    def cast(self, v: ll.Value, src: str, dst: str) -> ll.Value:
        """Convert ``v`` from dtype ``src`` to ``dst`` (lanes are kept)."""
        s, d = scalar_of(src), scalar_of(dst)
        n = _lanes(v)
        dt = _vec_type(llvm_type(d), n)
        if s == d:
            return v
        b = self.b
        if d == "bool":
            zero = self.splat(ll.Constant(llvm_type(s), 0.0 if is_float(s) else 0), n)
            if is_float(s):
                return b.fcmp_unordered("!=", v, zero)
            return b.icmp_unsigned("!=", v, zero)
        if s == "bool":
            return b.uitofp(v, dt) if is_float(d) else b.zext(v, dt)
        if is_float(s) and is_float(d):
            return b.fpext(v, dt) if bits(d) > bits(s) else b.fptrunc(v, dt)
        if is_float(d):
            return b.uitofp(v, dt) if is_unsigned(s) else b.sitofp(v, dt)
        if is_float(s):
            # truncation toward zero; narrow and unsigned targets go through a wider signed
            # integer so that in-range values convert exactly and others wrap like C
            if bits(d) < 32 or d == "uint32":
                wide = _vec_type(I64 if d == "uint32" else I32, n)
                return b.trunc(b.fptosi(v, wide), dt)
            return b.fptosi(v, dt)
        if bits(d) < bits(s):
            return b.trunc(v, dt)
        if bits(d) > bits(s):
            return b.zext(v, dt) if is_unsigned(s) else b.sext(v, dt)
        return v  # int32 <-> uint32: same bits

    # ------------------------------------------------------------------ binary operators
    def emit_BinOp(self, e: ir.BinOp) -> ll.Value:
        if scalar_of(e.a.dtype) != scalar_of(e.b.dtype):
            raise CodegenError(f"operands of '{e.op}' have different dtypes {e.a.dtype} and "
                               f"{e.b.dtype} in {e!r}; insert a Cast")
        a, b = self.emit(e.a), self.emit(e.b)
        n = max(_lanes(a), _lanes(b))
        a, b = self.splat(a, n), self.splat(b, n)
        dt = e.a.dtype
        if e.op in _ICMP:
            return self.compare(e.op, a, b, dt)
        if is_float(dt):
            return self.float_binop(e.op, a, b)
        return self.int_binop(e.op, a, b, dt)

    def compare(self, op: str, a: ll.Value, b: ll.Value, dtype: str) -> ll.Value:
        if is_float(dtype):
            if op == "ne":
                return self.b.fcmp_unordered("!=", a, b)
            return self.b.fcmp_ordered(_ICMP[op], a, b)
        if is_unsigned(dtype):
            return self.b.icmp_unsigned(_ICMP[op], a, b)
        return self.b.icmp_signed(_ICMP[op], a, b)

    def float_binop(self, op: str, a: ll.Value, b: ll.Value) -> ll.Value:
        f, bl = self.fmf, self.b
        if op == "add":
            return bl.fadd(a, b, flags=f)
        if op == "sub":
            return bl.fsub(a, b, flags=f)
        if op == "mul":
            return bl.fmul(a, b, flags=f)
        if op == "div":
            return bl.fdiv(a, b, flags=f)
        if op == "mod":
            return bl.frem(a, b, flags=f)
        if op in ("floordiv", "floormod"):
            q = intrinsics.llvm_unary(self, "floor", bl.fdiv(a, b, flags=f))
            return q if op == "floordiv" else bl.fsub(a, bl.fmul(q, b, flags=f), flags=f)
        if op == "min":
            return bl.select(bl.fcmp_ordered("<", a, b), a, b)
        if op == "max":
            return bl.select(bl.fcmp_ordered(">", a, b), a, b)
        raise CodegenError(f"operator '{op}' is not defined on floats")

    def int_binop(self, op: str, a: ll.Value, b: ll.Value, dtype: str) -> ll.Value:
        """Exact integer ``a op b`` in ``dtype`` (wrap-around, numpy-style division)."""
        bl = self.b
        if op == "add":
            return bl.add(a, b)
        if op == "sub":
            return bl.sub(a, b)
        if op == "mul":
            return bl.mul(a, b)
        if op == "and":
            return bl.and_(a, b)
        if op == "or":
            return bl.or_(a, b)
        if op in ("min", "max"):
            name = ("u" if is_unsigned(dtype) else "s") + op
            return self.call_intrinsic(f"llvm.{name}", [a, b], [a.type])
        if op in ("div", "mod", "floordiv", "floormod"):
            return self.int_division(op, a, b, dtype)
        raise CodegenError(f"unknown integer operator '{op}'")

    def int_division(self, op: str, a: ll.Value, b: ll.Value, dtype: str) -> ll.Value:
        bl = self.b
        zero, one = self.const_like(b, 0), self.const_like(b, 1)
        bc = int_const(b)
        if is_unsigned(dtype):
            if bc is not None and bc != 0:
                return bl.udiv(a, b) if op in ("div", "floordiv") else bl.urem(a, b)
            bz = bl.icmp_unsigned("==", b, zero)
            safe = bl.select(bz, one, b)
            r = bl.udiv(a, safe) if op in ("div", "floordiv") else bl.urem(a, safe)
            return bl.select(bz, zero, r)
        if bc is not None and bc not in (0, -1):
            q, r = bl.sdiv(a, b), bl.srem(a, b)
        else:
            # x/0 -> 0 and INT_MIN/-1 -> INT_MIN as numpy does, instead of a hardware trap
            bz = bl.icmp_signed("==", b, zero)
            bm1 = bl.icmp_signed("==", b, self.const_like(b, -1))
            safe = bl.select(bl.or_(bz, bm1), one, b)
            q = bl.select(bm1, bl.sub(zero, a), bl.sdiv(a, safe))
            q = bl.select(bz, zero, q)
            r = bl.select(bl.or_(bz, bm1), zero, bl.srem(a, safe))
        if op == "div":
            return q
        if op == "mod":
            return r
        # floor: correct when the remainder is non-zero and its sign differs from b's
        adjust = bl.and_(bl.icmp_signed("!=", r, zero),
                         bl.icmp_signed("<", bl.xor(r, b), zero))
        if op == "floordiv":
            return bl.sub(q, bl.zext(adjust, q.type))
        return bl.add(r, bl.select(adjust, b, zero))

    def const_like(self, v: ll.Value, value: int) -> ll.Value:
        t = v.type.element if isinstance(v.type, ll.VectorType) else v.type
        return self.splat(ll.Constant(t, value), _lanes(v))

    def call_intrinsic(self, name: str, args: list, overloads: list,
                       ret: ll.Type | None = None) -> ll.Value:
        """Call LLVM intrinsic ``name`` overloaded on ``overloads`` (returns args[0]'s type)."""
        fn = self.mod.intrinsic(name, ret or args[0].type, [a.type for a in args], overloads)
        return self.b.call(fn, args)

    # ------------------------------------------------------------------ index arithmetic
    def index(self, e: ir.Expr) -> ll.Value:
        """``e`` as an i64 (or <N x i64>) address offset; see the module docstring."""
        dt = e.dtype
        base = scalar_of(dt)
        if base not in INDEX_DTYPES:
            return self.extend64(self.emit(e), dt)
        if isinstance(e, ir.IntImm):
            return ll.Constant(I64, e.value)
        if isinstance(e, ir.Var):
            bnd = self.vars.get(e)
            if bnd is not None and bnd.index is not None:
                return bnd.index
            return self.extend64(self.emit(e), dt)
        if isinstance(e, ir.BinOp) and e.op in ("add", "sub", "mul", "min", "max", "div",
                                                "mod", "floordiv", "floormod"):
            a, b = self.index(e.a), self.index(e.b)
            n = max(_lanes(a), _lanes(b))
            return self.index_binop(e.op, self.splat(a, n), self.splat(b, n))
        if isinstance(e, ir.Cast) and scalar_of(e.value.dtype) in INDEX_DTYPES:
            return self.index(e.value)
        if isinstance(e, ir.Select):
            c = self.emit(e.cond)
            t, f = self.index(e.true_value), self.index(e.false_value)
            n = max(_lanes(c), _lanes(t), _lanes(f))
            return self.b.select(c, self.splat(t, n), self.splat(f, n))
        if isinstance(e, ir.Ramp):
            base_v = self.splat(self.index(e.base), e.lanes)
            stride = self.splat(self.index(e.stride), e.lanes)
            return self.b.add(base_v, self.b.mul(stride, self.iota(I64, e.lanes),
                                                 flags=("nsw",)), flags=("nsw",))
        if isinstance(e, ir.Broadcast):
            return self.splat(self.index(e.value), e.lanes)
        return self.extend64(self.emit(e), dt)

    def extend64(self, v: ll.Value, dtype: str) -> ll.Value:
        t = _vec_type(I64, _lanes(v))
        if bits(dtype) == 64:
            return v
        if is_float(dtype):
            raise CodegenError(f"a {dtype} expression is used as an index")
        return self.b.zext(v, t) if is_unsigned(dtype) else self.b.sext(v, t)

    def index_binop(self, op: str, a: ll.Value, b: ll.Value) -> ll.Value:
        bl = self.b
        ca, cb = int_const(a), int_const(b)
        if ca is not None and cb is not None:
            r = eval_int_binop(op, ca, cb, "int64")
            if r is not None:
                return ll.Constant(I64, r)
        nsw = ("nsw",)
        if op == "add":
            if ca == 0:
                return b
            return a if cb == 0 else bl.add(a, b, flags=nsw)
        if op == "sub":
            return a if cb == 0 else bl.sub(a, b, flags=nsw)
        if op == "mul":
            if ca == 1:
                return b
            return a if cb == 1 else bl.mul(a, b, flags=nsw)
        if op in ("min", "max"):
            return self.call_intrinsic(f"llvm.s{op}", [a, b], [a.type])
        if cb is not None and cb > 0 and cb & (cb - 1) == 0 and op in ("floordiv", "floormod"):
            shift = cb.bit_length() - 1
            if op == "floordiv":
                return bl.ashr(a, self.const_like(a, shift))
            return bl.and_(a, self.const_like(a, cb - 1))
        if op in ("div", "mod") and cb is not None and cb != 0:
            return bl.sdiv(a, b) if op == "div" else bl.srem(a, b)
        return self.int_division(op, a, b, "int64")

    # ------------------------------------------------------------------ memory
    def buffer_ptr(self, buf: ir.Buffer) -> ll.Value:
        p = self.bufs.get(buf)
        if p is None:
            raise CodegenError(f"buffer '{buf.name}' is accessed in '{self.func_name}' but is "
                               f"neither a parameter nor allocated by an enclosing Allocate")
        return p

    def _vector_ptrs(self, buf: ir.Buffer, index: ir.Expr, lanes: int,
                     masked: bool) -> ll.Value:
        # masked-off lanes may point anywhere: no inbounds promise for them
        ptrs = self.splat(self.buffer_ptr(buf), lanes)
        return self.b.gep(ptrs, [self.splat(self.index(index), lanes)], inbounds=not masked,
                          source_etype=mem_type(buf.dtype))

    def _mask(self, mask: ir.Expr | None, lanes: int) -> ll.Value:
        if mask is None:
            return ll.Constant(ll.VectorType(I1, lanes), [1] * lanes)
        return self.splat(self.emit(mask), lanes)

    def load(self, buf: ir.Buffer, index: ir.Expr, mask: ir.Expr | None) -> ll.Value:
        """Load ``buf[index]``: scalar, contiguous vector, broadcast or gather."""
        n = ir.split_dtype(index.dtype)[1]
        et = mem_type(buf.dtype)
        align = itemsize(buf.dtype)
        bl = self.b
        if n == 1:
            p = bl.gep(self.buffer_ptr(buf), [self.index(index)], inbounds=True,
                       source_etype=et)
            return self.from_mem(bl.load(p, typ=et, align=align), buf.dtype)
        vt = ll.VectorType(et, n)
        ramp = as_ramp(index)
        stride = const_int(ramp[1]) if ramp is not None else None
        if stride == 1:
            p = bl.gep(self.buffer_ptr(buf), [self.index(ramp[0])], inbounds=mask is None,
                       source_etype=et)
            if mask is None:
                v = bl.load(p, typ=vt, align=align)
            else:
                fn = self.mod.intrinsic("llvm.masked.load", vt, [p.type, I32,
                                                                 ll.VectorType(I1, n), vt],
                                        [vt, p.type])
                v = bl.call(fn, [p, ll.Constant(I32, align), self._mask(mask, n),
                                 ll.Constant(vt, None)])
        elif stride == 0 and mask is None:
            p = bl.gep(self.buffer_ptr(buf), [self.index(ramp[0])], inbounds=True,
                       source_etype=et)
            v = self.splat(bl.load(p, typ=et, align=align), n)
        else:
            ptrs = self._vector_ptrs(buf, index, n, mask is not None)
            fn = self.mod.intrinsic("llvm.masked.gather", vt,
                                    [ptrs.type, I32, ll.VectorType(I1, n), vt],
                                    [vt, ptrs.type])
            v = bl.call(fn, [ptrs, ll.Constant(I32, align), self._mask(mask, n),
                             ll.Constant(vt, None)])
        return self.from_mem(v, ir.with_lanes(buf.dtype, n))

    def store(self, buf: ir.Buffer, index: ir.Expr, value: ir.Expr,
              mask: ir.Expr | None) -> None:
        """Store ``value`` to ``buf[index]``: scalar, contiguous vector or scatter."""
        n = ir.split_dtype(index.dtype)[1]
        if ir.split_dtype(value.dtype)[1] not in (1, n):
            raise CodegenError(f"store to '{buf.name}': value has "
                               f"{ir.split_dtype(value.dtype)[1]} lanes, index has {n}")
        if scalar_of(value.dtype) != scalar_of(buf.dtype):
            raise CodegenError(f"store to '{buf.name}' ({buf.dtype}) of a {value.dtype} "
                               f"value; insert a Cast")
        et = mem_type(buf.dtype)
        align = itemsize(buf.dtype)
        bl = self.b
        v = self.to_mem(self.splat(self.emit(value), n), buf.dtype)
        if n == 1:
            p = bl.gep(self.buffer_ptr(buf), [self.index(index)], inbounds=True,
                       source_etype=et)
            bl.store(v, p, align=align)
            return
        vt = ll.VectorType(et, n)
        ramp = as_ramp(index)
        stride = const_int(ramp[1]) if ramp is not None else None
        if stride == 1:
            p = bl.gep(self.buffer_ptr(buf), [self.index(ramp[0])], inbounds=mask is None,
                       source_etype=et)
            if mask is None:
                bl.store(v, p, align=align)
                return
            fn = self.mod.intrinsic("llvm.masked.store", ll.VoidType(),
                                    [vt, p.type, I32, ll.VectorType(I1, n)], [vt, p.type])
            bl.call(fn, [v, p, ll.Constant(I32, align), self._mask(mask, n)])
            return
        ptrs = self._vector_ptrs(buf, index, n, mask is not None)
        fn = self.mod.intrinsic("llvm.masked.scatter", ll.VoidType(),
                                [vt, ptrs.type, I32, ll.VectorType(I1, n)], [vt, ptrs.type])
        bl.call(fn, [v, ptrs, ll.Constant(I32, align), self._mask(mask, n)])

    def from_mem(self, v: ll.Value, dtype: str) -> ll.Value:
        if scalar_of(dtype) == "bool":
            return self.b.icmp_unsigned("!=", v, self.const_like(v, 0))
        return v

    def to_mem(self, v: ll.Value, dtype: str) -> ll.Value:
        if scalar_of(dtype) == "bool":
            return self.b.zext(v, _vec_type(I8, _lanes(v)))
        return v
