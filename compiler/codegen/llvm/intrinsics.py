"""Math intrinsics (``ir.INTRINSICS``) as LLVM intrinsics, libm and glibc libmvec calls.

=========  ==========================================================================
sqrt       ``llvm.sqrt`` (one instruction, vectorizes)
floor      ``llvm.floor``; ceil ``llvm.ceil``; round ``llvm.roundeven`` (numpy rounds half
           to even); all three are the identity on integers
abs        ``llvm.fabs`` on floats, ``llvm.abs`` on signed integers (wraps: abs(INT_MIN) =
           INT_MIN, as numpy), identity on unsigned
exp, log   scalar: ``llvm.exp`` / ``llvm.log`` (libm ``expf``/``logf``)
tanh, erf  scalar: libm ``tanhf``/``erff`` (``tanh``/``erf`` for float64)
pow        scalar: ``llvm.pow``
sigmoid    ``1 / (1 + exp(-x))``
=========  ==========================================================================

Vector exp/log/tanh/erf/pow call glibc's libmvec (``_ZGVeN16v_expf`` and friends: AVX-512,
AVX2 or SSE variants, whichever the target has) when the library is present; vectors of other
widths are split or padded to the variant's width. Without libmvec (or with
``VDLA_LLVM_LIBMVEC=0``) each lane calls libm.
"""

from __future__ import annotations

import ctypes
import functools
import os

import llvmlite.binding as llvm
import llvmlite.ir as ll

from compiler.tir import ir

from .dtypes import I1, I32, is_float, is_signed_int, lanes_of, llvm_type, scalar_of
from .errors import CodegenError

_ARITY = {"pow": 2}
_LLVM_FLOAT = {"sqrt": "llvm.sqrt", "floor": "llvm.floor", "ceil": "llvm.ceil",
               "round": "llvm.roundeven", "abs": "llvm.fabs", "exp": "llvm.exp",
               "log": "llvm.log", "pow": "llvm.pow"}
_LIBM = ("tanh", "erf")
_VECLIB = ("exp", "log", "tanh", "erf", "pow")
# (register bits, libmvec ISA letter, target feature that must be present)
_VARIANTS = ((512, "e", "avx512f"), (256, "d", "avx2"), (128, "b", "sse4.1"))


def emit_call(em, e: ir.Call) -> ll.Value:
    """Translate ``Call(name, args, dtype)``; ``em`` is the function emitter."""
    name = e.name
    if name not in ir.INTRINSICS:
        raise CodegenError(f"unknown intrinsic '{name}'; supported: {', '.join(ir.INTRINSICS)}")
    arity = _ARITY.get(name, 1)
    if len(e.args) != arity:
        raise CodegenError(f"intrinsic '{name}' takes {arity} argument(s), got {len(e.args)}")
    n = lanes_of(e.dtype)
    args = [em.splat(em.emit(a), n) for a in e.args]
    src = e.args[0].dtype
    if scalar_of(src) != scalar_of(e.dtype):
        raise CodegenError(f"intrinsic '{name}': argument is {src} but the call is {e.dtype}; "
                           f"cast the argument")
    if not is_float(src):
        if name in ("floor", "ceil", "round"):
            return args[0]
        if name == "abs":
            if not is_signed_int(src):
                return args[0]
            return em.call_intrinsic("llvm.abs", [args[0], ll.Constant(I1, 0)],
                                     [args[0].type])
        raise CodegenError(f"intrinsic '{name}' needs a float argument, got {src}; cast the "
                           f"argument to float32 first")
    if name == "sigmoid":
        x = args[0]
        one = em.const(1.0, e.dtype)
        ex = math_fn(em, "exp", [em.b.fneg(x, flags=em.fmf)], e.dtype)
        return em.b.fdiv(one, em.b.fadd(one, ex, flags=em.fmf), flags=em.fmf)
    if name in _VECLIB:
        return math_fn(em, name, args, e.dtype)
    return llvm_unary(em, name, args[0])


def llvm_unary(em, name: str, x: ll.Value) -> ll.Value:
    """``llvm.<name>`` on a float scalar or vector (sqrt, floor, ceil, round, abs, exp...)."""
    return em.call_intrinsic(_LLVM_FLOAT[name], [x], [x.type])


def math_fn(em, name: str, args: list, dtype: str) -> ll.Value:
    """exp/log/tanh/erf/pow of float scalars or vectors (libmvec, else per-lane libm)."""
    n = lanes_of(dtype)
    if n > 1:
        v = _libmvec_call(em, name, args, dtype)
        if v is not None:
            return v
        out = ll.Constant(args[0].type, ll.Undefined)
        scalar_dtype = ir.with_lanes(dtype, 1)
        for lane in range(n):
            idx = ll.Constant(I32, lane)
            r = math_fn(em, name, [em.b.extract_element(a, idx) for a in args], scalar_dtype)
            out = em.b.insert_element(out, r, idx)
        return out
    if name in _LIBM:
        sym = name + ("f" if scalar_of(dtype) == "float32" else "")
        t = llvm_type(dtype)
        fn = em.mod.declare(sym, t, [t] * len(args))
        return em.b.call(fn, args)
    return em.call_intrinsic(_LLVM_FLOAT[name], args, [args[0].type])


@functools.cache
def _libmvec() -> ctypes.CDLL | None:
    if os.environ.get("VDLA_LLVM_LIBMVEC", "1") == "0":
        return None
    try:
        return ctypes.CDLL("libmvec.so.1")
    except OSError:
        return None


@functools.cache
def _libmvec_symbol(sym: str) -> bool:
    """Make libmvec's ``sym`` resolvable by the JIT; False if it does not exist."""
    lib = _libmvec()
    if lib is None:
        return False
    try:
        fn = getattr(lib, sym)
    except AttributeError:
        return False
    llvm.add_symbol(sym, ctypes.cast(fn, ctypes.c_void_p).value)
    return True


def _pick_variant(em, name: str, nargs: int, dtype: str, lanes: int):
    """(symbol, width) of the libmvec variant to use for ``lanes`` lanes, or None."""
    base = scalar_of(dtype)
    ebits = 32 if base == "float32" else 64
    suffix = name + ("f" if base == "float32" else "")
    options = []
    for reg_bits, isa, feature in _VARIANTS:
        if not em.mod.target.has(feature):
            continue
        width = reg_bits // ebits
        sym = f"_ZGV{isa}N{width}{'v' * nargs}_{suffix}"
        if _libmvec_symbol(sym):
            options.append((sym, width))
    for sym, width in options:          # widest first: a power-of-two number of calls
        count = lanes // width
        if lanes % width == 0 and count & (count - 1) == 0:
            return sym, width
    for sym, width in reversed(options):  # narrowest that holds everything: pad
        if width > lanes:
            return sym, width
    return None


def _libmvec_call(em, name: str, args: list, dtype: str) -> ll.Value | None:
    lanes = lanes_of(dtype)
    picked = _pick_variant(em, name, len(args), dtype, lanes)
    if picked is None:
        return None
    sym, width = picked
    et = llvm_type(ir.with_lanes(dtype, 1))
    wt = ll.VectorType(et, width)
    fn = em.mod.declare(sym, wt, [wt] * len(args))
    b = em.b

    def shuffle(v, idx):
        return b.shuffle_vector(v, ll.Constant(v.type, ll.Undefined),
                                ll.Constant(ll.VectorType(I32, len(idx)), idx))

    if width > lanes:  # pad, call once, take the first lanes
        padded = [shuffle(a, list(range(lanes)) + [0] * (width - lanes)) for a in args]
        return shuffle(b.call(fn, padded), list(range(lanes)))
    parts = []
    for k in range(0, lanes, width):
        idx = list(range(k, k + width))
        parts.append(b.call(fn, [shuffle(a, idx) if width != lanes else a for a in args]))
    while len(parts) > 1:  # concatenate pairwise
        merged = []
        for i in range(0, len(parts), 2):
            x, y = parts[i], parts[i + 1]
            m = x.type.count + y.type.count
            merged.append(b.shuffle_vector(x, y, ll.Constant(ll.VectorType(I32, m),
                                                             list(range(m)))))
        parts = merged
    return parts[0]
