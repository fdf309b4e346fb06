"""Loop-IR dtypes as LLVM, ctypes and numpy types.

``bool`` is ``i1`` in registers and one byte (``i8``, numpy's ``bool_``) in memory and in
function arguments; every other scalar dtype has one representation. A vector dtype
``"<scalar>x<lanes>"`` is an LLVM ``<lanes x T>``.
"""

from __future__ import annotations

import ctypes

import llvmlite.ir as ll
import numpy as np

from compiler.tir.ir import split_dtype

from .errors import CodegenError

I1 = ll.IntType(1)
I8 = ll.IntType(8)
I32 = ll.IntType(32)
I64 = ll.IntType(64)
PTR = ll.PointerType()

_SCALAR = {
    "bool": I1, "int8": I8, "uint8": I8, "int16": ll.IntType(16), "int32": I32,
    "uint32": I32, "int64": I64, "float32": ll.FloatType(), "float64": ll.DoubleType(),
}
_CTYPES = {
    "bool": ctypes.c_uint8, "int8": ctypes.c_int8, "uint8": ctypes.c_uint8,
    "int16": ctypes.c_int16, "int32": ctypes.c_int32, "uint32": ctypes.c_uint32,
    "int64": ctypes.c_int64, "float32": ctypes.c_float, "float64": ctypes.c_double,
}
_BYTES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "uint32": 4, "int64": 8,
          "float32": 4, "float64": 8}


def scalar_of(dtype: str) -> str:
    """The scalar part of ``dtype`` (checked)."""
    base = split_dtype(dtype)[0]
    if base not in _SCALAR:
        raise CodegenError(f"the LLVM backend does not support dtype {dtype!r}; "
                           f"supported scalars: {sorted(_SCALAR)}")
    return base


def lanes_of(dtype: str) -> int:
    return split_dtype(dtype)[1]


def _vec(t: ll.Type, lanes: int) -> ll.Type:
    return t if lanes == 1 else ll.VectorType(t, lanes)


def llvm_type(dtype: str) -> ll.Type:
    """Register type of ``dtype`` (``bool`` -> ``i1``; ``float32x8`` -> ``<8 x float>``)."""
    return _vec(_SCALAR[scalar_of(dtype)], lanes_of(dtype))


def mem_type(dtype: str) -> ll.Type:
    """In-memory type of one element (or a vector of elements) of ``dtype``."""
    base = scalar_of(dtype)
    return _vec(I8 if base == "bool" else _SCALAR[base], lanes_of(dtype))


def arg_type(dtype: str) -> ll.Type:
    """Type of a scalar function argument of ``dtype`` (``bool`` is passed as a byte)."""
    return mem_type(dtype)


def ctype(dtype: str):
    """The ctypes type of a scalar argument of ``dtype``."""
    return _CTYPES[scalar_of(dtype)]


def numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype(scalar_of(dtype))


def itemsize(dtype: str) -> int:
    return _BYTES[scalar_of(dtype)]


def is_float(dtype: str) -> bool:
    return scalar_of(dtype).startswith("float")


def is_unsigned(dtype: str) -> bool:
    """Unsigned integers and bool (zero-extended, compared unsigned)."""
    return scalar_of(dtype) in ("uint8", "uint32", "bool")


def is_signed_int(dtype: str) -> bool:
    return scalar_of(dtype) in ("int8", "int16", "int32", "int64")


def bits(dtype: str) -> int:
    base = scalar_of(dtype)
    return 1 if base == "bool" else _BYTES[base] * 8


def wrap_int(value: int, dtype: str) -> int:
    """``value`` reduced modulo 2^bits into the range of integer ``dtype``."""
    base = scalar_of(dtype)
    if base == "bool":
        return int(bool(value))
    b = _BYTES[base] * 8
    value &= (1 << b) - 1
    if not is_unsigned(base) and value >= 1 << (b - 1):
        value -= 1 << b
    return value


def int_range(dtype: str) -> tuple[int, int]:
    """Inclusive range of integer ``dtype``."""
    base = scalar_of(dtype)
    if base == "bool":
        return 0, 1
    b = _BYTES[base] * 8
    if is_unsigned(base):
        return 0, (1 << b) - 1
    return -(1 << (b - 1)), (1 << (b - 1)) - 1


def mangle(t: ll.Type) -> str:
    """LLVM's overloaded-intrinsic suffix for ``t``: f32, v8i32, p0, v16p0 ..."""
    if isinstance(t, ll.VectorType):
        return f"v{t.count}{mangle(t.element)}"
    if isinstance(t, ll.FloatType):
        return "f32"
    if isinstance(t, ll.DoubleType):
        return "f64"
    if isinstance(t, ll.IntType):
        return f"i{t.width}"
    if isinstance(t, ll.PointerType):
        return "p0"
    raise AssertionError(f"cannot mangle {t}")
