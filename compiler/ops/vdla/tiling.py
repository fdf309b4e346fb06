"""Default tilings: the tiles that fit, ranked by a cycle model of SPEC.md section 6.

A tiling fits when every buffer of one tile (times the number of virtual threads) fits its
SRAM and its GEMM's micro-op kernel fits the micro-op budget; the code generator checks the
same thing exactly (``VdlaCapacityError``). Among fitting tilings the model estimates

    cycles = max(COMPUTE busy, LOAD busy + STORE beats, STORE busy + LOAD beats)
             + prologue + epilogue

with virtual threads (overlap), or the sum of every step without them; the prologue is the
first chunk's loads, the epilogue the last tile's ALU work and store. COMPUTE busy counts the
GEMM iterations, the epilogue's ALU passes (``alu_passes`` per output element, the reset
included) and 3 cycles per instruction; a DMA costs its bus beats plus the DRAM latency and its
zero padding (one cycle per element), and waits for the bus while the other DMA module
transfers. Tile counts along the virtual-thread axis must divide evenly, so no thread computes
a tile that is thrown away. Ties go to fewer DRAM bytes.

The model ranks candidates; the simulator measures. On the ResNet-18 convolutions, simulating
the model's 25 best candidates finds nothing more than 0.1% faster than its pick for the
compute-bound layers; for the memory-bound 1x1 layers, whose time depends on how the DMA
modules interleave, the pick is within about 10% (an autotuner can search the rest).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from accel.isa.config import HardwareConfig

from .conv2d import Conv2dTiling
from .dense import DenseTiling
from .elementwise import EwiseTiling
from .errors import VdlaOpError
from .pool import PoolTiling

PIPE = 3


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _dma(cfg: HardwareConfig, rows: int, cols: int, elem: int, n: int = 1, pad: int = 0) -> int:
    """LOAD/STORE module cycles of ``n`` transfers of ``rows`` x ``cols`` elements."""
    return n * (rows * cfg.beats(cols * elem) + cfg.dram_latency + 1) + pad


def conv2d_cost(cfg: HardwareConfig, shape: tuple, tl: Conv2dTiling,
                alu_passes: int = 3, residual: bool = False) -> tuple[float, int]:
    """(estimated cycles, DRAM bytes) of a packed conv2d with tiling ``tl``; ``residual``: an
    int8 tensor of the output's size is loaded per tile and added by the epilogue.

    ``shape`` = (CB, H, W, OB, KH, KW, SH, SW, OH, OW) in blocks and pixels.
    """
    cb, h, w, ob, kh, kw, sh, sw, oh, ow = shape
    th, tw, tco, tci = tl.tile_h, tl.tile_w, tl.tile_co, tl.tile_ci
    rows, cols = (th - 1) * sh + kh, (tw - 1) * sw + kw
    ei, ew, eo = (cfg.elem_bytes(m) for m in ("inp", "wgt", "out"))
    tiles = math.ceil(oh / th) * math.ceil(ow / tw) * math.ceil(ob / tco)
    chunks = math.ceil(cb / tci)
    out_elems = tco * th * tw
    gemm = out_elems * tci * kh * kw + PIPE
    load_i = _dma(cfg, rows, cols, ei, tci, pad=2 * rows)
    load_w = _dma(cfg, tco, tci * kh * kw, ew)
    store = _dma(cfg, th, tw, eo, tco)
    load_r = _dma(cfg, th, tw, ei, tco) if residual else 0
    alu = alu_passes * (out_elems + PIPE)
    compute = tiles * (chunks * gemm + alu)
    loads = tiles * (chunks * (load_i + load_w) + load_r)
    stores = tiles * store
    bus_load = tiles * chunks * (tci * rows * cfg.beats(cols * ei)
                                 + tco * tci * kh * kw * cfg.beats(ew))
    if residual:
        bus_load += tiles * tco * th * cfg.beats(tw * ei)
    bus_store = tiles * tco * th * cfg.beats(tw * eo)
    # LOAD and STORE each wait for the bus while the other one transfers
    memory = max(loads + bus_store, stores + bus_load)
    nbytes = tiles * (chunks * (tci * rows * cols * ei + tco * tci * kh * kw * ew)
                      + out_elems * (eo + (ei if residual else 0)))
    if tl.vthreads > 1:
        cycles = max(compute, memory) + load_i + load_w + alu + store
    else:
        cycles = tiles * (chunks * (load_i + load_w + gemm) + alu + load_r + store)
    return cycles, nbytes


def conv2d_tiling(cfg: HardwareConfig, shape: tuple, vthreads: int = 2,
                  alu_passes: int = 3, residual: bool = False, vectors: int = 0
                  ) -> Conv2dTiling:
    """The default tiling of a packed conv2d (``shape`` as in ``conv2d_cost``); ``residual``
    and ``vectors`` (per-channel multiplier/bias vectors, resident in the accumulator) take
    buffer space."""
    cb, h, w, ob, kh, kw, sh, sw, oh, ow = shape
    res_elems = cfg.block_out // cfg.block_in if cfg.block_out >= cfg.block_in else 1
    depth = {m: cfg.depth(m) // max(vthreads, 1) for m in ("inp", "wgt")}
    # the per-channel vectors stay in the accumulator for the whole program (all threads)
    depth["acc"] = (cfg.depth("acc") - vectors * ob) // max(vthreads, 1)
    max_uops = cfg.depth("uop") // 4
    best = None
    for tw in _divisors(ow):
        for th in _divisors(oh):
            rows, cols = (th - 1) * sh + kh, (tw - 1) * sw + kw
            for tco in _divisors(ob):
                if tco * th * tw > depth["acc"]:
                    continue
                res = tco * th * tw * res_elems if residual else 0
                for tci in _divisors(cb):
                    if tci * rows * cols + res > depth["inp"] \
                            or tco * tci * kh * kw > depth["wgt"]:
                        continue
                    if tco * tci * kh * kw > max_uops:
                        continue
                    for axis, n_tiles in (("co", ob // tco), ("h", oh // th)):
                        if vthreads > 1 and n_tiles % vthreads:
                            continue
                        tl = Conv2dTiling(th, tw, tco, tci, vthreads, axis)
                        cyc, nbytes = conv2d_cost(cfg, shape, tl, alu_passes, residual)
                        key = (cyc, nbytes)
                        if best is None or key < best[0]:
                            best = (key, tl)
                        if vthreads <= 1:
                            break
    if best is None:
        if vthreads > 1:
            return conv2d_tiling(cfg, shape, 1, alu_passes, residual, vectors)
        raise VdlaOpError(f"conv2d: no tiling of {shape} fits configuration {cfg.summary}")
    return best[1]


def dense_tiling(cfg: HardwareConfig, nb: int, cb: int, ob: int, vthreads: int = 2
                 ) -> DenseTiling:
    """The default tiling of a packed dense layer of NB x CB blocks by OB x CB blocks."""
    depth = {m: cfg.depth(m) // max(vthreads, 1) for m in ("inp", "wgt", "acc")}
    max_uops = cfg.depth("uop") // 4
    ew, ei = cfg.elem_bytes("wgt"), cfg.elem_bytes("inp")
    best = None
    for tn in _divisors(nb):
        for tco in _divisors(ob):
            if tn * tco > depth["acc"]:
                continue
            for tci in _divisors(cb):
                if tn * tci > depth["inp"] or tco * tci > depth["wgt"] or tci > max_uops:
                    continue
                for axis, n_tiles in (("co", ob // tco), ("n", nb // tn)):
                    if vthreads > 1 and n_tiles % vthreads:
                        continue
                    tiles = (nb // tn) * (ob // tco)
                    chunks = cb // tci
                    compute = tiles * (chunks * (tn * tco * tci + PIPE) + 3 * (tn * tco + PIPE))
                    loads = tiles * chunks * (_dma(cfg, tn, tci, ei) + _dma(cfg, tco, tci, ew))
                    first = _dma(cfg, tn, tci, ei) + _dma(cfg, tco, tci, ew)
                    cyc = (max(compute, loads) + first if vthreads > 1
                           else compute + loads)
                    nbytes = tiles * chunks * (tn * tci * ei + tco * tci * ew)
                    key = (cyc, nbytes)
                    if best is None or key < best[0]:
                        best = (key, DenseTiling(tn, tco, tci, vthreads, axis))
                    if vthreads <= 1:
                        break
    if best is None:
        if vthreads > 1:
            return dense_tiling(cfg, nb, cb, ob, 1)
        raise VdlaOpError(f"dense: no tiling of {nb}x{cb} by {ob}x{cb} blocks fits "
                          f"{cfg.summary}")
    return best[1]


def ewise_tiling(cfg: HardwareConfig, cb: int, oh: int, ow: int, vthreads: int = 2,
                 inp_tiles: int = 1, acc_in: int = 0, acc_out: int = 1,
                 halo: tuple[int, int] = (0, 1), in_cols: int | None = None,
                 min_tiles: int = 4) -> EwiseTiling:
    """Tiles of whole output rows for elementwise and pooling operators.

    A tile of ``tc`` channel blocks x ``th`` of the ``oh`` x ``ow`` output rows reads input
    windows of ``th * halo[1] + halo[0]`` rows x ``in_cols`` columns: ``inp_tiles`` of them in
    the input buffer and ``acc_in`` in the accumulator, which also holds ``acc_out`` output
    tiles. Preferred: at least ``min_tiles`` tiles (virtual threads need some to overlap),
    then the largest tiles; the thread axis must divide its tile count.
    """
    in_cols = in_cols or ow
    for vt in ((vthreads, 1) if vthreads > 1 else (1,)):
        depth = {m: cfg.depth(m) // vt for m in ("inp", "acc")}
        best = None
        for tc in _divisors(cb):
            for th in _divisors(oh):
                window = tc * (th * halo[1] + halo[0]) * in_cols
                if window * inp_tiles > depth["inp"] \
                        or window * acc_in + tc * th * ow * acc_out > depth["acc"]:
                    continue
                n_c, n_h = cb // tc, oh // th
                for axis, n in (("h", n_h), ("c", n_c)):
                    if vt > 1 and n % vt:
                        continue
                    key = (-min(n_c * n_h, min_tiles), -tc * th, axis != "h")
                    if best is None or key < best[0]:
                        best = (key, EwiseTiling(tc, th, vt, axis))
                    if vt <= 1:
                        break
        if best is not None:
            return best[1]
    raise VdlaOpError(f"no tiling of {cb} channel blocks x {oh} x {ow} fits {cfg.summary}")


def pool_tiling(cfg: HardwareConfig, nb: int, ob: int, oh: int, ow: int,
                cost: Callable[[int, int, int, int], tuple[int, int, float, bool]],
                vthreads: int = 2) -> PoolTiling:
    """The tiling of a pooling operator (``nb`` x ``ob`` blocks of ``oh`` x ``ow`` outputs)
    that ``cost(tc, th, tw, vthreads) -> (inp elements, acc elements, cycles, row_loads)``
    estimates
    fastest among those whose buffers (times the threads) fit, with ``vthreads`` virtual
    threads or without (small operators may not gain from overlap); ties go to larger tiles.
    Tiles split the channel blocks, the rows and the columns; the virtual-thread axis
    (channel or row tiles) must divide its tile count. Virtual threads need a token queue
    that holds a token per thread (each thread's input LOAD signals COMPUTE before the first
    thread's COMPUTE consumes its token)."""
    if cfg.token_queue_depth < vthreads:
        vthreads = 1
    best = None
    for vt in ((vthreads, 1) if vthreads > 1 else (1,)):
        depth = {m: cfg.depth(m) // vt for m in ("inp", "acc")}
        for tc in _divisors(ob):
            for th in _divisors(oh):
                for tw in _divisors(ow):
                    n_inp, n_acc, cyc, rows = cost(tc, th, tw, vt)
                    if n_inp > depth["inp"] or n_acc > depth["acc"]:
                        continue
                    for axis, n in (("h", oh // th), ("c", ob // tc)):
                        if vt > 1 and n % vt:
                            continue
                        key = (cyc, -tc * th * tw, axis != "h")
                        if best is None or key < best[0]:
                            best = (key, PoolTiling(tc, th, vt, axis, 0 if tw == ow else tw,
                                                    rows))
                        if vt <= 1:
                            break
    if best is not None:
        return best[1]
    raise VdlaOpError(f"no pooling tiling of {ob} channel blocks x {oh} x {ow} fits "
                      f"{cfg.summary}")
