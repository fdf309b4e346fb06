"""Lanes and elements: scalar index grids of a loop nest grouped into SRAM/DRAM elements.

The accelerator moves and computes whole elements (an input tile row of BATCH x BLOCK_IN
scalars, an accumulator tile row of BATCH x BLOCK_OUT, a weight block). In the loop IR a stage
still loops over the scalars; the innermost loops of its nest are the element's lanes::

    for x in range(8):                 element loop
      for o in range(16):              lane loop (BATCH = 1, BLOCK_OUT = 16)
        relu[x * 16 + o] = max(shr[x * 16 + o], 0)

``lane_axis(shape, lanes)`` finds where the lane loops start (the innermost loops whose extents
multiply to the lane count); ``elements(flat, lanes)`` checks that every element is addressed
whole and in lane order and returns the element index grid.
"""

from __future__ import annotations

import numpy as np

from .errors import VdlaPatternError


def lane_axis(shape: tuple[int, ...], lanes: int, where: str) -> int:
    """Index of the first lane loop: ``prod(shape[k:]) == lanes``."""
    n = 1                              # n = prod(shape[k:])
    for k in range(len(shape), -1, -1):
        if n == lanes:
            return k
        if k == 0 or n > lanes:
            break
        n *= shape[k - 1]
    raise VdlaPatternError(
        f"{where}: the innermost loops {list(shape)} do not cover exactly one element of "
        f"{lanes} lanes; keep the tile axes (BATCH, BLOCK) innermost and unsplit")


def to_lanes(grid: np.ndarray, k: int, lanes: int) -> np.ndarray:
    """Reshape a full-nest grid to (element loops..., lanes)."""
    return np.broadcast_to(grid, grid.shape).reshape(grid.shape[:k] + (lanes,))


def elements(flat: np.ndarray, lanes: int, where: str, lane_map: np.ndarray | None = None
             ) -> np.ndarray:
    """Element indices of a (..., lanes) grid of scalar indices that address whole elements
    in lane order (``lane_map``, default 0..lanes-1, gives the expected lane of each slot)."""
    base = flat[..., :1]
    want = np.arange(lanes) if lane_map is None else lane_map
    if flat.size and (np.any(base % lanes) or np.any(flat - base != want)):
        raise VdlaPatternError(f"{where}: the access does not address whole elements of "
                               f"{lanes} lanes in order (tile axes split or transposed?)")
    return flat[..., 0] // lanes
