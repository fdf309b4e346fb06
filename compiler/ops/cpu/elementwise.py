"""Elementwise operators: activations and other unary maps, broadcasting binary arithmetic.

Unary operators run on the flattened tensor (one contiguous loop, vectorized, parallel when
large). Binary operators follow numpy broadcasting; adjacent dimensions that broadcast alike
are merged (``base.collapse_broadcast``), so ``(1,64,56,56) + (1,64,1,1)`` is a ``(64, 3136)``
loop nest whose inner loop is contiguous.

Integer semantics: ``add``/``sub``/``mul`` wrap around like numpy's fixed-width integers;
``div`` on integers truncates toward zero (ONNX ``Div``, C), and division by zero gives 0.
"""

from __future__ import annotations

from ... import te
from .base import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    CpuOp,
    broadcast_shape,
    check_dtype,
    check_shape,
    collapse_broadcast,
    memoize,
    prod,
    read_broadcast,
    schedule_injective,
)
from .errors import OpAttributeError

_SIGNED = ("float32", "int8", "int16", "int32")


def _unary(name: str, shape, dtype: str, fn, allowed, attrs=None) -> CpuOp:
    shape = check_shape(name, "input shape", shape)
    dtype = check_dtype(name, dtype, allowed)
    n = prod(shape)
    X = te.placeholder((n,), dtype, name="X")
    Y = te.compute((n,), lambda i: fn(X[i]), name=name)
    s = te.create_schedule(Y)
    schedule_injective(s, Y)
    return CpuOp(name, s, [X], Y, attrs=attrs, in_shapes=[shape], out_shape=shape)


def _zero(dtype: str):
    return te.const(0.0 if dtype in FLOAT_DTYPES else 0, dtype)


@memoize
def relu(shape, dtype: str = "float32") -> CpuOp:
    """``max(x, 0)``."""
    return _unary("relu", shape, dtype, lambda x: te.max(x, _zero(dtype)), ALL_DTYPES)


def _bound(op: str, attr: str, value, dtype: str):
    if value is None:
        return None
    if dtype in FLOAT_DTYPES:
        try:
            return te.const(float(value), dtype)
        except (TypeError, ValueError):
            raise OpAttributeError(f"{op}: {attr}={value!r} must be a number") from None
    import numpy as np

    info = np.iinfo(dtype)
    if not float(value).is_integer():
        raise OpAttributeError(f"{op}: {attr}={value!r} must be an integer for {dtype}")
    v = min(max(int(value), int(info.min)), int(info.max))   # a wider bound clips nothing
    return te.const(v, dtype)


@memoize
def clip(shape, dtype: str = "float32", min=None, max=None) -> CpuOp:  # noqa: A002
    """``min(max(x, min), max)``; ``None`` means unbounded on that side (ONNX ``Clip``)."""
    lo, hi = _bound("clip", "min", min, dtype), _bound("clip", "max", max, dtype)

    def fn(x):
        if lo is not None:
            x = te.max(x, lo)
        if hi is not None:
            x = te.min(x, hi)
        return x

    return _unary("clip", shape, dtype, fn, ALL_DTYPES, {"min": min, "max": max})


@memoize
def leaky_relu(shape, dtype: str = "float32", alpha: float = 0.01) -> CpuOp:
    """``x if x >= 0 else alpha * x`` (ONNX ``LeakyRelu``, default alpha 0.01)."""
    if not isinstance(alpha, (int, float)):
        raise OpAttributeError(f"leaky_relu: alpha={alpha!r} must be a number")
    a = te.const(float(alpha), "float32")
    return _unary("leaky_relu", shape, dtype,
                  lambda x: te.select(x >= 0.0, x, x * a), FLOAT_DTYPES, {"alpha": alpha})


@memoize
def sigmoid(shape, dtype: str = "float32") -> CpuOp:
    """``1 / (1 + exp(-x))``."""
    return _unary("sigmoid", shape, dtype, te.sigmoid, FLOAT_DTYPES)


@memoize
def tanh(shape, dtype: str = "float32") -> CpuOp:
    return _unary("tanh", shape, dtype, te.tanh, FLOAT_DTYPES)


@memoize
def exp(shape, dtype: str = "float32") -> CpuOp:
    return _unary("exp", shape, dtype, te.exp, FLOAT_DTYPES)


@memoize
def sqrt(shape, dtype: str = "float32") -> CpuOp:
    return _unary("sqrt", shape, dtype, te.sqrt, FLOAT_DTYPES)


@memoize
def abs(shape, dtype: str = "float32") -> CpuOp:  # noqa: A001
    """``|x|`` (integers wrap at the minimum value, like numpy)."""
    return _unary("abs", shape, dtype, te.abs, _SIGNED)


@memoize
def neg(shape, dtype: str = "float32") -> CpuOp:
    return _unary("neg", shape, dtype, lambda x: -x, _SIGNED)


@memoize
def cast(shape, dtype: str = "float32", to: str = "float32") -> CpuOp:
    """Convert to ``to``: float -> int truncates toward 0, integer narrowing wraps."""
    to = check_dtype("cast", to, ALL_DTYPES, what="target dtype")
    return _unary("cast", shape, dtype, lambda x: te.cast(to, x), ALL_DTYPES, {"to": to})


# ---------------------------------------------------------------------- binary
def _trunc_div(a, b):
    """Integer division rounding toward zero, from floor division (0 for b == 0)."""
    q, r = a // b, a % b
    zero = _zero(a.dtype)
    fix = te.all(r != zero, (a < zero) != (b < zero))
    return te.select(fix, q + 1, q)


_BINARY = {
    "add": (lambda a, b: a + b, ALL_DTYPES),
    "sub": (lambda a, b: a - b, ALL_DTYPES),
    "mul": (lambda a, b: a * b, ALL_DTYPES),
    "div": (lambda a, b: a / b if a.dtype in FLOAT_DTYPES else _trunc_div(a, b), ALL_DTYPES),
    "minimum": (lambda a, b: te.min(a, b), ALL_DTYPES),
    "maximum": (lambda a, b: te.max(a, b), ALL_DTYPES),
}


def _binary(name: str, a_shape, b_shape, dtype: str) -> CpuOp:
    fn, allowed = _BINARY[name]
    a_shape = check_shape(name, "shape of A", a_shape)
    b_shape = check_shape(name, "shape of B", b_shape)
    dtype = check_dtype(name, dtype, allowed)
    out_shape = broadcast_shape(name, [a_shape, b_shape])
    oc, (ac, bc) = collapse_broadcast(out_shape, [a_shape, b_shape])
    A = te.placeholder(ac, dtype, name="A")
    B = te.placeholder(bc, dtype, name="B")
    C = te.compute(oc, lambda *i: fn(read_broadcast(A, i), read_broadcast(B, i)), name=name)
    s = te.create_schedule(C)
    schedule_injective(s, C)
    return CpuOp(name, s, [A, B], C, in_shapes=[a_shape, b_shape], out_shape=out_shape)


@memoize
def add(a_shape, b_shape, dtype: str = "float32") -> CpuOp:
    """``a + b`` with numpy broadcasting."""
    return _binary("add", a_shape, b_shape, dtype)


@memoize
def sub(a_shape, b_shape, dtype: str = "float32") -> CpuOp:
    """``a - b`` with numpy broadcasting."""
    return _binary("sub", a_shape, b_shape, dtype)


@memoize
def mul(a_shape, b_shape, dtype: str = "float32") -> CpuOp:
    """``a * b`` with numpy broadcasting."""
    return _binary("mul", a_shape, b_shape, dtype)


@memoize
def div(a_shape, b_shape, dtype: str = "float32") -> CpuOp:
    """``a / b``; integers truncate toward zero and ``x / 0`` is 0."""
    return _binary("div", a_shape, b_shape, dtype)


@memoize
def minimum(a_shape, b_shape, dtype: str = "float32") -> CpuOp:
    """Elementwise minimum with numpy broadcasting (ONNX ``Min`` of two inputs)."""
    return _binary("minimum", a_shape, b_shape, dtype)


@memoize
def maximum(a_shape, b_shape, dtype: str = "float32") -> CpuOp:
    """Elementwise maximum with numpy broadcasting (ONNX ``Max`` of two inputs)."""
    return _binary("maximum", a_shape, b_shape, dtype)


__all__ = ["abs", "add", "cast", "clip", "div", "exp", "leaky_relu", "maximum", "minimum",
           "mul", "neg", "relu", "sigmoid", "sqrt", "sub", "tanh"]
