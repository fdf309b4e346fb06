"""Matrix products: ``matmul`` (optionally transposed operands, batch rows, bias) and ``dense``.

Computation and default schedule (the register-blocked GEMM of BLIS / TVM; by default
MR x NR = 6 x 64 float32 on AVX-512: 24 vector accumulators)::

    Bp[jo, k, ji] = B[k, jo*NR + ji]   (0 past N)           B packed into NR-wide panels
    Cacc[i, j]    = sum_k A[i, k] * Bp[j // NR, k, j % NR]  rows padded up to a multiple of MR
    C[i, j]       = Cacc[i, j] (+ bias[j])

    parallel for jo in N / NR:                              one panel of B per iteration
      Bp panel (K x NR):                                    packed here, stays in L2
      for io in M / MR:                                     one MR x NR tile
        Cacc tile (MR x NR, registers):                     computed at that loop
          for k: unrolled ii in MR: vectorized ji in NR:  Cacc[ii, ji] += A[..] * Bp[..]
        unrolled ii: vectorized ji: C[...] = Cacc[ii, ji] (+ bias)

With fewer than 8 panels, B is packed whole first and the parallel loop runs over the fused
(jo, io) tiles instead, so that small N still gives every thread work.

The packed panel of B (K x NR) is reused by every row tile, and the tile of accumulators
stays in registers for the whole k loop: per k, MR broadcasts of A, NR/lanes vector loads of
Bp and MR*NR/lanes FMAs. Padding rows and columns (to multiples of MR and NR) keeps guards
out of the inner loop; only the final copy into C is guarded.

A transposed B times at most ``DOT_MAX_ROWS`` rows (a batch-1 fully connected layer) uses
the **dot** schedule instead: ``jr`` rows of B at a time are multiplied with the row of A in
vector lanes along k (``Part[i, j, v]``, no packing: B is read once, in place), then summed
across the lanes.

Integer inputs (int8, uint8, int16, int32) accumulate in int32, exactly (wrap-around only
past int32). Float32 accumulates in float32.

Schedule parameters (``config``; ``op.config["schedule"]`` reports ``gemm`` or ``dot``):
gemm: ``mr`` (rows per register tile), ``nr`` (columns; a multiple of the vector width),
``pack_b`` (False reads B in place: for few rows of a non-transposed B); dot: ``jr``.
"""

from __future__ import annotations

import functools

import numpy as np

from ... import te
from .base import (
    ALL_DTYPES,
    FLOAT_DTYPES,
    MACS_PER_WORK,
    PARALLEL_MIN_WORK,
    CpuOp,
    ceil_div,
    check_config,
    check_dtype,
    check_shape,
    memoize,
    prod,
    vector_lanes,
)
from .errors import OpAttributeError, OpShapeError

DOT_MAX_ROWS = 4   # a transposed B times at most this many rows: the dot-product schedule
PACK_IN_LOOP_MIN_PANELS = 8   # from this many panels, B is packed panel by panel in the loop


def acc_dtype(dtype: str) -> str:
    """The accumulation (and output) dtype for inputs of ``dtype``."""
    return "float32" if dtype in FLOAT_DTYPES else "int32"


def _pick_nr(n: int, lanes: int) -> int:
    """Columns per register tile: 4, 3 or 2 vectors (the least padding of N, then wider)."""
    if n <= 2 * lanes:
        return lanes if n <= lanes else 2 * lanes
    return min((4 * lanes, 3 * lanes, 2 * lanes), key=lambda r: (ceil_div(n, r) * r, -r))


def _pick_mr(m: int, target: int) -> int:
    """Rows per register tile: ``target`` unless padding M to it wastes over 5%; then the
    size in ``target/2 .. target`` with the least padding."""
    if m <= target:
        return m
    if ceil_div(m, target) * target - m <= 0.05 * m:
        return target
    return min(range(target, (target - 1) // 2, -1), key=lambda r: (ceil_div(m, r) * r, -r))


def default_config(m: int, n: int, k: int, dtype: str, trans_a: bool,
                   trans_b: bool) -> dict:
    lanes = vector_lanes(acc_dtype(dtype))
    if trans_b and not trans_a and m <= DOT_MAX_ROWS:
        return {"jr": 4}
    nr = _pick_nr(n, lanes)
    # about 24 accumulator registers: 6 x 4 vectors, 8 x 3, 12 x 2
    target = {4: 6, 3: 8, 2: 12, 1: 12}[nr // lanes]
    # without packing, B is read in place: only worth it for few rows and whole panels
    pack = trans_b or m > 16 or n % nr != 0
    return {"mr": _pick_mr(m, target), "nr": nr, "pack_b": pack}


@memoize
def matmul(a_shape, b_shape, dtype: str = "float32", trans_a: bool = False,
           trans_b: bool = False, bias: bool = False, packed_b: bool = False,
           config: dict | None = None) -> CpuOp:
    """``C = op(A) @ op(B) (+ bias)``: A ``(..., M, K)`` (``(K, M)`` if ``trans_a``), B ``(K,
    N)`` (``(N, K)`` if ``trans_b``), bias ``(N,)``. Leading dimensions of A are batch rows.

    With ``packed_b``, B is given in the kernel's panel layout, made once with
    ``op.pack_weights(b)`` (for constant weights).
    """
    name = "matmul"
    dtype = check_dtype(name, dtype, ALL_DTYPES)
    a_shape = check_shape(name, "shape of A", a_shape, min_ndim=2)
    b_shape = check_shape(name, "shape of B", b_shape, ndim=2)
    for attr, v in (("trans_a", trans_a), ("trans_b", trans_b), ("bias", bias),
                    ("packed_b", packed_b)):
        if not isinstance(v, bool):
            raise OpAttributeError(f"{name}: {attr}={v!r} must be True or False")
    if trans_a and len(a_shape) != 2:
        raise OpShapeError(f"{name}: trans_a needs a 2-D A, got {list(a_shape)}")
    if trans_a:
        k, m = a_shape
    else:
        m, k = prod(a_shape[:-1]), a_shape[-1]
    n, kb = (b_shape if trans_b else b_shape[::-1])
    if kb != k:
        raise OpShapeError(f"{name}: the reduction extents differ: A {list(a_shape)} has "
                           f"K={k}{' (trans_a)' if trans_a else ''}, B {list(b_shape)} has "
                           f"K={kb}{' (trans_b)' if trans_b else ''}")
    defaults = default_config(m, n, k, dtype, trans_a, trans_b)
    cfg = check_config(name, defaults, config)
    out_shape = (*a_shape[:-1], n) if not trans_a else (m, n)
    A = te.placeholder((k, m) if trans_a else (m, k), dtype, name="A")
    Bias = te.placeholder((n,), acc_dtype(dtype), name="bias") if bias else None
    if "jr" in cfg:
        B = te.placeholder(b_shape, dtype, name="B")
        s, C = _dot(A, B, Bias, m, n, k, dtype, cfg)
        packer = np.ascontiguousarray             # B is read in place
    else:
        if packed_b:
            cfg["pack_b"] = True
        nr = cfg["nr"]
        B = te.placeholder((ceil_div(n, nr), k, nr) if packed_b else b_shape, dtype, name="B")
        s, C = _gemm(A, B, Bias, m, n, k, dtype, trans_a, trans_b, cfg, packed_b)
        packer = functools.partial(pack_b_panels, nr=nr, trans_b=trans_b)
    cfg = {"schedule": "dot" if "jr" in cfg else "gemm", **cfg}
    inputs = [A, B] + ([Bias] if bias else [])
    in_shapes = [a_shape, B.shape] + ([(n,)] if bias else [])
    op = CpuOp(name, s, inputs, C, in_shapes=in_shapes, out_shape=out_shape, config=cfg,
               attrs={"trans_a": trans_a, "trans_b": trans_b, "bias": bias,
                      "packed_b": packed_b})
    if packed_b:
        op.pack_weights = packer
    return op


def pack_b_panels(b: np.ndarray, nr: int, trans_b: bool = False) -> np.ndarray:
    """B ``(K, N)`` (``(N, K)`` if ``trans_b``) -> panels ``(ceil(N/nr), K, nr)``, zero-padded
    past N: the layout of the gemm schedule's ``Bp``."""
    bt = b if trans_b else b.T                     # (N, K)
    n, k = bt.shape
    no = ceil_div(n, nr)
    if no * nr != n:
        bt = np.pad(bt, ((0, no * nr - n), (0, 0)))
    return np.ascontiguousarray(bt.reshape(no, nr, k).transpose(0, 2, 1))


def dense(x_shape, w_shape, dtype: str = "float32", bias: bool = True,
          packed_weights: bool = False, config: dict | None = None) -> CpuOp:
    """``x @ w.T (+ bias)`` with ``x (..., K)``, ``w (N, K)``: a fully connected layer
    (ONNX ``Gemm`` with ``transB=1``)."""
    return matmul(x_shape, w_shape, dtype, trans_b=True, bias=bias, packed_b=packed_weights,
                  config=config)


def _gemm(A, B, Bias, m: int, n: int, k: int, dtype: str, trans_a: bool, trans_b: bool,
          cfg: dict, packed: bool = False):
    mr, nr = cfg["mr"], cfg["nr"]
    acc = acc_dtype(dtype)
    mo, no = ceil_div(m, mr), ceil_div(n, nr)
    zero = te.const(0.0 if acc in FLOAT_DTYPES else 0, dtype)

    def a_at(i, kk):
        i = te.min(i, m - 1) if mo * mr > m else i   # padded rows read row m-1, unused
        return A[kk, i] if trans_a else A[i, kk]

    def b_at(kk, j):
        return B[j, kk] if trans_b else B[kk, j]

    rk = te.reduce_axis((0, k), name="k")
    if packed:
        Bp = B

        def b_read(kk, j):
            return Bp[j // nr, kk, j % nr]
    elif cfg["pack_b"]:
        def pack(jo, kk, ji):
            j = jo * nr + ji
            if no * nr == n:
                return b_at(kk, j)
            return te.select(j < n, b_at(kk, te.min(j, n - 1)), zero)

        Bp = te.compute((no, k, nr), pack, name="Bp")

        def b_read(kk, j):
            return Bp[j // nr, kk, j % nr]
    else:
        Bp = None

        def b_read(kk, j):
            return b_at(kk, te.min(j, n - 1) if no * nr > n else j)

    def cast(x):
        return x if x.dtype == acc else te.cast(acc, x)

    Cacc = te.compute((mo * mr, no * nr),
                      lambda i, j: te.sum(cast(a_at(i, rk)) * cast(b_read(rk, j)), axis=rk),
                      name="Cacc")
    if Bias is None:
        C = te.compute((m, n), lambda i, j: Cacc[i, j], name="C")
    else:
        C = te.compute((m, n), lambda i, j: Cacc[i, j] + Bias[j], name="C")
    s = te.create_schedule(C)
    lanes = vector_lanes(acc)

    par = mo * no > 1 and m * n * k >= PARALLEL_MIN_WORK * MACS_PER_WORK
    # B packed per panel inside the parallel loop over panels, when there are enough panels
    pack_at_panel = Bp is not None and not packed and no >= PACK_IN_LOOP_MIN_PANELS
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, mr, nr)
    s[C].reorder(jo, io, ii, ji)
    s[C].unroll(ii)
    s[C].vectorize(ji)
    if pack_at_panel:
        tile = io           # parallel over panels of B; the panel is packed per iteration
        if par:
            s[C].parallel(jo)
    else:
        tile = s[C].fuse(jo, io)   # parallel over (panel, row tile) pairs
        if par:
            s[C].parallel(tile)
    s[Cacc].compute_at(s[C], tile)
    ci, cj = s[Cacc].op.axis
    (ck,) = s[Cacc].op.reduce_axis
    s[Cacc].reorder(ck, ci, cj)
    s[Cacc].unroll(ci)
    s[Cacc].vectorize(cj)
    if Bp is not None and not packed:
        bjo, bk, bji = s[Bp].op.axis
        if trans_b:
            # a transpose: read rows of B (contiguous k), write NR-strided; k in blocks
            bko, bki = s[Bp].split(bk, factor=lanes)
            s[Bp].reorder(bjo, bko, bji, bki)
            s[Bp].unroll(bki)
        else:
            s[Bp].vectorize(bji)
        if pack_at_panel:
            s[Bp].compute_at(s[C], jo)
        elif no > 1 and n * k >= PARALLEL_MIN_WORK:
            s[Bp].parallel(bjo)
    return s, C


def _dot(A, B, Bias, m: int, n: int, k: int, dtype: str, cfg: dict):
    """Few rows times a transposed B (a batch-1 fully connected layer): dot products of rows
    of A and rows of B, vectorized along k; no packing (B is read once, in place)."""
    jr = cfg["jr"]
    acc = acc_dtype(dtype)
    lanes = vector_lanes(acc)
    nkb = ceil_div(k, lanes)
    kb = te.reduce_axis((0, nkb), name="kb")
    zero = te.const(0.0 if acc in FLOAT_DTYPES else 0, acc)

    def cast(x):
        return x if x.dtype == acc else te.cast(acc, x)

    def part(i, j, v):
        kk = kb * lanes + v
        if nkb * lanes == k:
            return te.sum(cast(A[i, kk]) * cast(B[j, kk]), axis=kb)
        kc = te.min(kk, k - 1)
        return te.sum(te.select(kk < k, cast(A[i, kc]) * cast(B[j, kc]), zero), axis=kb)

    Part = te.compute((m, n, lanes), part, name="Part")
    v = te.reduce_axis((0, lanes), name="v")
    Csum = te.compute((m, n), lambda i, j: te.sum(Part[i, j, v], axis=v), name="Csum")
    if Bias is None:
        C = te.compute((m, n), lambda i, j: Csum[i, j], name="C")
    else:
        C = te.compute((m, n), lambda i, j: Csum[i, j] + Bias[j], name="C")
    s = te.create_schedule(C)
    i, j = s[C].op.axis
    jo, ji = s[C].split(j, factor=jr)
    outer = s[C].fuse(i, jo)
    if m * n * k >= PARALLEL_MIN_WORK * MACS_PER_WORK:
        s[C].parallel(outer)
    s[Csum].compute_at(s[C], outer)
    s[Part].compute_at(s[Csum], s[Csum].op.axis[0])
    _, pj, pv = s[Part].op.axis
    (pkb,) = s[Part].op.reduce_axis
    s[Part].reorder(pkb, pj, pv)
    s[Part].unroll(pj)
    s[Part].vectorize(pv)
    return s, C


__all__ = ["acc_dtype", "dense", "matmul", "pack_b_panels"]
