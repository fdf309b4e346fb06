"""The loop IR: the statement-level IR both code generators consume.

Nodes are small immutable dataclasses; identity of variables and buffers is object identity
(``eq=False``), so two ``Var("i")`` are different variables. Grammar::

    dtype   ::= "bool" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint32"
              | "float32" | "float64"
              | <scalar>"x"<lanes>                      e.g. "float32x8" (vector of 8 lanes)

    Expr    ::= IntImm(value, dtype) | FloatImm(value, dtype)
              | Var(name, dtype)                        loop variables and scalar parameters
              | BinOp(op, a, b)                         op in BINOPS; a, b of the same dtype
              | Not(a) | Neg(a)
              | Cast(dtype, value)
              | Select(cond, true_value, false_value)   both branches evaluated, no side effects
              | Call(name, args, dtype)                 pure math intrinsic, name in INTRINSICS
              | BufferLoad(buffer, indices)             multi-dimensional, before flattening
              | Load(buffer, index)                     flat element index, after flattening;
                                                        a vector index (Ramp) loads lanes
              | Ramp(base, stride, lanes)               base + stride * [0, 1, ..., lanes-1]
              | Broadcast(value, lanes)

    Stmt    ::= For(var, min, extent, kind, body, annotations)
                                                        kind in FOR_KINDS
              | Seq(stmts)
              | IfThenElse(cond, then_case, else_case?)
              | BufferStore(buffer, indices, value)     before flattening
              | Store(buffer, index, value)             after flattening
              | Allocate(buffer, body)                  buffer lives in body; scope on buffer
              | LetStmt(var, value, body)
              | AttrStmt(key, node, value, body)        pragmas, scopes, virtual threads
              | Evaluate(value)

    Buffer(name, shape, dtype, scope, strides)          shape: tuple of Expr (or int);
                                                        scope "global" unless allocated in a
                                                        named memory scope ("local", "inp", ...)
    PrimFunc(name, params, body, attrs)                 params: Buffers (pointers) and Vars
                                                        (scalars), in call order

Semantics: integer ``floordiv``/``floormod`` round toward minus infinity (Python's ``//``,
``%``); ``div``/``mod`` are C's truncating division (emitted by code generators only where
both operands are known non-negative, where the two agree). Integer division or modulo by zero
gives 0 (as numpy does), never a trap. Integer arithmetic wraps modulo 2^bits; index
arithmetic (load/store indices, loop bounds and extents) is assumed not to overflow, so a code
generator may compute it in 64 bits. ``and``, ``or`` and ``Not`` are logical on ``bool`` and
bitwise on integers. Comparisons produce ``bool``. ``min``/``max`` on floats follow numpy
(NaN handling is unspecified).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BINOPS = ("add", "sub", "mul", "div", "mod", "floordiv", "floormod", "min", "max",
          "and", "or", "eq", "ne", "lt", "le", "gt", "ge")
COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
INTRINSICS = ("exp", "log", "sqrt", "tanh", "sigmoid", "abs", "pow", "erf", "floor", "ceil",
              "round")
FOR_KINDS = ("serial", "parallel", "vectorized", "unrolled", "vthread")
SCALAR_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint32",
                 "float32", "float64")


def split_dtype(dtype: str) -> tuple[str, int]:
    """``"float32x8"`` -> ``("float32", 8)``; ``"int32"`` -> ``("int32", 1)``."""
    if "x" in dtype:
        base, lanes = dtype.rsplit("x", 1)
        return base, int(lanes)
    return dtype, 1


def with_lanes(dtype: str, lanes: int) -> str:
    base, _ = split_dtype(dtype)
    return base if lanes == 1 else f"{base}x{lanes}"


def is_float(dtype: str) -> bool:
    return split_dtype(dtype)[0].startswith("float")


def is_int(dtype: str) -> bool:
    b = split_dtype(dtype)[0]
    return b.startswith("int") or b.startswith("uint")


class Node:
    """Base of every IR node."""

    __slots__ = ()


class Expr(Node):
    __slots__ = ()
    dtype: str


class Stmt(Node):
    __slots__ = ()


@dataclass(frozen=True)
class IntImm(Expr):
    value: int
    dtype: str = "int32"


@dataclass(frozen=True)
class FloatImm(Expr):
    value: float
    dtype: str = "float32"


@dataclass(frozen=True, eq=False)
class Var(Expr):
    name: str
    dtype: str = "int32"

    def __repr__(self) -> str:
        return f"Var({self.name})"


@dataclass(frozen=True)
class BinOp(Expr):
    op: str
    a: Expr
    b: Expr
    dtype: str = field(default="")

    def __post_init__(self) -> None:
        if self.op not in BINOPS:
            raise ValueError(f"unknown binary operator {self.op!r}; expected one of {BINOPS}")
        if not self.dtype:
            lanes = max(split_dtype(self.a.dtype)[1], split_dtype(self.b.dtype)[1])
            dt = with_lanes("bool", lanes) if self.op in COMPARE_OPS else self.a.dtype
            object.__setattr__(self, "dtype", dt)


@dataclass(frozen=True)
class Not(Expr):
    a: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.a.dtype


@dataclass(frozen=True)
class Neg(Expr):
    a: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.a.dtype


@dataclass(frozen=True)
class Cast(Expr):
    dtype: str
    value: Expr


@dataclass(frozen=True)
class Select(Expr):
    cond: Expr
    true_value: Expr
    false_value: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.true_value.dtype


@dataclass(frozen=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]
    dtype: str


@dataclass(frozen=True, eq=False)
class Buffer(Node):
    name: str
    shape: tuple[Expr, ...]
    dtype: str = "float32"
    scope: str = "global"
    strides: tuple[Expr, ...] | None = None

    def __repr__(self) -> str:
        return f"Buffer({self.name})"


@dataclass(frozen=True)
class BufferLoad(Expr):
    buffer: Buffer
    indices: tuple[Expr, ...]

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.buffer.dtype


@dataclass(frozen=True)
class Load(Expr):
    buffer: Buffer
    index: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return with_lanes(self.buffer.dtype, split_dtype(self.index.dtype)[1])


@dataclass(frozen=True)
class Ramp(Expr):
    base: Expr
    stride: Expr
    lanes: int

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return with_lanes(self.base.dtype, self.lanes)


@dataclass(frozen=True)
class Broadcast(Expr):
    value: Expr
    lanes: int

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return with_lanes(self.value.dtype, self.lanes)


# ------------------------------------------------------------------ statements
@dataclass(frozen=True)
class For(Stmt):
    var: Var
    min: Expr
    extent: Expr
    kind: str
    body: Stmt
    annotations: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in FOR_KINDS:
            raise ValueError(f"unknown loop kind {self.kind!r}; expected one of {FOR_KINDS}")


@dataclass(frozen=True)
class Seq(Stmt):
    stmts: tuple[Stmt, ...]


@dataclass(frozen=True)
class IfThenElse(Stmt):
    cond: Expr
    then_case: Stmt
    else_case: Stmt | None = None


@dataclass(frozen=True)
class BufferStore(Stmt):
    buffer: Buffer
    indices: tuple[Expr, ...]
    value: Expr


@dataclass(frozen=True)
class Store(Stmt):
    buffer: Buffer
    index: Expr
    value: Expr


@dataclass(frozen=True)
class Allocate(Stmt):
    buffer: Buffer
    body: Stmt


@dataclass(frozen=True)
class LetStmt(Stmt):
    var: Var
    value: Expr
    body: Stmt


@dataclass(frozen=True)
class AttrStmt(Stmt):
    key: str
    node: object
    value: object
    body: Stmt


@dataclass(frozen=True)
class Evaluate(Stmt):
    value: Expr


@dataclass(frozen=True)
class PrimFunc(Node):
    name: str
    params: tuple[Buffer | Var, ...]
    body: Stmt
    attrs: tuple[tuple[str, object], ...] = ()


def const(value: int | float | bool, dtype: str | None = None) -> Expr:
    """An immediate of ``value``; dtype defaults to int32, float32 or bool."""
    if isinstance(value, bool):
        return IntImm(int(value), dtype or "bool")
    if isinstance(value, int):
        return IntImm(value, dtype or "int32")
    return FloatImm(float(value), dtype or "float32")
