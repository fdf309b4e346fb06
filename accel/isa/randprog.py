"""Random legal, race-free, deadlock-free programs, for differential testing.

``random_program(rng, cfg, n_insns=40, overlap=True)`` returns a :class:`Bundle` of about
``n_insns`` instructions ending in one FINISH (no flags). It is deterministic in the state of
``rng``. The simulator, the reference executor and the RTL must all agree on its final DRAM.

What is generated
-----------------
* Working areas: one random window of each SRAM (INP, WGT, ACC: a few to 64 elements; UOP:
  32 to 128 micro-ops) at a random base, so high address bits are exercised. Every index an
  instruction reads or writes lies in these windows; indices it does not read (src and wgt of a
  reset GEMM, src of a reset or immediate ALU) are sometimes out of range (SPEC.md rule 9).
  Beside the ACC area of n elements (before or after it) lie ``(P - 1) * n`` scratch elements
  that only the epilogue uses, ``P = ACC_WIDTH / OUT_WIDTH``; so n is at most ``D_ACC / P``.
  (With ``D_ACC < P``, i.e. two elements, one scratch element serves the digits in turn; the
  area has one element then, too few for ``pingpong`` halves, so ``free`` is used instead.)
* DRAM regions (aligned to the largest element size): ``inp_data``, ``wgt_data`` (random lanes
  over the full signed range), ``acc_data`` (a mix of full-range lanes, lanes inside the OUT
  range, lanes at and next to its bounds ``-2^(O-1)`` and ``2^(O-1) - 1`` (``O = OUT_WIDTH``),
  and small lanes useful as vector shift amounts), ``uops`` (micro-op words, built as
  instructions need them), ``out`` (zero-filled, written by STOREs) and ``acc_dump`` (written
  by the epilogue). Body STOREs thus write lanes that saturate, both ways, and lanes that do
  not (SPEC.md 5.4).
* A prologue loads each whole working area of INP, WGT and ACC (one LOAD each, with a random
  2D shape and padding whose ``H * W`` equals the area), so nothing reads SRAM that the program
  has not written.
* A body of random actions: LOAD INP/WGT/ACC (random shape, strides equal to, larger than and
  occasionally smaller than ``x_size``, every padding side up to 15, zero-size loads), GEMM
  (with and without reset) and ALU (every operation; immediates including negative and large
  shifts; vector operands; MULSHR with shifts ``0..2N-2``; the occasional reset), each preceded
  by a LOAD UOP (1D or 2D, any stride) when no micro-ops already in the buffer suit it, and
  STOREs (random strides, any stride for single rows, zero-size stores). Micro-op fields are
  random within the chosen windows; loop counts are 1..3 and the factors are chosen so that
  ``max field + (iter_out-1)*factor_out + (iter_in-1)*factor_in`` stays inside the window (a
  factor whose count is 1 is sometimes random over its whole field). Micro-ops carry random bits
  above their fields when the configuration leaves any.
* A drain of zero-size no-op instructions that pop any token still queued, then an epilogue
  that stores the whole ACC area with all ACC_WIDTH bits to ``acc_dump``, so every accumulator
  lane is observable (a STORE alone saturates it to OUT_WIDTH bits), then FINISH.

The full-precision epilogue
---------------------------
With ``N = ACC_WIDTH``, ``O = OUT_WIDTH`` and ``P = N / O`` (1, 2 or 4), part ``k`` of
``acc_dump`` (``k = 0`` the lowest) holds, for every lane ``x`` of the area, the O-bit digit
``d_k`` = bits ``[k*O, (k+1)*O)`` of ``x`` read as a signed O-bit number: the same bytes a
truncating STORE of ``x >> k*O`` would write. Each digit is computed exactly into an element of
its own, then stored::

    T_j = x                     ALU reset, then ADD T_j += A        (j = 1 .. P-1, scratch)
    T_j = x << j*O              ALU SHR -j*O (a left shift, wrapped to N bits)
    T_j = T_j >> (N - O)        ALU SHR N-O (arithmetic)            -> d_{P-1-j}
    A   = x >> (N - O)                                              -> d_{P-1}

Why it is exact: ``x << j*O`` wrapped to N bits is the N-bit word whose top O bits are bits
``[(P-1-j)*O, (P-j)*O)`` of ``x`` (the bits shifted out are exactly the higher digits); an
arithmetic shift right by ``N - O`` (at most N-1, so not clamped) leaves those O bits as a
signed value in ``[-2^(O-1), 2^(O-1) - 1]``, which a saturating STORE writes unchanged, as its
own O-bit two's complement pattern. So ``acc_dump`` holds every bit of ``x``, and
``read_acc_dump`` rebuilds ``x = wrap_N(sum_k (d_k mod 2^O) << k*O)``. With ``P = 1`` the area
is stored as it is. The epilogue never relies on saturation (tests check every value it stores
is in range); the random body STOREs test saturation.

Dependency styles
-----------------
* ``serial`` (``overlap=False``): every action is ordered after the previous one. When two
  consecutive actions run on different modules, the first pushes a token to the second and the
  second pops it; a LOAD<->STORE transition gets a COMPUTE action in between. Loads may then
  also read the ``out`` region that earlier STOREs wrote.
* ``pingpong`` (``overlap=True``): VTA-style double buffering. The INP, WGT and ACC areas are
  split into two halves; round ``r`` uses half ``r % 2``. Phase L_r loads into the half and
  pushes l2c; C_r pops l2c (and s2c from S_{r-2}), computes into the ACC half, pushes c2s (and
  c2l for L_{r+2}); S_r pops c2s, stores the ACC half and pushes s2c (for C_{r+2}). The phases'
  actions are interleaved randomly in the instruction stream whenever their tokens allow (with
  one-token queues a phase may do its pops in a zero-size no-op first, to let another push).
* ``free`` (``overlap=True``): random actions with random pop/push flags; an action whose
  accesses would race with an unordered earlier action is redrawn (and dropped after 8 tries).

Why the programs are race-free and cannot deadlock
--------------------------------------------------
Every instruction is checked, as it is generated, by a happens-before tracker: it computes a
vector clock per instruction (program order within a module, plus push -> matching pop edges,
the k-th pop of a queue matching its k-th push) and records each instruction's exact footprint
(SRAM elements read and written, DRAM byte ranges read and written). Two instructions of
different modules that touch a common element, at least one writing, must be ordered by the
clocks; ``free`` redraws an action that is not, and ``serial`` and ``pingpong`` are race-free by
construction (the tracker asserts it). Loads read DRAM only from the data, micro-op and (when
ordered) output regions; only STOREs write DRAM (to ``out`` and ``acc_dump``). The epilogue's
tokens are in :meth:`_Generator.epilogue`; the tracker checks them like the body's.

Deadlock freedom: a pop is generated only when an earlier instruction in program order pushed
the token it will match, and a push only when at most ``min(TOKEN_QUEUE_DEPTH, 3)`` tokens would
then be outstanding in program order. By induction the earliest unretired instruction can always
be fetched (every earlier instruction has retired), start (its tokens were pushed by earlier
instructions) and push (its queue holds at most that many tokens), for any command-queue depth.
Every pushed token is popped (rule 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bundle import Bundle, Region
from .config import HardwareConfig
from .encoding import INSN_DTYPE, AluOp, MemType, Opcode, encode_uops

LOAD_M, COMPUTE_M, STORE_M = 0, 1, 2
#: (module, flag) -> token queue (SPEC.md section 5.2)
QUEUE_OF = {(LOAD_M, "pop_next"): "c2l", (LOAD_M, "push_next"): "l2c",
            (COMPUTE_M, "pop_prev"): "l2c", (COMPUTE_M, "pop_next"): "s2c",
            (COMPUTE_M, "push_prev"): "c2l", (COMPUTE_M, "push_next"): "c2s",
            (STORE_M, "pop_prev"): "c2s", (STORE_M, "push_prev"): "s2c"}
QUEUES = ("l2c", "c2l", "c2s", "s2c")
#: queue -> (producer, consumer)
ENDS = {"l2c": (LOAD_M, COMPUTE_M), "c2l": (COMPUTE_M, LOAD_M),
        "c2s": (COMPUTE_M, STORE_M), "s2c": (STORE_M, COMPUTE_M)}
KIND_MODULE = {"load_inp": LOAD_M, "load_wgt": LOAD_M, "load_acc": COMPUTE_M,
               "gemm": COMPUTE_M, "alu": COMPUTE_M, "store": STORE_M}
KIND_WEIGHT = {"load_inp": 2, "load_wgt": 2, "load_acc": 2, "gemm": 3, "alu": 4, "store": 4}


def flag_for(module: int, queue: str, kind: str) -> str:
    """The flag (``kind`` is "pop" or "push") by which ``module`` uses ``queue``."""
    for (m, f), q in QUEUE_OF.items():
        if m == module and q == queue and f.startswith(kind):
            return f
    raise ValueError(f"module {module} cannot {kind} {queue}")


def _mem_fields(opcode: int, mem: str, sram: int, dram: int, ys: int, xs: int, stride: int,
                pads: tuple[int, int, int, int] = (0, 0, 0, 0)) -> dict[str, int]:
    return {"opcode": opcode, "mem_type": MemType[mem.upper()], "sram_base": sram,
            "dram_base": dram, "y_size": ys, "x_size": xs, "x_stride": stride,
            "y_pad_0": pads[0], "y_pad_1": pads[1], "x_pad_0": pads[2], "x_pad_1": pads[3]}


@dataclass
class _Insn:
    """One instruction with its exact footprint; ``dram_base`` is relative to ``region``."""

    module: int
    fields: dict[str, int]
    reads: dict[str, set[int]] = field(default_factory=dict)
    writes: dict[str, set[int]] = field(default_factory=dict)
    dram: list[tuple[str, int, int, bool]] = field(default_factory=list)  # region, lo, hi, write
    region: str | None = None
    elem: str = "uop"  # the memory whose element size is dram_base's unit
    uop_writes: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    new_words: list[int] = field(default_factory=list)


def _clash(a: _Insn, b: _Insn) -> bool:
    for x, y in ((a, b), (b, a)):
        for mem, written in x.writes.items():
            if written & (y.reads.get(mem, set()) | y.writes.get(mem, set())):
                return True
        for reg, lo, hi, w in x.dram:
            if w and any(r2 == reg and lo < h2 and l2 < hi for r2, l2, h2, _ in y.dram):
                return True
    return False


class _Tracker:
    """Vector clocks over token edges; refuses an instruction that races with an earlier one."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.done: list[tuple[int, int, _Insn]] = []  # module, index in module, insn
        self.count = [0, 0, 0]
        self.last = [[0, 0, 0] for _ in range(3)]
        self.pushed: dict[str, list[list[int]]] = {q: [] for q in QUEUES}
        self.popped = dict.fromkeys(QUEUES, 0)

    def outstanding(self, q: str) -> int:
        return len(self.pushed[q]) - self.popped[q]

    def snapshot(self) -> tuple:
        return (len(self.done), list(self.count), [list(v) for v in self.last],
                {q: len(v) for q, v in self.pushed.items()}, dict(self.popped))

    def restore(self, snap: tuple) -> None:
        n, self.count, self.last, lens, self.popped = snap
        del self.done[n:]
        for q, k in lens.items():
            del self.pushed[q][k:]

    def add(self, ins: _Insn) -> bool:
        m = ins.module
        vc = list(self.last[m])
        for (mod, f), q in QUEUE_OF.items():
            if mod == m and ins.fields.get(f):
                if f.startswith("pop"):
                    assert self.outstanding(q) > 0, f"pop of {q} with no earlier push"
                    vc = [max(a, b) for a, b in zip(vc, self.pushed[q][self.popped[q]])]
                else:
                    assert self.outstanding(q) < self.cap, f"push of {q} beyond the cap"
        vc[m] = self.count[m] + 1
        for om, k, other in self.done:
            if om != m and vc[om] <= k and _clash(other, ins):
                return False
        for (mod, f), q in QUEUE_OF.items():
            if mod == m and ins.fields.get(f):
                if f.startswith("pop"):
                    self.popped[q] += 1
                else:
                    self.pushed[q].append(vc)
        self.done.append((m, self.count[m], ins))
        self.count[m] += 1
        self.last[m] = vc
        return True


class _Generator:
    def __init__(self, rng: np.random.Generator, cfg: HardwareConfig, style: str) -> None:
        self.rng, self.cfg, self.style = rng, cfg, style
        self.tracker = _Tracker(min(cfg.token_queue_depth, 3))
        self.insns: list[_Insn] = []
        self.uop_words: list[int] = []
        self.uop_model: dict[int, tuple[int, int, int]] = {}  # UOP buffer contents we loaded
        self.uop_ranges: list[tuple[int, int]] = []
        self.area: dict[str, tuple[int, int]] = {}
        # The epilogue needs scratch next to the ACC area: parts - 1 blocks of its size, fewer
        # (reused) if the accumulator has fewer than ``parts`` elements.
        self.parts = cfg.acc_width // cfg.out_width
        self.slots = min(self.parts, cfg.depth("acc")) - 1
        self.scratch = 0  # first scratch element, set below when parts > 1
        for mem, sizes in (("inp", (8, 16, 32, 64)), ("wgt", (4, 8, 16)),
                           ("acc", (8, 16, 32, 64)), ("uop", (32, 64, 128))):
            k = self.slots + 1 if mem == "acc" else 1
            n = min(cfg.depth(mem) // k, int(rng.choice(sizes)))
            base = int(rng.integers(0, cfg.depth(mem) - k * n + 1))
            if k > 1 and rng.random() < 0.5:  # area after its scratch (else before it)
                self.scratch, base = base, base + (k - 1) * n
            elif k > 1:
                self.scratch = base + n
            self.area[mem] = (base, base + n)
        if style == "pingpong" and self._size("acc") < 2:  # no halves: see the module docstring
            self.style = "free"
        self.dram_reuse = self.style != "pingpong"
        self.pool = {m: 2 * self._size(m) + 16 for m in ("inp", "wgt", "acc")}
        self.pool["out"] = 2 * self._size("acc") + 16
        self.data = {m: self._random_lanes(m) for m in ("inp", "wgt", "acc")}

    # ---------------------------------------------------------------- helpers
    def _size(self, mem: str) -> int:
        lo, hi = self.area[mem]
        return hi - lo

    def _int(self, lo: int, hi: int) -> int:
        """A random integer in [lo, hi] (inclusive)."""
        return int(self.rng.integers(lo, hi + 1))

    def _random_lanes(self, mem: str) -> np.ndarray:
        shape = (self.pool[mem],) + self.cfg.elem_shape(mem)
        bits = self.cfg.elem_bits(mem)
        full = self.rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape)
        if mem == "acc":
            lim = 1 << (self.cfg.out_width - 1)  # STORE saturates to [-lim, lim - 1]
            inside = self.rng.integers(-lim, lim, size=shape)
            tiny = self.rng.integers(-bits - 4, bits + 5, size=shape)  # shift amounts
            edge = self.rng.choice([-lim - 1, -lim, -lim + 1, lim - 2, lim - 1, lim], size=shape)
            edge = np.clip(edge, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            full = np.choose(self.rng.integers(0, 4, size=shape), [full, inside, tiny, edge])
        return full.astype(self.cfg.lane_dtype(mem))

    def _subwin(self, win: tuple[int, int]) -> tuple[int, int]:
        lo, hi = win
        if hi - lo <= 1 or self.rng.random() < 0.4:
            return win
        a = self._int(lo, hi - 1)
        return a, self._int(a + 1, hi)

    def _half(self, mem: str, h: int) -> tuple[int, int]:
        lo, hi = self.area[mem]
        mid = lo + (hi - lo) // 2
        return (lo, mid) if h == 0 else (mid, hi)

    def _stride(self, ys: int, xs: int, store: bool) -> int:
        r = self.rng.random()
        if ys <= 1 and r < 0.3:
            return self._int(0, 0xFFFF)  # unused for a single row
        if r < 0.5 or ys <= 1:
            return xs
        if r < 0.9 or store:
            return xs + self._int(1, 8)
        return self._int(0, max(xs - 1, 0))  # overlapping rows: legal for LOAD

    def _dram(self, mem: str, ys: int, xs: int, *, store: bool) -> tuple[str, int, int, list]:
        """Choose a DRAM region, base (elements) and stride; return them with the byte rows."""
        e = self.cfg.elem_bytes(mem)
        region = "out" if store else f"{mem}_data"
        if not store and self.dram_reuse and self.rng.random() < (0.1 if mem == "acc" else 0.25):
            region = "out"
        n_el = (self.pool["out"] * self.cfg.elem_bytes("out") if region == "out"
                else self.pool[mem] * e) // e
        stride = self._stride(ys, xs, store)
        span = (ys - 1) * stride + xs if ys > 1 else xs
        if span > n_el:
            stride, span = xs, ys * xs
        if span > n_el:  # only possible for a load from "out": use the data region
            region, n_el = f"{mem}_data", self.pool[mem]
        base = self._int(0, max(n_el - max(span, 1), 0))
        rows = [(region, (base + y * stride) * e, (base + y * stride + xs) * e, store)
                for y in range(ys) if xs]
        return region, base, stride, rows

    def _shape(self, avail: int, pads: bool, exact: bool) -> tuple[int, ...]:
        """(y_size, x_size, y_pad_0, y_pad_1, x_pad_0, x_pad_1) with H*W <= avail (== if exact)."""
        rng = self.rng
        if exact:
            w = int(rng.choice([d for d in range(1, avail + 1) if avail % d == 0]))
            h = avail // w
            p = [0, 0, 0, 0]
            if pads and rng.random() < 0.6:  # at most 15, mostly a little
                most = 15 if rng.random() < 0.2 else 2
                p[0] = self._int(0, min(most, h - 1))
                p[1] = self._int(0, min(most, h - 1 - p[0]))
                p[2] = self._int(0, min(most, w - 1))
                p[3] = self._int(0, min(most, w - 1 - p[2]))
            return (h - p[0] - p[1], w - p[2] - p[3], *p)
        for _ in range(30):
            ys, xs = self._int(1, 4), self._int(1, 8)
            if rng.random() < 0.08:
                ys, xs = (0, xs) if rng.random() < 0.5 else (ys, 0)
            p = [0, 0, 0, 0]
            if pads and rng.random() < 0.5:
                p = [int(rng.choice([0, 0, 1, 2, 3, 15])) for _ in range(4)]
            if (p[0] + ys + p[1]) * (p[2] + xs + p[3]) <= avail:
                return (ys, xs, *p)
        return (1, 1, 0, 0, 0, 0)

    # ---------------------------------------------------------------- actions
    def load(self, mem: str, win: tuple[int, int], *, exact: bool = False) -> list[_Insn]:
        ys, xs, yp0, yp1, xp0, xp1 = self._shape(win[1] - win[0], True, exact)
        n = (yp0 + ys + yp1) * (xp0 + xs + xp1)
        sram = self._int(win[0], win[1] - max(n, 1))
        region, base, stride, rows = self._dram(mem, ys, xs, store=False)
        fields = _mem_fields(Opcode.LOAD, mem, sram, base, ys, xs, stride, (yp0, yp1, xp0, xp1))
        module = LOAD_M if mem in ("inp", "wgt") else COMPUTE_M
        return [_Insn(module, fields, writes={mem: set(range(sram, sram + n))}, dram=rows,
                      region=region, elem=mem)]

    def store(self, win: tuple[int, int]) -> list[_Insn]:
        avail = win[1] - win[0]
        ys, xs = self._int(1, 3), self._int(1, 8)
        while ys * xs > avail:
            ys, xs = max(ys - 1, 1), max(xs // 2, 1)
        if self.rng.random() < 0.08:
            ys, xs = (0, xs) if self.rng.random() < 0.5 else (ys, 0)
        sram = self._int(win[0], win[1] - max(ys * xs, 1))
        region, base, stride, rows = self._dram("out", ys, xs, store=True)
        fields = _mem_fields(Opcode.STORE, "out", sram, base, ys, xs, stride)
        return [_Insn(STORE_M, fields, reads={"acc": set(range(sram, sram + ys * xs))},
                      dram=rows, region=region, elem="out")]

    def _uop_value(self, wins: dict[str, tuple[int, int]]) -> tuple[int, int, int]:
        return tuple(self._int(wins[k][0], wins[k][1] - 1) for k in ("dst", "src", "wgt"))

    def _uops(self, wins: dict[str, tuple[int, int]]) -> tuple[list[_Insn], int, int, list]:
        """Micro-ops whose fields lie in ``wins``: reuse loaded ones, or LOAD UOP new ones."""
        for _ in range(3 if self.uop_ranges and self.rng.random() < 0.5 else 0):
            b, e = self.uop_ranges[self._int(0, len(self.uop_ranges) - 1)]
            b = self._int(b, e - 1)
            vals = [self.uop_model.get(u) for u in range(b, e)]
            if all(v is not None and all(wins[k][0] <= x < wins[k][1]
                                         for k, x in zip(("dst", "src", "wgt"), v))
                   for v in vals):
                return [], b, e, vals
        u = self._int(1, 6)
        ys = int(self.rng.choice([d for d in range(1, u + 1) if u % d == 0]))
        xs = u // ys
        stride = self._stride(ys, xs, store=False)
        span = (ys - 1) * stride + xs if ys > 1 else xs
        chunk = [self._uop_value(wins) for _ in range(span)]
        vals = [chunk[y * stride + x] for y in range(ys) for x in range(xs)]
        words = encode_uops(self.cfg, *zip(*chunk)).astype(np.int64)
        spare = 32 - self.cfg.uop_total_bits
        if spare:
            words |= self.rng.integers(0, 1 << spare, size=len(words)) << self.cfg.uop_total_bits
        lo, hi = self.area["uop"]
        sram = self._int(lo, hi - u)
        base = len(self.uop_words)
        fields = _mem_fields(Opcode.LOAD, "uop", sram, base, ys, xs, stride)
        rows = [("uops", (base + y * stride) * 4, (base + y * stride + xs) * 4, False)
                for y in range(ys)]
        ins = _Insn(COMPUTE_M, fields, writes={"uop": set(range(sram, sram + u))}, dram=rows,
                    region="uops", elem="uop",
                    uop_writes={sram + i: v for i, v in enumerate(vals)},
                    new_words=[int(w) for w in words])
        return [ins], sram, sram + u, vals

    def _factors(self, vmax: int, hi: int, n_out: int, n_in: int, width: int) -> tuple[int, int]:
        budget, out = hi - 1 - vmax, []
        for n in (n_out, n_in):
            if n == 1:
                out.append(self._int(0, (1 << width) - 1) if self.rng.random() < 0.3 else 0)
            elif self.rng.random() < 0.3:
                out.append(0)
            else:
                out.append(self._int(0, budget // (n - 1)))
                budget -= (n - 1) * out[-1]
        return out[0], out[1]

    def loop(self, kind: str, dst: tuple[int, int], src: tuple[int, int],
             wgt: tuple[int, int] | None = None) -> list[_Insn]:
        """A GEMM (src in INP, wgt in WGT) or ALU (src in ACC) with its micro-op load if any.

        Indices the instruction does not read (src and wgt of a reset GEMM, src of a reset or
        immediate ALU) are sometimes driven out of range: SPEC.md rule 9 checks only what is read.
        """
        cfg, rng = self.cfg, self.rng
        fields = self._loop_op(kind)
        reset, use_imm = fields["reset"], fields.get("use_imm", 0)
        unread = {"wgt"} if kind == "alu" else set()
        if reset:
            unread |= {"src", "wgt"}
        if use_imm:
            unread.add("src")
        wins = {"dst": dst, "src": src, "wgt": wgt or (0, 1 << cfg.wgt_idx_bits)}
        pre, bgn, end, vals = self._uops(wins)
        n_out, n_in = self._int(1, 3), self._int(1, 3)
        fields.update(uop_bgn=bgn, uop_end=end, iter_out=n_out, iter_in=n_in)
        widths = {"dst": cfg.acc_idx_bits, "wgt": cfg.wgt_idx_bits,
                  "src": cfg.inp_idx_bits if kind == "gemm" else cfg.acc_idx_bits}
        idx: dict[str, set[int]] = {}
        for j, k in enumerate(("dst", "src", "wgt")):
            if kind == "alu" and k == "wgt":
                continue
            if k in unread and rng.random() < 0.3:
                fields[f"{k}_factor_out"] = self._int(0, (1 << widths[k]) - 1)
                fields[f"{k}_factor_in"] = self._int(0, (1 << widths[k]) - 1)
                continue
            vmax = max(v[j] for v in vals)
            fo, fi = self._factors(vmax, wins[k][1], n_out, n_in, widths[k])
            fields[f"{k}_factor_out"], fields[f"{k}_factor_in"] = fo, fi
            grid = (np.array([v[j] for v in vals])[None, None, :]
                    + np.arange(n_out)[:, None, None] * fo + np.arange(n_in)[None, :, None] * fi)
            idx[k] = set(grid.ravel().tolist())
        reads: dict[str, set[int]] = {"uop": set(range(bgn, end))}
        if not reset:
            reads["acc"] = idx["dst"]
            if kind == "gemm":
                reads.update(inp=idx["src"], wgt=idx["wgt"])
            elif not use_imm:
                reads["acc"] = idx["dst"] | idx["src"]
        return pre + [_Insn(COMPUTE_M, fields, reads=reads, writes={"acc": idx["dst"]})]

    def _loop_op(self, kind: str) -> dict[str, int]:
        """opcode, reset and (ALU) alu_op, use_imm, imm of a loop instruction."""
        rng, n = self.rng, self.cfg.acc_width
        if kind == "gemm":
            return {"opcode": Opcode.GEMM, "reset": int(rng.random() < 0.12)}
        op = self._int(0, 6)
        fields = {"opcode": Opcode.ALU, "alu_op": op, "reset": int(rng.random() < 0.05)}
        if op == AluOp.MULSHR:
            fields["imm"] = int(rng.choice([0, 1, n - 1, n, 2 * n - 2, self._int(0, 2 * n - 2)]))
        elif rng.random() < 0.5:
            fields["use_imm"] = 1
            if op in (AluOp.SHR, AluOp.RSHR) and rng.random() < 0.8:
                # mostly right shifts inside the width; left, zero and >= N ones too
                fields["imm"] = (self._int(1, n - 1) if rng.random() < 0.6
                                 else self._int(-n - 3, n + 3))
            else:
                fields["imm"] = int(rng.choice([-32768, 32767, self._int(-4, 4),
                                                self._int(-32768, 32767)]))
        elif rng.random() < 0.3:
            fields["imm"] = self._int(-32768, 32767)  # ignored with a vector operand
        return fields

    def action(self, kind: str, half: int | None = None) -> list[_Insn]:
        """Build one action of ``kind``; ``half`` restricts it to a ping-pong half."""
        def win(mem: str) -> tuple[int, int]:
            return self._subwin(self.area[mem] if half is None else self._half(mem, half))
        if kind in ("load_inp", "load_wgt", "load_acc"):
            mem = kind[5:]
            return self.load(mem, win(mem))
        if kind == "store":
            return self.store(win("acc"))
        if kind == "gemm":
            return self.loop("gemm", win("acc"), win("inp"), win("wgt"))
        acc = win("acc")
        return self.loop("alu", acc, acc if self.rng.random() < 0.4 else win("acc"))

    def random_kind(self, module: int | None = None) -> str:
        kinds = [k for k, m in KIND_MODULE.items() if module is None or m == module]
        weights = np.array([KIND_WEIGHT[k] for k in kinds], dtype=float)
        return str(self.rng.choice(kinds, p=weights / weights.sum()))

    # --------------------------------------------------------------- emission
    def emit(self, insns: list[_Insn], pops=(), pushes=()) -> bool:
        """Append ``insns`` with ``pops`` on the first and ``pushes`` on the last, if race-free."""
        m = insns[0].module
        for q in pops:
            insns[0].fields[flag_for(m, q, "pop")] = 1
        for q in pushes:
            insns[-1].fields[flag_for(m, q, "push")] = 1
        snap = self.tracker.snapshot()
        for ins in insns:
            if not self.tracker.add(ins):
                self.tracker.restore(snap)
                return False
        for ins in insns:
            self.insns.append(ins)
            self.uop_words += ins.new_words
            self.uop_model.update(ins.uop_writes)
            if ins.uop_writes:
                self.uop_ranges.append((min(ins.uop_writes), max(ins.uop_writes) + 1))
        return True

    def must_emit(self, insns: list[_Insn], pops=(), pushes=()) -> None:
        if not self.emit(insns, pops, pushes):
            raise AssertionError("randprog: generated a racy instruction (generator bug)")

    def prologue(self, pushes_after: tuple[str, ...]) -> None:
        """Initialize every working area; the ACC load pops l2c and pushes ``pushes_after``."""
        self.must_emit(self.load("inp", self.area["inp"], exact=True))
        self.must_emit(self.load("wgt", self.area["wgt"], exact=True), pushes=("l2c",))
        self.must_emit(self.load("acc", self.area["acc"], exact=True), ("l2c",), pushes_after)

    def serial(self, n_insns: int) -> None:
        kinds: list[str] = []
        while len(kinds) < max(n_insns * 3 // 4 - 3, 1):
            k = self.random_kind()
            prev = KIND_MODULE[kinds[-1]] if kinds else COMPUTE_M  # the prologue ends on COMPUTE
            if abs(KIND_MODULE[k] - prev) == 2:  # LOAD <-> STORE goes through COMPUTE
                kinds.append(self.random_kind(COMPUTE_M))
            kinds.append(k)
        mods = [COMPUTE_M] + [KIND_MODULE[k] for k in kinds] + [COMPUTE_M]
        self.prologue(tuple(q for q, e in ENDS.items() if e == (COMPUTE_M, mods[1])))
        for i, k in enumerate(kinds):
            prev, mine, nxt = mods[i], mods[i + 1], mods[i + 2]
            pops = [q for q, e in ENDS.items() if e == (prev, mine)]
            pushes = [q for q, e in ENDS.items() if e == (mine, nxt) and i + 1 < len(kinds)]
            self.must_emit(self.action(k), pops, pushes)

    def pingpong(self, n_insns: int) -> None:
        rounds = max(2, n_insns // 8)
        # plan[m][r]: the action kinds of module m's phase in round r
        plan: list[list[list[str]]] = [[], [], []]
        for _ in range(rounds):
            plan[LOAD_M].append([self.random_kind(LOAD_M) for _ in range(self._int(1, 2))])
            plan[COMPUTE_M].append([self.random_kind(COMPUTE_M) for _ in range(self._int(1, 4))])
            plan[STORE_M].append(["store"] * self._int(1, 2))
        plan[LOAD_M][0][:0] = ["init_inp", "init_wgt"]
        plan[COMPUTE_M][0][:0] = ["init_acc"]
        cursor = [0, 0, 0]  # phase index per module
        step = [0, 0, 0]  # action index within the current phase
        popped = [False, False, False]  # the current phase's pops are done

        def tokens(m: int, r: int) -> tuple[list[str], list[str]]:
            late = r + 2 < rounds
            return ({LOAD_M: ["c2l"] * (r >= 2), COMPUTE_M: ["l2c"] + ["s2c"] * (r >= 2),
                     STORE_M: ["c2s"]}[m],
                    {LOAD_M: ["l2c"], COMPUTE_M: ["c2s"] + ["c2l"] * late,
                     STORE_M: ["s2c"] * late}[m])

        while any(cursor[m] < rounds for m in range(3)):
            ready, can_pop = [], []
            for m in range(3):
                if cursor[m] == rounds:
                    continue
                r = cursor[m]
                kinds = plan[m][r]
                pops, pushes = tokens(m, r)
                pops = [] if popped[m] else pops
                pushes = pushes if step[m] == len(kinds) - 1 else []
                if all(self.tracker.outstanding(q) > 0 for q in pops):
                    can_pop += [m] if pops else []
                    if all(self.tracker.outstanding(q) < self.tracker.cap for q in pushes):
                        ready.append((m, r, kinds[step[m]], pops, pushes))
            if not ready:
                # Each one-action phase waits to push for a pop by the other (possible with
                # a shallow token queue): let one pop first, in a no-op of its own.
                assert can_pop, "randprog: ping-pong schedule stuck (generator bug)"
                m = can_pop[0]
                self.must_emit([self._noop(m)], tokens(m, cursor[m])[0])
                popped[m] = True
                continue
            m, r, kind, pops, pushes = ready[self._int(0, len(ready) - 1)]
            popped[m] = True
            if kind.startswith("init_"):
                mem = kind[5:]
                insns = self.load(mem, self.area[mem], exact=True)
            else:
                insns = self.action(kind, half=r % 2)
            self.must_emit(insns, pops, pushes)
            step[m] += 1
            if step[m] == len(plan[m][cursor[m]]):
                cursor[m], step[m], popped[m] = cursor[m] + 1, 0, False

    def free(self, n_insns: int) -> None:
        self.prologue(("c2s",) + (("c2l",) if self.rng.random() < 0.5 else ()))
        for _ in range(4 * n_insns):
            if len(self.insns) >= n_insns - 2:
                break
            kind = self.random_kind()
            m = KIND_MODULE[kind]
            for _ in range(8):
                pops = [q for q, e in ENDS.items() if e[1] == m
                        and self.tracker.outstanding(q) > 0 and self.rng.random() < 0.5]
                pushes = [q for q, e in ENDS.items() if e[0] == m
                          and self.tracker.outstanding(q) < self.tracker.cap
                          and self.rng.random() < 0.35]
                if self.emit(self.action(kind), pops, pushes):
                    break

    def drain(self) -> None:
        """Pop every outstanding token with zero-size (no-op) instructions of the consumer."""
        for m in (LOAD_M, COMPUTE_M, STORE_M):
            while True:
                pops = [q for q, e in ENDS.items() if e[1] == m and self.tracker.outstanding(q)]
                if not pops:
                    break
                self.must_emit([self._noop(m)], pops)

    def epilogue(self) -> None:
        """Dump every accumulator lane of the ACC area, all ACC_WIDTH bits, to ``acc_dump``.

        STORE saturates to OUT_WIDTH = O bits, so an N-bit lane x is cut into its P = N / O
        digits of O bits, each made a value STORE keeps exactly (module docstring)::

            LOAD UOP  P micro-ops: (dst, src) = (A, A), (T_1, A), ..., (T_{P-1}, A)
            ALU  T_j = 0 (reset); T_j += A; T_j = T_j SHR -j*O (one per j); T_j SHR N-O  push c2s
            STORE T_1, ..., T_{P-1} to parts P-2 .. 0    (the first pops c2s, the last pushes s2c)
            ALU  A = A SHR N-O                            pop s2c, push c2s
            STORE A to part P-1                           pop c2s

        A is the area and T_j the j-th block of scratch elements beside it, which no earlier
        instruction touches. Runs after ``drain`` (no token queued): the c2s tokens order each
        STORE after the ALUs writing what it reads, and the s2c token orders the write to A after
        every earlier STORE (reading A), as STOREs run in order. With fewer scratch blocks than
        P - 1 the ALU/STORE group runs in rounds over the blocks, each round's reset popping the
        s2c of the previous round's STOREs.
        """
        cfg = self.cfg
        lo, hi = self.area["acc"]
        n, parts, o = hi - lo, self.parts, cfg.out_width
        e = cfg.elem_bytes("out")

        def store(k: int, sram: int, **flags: tuple[str, ...]) -> None:
            ins = _Insn(STORE_M, _mem_fields(Opcode.STORE, "out", sram, k * n, 1, n, n),
                        reads={"acc": set(range(sram, sram + n))},
                        dram=[("acc_dump", k * n * e, (k + 1) * n * e, True)],
                        region="acc_dump", elem="out")
            self.must_emit([ins], flags.get("pops", ()), flags.get("pushes", ()))

        if parts == 1:  # N = O: STORE keeps every bit
            self.must_emit([self._noop(COMPUTE_M)], pushes=("c2s",))
            store(0, lo, pops=("c2s",))
            return
        slots = self.slots  # T_j is scratch block (j - 1) % slots: rounds of `slots` digits
        dsts = [lo] + [self.scratch + (j - 1) % slots * n for j in range(1, parts)]  # A, T_j
        ulo = self.area["uop"][0]
        words = [int(w) for w in encode_uops(cfg, dsts, [lo] * parts, [0] * parts)]
        base = len(self.uop_words)
        fields = _mem_fields(Opcode.LOAD, "uop", ulo, base, 1, parts, parts)
        self.must_emit([_Insn(COMPUTE_M, fields, writes={"uop": set(range(ulo, ulo + parts))},
                              dram=[("uops", base * 4, (base + parts) * 4, False)],
                              region="uops", elem="uop", new_words=words,
                              uop_writes={ulo + j: (d, lo, 0) for j, d in enumerate(dsts)})])
        inner = min(n, 8)

        def alu(u0: int, u1: int, op: int, imm: int = 0, *, reset: int = 0,
                **flags: tuple[str, ...]) -> None:
            """ALU ``op`` over every element of the blocks of micro-ops u0..u1-1."""
            dst = {d + i for d in dsts[u0:u1] for i in range(n)}
            reads = {"uop": set(range(ulo + u0, ulo + u1))}
            if not reset:
                reads["acc"] = dst | (set(range(lo, hi)) if op == AluOp.ADD else set())
            fields = {"opcode": Opcode.ALU, "reset": reset, "uop_bgn": ulo + u0,
                      "uop_end": ulo + u1, "iter_out": n // inner, "iter_in": inner,
                      "dst_factor_out": inner % n, "dst_factor_in": 1,
                      "src_factor_out": inner % n, "src_factor_in": 1, "alu_op": op,
                      "use_imm": int(op != AluOp.ADD), "imm": imm}
            self.must_emit([_Insn(COMPUTE_M, fields, reads=reads, writes={"acc": dst})],
                           flags.get("pops", ()), flags.get("pushes", ()))

        for j0 in range(1, parts, slots):  # one round: digits T_j0 .. T_{j1-1}
            j1 = min(j0 + slots, parts)
            alu(j0, j1, AluOp.ADD, reset=1, pops=("s2c",) if j0 > 1 else ())  # T_j = 0
            alu(j0, j1, AluOp.ADD)  # T_j = x
            for j in range(j0, j1):
                alu(j, j + 1, AluOp.SHR, -j * o)  # T_j = x << j*O (wrapped to N bits)
            alu(j0, j1, AluOp.SHR, cfg.acc_width - o, pushes=("c2s",))
            for j in range(j0, j1):  # T_j holds digit P-1-j (from the low end)
                store(parts - 1 - j, dsts[j], pops=("c2s",) if j == j0 else (),
                      pushes=("s2c",) if j == j1 - 1 else ())
        alu(0, 1, AluOp.SHR, cfg.acc_width - o, pops=("s2c",), pushes=("c2s",))
        store(parts - 1, lo, pops=("c2s",))

    def _noop(self, m: int) -> _Insn:
        """A zero-size LOAD or STORE of module ``m``: it touches no memory."""
        if m == STORE_M:
            fields = {"opcode": Opcode.STORE, "mem_type": MemType.OUT, "x_stride": 0}
            region, elem, area = "out", "out", "acc"
        else:
            mem = "inp" if m == LOAD_M else str(self.rng.choice(["uop", "acc"]))
            fields = {"opcode": Opcode.LOAD, "mem_type": MemType[mem.upper()]}
            region, elem, area = ("uops" if mem == "uop" else f"{mem}_data"), mem, mem
        fields["sram_base"] = self.area[area][0]
        return _Insn(m, fields, region=region, elem=elem)

    # ------------------------------------------------------------------ bundle
    def bundle(self) -> Bundle:
        cfg = self.cfg
        align = max([64] + [cfg.elem_bytes(m) for m in ("inp", "wgt", "acc", "out")])
        arrays = {f"{m}_data": self.data[m] for m in ("inp", "wgt", "acc")}
        arrays["uops"] = np.array(self.uop_words, dtype=np.uint32)
        arrays["out"] = np.zeros((self.pool["out"],) + cfg.elem_shape("out"),
                                 dtype=cfg.lane_dtype("out"))
        arrays["acc_dump"] = np.zeros((cfg.acc_width // cfg.out_width, self._size("acc"))
                                      + cfg.elem_shape("out"), dtype=cfg.lane_dtype("out"))
        regions, chunks, top = {}, [], 0
        for name, arr in arrays.items():
            off = -(-top // align) * align
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            dtype = "uop" if name == "uops" else arr.dtype.name
            regions[name] = Region(name, off, len(raw), dtype, tuple(arr.shape))
            chunks.append((off, raw))
            top = off + len(raw)
        dram = np.zeros(-(-top // align) * align, dtype=np.uint8)
        for off, raw in chunks:
            dram[off:off + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        out = np.zeros(len(self.insns) + 1, dtype=INSN_DTYPE)
        for i, ins in enumerate(self.insns):
            f = dict(ins.fields)
            if ins.region is not None:
                f["dram_base"] = (f.get("dram_base", 0)
                                  + regions[ins.region].offset // cfg.elem_bytes(ins.elem))
            for k, v in f.items():
                out[k][i] = int(v)
        out["opcode"][-1] = Opcode.FINISH
        return Bundle(cfg, out, dram, list(regions.values()))


def random_program(rng: np.random.Generator, cfg: HardwareConfig, *, n_insns: int = 40,
                   overlap: bool = True, epilogue: bool = True) -> Bundle:
    """A random legal, race-free, deadlock-free program of about ``n_insns`` instructions.

    ``overlap=False`` gives the ``serial`` style; ``overlap=True`` picks ``pingpong`` or
    ``free`` at random (see the module docstring). Deterministic in the state of ``rng``.
    ``epilogue=False`` leaves out the accumulator dump (``acc_dump`` stays zero) and gives
    otherwise the same program, to test the dump itself.
    """
    style = "serial" if not overlap else str(rng.choice(["pingpong", "free"]))
    gen = _Generator(rng, cfg, style)
    getattr(gen, gen.style)(n_insns)
    gen.drain()
    if epilogue:
        gen.epilogue()
    return gen.bundle()


def read_acc_dump(bundle: Bundle, dram: np.ndarray) -> np.ndarray:
    """The ACC area's final lanes (int64, ``(n,) +`` ACC element shape) from ``acc_dump``.

    Part k of ``acc_dump`` holds bits ``[k*O, (k+1)*O)`` of every lane as a signed O-bit value.
    """
    cfg = bundle.config
    parts = bundle.read("acc_dump", dram).astype(np.int64)
    mask, o, half = (1 << cfg.out_width) - 1, cfg.out_width, 1 << (cfg.acc_width - 1)
    x = sum((part & mask) << (k * o) for k, part in enumerate(parts))
    return ((x + half) & ((1 << cfg.acc_width) - 1)) - half
