"""Packed tensor layouts: parse a layout string, and pack/unpack arrays (whole-array numpy).

A packed layout splits some logical dimensions into an outer part and an inner block; the
blocks are stored innermost. Grammar (TVM's convention)::

    layout ::= axis+
    axis   ::= UPPER                 a logical dimension (its outer part when it is also blocked)
             | digits lower          an inner block of that many elements of dimension UPPER

The upper-case letters, in order, ARE the logical dimensions (so "NCHW1n16c" describes a 4-d
tensor whose logical order is N, C, H, W); blocks follow all of them. Examples:

* ``"NCHW1n16c"``: activations, shape (N/1, C/16, H, W, 1, 16); the accelerator's layout with
  batch block 1 and channel block 16;
* ``"OIHW16o16i"``: convolution weights, shape (O/16, I/16, KH, KW, 16, 16).

A dimension that is not a multiple of its block is padded with zeros when packed (its logical
size stays in the value's ``TensorType.shape``), and the padding is dropped when unpacked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import LayoutError

_TOKEN = re.compile(r"([A-Z])|(\d+)([a-z])")


@dataclass(frozen=True)
class Layout:
    """A parsed layout: the logical dimension letters and the (letter, block) inner axes."""

    text: str
    dims: tuple[str, ...]                 # logical dimension letters, in order
    blocks: tuple[tuple[str, int], ...]   # (dimension letter, block size), innermost last

    @staticmethod
    @lru_cache(maxsize=256)
    def parse(text: str) -> Layout:
        pos, dims, blocks = 0, [], []
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise LayoutError(f"cannot parse layout '{text}' at '{text[pos:]}'; expected "
                                  f"upper-case dimension letters followed by blocks such as "
                                  f"'16c' (e.g. 'NCHW1n16c')")
            if m.group(1):
                if blocks:
                    raise LayoutError(f"layout '{text}': dimension '{m.group(1)}' after a "
                                      f"block; write every dimension letter before the blocks")
                if m.group(1) in dims:
                    raise LayoutError(f"layout '{text}' repeats dimension '{m.group(1)}'")
                dims.append(m.group(1))
            else:
                size, letter = int(m.group(2)), m.group(3).upper()
                if letter not in dims:
                    raise LayoutError(f"layout '{text}': block '{m.group(0)}' of a dimension "
                                      f"'{letter}' that the layout does not have")
                if size < 1:
                    raise LayoutError(f"layout '{text}': block '{m.group(0)}' must be >= 1")
                if any(b[0] == letter for b in blocks):
                    raise LayoutError(f"layout '{text}' blocks dimension '{letter}' twice")
                blocks.append((letter, size))
            pos = m.end()
        if not dims:
            raise LayoutError("empty layout string; use '' for the plain layout")
        return Layout(text, tuple(dims), tuple(blocks))

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def block(self, letter: str) -> int:
        """The block size of a logical dimension (1 if it is not blocked)."""
        return dict(self.blocks).get(letter.upper(), 1)

    def check_rank(self, shape, what: str = "tensor") -> None:
        if len(shape) != self.ndim:
            raise LayoutError(f"layout '{self.text}' has {self.ndim} dimensions but the {what} "
                              f"has shape {tuple(shape)}")

    def physical_shape(self, shape) -> tuple[int, ...]:
        """Stored shape of a logical tensor of ``shape`` (padded up to whole blocks)."""
        self.check_rank(shape)
        outer = [math.ceil(d / self.block(c)) for c, d in zip(self.dims, shape)]
        return tuple(outer) + tuple(b for _, b in self.blocks)

    # ------------------------------------------------------------ array transforms
    def _plan(self, shape) -> tuple[list[int], list[int], list[int]]:
        """(padded logical shape, split shape, axis permutation) for a logical ``shape``.

        The split shape has two axes per logical dimension, (outer, inner), inner being the
        block (1 when unblocked); the permutation lists the physical axes (outers in logical
        order, then the blocks) followed by the unblocked size-1 inner axes.
        """
        index = {c: i for i, c in enumerate(self.dims)}
        padded = [math.ceil(d / self.block(c)) * self.block(c)
                  for c, d in zip(self.dims, shape)]
        split: list[int] = []
        for c, d in zip(self.dims, padded):
            split += [d // self.block(c), self.block(c)]
        blocked = [2 * index[c] + 1 for c, _ in self.blocks]
        rest = [2 * i + 1 for i in range(self.ndim) if 2 * i + 1 not in blocked]
        return padded, split, [2 * i for i in range(self.ndim)] + blocked + rest

    def pack(self, array: np.ndarray) -> np.ndarray:
        """Logical array -> packed array (a new contiguous array)."""
        self.check_rank(array.shape, "array")
        padded, split, perm = self._plan(array.shape)
        if list(array.shape) != padded:
            array = np.pad(array, [(0, p - d) for p, d in zip(padded, array.shape)])
        out = array.reshape(split).transpose(perm)
        return np.ascontiguousarray(out).reshape(self.physical_shape(array.shape))

    def unpack(self, array: np.ndarray, shape) -> np.ndarray:
        """Packed array -> logical array of ``shape`` (padding dropped)."""
        shape = tuple(shape)
        expected = self.physical_shape(shape)
        if tuple(array.shape) != expected:
            raise LayoutError(f"array of shape {tuple(array.shape)} does not hold a tensor of "
                              f"logical shape {shape} in layout '{self.text}' (expected "
                              f"{expected})")
        padded, split, perm = self._plan(shape)
        permuted = [split[a] for a in perm]
        logical = array.reshape(permuted).transpose(np.argsort(perm)).reshape(padded)
        if list(shape) != padded:
            logical = logical[tuple(slice(0, d) for d in shape)]
        return np.ascontiguousarray(logical)


def pack(array: np.ndarray, layout: str) -> np.ndarray:
    """Pack a logical array into ``layout`` (``""``: returned unchanged)."""
    return Layout.parse(layout).pack(array) if layout else array


def unpack(array: np.ndarray, layout: str, shape) -> np.ndarray:
    """Unpack an array stored in ``layout`` to its logical ``shape``."""
    return Layout.parse(layout).unpack(array, shape) if layout else array


def check_layout(layout: str, shape, what: str = "tensor") -> None:
    """Raise ``LayoutError`` unless ``layout`` parses and has the tensor's rank."""
    if layout:
        Layout.parse(layout).check_rank(shape, what)
