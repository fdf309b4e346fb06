"""A blocked int8 GEMM program, serial or with two-way latency hiding.

The program computes ``C = clip(rshr(A @ W.T, shift), -128, 127)`` for ``A`` (m x k) and ``W``
(n x k), where ``rshr`` is the ALU's rounding right shift (SPEC.md 5.6, RSHR) and the clip is
the STORE's saturation to the OUT lane type (SPEC.md 5.4; the range is -32768..32767 when
OUT_WIDTH is 16). Requantization thus costs one ALU instruction per tile. Blocked sizes:
``MB = m / BATCH`` row blocks, ``NB = n / BLOCK_OUT`` output blocks, ``KB = k / BLOCK_IN``
reduction blocks.

DRAM layout (element = one buffer element of SPEC.md section 1)::

    A  (MB, KB, BATCH, BLOCK_IN)       INP element (mb, kb)  at A + mb*KB + kb
    W  (NB, KB, BLOCK_OUT, BLOCK_IN)   WGT element (nb, kb)  at W + nb*KB + kb
    C  (MB, NB, BATCH, BLOCK_OUT)      OUT element (mb, nb)  at C + mb*NB + nb

Tiling: a *tile* is ``tm`` row blocks x ``tn`` output blocks of C, accumulated in the ACC
buffer; a *chunk* is ``tk`` reduction blocks of a tile. SRAM layout of one buffer half::

    INP [inp0 + r*tk + kb]     r < tm, kb < tk      (one LOAD: y=tm rows, x=tk, stride KB)
    WGT [wgt0 + o*tk + kb]     o < tn               (one LOAD: y=tn rows, x=tk, stride KB)
    ACC [acc0 + r*tn + o]                           (one STORE: y=tm rows, x=tn, stride NB)

One GEMM instruction covers a whole chunk: its micro-ops enumerate the reduction blocks,
``u = kb -> (dst=acc0, src=inp0 + kb, wgt=wgt0 + kb)``, ``iter_out = tm`` rows
(dst += tn, src += tk) and ``iter_in = tn`` output blocks (dst += 1, wgt += tk). Every micro-op
kernel lives in one DRAM region loaded into the UOP buffer once, at the start.

Program, ``variant="overlap"`` (inp/wgt halves ping-pong across consecutive chunks, the global
chunk index g picks half g % 2; acc halves ping-pong across consecutive tiles)::

    COMPUTE  LOAD UOP (all kernels); GEMM reset of tile 0
    LOAD     inp[0]; wgt[0] push l2c;  inp[1]; wgt[1] push l2c
    for tile t (acc half t % 2):
        COMPUTE  GEMM reset (if t > 0)   pop s2c if t >= 2 (STORE t-2 has read this half)
        for each chunk g of the tile:
            COMPUTE  GEMM                pop l2c; push c2l if g+2 < G (its inp/wgt half is free)
            LOAD     inp[g+2] pop c2l; wgt[g+2] push l2c             (if g+2 < G)
        COMPUTE  ALU RSHR shift          push c2s
        STORE    tile t (saturating)     pop c2s; push s2c if t+2 < T
    COMPUTE  FINISH

``variant="serial"`` has one buffer of each kind and a strict chain LOAD -> COMPUTE -> STORE::

    COMPUTE  LOAD UOP
    for tile t:
        COMPUTE  GEMM reset              pop s2c if t > 0; push c2l
        for each chunk c:
            LOAD     inp pop c2l; wgt push l2c
            COMPUTE  GEMM                pop l2c; push c2l unless c is the tile's last chunk
        COMPUTE  ALU RSHR shift          push c2s
        STORE    tile t (saturating)     pop c2s; push s2c if t < T-1
    COMPUTE  FINISH

Every pop names a token pushed by an earlier instruction in program order, so neither variant
can deadlock on FETCH's head-of-line blocking, whatever the command queue depth; at most two
tokens are ever outstanding per queue (tested with depth-1 command and token queues).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bundle import Bundle
from ..config import HardwareConfig
from ..errors import VdlaError
from ..program import ProgramBuilder

VARIANTS = ("serial", "overlap")
INT8_MIN, INT8_MAX = -128, 127  # range of the random inputs (int8 values in any lane width)
TILE_KEYS = ("rows", "out_blocks", "k_blocks")
_PIPE = 3  # a GEMM/ALU of n iterations occupies COMPUTE for n + 3 cycles (SPEC.md 6.4)
_BUFFER_NAMES = {"inp": "input buffer (INP)", "wgt": "weight buffer (WGT)",
                 "acc": "accumulator (ACC)", "uop": "micro-op buffer (UOP)"}


class GemmTilingError(VdlaError, ValueError):
    """A GEMM problem or tiling that the configuration cannot run (names the buffer or field)."""


class GemmResultError(VdlaError):
    """The accelerator's output differs from the numpy reference."""


# ------------------------------------------------------------------------------ tiling
@dataclass(frozen=True)
class GemmTiling:
    """Tile sizes in blocks: ``tm`` row blocks (of BATCH rows) and ``tn`` output blocks per
    tile, ``tk`` reduction blocks per chunk."""

    tm: int
    tn: int
    tk: int

    def to_dict(self, cfg: HardwareConfig) -> dict[str, int]:
        """The ``tile=`` dictionary of :func:`build_gemm` that selects this tiling."""
        return {"rows": self.tm * cfg.batch, "out_blocks": self.tn, "k_blocks": self.tk}

    def footprint(self, cfg: HardwareConfig, nbuf: int) -> dict[str, int]:
        """SRAM bytes used per buffer with ``nbuf`` copies of each (inp, wgt, acc)."""
        return {"inp": nbuf * self.tm * self.tk * cfg.elem_bytes("inp"),
                "wgt": nbuf * self.tn * self.tk * cfg.elem_bytes("wgt"),
                "acc": nbuf * self.tm * self.tn * cfg.elem_bytes("acc")}


def _nbuf(variant: str) -> int:
    return 2 if variant == "overlap" else 1


def _n_uops(nbuf: int, tk: int) -> int:
    # one GEMM kernel of tk micro-ops per (inp/wgt half, acc half); a reset and an ALU micro-op
    # per acc half
    return nbuf * nbuf * tk + 2 * nbuf


def check_tiling(cfg: HardwareConfig, tiling: GemmTiling, variant: str) -> None:
    """Raise GemmTilingError unless ``tiling`` fits ``cfg``'s buffers and instruction fields."""
    nbuf = _nbuf(variant)
    tm, tn, tk = tiling.tm, tiling.tn, tiling.tk
    desc = (f"GEMM tiling rows={tm * cfg.batch}, out_blocks={tn}, k_blocks={tk} "
            f"({variant} variant, {nbuf} cop{'ies' if nbuf > 1 else 'y'} of each buffer)")
    if min(tm, tn, tk) < 1:
        raise GemmTilingError(f"{desc}: every tile size must be at least one block")
    shape = {"inp": (tm * tk, "rows or k_blocks"), "wgt": (tn * tk, "out_blocks or k_blocks"),
             "acc": (tm * tn, "rows or out_blocks")}
    for mem, need in tiling.footprint(cfg, nbuf).items():
        have = cfg.buff_bytes(mem)
        if need > have:
            elems, knobs = shape[mem]
            raise GemmTilingError(
                f"{desc} does not fit the {_BUFFER_NAMES[mem]}: it needs {need} bytes "
                f"({nbuf} x {elems} elements of {cfg.elem_bytes(mem)} bytes) but the buffer has "
                f"{have} bytes "
                f"(LOG_{mem.upper()}_BUFF_SIZE={getattr(cfg, f'log_{mem}_buff_size')}); "
                f"reduce {knobs}")
    n_uops = _n_uops(nbuf, tk)
    if n_uops * 4 > cfg.buff_bytes("uop"):
        raise GemmTilingError(
            f"{desc} does not fit the {_BUFFER_NAMES['uop']}: its micro-op kernels need "
            f"{n_uops * 4} bytes ({n_uops} micro-ops) but the buffer has "
            f"{cfg.buff_bytes('uop')} bytes (LOG_UOP_BUFF_SIZE={cfg.log_uop_buff_size}); "
            "reduce k_blocks")
    limit = (1 << cfg.loop_iter_width) - 1
    for what, v in (("iter_out (rows / BATCH)", tm), ("iter_in (out_blocks)", tn)):
        if v > limit:
            raise GemmTilingError(
                f"{desc}: the GEMM field {what} = {v} exceeds {limit}, the largest value of a "
                f"{cfg.loop_iter_width}-bit field (LOOP_ITER_WIDTH); use smaller tiles")


def _candidates(total: int, cap: int) -> list[int]:
    """Divisors of ``total`` and powers of two below it, up to ``cap``."""
    d = np.arange(1, total + 1)
    vals = set(d[total % d == 0].tolist()) | {1 << i for i in range(total.bit_length())}
    return sorted(v for v in vals if v <= min(total, cap))


def _estimate(cfg: HardwareConfig, mb: int, nb: int, kb: int, tm: int, tn: int,
              tk: int) -> tuple[int, int]:
    """(rough cycles of the overlap variant, DRAM bytes moved), used to rank tilings."""
    lat, beats = cfg.dram_latency, cfg.beats
    tiles, chunks = -(-mb // tm) * -(-nb // tn), -(-kb // tk)
    gemm = tm * tn * tk + _PIPE
    load = tm * beats(tk * cfg.elem_bytes("inp")) + tn * beats(tk * cfg.elem_bytes("wgt")) + 2 * lat
    store = tm * beats(tn * cfg.elem_bytes("out")) + lat
    chunk = max(gemm, load + store // chunks)
    cycles = load + (tiles * chunks - 1) * chunk + gemm + tiles * 2 * (tm * tn + _PIPE) + store
    nbytes = (-(-nb // tn) * mb * kb * cfg.elem_bytes("inp")
              + -(-mb // tm) * nb * kb * cfg.elem_bytes("wgt"))
    return cycles, nbytes


def default_tiling(cfg: HardwareConfig, m: int, n: int, k: int) -> GemmTiling:
    """The tiling ``build_gemm`` uses when ``tile=`` does not say.

    It always fits the double-buffered (overlap) layout, so both variants run the same tiling
    by default and their difference is the overlap alone. Among fitting tilings it takes those
    within 1% of the fastest estimate and, of these, the one moving the fewest DRAM bytes. For
    1024^3 on the default configuration that is 128 rows x 8 output blocks x 8 reduction
    blocks: half of the input buffer per chunk and half of the accumulator per tile.
    """
    mb, nb, kb = _blocks(cfg, m, n, k)
    half = {mem: cfg.depth(mem) // 2 for mem in ("inp", "wgt", "acc")}
    limit = (1 << cfg.loop_iter_width) - 1
    max_tk = (cfg.depth("uop") - 4) // 4
    ranked = []
    for tm in _candidates(mb, min(half["inp"], half["acc"], limit)):
        for tn in _candidates(nb, min(half["wgt"], half["acc"] // tm, limit)):
            for tk in _candidates(kb, min(half["inp"] // tm, half["wgt"] // tn, max_tk)):
                cycles, nbytes = _estimate(cfg, mb, nb, kb, tm, tn, tk)
                ranked.append((cycles, nbytes, -tk, tm, tn))
    if not ranked:  # unreachable: every buffer holds at least two elements
        raise GemmTilingError(f"no GEMM tiling fits configuration {cfg.summary}")
    best = min(r[0] for r in ranked)
    _, _, neg_tk, tm, tn = min((r for r in ranked if r[0] <= best * 1.01),
                               key=lambda r: (r[1], r[2], r[0]))
    return GemmTiling(tm, tn, -neg_tk)


def resolve_tiling(cfg: HardwareConfig, m: int, n: int, k: int, variant: str,
                   tile: dict[str, int] | None) -> GemmTiling:
    """Turn a ``tile=`` dictionary (missing keys from the default) into a checked tiling.

    Tiles larger than the problem are clamped to it.
    """
    mb, nb, kb = _blocks(cfg, m, n, k)
    base = default_tiling(cfg, m, n, k).to_dict(cfg)
    tile = dict(tile or {})
    unknown = set(tile) - set(TILE_KEYS)
    if unknown:
        raise GemmTilingError(f"unknown tile key(s) {', '.join(sorted(unknown))}; "
                              f"expected {', '.join(TILE_KEYS)}")
    base.update(tile)
    for key, v in base.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise GemmTilingError(f"tile {key}={v!r} must be a positive integer")
    if base["rows"] % cfg.batch:
        raise GemmTilingError(f"tile rows={base['rows']} is not a multiple of BATCH={cfg.batch}")
    tiling = GemmTiling(min(base["rows"] // cfg.batch, mb), min(base["out_blocks"], nb),
                        min(base["k_blocks"], kb))
    check_tiling(cfg, tiling, variant)
    return tiling


def _blocks(cfg: HardwareConfig, m: int, n: int, k: int) -> tuple[int, int, int]:
    for name, v, blk, knob in (("m", m, cfg.batch, "BATCH"), ("n", n, cfg.block_out, "BLOCK_OUT"),
                               ("k", k, cfg.block_in, "BLOCK_IN")):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 or v % blk:
            raise GemmTilingError(f"GEMM size {name}={v!r} must be a positive multiple of "
                                  f"{knob}={blk} for configuration {cfg.name}")
    mb, nb, kb = m // cfg.batch, n // cfg.block_out, k // cfg.block_in
    for what, v in (("k / BLOCK_IN (the A and W row pitch)", kb),
                    ("n / BLOCK_OUT (the C row pitch)", nb)):
        if v >= 1 << 16:
            raise GemmTilingError(f"GEMM {what} = {v} does not fit the 16-bit x_stride field")
    return mb, nb, kb


# --------------------------------------------------------------------------- reference
def default_shift(k: int) -> int:
    """A requantization shift that keeps uniform int8 inputs' outputs mostly unsaturated.

    A sum of k products of uniform int8 values has a standard deviation of about
    5461 * sqrt(k) = 2^(12.4 + log2(k)/2); shifting by 7.4 + log2(k)/2 maps it to about 32.
    """
    return max(0, round(7.4 + 0.5 * math.log2(k)))


def _wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Reduce int64 values modulo 2^bits to the signed range (two's complement wrap)."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def gemm_reference(a: np.ndarray, w: np.ndarray, shift: int,
                   cfg: HardwareConfig | None = None) -> np.ndarray:
    """Exact numpy model of the accelerator program: ``clip(rshr(A @ W.T), -128, 127)``.

    The accumulator wraps at ACC_WIDTH bits and RSHR rounds half up (SPEC.md 5.5, 5.6); the
    clip is STORE's saturation to the OUT lane type (SPEC.md 5.4: -128..127 for int8 outputs,
    -32768..32767 for int16), which is also the result's type.
    """
    cfg = cfg or HardwareConfig()
    k = a.shape[1]
    if k * 2 ** (cfg.inp_width + cfg.wgt_width - 2) >= 2 ** 53:
        raise GemmTilingError(f"k={k} is too large for an exact float64 reference")
    # float64 BLAS is exact here: every partial sum is an integer below 2^53.
    acc = (a.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)
    acc = _wrap(acc, cfg.acc_width)
    s = min(shift, cfg.acc_width)
    if s >= 1:
        acc = _wrap((acc + (1 << (s - 1))) >> s, cfg.acc_width)
    lim = 1 << (cfg.out_width - 1)
    return np.clip(acc, -lim, lim - 1).astype(cfg.lane_dtype("out"))


def pack_inp(cfg: HardwareConfig, a: np.ndarray) -> np.ndarray:
    """(m, k) -> (m/BATCH, k/BLOCK_IN, BATCH, BLOCK_IN)."""
    m, k = a.shape
    return np.ascontiguousarray(
        a.reshape(m // cfg.batch, cfg.batch, k // cfg.block_in, cfg.block_in).transpose(0, 2, 1, 3))


def pack_wgt(cfg: HardwareConfig, w: np.ndarray) -> np.ndarray:
    """(n, k) -> (n/BLOCK_OUT, k/BLOCK_IN, BLOCK_OUT, BLOCK_IN)."""
    n, k = w.shape
    return np.ascontiguousarray(
        w.reshape(n // cfg.block_out, cfg.block_out, k // cfg.block_in, cfg.block_in)
        .transpose(0, 2, 1, 3))


def unpack_out(c: np.ndarray) -> np.ndarray:
    """(m/BATCH, n/BLOCK_OUT, BATCH, BLOCK_OUT) -> (m, n)."""
    mb, nb, bt, bo = c.shape
    return c.transpose(0, 2, 1, 3).reshape(mb * bt, nb * bo)


# ---------------------------------------------------------------------------- workload
@dataclass
class GemmWorkload:
    """A GEMM program bundle with its inputs and exact expected output."""

    cfg: HardwareConfig
    m: int
    n: int
    k: int
    variant: str
    shift: int
    tiling: GemmTiling
    bundle: Bundle
    a: np.ndarray          # (m, k) inputs
    w: np.ndarray          # (n, k) weights
    expected: np.ndarray   # (m, n) numpy reference, OUT lane type
    tiles: list[tuple[int, int, int, int]]   # (mb0, tm, nb0, tn) per tile, in program order
    chunks: list[tuple[int, int]]            # (kb0, tk) per chunk of every tile

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k

    def output(self, result: Any) -> np.ndarray:
        """The (m, n) result from a ``simulate`` result (or a final DRAM image)."""
        if isinstance(result, np.ndarray):
            c = self.bundle.read("C", result)
        else:
            c = result.read("C")
        return unpack_out(c)

    def check(self, result: Any) -> np.ndarray:
        """Return the output; raise GemmResultError unless it equals the reference exactly."""
        got = self.output(result)
        bad = got != self.expected
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise GemmResultError(
                f"{self.describe()}: {int(bad.sum())} of {bad.size} outputs differ from numpy; "
                f"first at C[{i}, {j}] = {int(got[i, j])}, expected {int(self.expected[i, j])}")
        return got

    def describe(self) -> str:
        t = self.tiling.to_dict(self.cfg)
        return (f"GEMM {self.m}x{self.n}x{self.k} {self.variant} (tile {t['rows']} rows x "
                f"{t['out_blocks']} out blocks, {t['k_blocks']} k blocks/chunk, "
                f"shift {self.shift})")

    def predicted_cycles(self) -> int:
        """Cycle count by hand from SPEC.md section 6 (no simulation).

        Serial: every step waits for the previous one, so the total is the sum of the steps
        (a transfer of B beats takes B + L cycles from start to retire, a GEMM/ALU of n
        iterations n + 3; per tile a reset and the RSHR besides the chunks' GEMMs). Overlap: the
        prologue (micro-ops, first chunk's loads), then COMPUTE busy back to back, then the last
        tile's STORE. The overlap figure is exact when the loads of each chunk finish under the
        previous GEMM and the bus is never contended at a critical point (true for the default
        1024^3 problem); otherwise it is a lower bound.
        """
        cfg, lat, beats = self.cfg, self.cfg.dram_latency, self.cfg.beats
        ei, ew, eo = (cfg.elem_bytes(x) for x in ("inp", "wgt", "out"))
        b_uop = beats(_n_uops(_nbuf(self.variant), self.tiling.tk) * 4)
        n_uop = 1 + b_uop + lat          # LOAD UOP: F=0, starts and is granted in cycle 1
        if self.variant == "serial":
            t = n_uop
            for _, tm, _, tn in self.tiles:
                t += 2 * (tm * tn + _PIPE) + tm * beats(tn * eo) + lat   # reset, RSHR, STORE
                for _, tk in self.chunks:
                    t += tm * beats(tk * ei) + tn * beats(tk * ew) + 2 * lat + tm * tn * tk + _PIPE
            return t
        (_, tm0, _, tn0), (_, tk0) = self.tiles[0], self.chunks[0]
        reset0_end = n_uop + tm0 * tn0 + _PIPE
        inp0_end = max(3, 1 + b_uop) + tm0 * beats(tk0 * ei) + lat   # dispatched third
        wgt0_push = inp0_end + tn0 * beats(tk0 * ew) - 1 + lat
        t = max(reset0_end, wgt0_push + 1)                           # GEMM 0 starts
        for i, (_, tm, _, tn) in enumerate(self.tiles):
            t += sum(tm * tn * tk + _PIPE for _, tk in self.chunks)
            t += (1 if i == 0 else 2) * (tm * tn + _PIPE)            # reset (after tile 0), RSHR
        _, tm, _, tn = self.tiles[-1]
        return t + tm * beats(tn * eo) + lat                         # the last STORE


def build_gemm(cfg: HardwareConfig, m: int, n: int, k: int, *, variant: str = "overlap",
               seed: int = 0, shift: int | None = None,
               tile: dict[str, int] | None = None) -> GemmWorkload:
    """Build the GEMM program for random int8 ``A`` (m x k) and ``W`` (n x k).

    ``tile`` may set ``rows`` (a multiple of BATCH), ``out_blocks`` and ``k_blocks``; missing
    keys take :func:`default_tiling`'s values. Raises GemmTilingError when the problem or the
    tiling does not fit the configuration.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown GEMM variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    mb, nb, kb = _blocks(cfg, m, n, k)
    shift = min(default_shift(k), cfg.acc_width) if shift is None else shift
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) \
            or not 0 <= shift <= cfg.acc_width:
        raise GemmTilingError(f"shift={shift!r} must be an integer in 0..{cfg.acc_width} "
                              "(ACC_WIDTH)")
    tiling = resolve_tiling(cfg, m, n, k, variant, tile)
    rng = np.random.default_rng(seed)
    a = rng.integers(INT8_MIN, INT8_MAX + 1, size=(m, k), dtype=np.int64)
    w = rng.integers(INT8_MIN, INT8_MAX + 1, size=(n, k), dtype=np.int64)
    a, w = a.astype(cfg.lane_dtype("inp")), w.astype(cfg.lane_dtype("wgt"))
    expected = gemm_reference(a, w, int(shift), cfg)

    tm, tn, tk = tiling.tm, tiling.tn, tiling.tk
    tiles = [(m0, min(tm, mb - m0), n0, min(tn, nb - n0))
             for m0 in range(0, mb, tm) for n0 in range(0, nb, tn)]
    chunks = [(k0, min(tk, kb - k0)) for k0 in range(0, kb, tk)]

    align = max(64, *(cfg.elem_bytes(x) for x in ("inp", "wgt", "acc", "out")))
    p = ProgramBuilder(cfg, align=align)
    nbuf = _nbuf(variant)
    kernels = _Kernels(cfg, nbuf, tiling)
    uops = p.uops("uops", *kernels.fields())
    regions = {
        "A": p.alloc("A", pack_inp(cfg, a)).elem_index(cfg.elem_bytes("inp")),
        "W": p.alloc("W", pack_wgt(cfg, w)).elem_index(cfg.elem_bytes("wgt")),
        "C": p.alloc("C", shape=(mb, nb, cfg.batch, cfg.block_out),
                     dtype=cfg.lane_dtype("out")).elem_index(cfg.elem_bytes("out")),
    }
    em = _Emitter(p, kernels, tiling, regions, kb, nb, int(shift))
    p.load("uop", sram=0, dram=uops.elem_index(4), y=1, x=kernels.count)
    if variant == "overlap":
        _emit_overlap(em, tiles, chunks)
    else:
        _emit_serial(em, tiles, chunks)
    p.finish()
    return GemmWorkload(cfg, m, n, k, variant, int(shift), tiling, p.bundle(), a, w, expected,
                        tiles, chunks)


# ------------------------------------------------------------------------ code emission
class _Kernels:
    """Micro-op kernels and SRAM bases of the buffer halves (``nbuf`` = 1 or 2 of each)."""

    def __init__(self, cfg: HardwareConfig, nbuf: int, tiling: GemmTiling) -> None:
        self.nbuf, self.tk = nbuf, tiling.tk
        self.inp0 = [h * tiling.tm * tiling.tk for h in range(nbuf)]
        self.wgt0 = [h * tiling.tn * tiling.tk for h in range(nbuf)]
        self.acc0 = [h * tiling.tm * tiling.tn for h in range(nbuf)]
        self.count = _n_uops(nbuf, tiling.tk)

    def gemm(self, p: int, q: int) -> int:
        """First micro-op of the GEMM kernel reading inp/wgt half ``p`` into acc half ``q``."""
        return (p * self.nbuf + q) * self.tk

    def reset(self, q: int) -> int:
        return self.nbuf * self.nbuf * self.tk + q

    def alu(self, q: int) -> int:
        return self.nbuf * self.nbuf * self.tk + self.nbuf + q

    def fields(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dst, src, wgt = [], [], []
        kbs = np.arange(self.tk)
        for p in range(self.nbuf):
            for q in range(self.nbuf):
                dst.append(np.full(self.tk, self.acc0[q]))
                src.append(self.inp0[p] + kbs)
                wgt.append(self.wgt0[p] + kbs)
        dst += [np.array(self.acc0), np.array(self.acc0)]   # reset, then ALU micro-ops
        src += [np.zeros(self.nbuf, int), np.array(self.acc0)]
        wgt += [np.zeros(self.nbuf, int), np.zeros(self.nbuf, int)]
        return np.concatenate(dst), np.concatenate(src), np.concatenate(wgt)


def _f(factor: int, iters: int) -> int:
    """A loop factor, 0 when the loop has one iteration (it may not fit its field then)."""
    return factor if iters > 1 else 0


class _Emitter:
    """Emits the instructions of one tile or chunk with the given dependency flags."""

    def __init__(self, p: ProgramBuilder, kernels: _Kernels, tiling: GemmTiling,
                 regions: dict[str, int], kb: int, nb: int, shift: int) -> None:
        self.p, self.kern, self.tiling = p, kernels, tiling
        self.regions, self.kb, self.nb, self.shift = regions, kb, nb, shift

    def loads(self, half: int, tile: tuple[int, int, int, int], chunk: tuple[int, int], *,
              pop: bool, push: bool) -> None:
        m0, tm, n0, tn = tile
        k0, tk = chunk
        self.p.load("inp", sram=self.kern.inp0[half], dram=self.regions["A"] + m0 * self.kb + k0,
                    y=tm, x=tk, stride=self.kb, pop_next=pop)
        self.p.load("wgt", sram=self.kern.wgt0[half], dram=self.regions["W"] + n0 * self.kb + k0,
                    y=tn, x=tk, stride=self.kb, push_next=push)

    def gemm(self, half: int, acc: int, tile: tuple[int, int, int, int],
             chunk: tuple[int, int], **deps: bool) -> None:
        _, tm, _, tn = tile
        tk = chunk[1]
        bgn = self.kern.gemm(half, acc)
        self.p.gemm(bgn, bgn + tk, tm, tn, dst=(_f(tn, tm), _f(1, tn)), src=(_f(tk, tm), 0),
                    wgt=(0, _f(tk, tn)), **deps)

    def reset(self, acc: int, tile: tuple[int, int, int, int], **deps: bool) -> None:
        _, tm, _, tn = tile
        u = self.kern.reset(acc)
        self.p.gemm(u, u + 1, tm, tn, dst=(_f(tn, tm), _f(1, tn)), reset=True, **deps)

    def requantize(self, acc: int, tile: tuple[int, int, int, int], **deps: bool) -> None:
        """RSHR by the shift; the STORE saturates to the OUT range, so no clipping op is needed."""
        _, tm, _, tn = tile
        u = self.kern.alu(acc)
        fac = (_f(tn, tm), _f(1, tn))
        self.p.alu("rshr", u, u + 1, tm, tn, dst=fac, src=fac, imm=self.shift, **deps)

    def store(self, acc: int, tile: tuple[int, int, int, int], **deps: bool) -> None:
        m0, tm, n0, tn = tile
        self.p.store(sram=self.kern.acc0[acc], dram=self.regions["C"] + m0 * self.nb + n0,
                     y=tm, x=tn, stride=self.nb, **deps)


def _emit_overlap(em: _Emitter, tiles: list, chunks: list) -> None:
    work = [(t, c) for t in range(len(tiles)) for c in range(len(chunks))]  # global chunk order
    total, ntiles = len(work), len(tiles)

    def loads(g: int) -> None:
        t, c = work[g]
        em.loads(g % 2, tiles[t], chunks[c], pop=g >= 2, push=True)

    em.reset(0, tiles[0])
    for g in range(min(2, total)):
        loads(g)
    g = 0
    for t, tile in enumerate(tiles):
        if t > 0:
            em.reset(t % 2, tile, pop_next=t >= 2)
        for chunk in chunks:
            em.gemm(g % 2, t % 2, tile, chunk, pop_prev=True, push_prev=g + 2 < total)
            if g + 2 < total:
                loads(g + 2)
            g += 1
        em.requantize(t % 2, tile, push_next=True)
        em.store(t % 2, tile, pop_prev=True, push_prev=t + 2 < ntiles)


def _emit_serial(em: _Emitter, tiles: list, chunks: list) -> None:
    for t, tile in enumerate(tiles):
        em.reset(0, tile, pop_next=t > 0, push_prev=True)
        for c, chunk in enumerate(chunks):
            em.loads(0, tile, chunk, pop=True, push=True)
            em.gemm(0, 0, tile, chunk, pop_prev=True, push_prev=c + 1 < len(chunks))
        em.requantize(0, tile, push_next=True)
        em.store(0, tile, pop_prev=True, push_prev=t + 1 < len(tiles))
