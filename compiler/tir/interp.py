"""Reference interpreter: run a loop-IR PrimFunc on numpy arrays in pure Python.

``run(func, *arrays)`` executes ``func`` with one argument per parameter (a numpy array for a
Buffer, a Python number for a scalar Var); arrays are updated in place. It is a test oracle
for tiny shapes — slow by design (one Python operation per IR operation) and exact about the
IR's semantics (ir.py):

* integers wrap modulo 2^bits after every operation; ``floordiv``/``floormod`` round toward
  minus infinity, ``div``/``mod`` truncate; float -> int casts truncate toward zero;
* float32 arithmetic is rounded to float32 after every operation (computed in double, which
  is exact for + - * / and sqrt); math intrinsics are computed in double and rounded;
* ``Select`` evaluates both branches;
* every load and store is bounds-checked (``InterpError`` names the buffer and the index);
* an element of an ``Allocate``d buffer that was never written reads as *undef*, which
  propagates through arithmetic (like LLVM's poison). Branching on it, indexing with it, or
  leaving it in an argument buffer raises ``InterpError`` — this catches missing
  initialisation and wrong compute_at regions, while a discarded ``Select`` branch that
  read garbage (legal: both branches are evaluated) is harmless.

Both flattened (Load/Store) and multi-dimensional (BufferLoad/BufferStore) IR run. Vector
expressions (Ramp/Broadcast, vector dtypes) are not supported. Loop kinds do not matter: all
loops run serially, in order.

Implementation: the function is translated once to Python source (cached per PrimFunc
object) and executed with buffers as Python lists, written back to the arrays at the end.
"""

from __future__ import annotations

import math
from itertools import count

import numpy as np

from ..errors import InterpError
from . import ir

_cache: dict[int, tuple[ir.PrimFunc, object]] = {}


# ---------------------------------------------------------------------- runtime helpers
class _Undef:
    """The value of never-written memory; absorbs arithmetic, refuses to be branched on."""

    _inst = None

    def __new__(cls):
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def _absorb(self, *_):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _absorb
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __neg__ = _absorb
    __and__ = __rand__ = __truediv__ = __rtruediv__ = _absorb
    __lt__ = __le__ = __gt__ = __ge__ = _absorb

    def __eq__(self, other):
        return self

    __ne__ = __eq__
    __hash__ = object.__hash__

    def __bool__(self):
        raise InterpError("a condition depends on memory that was never written")

    def __index__(self):
        raise InterpError("an index depends on memory that was never written")

    def __repr__(self) -> str:
        return "undef"


UNDEF = _Undef()


def _min(a, b):
    return UNDEF if a is UNDEF or b is UNDEF else (a if a <= b else b)


def _max(a, b):
    return UNDEF if a is UNDEF or b is UNDEF else (a if a >= b else b)


def _and(a, b):
    return UNDEF if a is UNDEF or b is UNDEF else (a and b)


def _or(a, b):
    return UNDEF if a is UNDEF or b is UNDEF else (a or b)


def _not(a):
    return UNDEF if a is UNDEF else not a


def _sel(c, t, f):
    return UNDEF if c is UNDEF else (t if c else f)


def _undef_safe(fn):
    def g(*xs):
        for x in xs:
            if x is UNDEF:
                return UNDEF
        return fn(*xs)
    return g


def _wrapper(bits: int, signed: bool):
    mask = (1 << bits) - 1
    half = 1 << (bits - 1)
    if signed:
        return _undef_safe(lambda x: ((x + half) & mask) - half)
    return _undef_safe(lambda x: x & mask)


_WRAP = {dt: _wrapper(int(dt.lstrip("uint")), not dt.startswith("u"))
         for dt in ("int8", "int16", "int32", "int64", "uint8", "uint32")}


@_undef_safe
def _r32(x):
    with np.errstate(all="ignore"):
        return float(np.float32(x))


@_undef_safe
def _tdiv(a, b):
    if b == 0:
        raise InterpError("integer division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@_undef_safe
def _fdiv(a, b):
    if b == 0:
        raise InterpError("integer division by zero")
    return a // b


@_undef_safe
def _fmod(a, b):
    if b == 0:
        raise InterpError("integer modulo by zero")
    return a % b


@_undef_safe
def _tmod(a, b):
    return a - b * _tdiv(a, b)


@_undef_safe
def _fldiv(a, b):
    with np.errstate(all="ignore"):
        return float(np.float64(a) / np.float64(b))


@_undef_safe
def _to_int(x, dt):
    if isinstance(x, float):
        if not math.isfinite(x):
            raise InterpError(f"cast of {x} to {dt} is undefined")
        x = math.trunc(x)
    return _WRAP[dt](int(x))


def _ix(i, n, name):
    if i is UNDEF:
        raise InterpError(f"an index into buffer '{name}' depends on memory that was never "
                          f"written")
    if not 0 <= i < n:
        raise InterpError(f"index {i} out of bounds for buffer '{name}' of {n} elements")
    return i


def _np1(f):
    @_undef_safe
    def g(*xs):
        with np.errstate(all="ignore"):
            return float(f(*[np.float64(x) for x in xs]))
    return g


_MATH = {
    "exp": _np1(np.exp), "log": _np1(np.log), "sqrt": _np1(np.sqrt), "tanh": _np1(np.tanh),
    "sigmoid": _np1(lambda x: 1.0 / (1.0 + np.exp(-x))), "abs": _np1(np.abs),
    "pow": _np1(np.power), "erf": _undef_safe(math.erf), "floor": _np1(np.floor),
    "ceil": _np1(np.ceil), "round": _np1(np.round),
}

_ENV = {"_WRAP": _WRAP, "_r32": _r32, "_tdiv": _tdiv, "_fdiv": _fdiv, "_fmod": _fmod,
        "_tmod": _tmod, "_fldiv": _fldiv, "_to_int": _to_int, "_ix": _ix, "_MATH": _MATH,
        "InterpError": InterpError, "_min": _min, "_max": _max, "_and": _and, "_or": _or,
        "_not": _not, "_sel": _sel, "_cast_float": _undef_safe(float),
        "_cast_bool": _undef_safe(bool)}
_PYOP = {"add": "+", "sub": "-", "mul": "*", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
         "eq": "==", "ne": "!="}


# ---------------------------------------------------------------------- translation
class _Gen:
    def __init__(self) -> None:
        self.names: dict = {}
        self.ids = count()
        self.lines: list[str] = []
        self.consts: dict[str, object] = {}
        self.sizes: dict = {}

    def name(self, obj, prefix: str) -> str:
        if obj not in self.names:
            self.names[obj] = f"{prefix}{next(self.ids)}"
        return self.names[obj]

    def size(self, buf: ir.Buffer) -> int:
        n = 1
        for s in buf.shape:
            v = s.value if isinstance(s, ir.IntImm) else s
            if not isinstance(v, int):
                raise InterpError(f"buffer '{buf.name}' has a non-constant shape")
            n *= v
        return n

    def flat_idx(self, buf: ir.Buffer, indices) -> str:
        if len(indices) != len(buf.shape):
            raise InterpError(f"buffer '{buf.name}' accessed with {len(indices)} indices")
        strides, acc = [], 1
        for s in reversed(buf.shape):
            strides.append(acc)
            acc *= s.value if isinstance(s, ir.IntImm) else s
        strides.reverse()
        checks = []
        for i, s, st in zip(indices, buf.shape, strides):
            ext = s.value if isinstance(s, ir.IntImm) else s
            checks.append(f"_ix({self.expr(i)}, {ext}, {buf.name!r}) * {st}")
        return " + ".join(checks) or "0"

    def load(self, buf: ir.Buffer, idx: str) -> str:
        b = self.name(buf, "b")
        return f"{b}[_ix({idx}, {self.size(buf)}, {buf.name!r})]"

    def expr(self, e) -> str:  # noqa: C901 - one case per node
        if isinstance(e, ir.IntImm):
            return repr(bool(e.value)) if e.dtype == "bool" else repr(int(e.value))
        if isinstance(e, ir.FloatImm):
            k = f"_c{len(self.consts)}"
            v = float(e.value)
            self.consts[k] = _r32(v) if e.dtype == "float32" else v
            return k
        if isinstance(e, ir.Var):
            return self.name(e, "v")
        dt = e.dtype
        if ir.split_dtype(dt)[1] != 1 or isinstance(e, (ir.Ramp, ir.Broadcast)):
            raise InterpError(f"vector expressions ({dt}) are not supported by the interpreter")
        if isinstance(e, ir.BinOp):
            a, b = self.expr(e.a), self.expr(e.b)
            odt = e.a.dtype
            if e.op in ("and", "or", "min", "max"):
                return f"_{e.op}({a}, {b})"
            if e.op in ir.COMPARE_OPS:
                return f"({a} {_PYOP[e.op]} {b})"
            if ir.is_float(odt):
                if e.op == "div":
                    r = f"_fldiv({a}, {b})"
                elif e.op in _PYOP:
                    r = f"({a} {_PYOP[e.op]} {b})"
                else:
                    raise InterpError(f"{e.op} on {odt}")
                return f"_r32({r})" if odt == "float32" else r
            fn = {"div": "_tdiv", "mod": "_tmod", "floordiv": "_fdiv", "floormod": "_fmod"}
            r = f"{fn[e.op]}({a}, {b})" if e.op in fn else f"({a} {_PYOP[e.op]} {b})"
            return f"_WRAP[{odt!r}]({r})"
        if isinstance(e, ir.Not):
            return f"_not({self.expr(e.a)})"
        if isinstance(e, ir.Neg):
            a = self.expr(e.a)
            return f"(-{a})" if ir.is_float(dt) else f"_WRAP[{dt!r}](-{a})"
        if isinstance(e, ir.Cast):
            v = self.expr(e.value)
            if dt == "bool":
                return f"_cast_bool({v})"
            if ir.is_float(dt):
                return f"_r32(_cast_float({v}))" if dt == "float32" else f"_cast_float({v})"
            return f"_to_int({v}, {dt!r})"
        if isinstance(e, ir.Select):
            c, t, f = self.expr(e.cond), self.expr(e.true_value), self.expr(e.false_value)
            return f"_sel({c}, {t}, {f})"
        if isinstance(e, ir.Call):
            if e.name not in _MATH:
                raise InterpError(f"unknown intrinsic {e.name}")
            args = ", ".join(self.expr(a) for a in e.args)
            r = f"_MATH[{e.name!r}]({args})"
            return f"_r32({r})" if dt == "float32" else r
        if isinstance(e, ir.Load):
            return self.load(e.buffer, self.expr(e.index))
        if isinstance(e, ir.BufferLoad):
            return self.load(e.buffer, self.flat_idx(e.buffer, e.indices))
        raise InterpError(f"cannot interpret expression node {type(e).__name__}")

    def stmt(self, s, ind: int) -> None:  # noqa: C901 - one case per node
        pad = "    " * ind
        if isinstance(s, ir.Seq):
            if not s.stmts:
                self.lines.append(pad + "pass")
            for x in s.stmts:
                self.stmt(x, ind)
        elif isinstance(s, ir.For):
            v = self.name(s.var, "v")
            mn, ext = self.expr(s.min), self.expr(s.extent)
            self.lines.append(f"{pad}for {v} in range({mn}, {mn} + {ext}):")
            self.stmt(s.body, ind + 1)
        elif isinstance(s, ir.IfThenElse):
            self.lines.append(f"{pad}if {self.expr(s.cond)}:")
            self.stmt(s.then_case, ind + 1)
            if s.else_case is not None:
                self.lines.append(f"{pad}else:")
                self.stmt(s.else_case, ind + 1)
        elif isinstance(s, (ir.Store, ir.BufferStore)):
            b = self.name(s.buffer, "b")
            if isinstance(s, ir.Store):
                idx = self.expr(s.index)
            else:
                idx = self.flat_idx(s.buffer, s.indices)
            val = self.expr(s.value)
            self.lines.append(
                f"{pad}{b}[_ix({idx}, {self.size(s.buffer)}, {s.buffer.name!r})] = {val}")
        elif isinstance(s, ir.Allocate):
            b = self.name(s.buffer, "b")
            self.lines.append(f"{pad}{b} = _Poison({s.buffer.name!r}, {self.size(s.buffer)})")
            self.stmt(s.body, ind)
        elif isinstance(s, ir.LetStmt):
            self.lines.append(f"{pad}{self.name(s.var, 'v')} = {self.expr(s.value)}")
            self.stmt(s.body, ind)
        elif isinstance(s, ir.AttrStmt):
            self.stmt(s.body, ind)
        elif isinstance(s, ir.Evaluate):
            self.lines.append(f"{pad}{self.expr(s.value)}")
        else:
            raise InterpError(f"cannot interpret statement node {type(s).__name__}")


def _Poison(name: str, n: int) -> list:
    """A fresh allocation: every element undef until written."""
    return [UNDEF] * n


_ENV["_Poison"] = _Poison


def compile_func(func: ir.PrimFunc):
    """The Python callable for ``func`` (taking lists for buffers, numbers for vars)."""
    hit = _cache.get(id(func))
    if hit is not None and hit[0] is func:
        return hit[1]
    g = _Gen()
    params = [g.name(p, "b" if isinstance(p, ir.Buffer) else "v") for p in func.params]
    g.lines.append(f"def _f({', '.join(params)}):")
    g.stmt(func.body, 1)
    g.lines.append("    return None")
    src = "\n".join(g.lines)
    env = dict(_ENV)
    env.update(g.consts)
    exec(compile(src, f"<interp {func.name}>", "exec"), env)
    fn = env["_f"]
    fn.source = src
    _cache[id(func)] = (func, fn)
    return fn


def run(func: ir.PrimFunc, *args) -> None:
    """Execute ``func`` on ``args`` (numpy arrays for buffers, updated in place)."""
    if len(args) != len(func.params):
        raise InterpError(f"{func.name} takes {len(func.params)} arguments "
                          f"({', '.join(p.name for p in func.params)}), got {len(args)}")
    fn = compile_func(func)
    call, outs = [], []
    for p, a in zip(func.params, args):
        if isinstance(p, ir.Var):
            call.append(a)
            continue
        if not isinstance(a, np.ndarray):
            raise InterpError(f"argument '{p.name}' must be a numpy array, got {type(a).__name__}")
        shape = tuple(s.value if isinstance(s, ir.IntImm) else s for s in p.shape)
        if a.dtype != np.dtype(p.dtype) or a.shape != shape:
            raise InterpError(f"argument '{p.name}' must be {p.dtype}{list(shape)}, got "
                              f"{a.dtype}{list(a.shape)}")
        if not a.flags.c_contiguous or not a.flags.writeable:
            raise InterpError(f"argument '{p.name}' must be a writeable C-contiguous array")
        lst = a.ravel().tolist()
        call.append(lst)
        outs.append((a, lst))
    try:
        fn(*call)
    except InterpError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        raise InterpError(f"{func.name}: {type(e).__name__}: {e}") from e
    for (a, lst), p in zip(outs, [q for q in func.params if isinstance(q, ir.Buffer)]):
        if any(x is UNDEF for x in lst):
            i = next(k for k, x in enumerate(lst) if x is UNDEF)
            raise InterpError(f"{func.name}: element {i} of argument '{p.name}' was computed "
                              f"from memory that was never written")
        a.reshape(-1)[:] = np.asarray(lst, dtype=a.dtype)
