"""The operator object, argument checks, shape helpers and shared schedule pieces.

``CpuOp`` is what every operator constructor returns (the API is described in the package
docstring). The helpers here are used by the operator families:

* ``check_*``: normalise and validate shapes, dtypes, attributes and schedule configs; each
  raises an ``OpError`` subclass naming the operator and the attribute;
* ``broadcast_shape`` / ``collapse_broadcast``: numpy broadcasting, and merging of adjacent
  dimensions that broadcast alike (``(1,64,56,56) + (1,64,1,1)`` runs as ``(64,3136) +
  (64,1)``), so that elementwise kernels get long contiguous inner loops;
* ``schedule_injective``: the default schedule of an elementwise (injective) stage: outer
  axes fused and parallel when the tensor is large, the last axis split by the vector width;
* ``memoize``: operator constructors are cached by their arguments, so building the same
  operator twice returns the same object (lowering and LLVM compilation happen once).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from functools import cached_property

import numpy as np

from ...codegen.llvm import build, host_target
from ...te import Schedule, Tensor
from ...tir import lower
from .errors import OpArgumentError, OpAttributeError, OpDtypeError, OpShapeError

FLOAT_DTYPES = ("float32",)
INT_DTYPES = ("int8", "uint8", "int16", "int32")
ALL_DTYPES = FLOAT_DTYPES + INT_DTYPES
# Parallel loops only for at least this much work (elements touched by an elementwise op;
# multiply-adds count 1/16 each): a parallel launch costs some 10-30 us.
PARALLEL_MIN_WORK = 1 << 18
MACS_PER_WORK = 16


class CpuOp:
    """One operator instance: shapes, attributes and dtypes fixed; compiled on first use.

    Attributes:
        name: operator name (``"conv2d"``), also the compiled function's name.
        inputs: the te placeholders, in call order; ``output``: the te output tensor.
        in_shapes / in_dtypes / out_shape / out_dtype: what ``run`` takes and returns.
            The kernel may see the same memory with fewer, merged dimensions (its buffers
            have the placeholders' shapes); ``run`` reshapes.
        attrs: the normalised attributes; ``config``: the schedule parameters used.
        schedule: the te ``Schedule`` (``print(op.schedule)``; ``op.schedule.records`` are
            replayable on a fresh schedule of the same computation).
        func: the lowered loop-IR ``PrimFunc`` (lazily); ``compiled``: the LLVM function.
        pack_weights: for operators built with pre-packed weights (``conv2d(...,
            packed_weights=True)``, ``matmul(..., packed_b=True)``), the numpy function that
            turns the weights into the layout ``run`` expects; None otherwise.
    """

    def __init__(self, name: str, schedule: Schedule, inputs, output: Tensor, *,
                 attrs: dict | None = None, config: dict | None = None,
                 in_shapes=None, out_shape=None) -> None:
        self.name = name
        self.schedule = schedule
        self.inputs: tuple[Tensor, ...] = tuple(inputs)
        self.output = output
        self.in_shapes = tuple(tuple(s) for s in (in_shapes or [t.shape for t in self.inputs]))
        self.in_dtypes = tuple(t.dtype for t in self.inputs)
        self.out_shape = tuple(out_shape or output.shape)
        self.out_dtype = output.dtype
        self.attrs = dict(attrs or {})
        self.config = dict(config or {})
        self.pack_weights = None
        self._lock = threading.Lock()

    @property
    def records(self):
        """The schedule's primitive history (``compiler.schedule.Record``s)."""
        return self.schedule.records

    @cached_property
    def func(self):
        return lower(self.schedule, [*self.inputs, self.output], name=self.name)

    @cached_property
    def compiled(self):
        with self._lock:
            return build(self.func)

    def run(self, *arrays, out: np.ndarray | None = None) -> np.ndarray:
        """Compute the operator on numpy arrays; returns ``out`` (allocated if None)."""
        if len(arrays) != len(self.inputs):
            raise OpArgumentError(f"{self.name}: expected {len(self.inputs)} input array(s) "
                                  f"({', '.join(t.name for t in self.inputs)}), got "
                                  f"{len(arrays)}")
        args = []
        for i, (a, shape, t) in enumerate(zip(arrays, self.in_shapes, self.inputs)):
            a = np.asarray(a)
            if a.shape != shape or a.dtype != np.dtype(t.dtype):
                raise OpArgumentError(f"{self.name}: input {i} ('{t.name}') is {a.dtype}"
                                      f"{list(a.shape)}, expected {t.dtype}{list(shape)}")
            args.append(np.ascontiguousarray(a).reshape(t.shape))
        if out is None:
            out = np.empty(self.out_shape, self.out_dtype)
        elif (out.shape != self.out_shape or out.dtype != np.dtype(self.out_dtype)
              or not out.flags.c_contiguous):
            raise OpArgumentError(f"{self.name}: out= is {out.dtype}{list(out.shape)}, "
                                  f"expected a C-contiguous {self.out_dtype}"
                                  f"{list(self.out_shape)}")
        self.compiled(*args, out.reshape(self.output.shape))
        return out

    __call__ = run

    def __repr__(self) -> str:
        ins = ", ".join(f"{d}{list(s)}" for s, d in zip(self.in_shapes, self.in_dtypes))
        at = "".join(f", {k}={v!r}" for k, v in self.attrs.items())
        return f"<cpu.{self.name}({ins}{at}) -> {self.out_dtype}{list(self.out_shape)}>"


# ---------------------------------------------------------------------- memoization
_CACHE_SIZE = 512


def memoize(fn):
    """Cache an operator constructor by the repr of its arguments (LRU, 512 entries)."""
    cache: OrderedDict = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        with lock:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                return hit
        op = fn(*args, **kwargs)
        with lock:
            cache[key] = op
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
        return op

    wrapper.cache_clear = cache.clear
    return wrapper


# ---------------------------------------------------------------------- checks
@functools.cache
def vector_lanes(dtype: str) -> int:
    """Lanes of ``dtype`` in one native SIMD register of the host (16 float32 on AVX-512)."""
    return host_target().vector_lanes(dtype)


def check_dtype(op: str, dtype, allowed=ALL_DTYPES, what: str = "dtype") -> str:
    if not isinstance(dtype, str):
        dtype = np.dtype(dtype).name if dtype is not None else "?"
    if dtype not in allowed:
        raise OpDtypeError(f"{op}: {what} {dtype!r} is not supported; expected one of "
                           f"{', '.join(allowed)}")
    return dtype


def check_shape(op: str, what: str, shape, ndim: int | None = None,
                min_ndim: int = 1) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints (of ``ndim`` dimensions if given)."""
    try:
        shp = tuple(int(s) for s in shape)
        ok = all(int(s) == s for s in shape)
    except (TypeError, ValueError):
        raise OpShapeError(f"{op}: {what} must be a tuple of ints, got {shape!r}") from None
    if not ok or any(s <= 0 for s in shp):
        raise OpShapeError(f"{op}: {what} {shape!r} must have positive extents")
    if ndim is not None and len(shp) != ndim:
        raise OpShapeError(f"{op}: {what} must have {ndim} dimensions, got {list(shp)}")
    if len(shp) < min_ndim:
        raise OpShapeError(f"{op}: {what} must have at least {min_ndim} dimension(s), "
                           f"got {list(shp)}")
    return shp


def int_tuple(op: str, attr: str, value, n: int, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, each >= ``minimum``, as an ``n``-tuple."""
    vals = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        vals = tuple(vals)
    except TypeError:
        vals = None
    if (vals is None or len(vals) != n
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in vals)):
        raise OpAttributeError(f"{op}: {attr} must be an int or {n} ints, got {value!r}")
    if any(v < minimum for v in vals):
        raise OpAttributeError(f"{op}: {attr}={value!r}: every value must be >= {minimum}")
    return tuple(int(v) for v in vals)


def check_padding(op: str, padding, nspatial: int = 2) -> tuple[int, ...]:
    """Padding as ``(top, left, ..., bottom, right, ...)`` (ONNX ``pads`` order).

    Accepts an int, one int per spatial dimension (symmetric), or ``2 * nspatial`` ints.
    """
    if isinstance(padding, (int, np.integer)):
        padding = (int(padding),) * nspatial
    try:
        pads = tuple(padding)
    except TypeError:
        pads = ()
    if len(pads) == nspatial:
        pads = pads + pads
    if len(pads) != 2 * nspatial or not all(isinstance(p, (int, np.integer))
                                            and not isinstance(p, bool) for p in pads):
        raise OpAttributeError(f"{op}: padding must be an int, {nspatial} ints or "
                               f"{2 * nspatial} ints (begins then ends), got {padding!r}")
    if any(p < 0 for p in pads):
        raise OpAttributeError(f"{op}: padding={padding!r} must be >= 0")
    return tuple(int(p) for p in pads)


def check_config(op: str, defaults: dict, config: dict | None,
                 zero_ok: tuple[str, ...] = ()) -> dict:
    """``defaults`` updated with ``config``; unknown keys or values below 1 (below 0 for the
    keys in ``zero_ok``) are errors."""
    out = dict(defaults)
    for k, v in (config or {}).items():
        if k not in defaults:
            raise OpAttributeError(f"{op}: unknown schedule parameter {k!r} in config; "
                                   f"known: {', '.join(sorted(defaults)) or 'none'}")
        if isinstance(defaults[k], bool):
            out[k] = bool(v)
            continue
        low = 0 if k in zero_ok else 1
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise OpAttributeError(f"{op}: schedule parameter {k}={v!r} must be an int >= "
                                   f"{low}")
        out[k] = int(v)
    return out


def norm_axis(op: str, axis, ndim: int, attr: str = "axis") -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) \
            or not -ndim <= axis < ndim:
        raise OpAttributeError(f"{op}: {attr}={axis!r} is out of range for a tensor of "
                               f"{ndim} dimension(s)")
    return int(axis) % ndim


# ---------------------------------------------------------------------- shapes
def prod(xs) -> int:
    return math.prod(xs)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def broadcast_shape(op: str, shapes) -> tuple[int, ...]:
    """numpy's broadcast of ``shapes``, or an OpShapeError naming them."""
    nd = max(len(s) for s in shapes)
    out = []
    for d in range(nd):
        dims = {s[d - nd + len(s)] for s in shapes if d - nd + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise OpShapeError(f"{op}: shapes {', '.join(str(list(s)) for s in shapes)} do "
                               f"not broadcast (dimension {d} from the left of the output)")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def collapse_broadcast(out_shape, in_shapes) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Merge adjacent output dimensions that every input broadcasts the same way.

    Returns the merged output shape and each input's merged shape (1 where it broadcasts).
    Output dimensions of extent 1 are dropped; a scalar result is ``(1,)``.
    """
    nd = len(out_shape)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in in_shapes]
    groups: list[tuple[tuple[bool, ...], int]] = []
    for d in range(nd):
        if out_shape[d] == 1:
            continue
        pattern = tuple(p[d] == out_shape[d] for p in padded)
        if groups and groups[-1][0] == pattern:
            groups[-1] = (pattern, groups[-1][1] * out_shape[d])
        else:
            groups.append((pattern, out_shape[d]))
    if not groups:
        return (1,), [(1,) for _ in in_shapes]
    out = tuple(n for _, n in groups)
    ins = [tuple(n if pat[k] else 1 for pat, n in groups) for k in range(len(in_shapes))]
    return out, ins


def read_broadcast(t: Tensor, idx) -> object:
    """``t[idx]`` with index 0 in the dimensions where ``t`` has extent 1."""
    return t[tuple(0 if n == 1 else i for n, i in zip(t.shape, idx))]


# ---------------------------------------------------------------------- schedules
def schedule_injective(s: Schedule, t: Tensor, lanes: int | None = None) -> None:
    """Default schedule of an elementwise stage ``t``.

    Outer axes are fused; the last axis is split by the vector width and vectorized; the
    outermost loop is parallel when the tensor has at least ``PARALLEL_MIN_WORK`` elements
    (when the outer loops have fewer than 8 iterations, the last axis is cut into chunks
    that become parallel iterations too).
    """
    st = s[t]
    lanes = lanes or vector_lanes(t.dtype)
    axes = list(st.op.axis)
    size = prod(t.shape)
    n_last = t.shape[-1]
    outer_n = size // n_last
    par = size >= PARALLEL_MIN_WORK
    outer = st.fuse(*axes[:-1]) if len(axes) > 2 else (axes[0] if len(axes) == 2 else None)
    last = axes[-1]
    if par and outer_n < 8 and n_last >= 64 * lanes:
        chunk = max(lanes * 16, ceil_div(ceil_div(n_last, 32 // outer_n + 1), lanes) * lanes)
        co, last = st.split(last, factor=chunk)
        outer = st.fuse(outer, co) if outer is not None else co
    if n_last > lanes:
        _, vi = st.split(last, factor=lanes)
        st.vectorize(vi)
    elif n_last > 1:
        st.vectorize(last)
    if par and outer is not None:
        st.parallel(outer)
