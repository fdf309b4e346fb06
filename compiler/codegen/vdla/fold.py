"""Loop folding: a grid of micro-op indices becomes micro-op kernels plus two loop levels.

A GEMM or ALU instruction runs ``iter_out x iter_in`` iterations of a micro-op kernel; in
iteration ``(i0, i1)`` micro-op ``u`` addresses ``field[u] + i0 * factor_out + i1 *
factor_in`` for each field (``dst``, ``src``, ``wgt``; SPEC.md 5.5). Given the index of every
field at every point of a loop nest (numpy arrays of the nest's shape), ``fold`` picks the two
loops to run as ``iter_out``/``iter_in`` — loops along which every field is affine with a
non-negative factor that fits its instruction field, the pair with the most iterations — and
enumerates the other loops, in order, as the micro-ops::

    for co in range(4):            (micro-ops: co, dy, dx -> 4*3*3 = 36 micro-ops)
      for y in range(8):           iter_out = 8:  dst += 8*? , src += row pitch
        for dy in range(3):
          for dx in range(3):
            for x in range(16):    iter_in = 16:  dst += 1, src += 1
              gemm(dst, src, wgt)

The accumulation order changes, which is fine for the operations folded here: GEMM adds and
resets, and ALU operations where every element is either updated once or combined with a
commutative, associative operation (the ALU analysis checks this).

``pieces`` covers a masked grid (guards of non-divisible tilings, pooling windows at borders)
with folded instructions: a mask that is a box folds as that sub-grid; otherwise outer loops
are peeled until each part is a box that folds within the limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Limits:
    """What one instruction can hold: micro-ops per kernel, loop iterations, factor widths."""

    max_uops: int
    max_iter: int
    factor_bits: dict[str, int]


@dataclass
class Folded:
    """One instruction's worth: micro-op fields, loop extents and factors per field."""

    uops: dict[str, np.ndarray]
    iters: tuple[int, int]
    factors: dict[str, tuple[int, int]]

    @property
    def n_iter(self) -> int:
        return self.iters[0] * self.iters[1] * len(next(iter(self.uops.values())))


def _stride(x: np.ndarray, axis: int) -> int | None:
    """The constant difference of ``x`` along ``axis``, or None if ``x`` is not affine."""
    if x.shape[axis] < 2:
        return 0
    d = np.diff(x, axis=axis)
    s = int(d.flat[0])
    return s if np.all(d == s) else None


def fold(arrays: dict[str, np.ndarray], limits: Limits) -> Folded | None:
    """Fold a full (unmasked) grid into one instruction, or None if it does not fit."""
    shape = next(iter(arrays.values())).shape
    axes = [a for a in range(len(shape)) if shape[a] > 1]
    ok = []
    for a in axes:
        if shape[a] > limits.max_iter:
            continue
        strides = {}
        for name, x in arrays.items():
            s = _stride(x, a)
            if s is None or s < 0 or s >= 1 << limits.factor_bits[name]:
                break
            strides[name] = s
        else:
            ok.append((a, strides))
    best, best_n = None, 0
    for i, (a, sa) in enumerate(ok):
        if shape[a] > best_n:
            best, best_n = ((a, sa), None), shape[a]
        for b, sb in ok[i + 1:]:
            if shape[a] * shape[b] > best_n:
                best, best_n = ((a, sa), (b, sb)), shape[a] * shape[b]
    folded = [f for f in (best or (None, None)) if f is not None]
    total = int(np.prod(shape)) if shape else 1
    n_uops = total // max(best_n, 1)
    if n_uops > limits.max_uops:
        return None
    index = [slice(None)] * len(shape)
    for a, _ in folded:
        index[a] = 0
    uops = {k: np.ascontiguousarray(x[tuple(index)]).reshape(-1) for k, x in arrays.items()}
    folded += [(None, {k: 0 for k in arrays})] * (2 - len(folded))
    iters = tuple(shape[a] if a is not None else 1 for a, _ in folded)
    factors = {k: (folded[0][1][k] if iters[0] > 1 else 0, folded[1][1][k] if iters[1] > 1
                   else 0) for k in arrays}
    return Folded(uops, iters, factors)


def _box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The slices of ``mask`` if its true points form a box (a product of intervals)."""
    sl = []
    for a in range(mask.ndim):
        proj = np.flatnonzero(mask.any(axis=tuple(b for b in range(mask.ndim) if b != a)))
        lo, hi = int(proj[0]), int(proj[-1]) + 1
        if hi - lo != len(proj):
            return None
        sl.append(slice(lo, hi))
    return tuple(sl) if mask[tuple(sl)].all() else None


def pieces(arrays: dict[str, np.ndarray], mask: np.ndarray | None,
           limits: Limits) -> Iterator[Folded]:
    """Folded instructions covering exactly the points of ``mask`` (None: every point)."""
    if mask is not None:
        if not mask.any():
            return
        box = _box(mask)
        if box is not None:                 # a box: fold the sub-grid it covers
            arrays = {k: x[box] for k, x in arrays.items()}
            mask = None
    if mask is None:
        f = fold(arrays, limits)
        if f is not None:
            yield f
            return
    shape = next(iter(arrays.values())).shape
    if not shape:       # one point that does not fit: a micro-op field is out of range
        raise AssertionError("a single micro-op always folds")
    for v in range(shape[0]):
        yield from pieces({k: x[v] for k, x in arrays.items()},
                          None if mask is None else mask[v], limits)
