"""DMA planning: an element-level copy pattern becomes 2D LOAD/STORE instructions.

Input: for every point of a copy loop nest (lanes already grouped into elements), the SRAM
element ``S``, the DRAM element ``D`` and whether the point is data (``M`` true) or padding.
Output: ``DmaOp``s, each one LOAD or STORE of SPEC.md 5.3/5.4::

    S = [[0 1 2 3 4 5],        D = [[ 9 10 11 12 13 14],     M = [[0 0 0 0 0 0],
         [6 7 ...    ]]             [17 18 ...      ]]            [0 1 1 1 1 0]]

    -> LOAD sram=0 dram=18 y_size=1 x_size=4 x_stride=4 pad=(1, 0, 1, 1)

Steps: drop loops of extent 1; merge neighbouring loops that are contiguous in both SRAM and
DRAM (so a whole weight block or a full-width image tile becomes one long row); then the last
loop is x (SRAM and DRAM stride 1), the one before it y (SRAM stride = row width, any DRAM
stride below 2^16), and every other loop gets one instruction per iteration. Padding must be a
box (rows x columns) of at most 15 zero rows/elements on each side; when a pattern does not fit
(strided DRAM columns, wide padding, a STORE whose SRAM rows are not packed) the planner falls
back to one instruction per row, per column or per element — always correct, never silent
about cost (the instruction count shows it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fold import _stride

MAX_PAD = 15
MAX_FIELD = (1 << 16) - 1


@dataclass(frozen=True)
class DmaOp:
    """One LOAD (``store=False``) or STORE; element units; ``pad`` = (top, bottom, left,
    right)."""

    store: bool
    sram: int
    dram: int
    y: int
    x: int
    stride: int
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def elements(self) -> int:
        return self.y * self.x


def _interval(v: np.ndarray) -> tuple[int, int] | None:
    """(first, last + 1) of the true entries if they are contiguous, (0, 0) if none."""
    idx = np.flatnonzero(v)
    if not len(idx):
        return 0, 0
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    return (lo, hi) if hi - lo == len(idx) else None


def _squeeze_merge(arrs: list[np.ndarray]) -> list[np.ndarray]:
    """Drop unit axes, then merge neighbouring axes that are contiguous in S and D and whose
    blocks are each all data or all padding."""
    shape = [n for n in arrs[0].shape if n > 1]
    arrs = [a.reshape(shape) for a in arrs]
    s, d, m = arrs
    i = len(shape) - 2
    while i >= 0:
        n_in = shape[i + 1]
        ok = True
        for x in (s, d):
            so, si = _stride(x, i), _stride(x, i + 1)
            if so is None or si is None or so != si * n_in:
                ok = False
        if ok:
            both = (i, i + 1)
            ok = bool(np.array_equal(m.all(axis=both), m.any(axis=both)))
        if ok:
            shape[i:i + 2] = [shape[i] * n_in]
            s, d, m = (a.reshape(shape) for a in (s, d, m))
        i -= 1
    return [s, d, m]


def _try_2d(s: np.ndarray, d: np.ndarray, m: np.ndarray, store: bool) -> DmaOp | None:
    ny, nx = s.shape
    if nx > 1 and (_stride(s, 1) != 1 or _stride(d, 1) != 1):
        return None
    sy, dy = _stride(s, 0), _stride(d, 0)
    if ny > 1 and (sy != nx or dy is None or not 0 <= dy <= MAX_FIELD):
        return None
    rows, cols = _interval(m.any(axis=1)), _interval(m.any(axis=0))
    if rows is None or cols is None:
        return None
    (y0, y1), (x0, x1) = rows, cols
    ys, xs = np.arange(ny)[:, None], np.arange(nx)[None, :]
    if not np.array_equal(m, (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)):
        return None
    sram = int(s[0, 0])
    if y1 == y0:                                   # all padding: zero-fill rows
        if store:
            return None
        if ny > 2 * MAX_PAD or nx > MAX_FIELD:
            return None
        return DmaOp(False, sram, 0, 0, nx, nx, (ny - ny // 2, ny // 2, 0, 0))
    pad = (y0, ny - y1, x0, nx - x1)
    if max(pad) > MAX_PAD or (store and any(pad)):
        return None
    y, x = y1 - y0, x1 - x0
    if x > MAX_FIELD or y > MAX_FIELD:
        return None
    stride = dy if y > 1 else x
    if store and y > 1 and stride < x:
        return None
    dram = int(d[y0, x0])
    if dram < 0:
        return None
    return DmaOp(store, sram, dram, y, x, stride, pad)


def plan_dma(s: np.ndarray, d: np.ndarray, m: np.ndarray, store: bool) -> list[DmaOp]:
    """DMA instructions that move exactly the elements of ``m`` (LOAD: and zero the rest)."""
    s, d, m = _squeeze_merge([np.asarray(s), np.asarray(d), np.asarray(m, dtype=bool)])
    out: list[DmaOp] = []
    _plan(s, d, m, store, out)
    return out


def _plan(s, d, m, store: bool, out: list[DmaOp]) -> None:
    if store and not m.any():
        return
    if s.ndim == 0:
        op = _try_2d(s.reshape(1, 1), d.reshape(1, 1), m.reshape(1, 1), store)
        if op is None:
            raise AssertionError("a single element always has a DMA instruction")
        out.append(op)
        return
    if s.ndim > 2:
        for i in range(s.shape[0]):
            _plan(s[i], d[i], m[i], store, out)
        return
    if s.ndim == 1:
        for view in (lambda a: a[None, :], lambda a: a[:, None]):   # one row, or one column
            op = _try_2d(view(s), view(d), view(m), store)
            if op is not None:
                out.append(op)
                return
        for i in range(s.shape[0]):
            _plan(s[i], d[i], m[i], store, out)
        return
    op = _try_2d(s, d, m, store)
    if op is not None:
        out.append(op)
        return
    for i in range(s.shape[0]):
        _plan(s[i], d[i], m[i], store, out)
