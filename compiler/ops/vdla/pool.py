"""Pooling on the accelerator: max pooling and global average pooling.

Max pooling (``max_pool_packed``) is separable: a vertical pass (the window's rows) and then a
horizontal one (its columns), each a reduction with ALU MAX in the accumulator. The ALU reads
only the accumulator, so every int8 input element is widened into it once (a reset and a GEMM
with a selector weight block: 2 cycles); the passes then cost one MAX per tap. For ResNet's
3x3 / stride 2 / pad 1 that is 14 cycles per output element, against 22 for widening each
tile's window and running 9 MAX per output from an int32-minimum start.

Per dimension (``plan_axis``) one tap, the *centre*, is chosen among the taps that fall inside
the input for every output (for 3x3 / 2 / 1: the middle tap). The reduction over the other
taps starts from the centre's value (``te.max(.., init=..)``) instead of minus infinity: the
vertical pass widens the centre row straight into its result (reset + GEMM), the horizontal
pass starts in place on the vertical result at the centre column (the storage planner lets
the reduction overwrite its initial value's buffer). The other taps read a *lattice* of input
positions ``off + g*L`` (the odd rows and columns for stride 2), widened once and shared by
the outputs whose windows overlap::

    wide_S[n, c, L, j, b, o] = acc(x[n, c, L*gh + offh, col_S(j), b, o])       (reset + GEMM)
    vm_S[n, c, y, j, b, o]   = max(wide_S[n, c, y*sh/gh + e + r, j, b, o], r,
                                   where=inside, init=acc(x[n, c, y*sh + ch - pt, col_S(j)]))
    pool[n, c, y, x, b, o]   = max(vm_O[n, c, y, x*sw/gw + e' + q, b, o], q,
                                   where=inside, init=vm_C[n, c, y, x, b, o])   (in place)

for the two column sets ``S``: ``C`` (the centre column of every output, ``x*sw + cw - pl``)
and ``O`` (the lattice of the other column taps). Taps outside the input are not visited
(``where``), so padding acts as minus infinity; when the centre lies on the lattice (stride
1) the reduction skips it, and the horizontal pass starts from a copy of ``vm_O`` at the
centre instead of a ``vm_C``. With no tap inside for every output (padding wider than what
the stride skips), the reduction starts from the input type's minimum: every window holds at
least one input element, so the result is exact.

Global average pooling (``global_avg_pool_packed``): the GEMM core sums every position of a
channel block into one accumulator element (``acc += x[h, w]`` with a selector weight, all
``H*W`` positions folded into one instruction), then MULSHR by a constant multiplier
``M = round(2^s / (H*W))`` (or RSHR when ``H*W`` is a power of two) gives the rounded mean.

Schedules (``schedule_pool``): output tiles of ``tile_c`` channel blocks x ``tile_h`` rows
(x ``tile_w`` columns for a ``PoolTiling``), virtual threads along the channel or row tiles;
the input window of a tile is copied once (halo included), whole or one row per LOAD, and
every accumulator stage is computed per tile, in dataflow order. ``max_pool_cost`` is the
cycle model ``tiling.pool_tiling`` ranks max pooling tilings with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ... import te
from ...codegen.vdla.target import ALU, DMA_COPY, VdlaTarget
from ...te import Schedule, Tensor
from .common import inp_at, mulshr, out_stage, rshr
from .elementwise import EwiseTiling


@dataclass(frozen=True)
class PoolTiling(EwiseTiling):
    """An ``EwiseTiling`` whose tiles may also split the output columns (``tile_w`` columns
    per tile, 0: whole rows) and load the input one row per LOAD (``row_loads``)."""

    tile_w: int = 0
    row_loads: bool = False

    def to_dict(self) -> dict:
        return {**super().to_dict(), "tile_w": self.tile_w, "row_loads": self.row_loads}


@dataclass
class PoolStages:
    x: Tensor
    mids: list[Tensor]          # accumulator stages, in dataflow order (the last is pooled)
    post: Tensor | None
    out: Tensor
    extra: list[Tensor]

    @property
    def inputs(self) -> list[Tensor]:
        return [self.x] + self.extra


@dataclass(frozen=True)
class AxisPlan:
    """One dimension of a max pooling window (``plan_axis``).

    Output ``o`` reads input positions ``o*stride + t - pad`` for taps ``t``. ``centre`` is a
    tap inside the input for every output (None if there is none); the other taps read the
    lattice positions ``off + g*L`` with ``L = o*(stride//g) + first + r``, ``0 <= r < m``
    (``m = 0``: no other tap), of which ``n_lat`` lie inside the input; ``skip`` is the ``r``
    of the centre when it lies on the lattice between other taps (stride 1), else None.
    """

    centre: int | None
    g: int
    off: int
    first: int
    m: int
    n_lat: int
    skip: int | None = None

    def on_lattice(self, pos_offset: int) -> bool:
        """Whether input positions ``o*stride + pos_offset`` lie on the lattice."""
        return self.m > 0 and (pos_offset - self.off) % self.g == 0


def plan_axis(k: int, stride: int, pad: int, n_in: int, n_out: int) -> AxisPlan:
    """The centre tap and the lattice of the other taps of one dimension: every centre
    leaves ``k - 1`` taps to reduce; the sparsest lattice (fewest positions to widen) wins,
    then the middle tap."""
    inside = [t for t in range(k) if t >= pad and (n_out - 1) * stride + t - pad < n_in]
    best = None
    for c in inside or [None]:
        others = [t for t in range(k) if t != c]
        if not others:
            plan = AxisPlan(c, stride, 0, 0, 0, 0)
        else:
            g = math.gcd(stride, *(t - others[0] for t in others))
            off = (others[0] - pad) % g
            n_lat = max(0, -(-(n_in - off) // g))
            m = (others[-1] - others[0]) // g + 1 if n_lat else 0
            skip = None
            if c is not None and m and others[0] < c < others[-1] and (c - others[0]) % g == 0:
                skip = (c - others[0]) // g
            plan = AxisPlan(c, g, off, (others[0] - pad - off) // g, m, n_lat, skip)
        key = (-plan.g, abs(2 * c - (k - 1)) if c is not None else 0)
        if best is None or key < best[0]:
            best = (key, plan)
    return best[1]


def _taps(plan: AxisPlan, i, r):
    """The ``where`` of a reduction over lattice index ``i`` (reduce axis ``r``)."""
    conds = [i >= 0, i < plan.n_lat]
    if plan.skip is not None:
        conds.append(r != plan.skip)
    return te.all(*conds)


def max_pool_packed(t: VdlaTarget, x_shape: tuple, kernel: tuple[int, int],
                    stride: tuple[int, int], padding: tuple[int, int, int, int]) -> PoolStages:
    """``x_shape`` = (NB, CB, H, W, BATCH, BLOCK_IN) int8."""
    cfg = t.cfg
    nb, cb, h, w, bt, bi = x_shape
    ob = cb * bi // cfg.block_out
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = padding
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    ph, pw = plan_axis(kh, sh, pt, h, oh), plan_axis(kw, sw, pl, w, ow)
    acc = t.dtype("acc")
    lowest = te.const(-(1 << (int(t.dtype("inp")[3:]) - 1)), acc)
    x = te.placeholder(x_shape, t.dtype("inp"), "x")
    mids: list[Tensor] = []

    def vertical(name: str, cols: int, col) -> Tensor:
        """The vertical pass at the columns ``col(j)``, ``0 <= j < cols``."""
        def centre(n, c, y, j, b, o):
            return inp_at(t, x, (n, c, y * sh + ph.centre - pt, col(j), b, o))

        if ph.m == 0:               # a single tap (then always inside): a plain widening
            vm = te.compute((nb, ob, oh, cols, bt, cfg.block_out), centre, name=name)
            mids.append(vm)
            return vm
        wide = te.compute((nb, ob, ph.n_lat, cols, bt, cfg.block_out),
                          lambda n, c, i, j, b, o: inp_at(t, x, (n, c, i * ph.g + ph.off,
                                                                 col(j), b, o)),
                          name="wide_" + name)
        r = te.reduce_axis((0, ph.m), "r")

        def f(n, c, y, j, b, o):
            i = y * (sh // ph.g) + ph.first + r
            init = lowest if ph.centre is None else centre(n, c, y, j, b, o)
            return te.max(wide[n, c, i, j, b, o], axis=r, where=_taps(ph, i, r), init=init)

        vm = te.compute((nb, ob, oh, cols, bt, cfg.block_out), f, name=name)
        mids.extend([wide, vm])
        return vm

    # the centre column gets its own vertical pass when the lattice does not hold it
    centre_off = None if pw.centre is None else pw.centre - pl
    own_centre = centre_off is not None and not pw.on_lattice(centre_off)
    vm_c = vertical("vm_c", ow, lambda j: j * sw + centre_off) if own_centre else None
    if pw.m == 0:
        pool = vm_c
    else:
        vm_o = vertical("vm_o", pw.n_lat, lambda j: j * pw.g + pw.off)
        q = te.reduce_axis((0, pw.m), "q")

        def g(n, c, y, xx, b, o):
            i = xx * (sw // pw.g) + pw.first + q
            if own_centre:
                init = vm_c[n, c, y, xx, b, o]
            elif centre_off is not None:        # on the lattice: start from a copy
                init = vm_o[n, c, y, (xx * sw + centre_off - pw.off) // pw.g, b, o]
            else:
                init = lowest
            return te.max(vm_o[n, c, y, i, b, o], axis=q, where=_taps(pw, i, q), init=init)

        pool = te.compute((nb, ob, oh, ow, bt, cfg.block_out), g, name="pool")
        mids.append(pool)
    return PoolStages(x, mids, None, out_stage(t, pool), [])


def max_pool_cost(cfg, x_shape: tuple, kernel: tuple[int, int], stride: tuple[int, int],
                  padding: tuple[int, int, int, int]):
    """``(tc, th, tw, vthreads) -> (inp elements, acc elements, estimated cycles, row_loads)``
    of ``max_pool_packed`` in tiles of ``tc`` channel blocks x ``th`` x ``tw`` outputs.

    Buffer sizes are those of an interior tile (bound inference gives border tiles no more);
    cycles count what SPEC.md section 6 charges: one cycle per GEMM/ALU iteration plus 3 per
    instruction on COMPUTE, the bus beats and latency of the LOADs and STOREs, and the
    overlap of the three modules with virtual threads (else their sum). ``row_loads``: load
    the input one row per LOAD (``schedule_pool``) — with virtual threads, when the LOAD
    module still has slack then and the token queues have room."""
    nb, cb, h, w, bt, bi = x_shape
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = padding
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    ob = cb * bi // cfg.block_out
    ph, pw = plan_axis(kh, sh, pt, h, oh), plan_axis(kw, sw, pl, w, ow)
    centre_off = None if pw.centre is None else pw.centre - pl
    own_centre = centre_off is not None and not pw.on_lattice(centre_off)
    taps_h = ph.m - (ph.skip is not None)
    taps_w = pw.m - (pw.skip is not None)
    ei, eo, lat = cfg.elem_bytes("inp"), cfg.elem_bytes("out"), cfg.dram_latency
    pipe = 3
    # lattice columns one output reads: its other taps, and the centre when copied from there
    lo, hi = pw.first, pw.first + pw.m - 1
    if pw.m and centre_off is not None and not own_centre:
        cpos = (centre_off - pw.off) // pw.g
        lo, hi = min(lo, cpos), max(hi, cpos)
    n_sets = int(own_centre) + int(pw.m > 0)
    readers = n_sets * (1 + int(ph.m > 0))           # stages that read the input tile

    def cost(tc: int, th: int, tw: int, vt: int) -> tuple[int, int, float, bool]:
        cols = ([tw] if own_centre else []) + \
            ([min(pw.n_lat, (tw - 1) * (sw // pw.g) + hi - lo + 1)] if pw.m else [])
        wide_rows = min(ph.n_lat, (th - 1) * (sh // ph.g) + ph.m) if ph.m else 0
        acc = sum((wide_rows + th) * c for c in cols)
        comp, insns = 0, 0
        for c in cols:
            if wide_rows:
                comp += 2 * wide_rows * c                             # reset + GEMM
                insns += 2
            comp += th * c * (2 + taps_h)                             # init + MAX
            insns += 2 + ph.m
        if pw.m:
            copy = not own_centre
            acc += th * tw if copy else 0
            comp += th * tw * (taps_w + 2 * copy)
            insns += pw.m + 2 * copy
        comp += pipe * insns
        rows_in, cols_in = min(h, (th - 1) * sh + kh), min(w, (tw - 1) * sw + kw)
        tiles = nb * (ob // tc) * (oh // th) * (ow // tw)
        comp *= tc
        row_beats = cfg.beats(cols_in * ei)
        load_beats = tc * rows_in * row_beats
        store_beats = tc * th * cfg.beats(tw * eo)
        store = store_beats + tc * (lat + 1)
        # micro-op kernels (each thread's and the border tiles' own) are loaded once each, on
        # COMPUTE; while LOAD streams the first threads' inputs they wait behind its bus
        # transfers: whole input windows, or single rows when the input comes one row per
        # LOAD (each row LOAD may hand COMPUTE a token)
        kernels = min(tiles, vt * 2) * insns
        best = None
        for row_loads in (False, True) if vt > 1 and \
                cfg.token_queue_depth >= 4 * vt * readers else (False,):
            load = load_beats + tc * (rows_in if row_loads else 1) * (lat + 1)
            transfer = max(row_beats * (1 if row_loads else rows_in), th * cfg.beats(tw * eo))
            if vt > 1:
                busy = max(comp, load + store_beats, store + load_beats)
                cycles = tiles * busy + load + store
            else:
                cycles = tiles * (load + comp + store)
            cycles += kernels * (lat + 2) + (vt + 1 if vt > 1 else 0) * transfer
            if best is None or cycles < best[0]:
                best = (cycles, row_loads)
        return tc * rows_in * cols_in, tc * acc, best[0], best[1]

    return cost


def global_avg_pool_packed(t: VdlaTarget, x_shape: tuple, shift: int) -> PoolStages:
    """``x_shape`` = (NB, CB, H, W, BATCH, BLOCK_IN) int8; the mean is
    ``rshr(sum, shift)`` if ``2^shift == H*W``, else ``mulshr(sum, M, shift)`` with the
    (OB, BATCH, BLOCK_OUT) int32 multiplier tensor ``M`` an extra input."""
    cfg = t.cfg
    nb, cb, h, w, bt, bi = x_shape
    ob = cb * bi // cfg.block_out
    x = te.placeholder(x_shape, t.dtype("inp"), "x")
    rh = te.reduce_axis((0, h), "rh")
    rw = te.reduce_axis((0, w), "rw")
    total = te.compute((nb, ob, 1, 1, bt, cfg.block_out), lambda n, c, i, j, b, o: te.sum(
        inp_at(t, x, (n, c, rh, rw, b, o)), axis=[rh, rw]), name="sum")
    extra = []
    if (1 << shift) == h * w:
        post = te.compute(total.shape, lambda *i: rshr(t, total(*i), shift) if shift
                          else total(*i), name="post")
    else:
        m = te.placeholder((ob, bt, cfg.block_out), t.dtype("acc"), "multiplier")
        extra.append(m)
        post = te.compute(total.shape, lambda n, c, i, j, b, o: mulshr(
            t, total[n, c, i, j, b, o], m[c, b, o], shift), name="post")
    return PoolStages(x, [total], post, out_stage(t, post), extra)


def schedule_pool(t: VdlaTarget, st: PoolStages, tiling: EwiseTiling) -> Schedule:
    """Tiles of ``tiling`` (a ``PoolTiling`` may split the columns too); every stage is
    computed per tile."""
    s = te.create_schedule(st.out)
    n, c, y, x, b, o = st.out.op.axis
    co, ci = s[st.out].split(c, factor=tiling.tile_c)
    yo, yi = s[st.out].split(y, factor=tiling.tile_h)
    tw = getattr(tiling, "tile_w", 0)
    if tw and tw < st.out.shape[3]:
        xo, xi = s[st.out].split(x, factor=tw)
        tiles = [n, co, yo, xo]
        s[st.out].reorder(n, co, yo, xo, ci, yi, xi, b, o)
    else:
        tiles = [n, co, yo]
        s[st.out].reorder(n, co, yo, ci, yi, x, b, o)
    if tiling.vthreads > 1:
        k = 1 if tiling.vthread_axis == "c" else 2
        tiles[k], vt = s[st.out].split(tiles[k], factor=tiling.vthreads)
        s[st.out].reorder(vt, *tiles)
        s[st.out].bind(vt, te.vthread())
    at = tiles[-1]
    s[st.out].pragma(ci, DMA_COPY)
    # every stage of the tile is computed at the tile loop, in dataflow order: the input
    # window (DMA), the widening and the reductions (ALU), the epilogue's inputs (DMA) and
    # the epilogue (ALU)
    for m in reversed(st.mids + ([st.post] if st.post is not None else [])):   # readers first
        stage = s[m]
        t.set_scope(stage, "acc")
        stage.compute_at(s[st.out], at)
        if stage.op.reduce_axis:
            stage.reorder(stage.op.axis[0], *stage.op.reduce_axis, *stage.op.axis[1:])
        stage.pragma(stage.op.axis[0], ALU)
    for ext in st.extra:
        cache = s.cache_read(ext, t.acc, [st.post])
        s[cache].compute_at(s[st.out], at)
        s[cache].pragma(s[cache].op.axis[0], DMA_COPY)
    readers = [m for m in st.mids if st.x in m.op.input_tensors()]
    cache = s.cache_read(st.x, t.inp, readers)
    s[cache].compute_at(s[st.out], at)
    # One LOAD per input row keeps each bus transfer short, so the COMPUTE module's micro-op
    # loads (first priority on the bus, but a transfer in flight is not preempted) do not wait
    # behind a whole tile's input; each row LOAD may hand COMPUTE its own token.
    row_loads = getattr(tiling, "row_loads", False)
    s[cache].pragma(s[cache].op.axis[3 if row_loads else 0], DMA_COPY)
    return s
