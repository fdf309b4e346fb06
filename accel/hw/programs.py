"""Hand-written test programs for the RTL/simulator cross-check (``accel.hw.crosscheck``).

Each builder takes a :class:`HardwareConfig` and returns a legal, race-free bundle (adapting
sizes to the configuration's buffer depths and queue depths), or None when the configuration
cannot hold it. Together with the GEMM workload in both variants they cover: every padding
case of every LOAD memory (including zero-size loads that only pad), every ALU operation with
immediate and vector operands (negative, zero, large and out-of-width shifts; every MULSHR
shift range), strided, single-row and zero-size STOREs, token waits, full token queues, full
command queues (FETCH stalls) and three-way contention for the DRAM bus. Every accumulator
lane a program computes is stored with all ACC_WIDTH bits (STORE keeps OUT_WIDTH bits; the
dump shifts right by OUT_WIDTH between stores).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig
from accel.isa.program import ProgramBuilder
from accel.isa.workloads import GemmTilingError, build_gemm

PAD_CASES = (  # (y_size, x_size, stride delta, (top, bottom, left, right))
    (1, 1, 0, (0, 0, 0, 0)), (2, 3, 0, (1, 0, 0, 0)), (2, 3, 2, (0, 1, 0, 0)),
    (3, 2, 0, (0, 0, 1, 0)), (1, 4, 0, (0, 0, 0, 1)), (2, 2, 1, (2, 3, 1, 2)),
    (1, 1, 0, (15, 0, 0, 15)), (1, 2, 0, (0, 15, 15, 0)), (3, 2, -1, (1, 1, 1, 1)),
    (2, 0, 0, (1, 1, 1, 1)), (0, 3, 0, (1, 2, 0, 0)), (0, 0, 0, (0, 0, 0, 0)),
    (2, 0, 0, (0, 0, 0, 0)), (0, 1, 0, (0, 0, 2, 0)), (4, 1, -1, (0, 0, 0, 0)),
)


def _rng(cfg: HardwareConfig, salt: int) -> np.random.Generator:
    return np.random.default_rng(abs(hash((salt, cfg.to_json()))) % 2**32)


def _lanes(cfg: HardwareConfig, mem: str, n: int, rng, small: bool = False) -> np.ndarray:
    bits = cfg.elem_bits(mem)
    shape = (n, *cfg.elem_shape(mem))
    full = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape)
    if small:
        tiny = rng.integers(-bits - 8, bits + 9, size=shape)
        full = np.where(rng.integers(0, 2, size=shape) == 1, full, tiny)
    return full.astype(cfg.lane_dtype(mem))


class _Dump:
    """Stores ACC[lo, lo+n) with all ACC_WIDTH bits into one output region.

    STORE saturates to OUT_WIDTH = O bits, so an N-bit lane is cut into its N / O digits, each
    turned into a value STORE keeps exactly in a scratch block T (next to nothing else):
    T = 0; T += A; T = T SHR -(shift of the digit to the top); T = T SHR N-O; STORE T.
    The COMPUTE instructions are ordered before each STORE by c2s; the next write to T waits
    for the STORE by s2c. After a dump one s2c token is pending: the next COMPUTE instruction
    pops it (``take()`` says whether it must).
    """

    def __init__(self, p: ProgramBuilder, cfg: HardwareConfig, capacity: int, uop_slot: int,
                 tlo: int):
        self.p, self.cfg = p, cfg
        self.parts = cfg.acc_width // cfg.out_width
        self.region = p.alloc("dump", shape=(capacity, *cfg.elem_shape("out")),
                              dtype=cfg.lane_dtype("out"))
        self.base = self.region.elem_index(cfg.elem_bytes("out"))
        self.top = 0
        self.capacity = capacity
        self.uop_slot = uop_slot  # micro-op (dst=tlo, src=lo)
        self.tlo = tlo
        self.pending = False

    def take(self) -> bool:
        pending, self.pending = self.pending, False
        return pending

    def _alu(self, op: str, n: int, **kw) -> None:
        u = self.uop_slot
        self.p.alu(op, u, u + 1, n, 1, dst=(1, 0), src=(1, 0), **kw)

    def dump(self, lo: int, n: int) -> None:
        p, cfg = self.p, self.cfg
        assert self.top + self.parts * n <= self.capacity
        o, bits = cfg.out_width, cfg.acc_width
        if self.parts == 1:
            p.load("acc", 0, 0, 0, 0, pop_next=self.take(), push_next=True)  # no-op
            p.store(lo, self.base + self.top, 1, n, pop_prev=True, push_prev=True)
            self.top += n
            self.pending = True
            return
        for k in range(self.parts):  # digit k (k = 0: the low O bits)
            self._alu("add", n, imm=0, reset=True, pop_next=self.take())
            self._alu("add", n)
            left = (self.parts - 1 - k) * o
            if left:
                self._alu("shr", n, imm=-left)
            self._alu("shr", n, imm=bits - o, push_next=True)
            p.store(self.tlo, self.base + self.top, 1, n, pop_prev=True, push_prev=True)
            self.top += n
            self.pending = True


def alu_ops(cfg: HardwareConfig) -> Bundle | None:
    """Every ALU operation on vector and immediate operands, each result dumped in full."""
    n = min(8, cfg.depth("acc") // 3)
    if n < 1:
        return None
    rng = _rng(cfg, 1)
    bits = cfg.acc_width
    p = ProgramBuilder(cfg)
    a = p.alloc("a", _lanes(cfg, "acc", n, rng))
    b = p.alloc("b", _lanes(cfg, "acc", n, rng, small=True))
    # micro-op 0: dst 0, src n (the vector operand); 1: the dump's (dst 2n, src 0)
    k = p.uops("k", dst=[0, 2 * n], src=[n, 0])
    shifts = sorted({-bits - 5, -bits - 1, -bits, -bits + 1, -1, 0, 1, 5, bits - 1, bits,
                     bits + 1, bits + 8})
    cases: list[tuple[str, dict]] = []
    for op in ("min", "max", "add", "mul"):
        cases.append((op, {}))
        for v in (-32768, -5, 0, 3, 32767):
            cases.append((op, {"imm": v}))
    for op in ("shr", "rshr"):
        cases.append((op, {}))
        cases += [(op, {"imm": s}) for s in shifts]
    for s in sorted({0, 1, 2, bits - 1, bits, bits + 1, 2 * bits - 3, 2 * bits - 2}):
        cases.append(("mulshr", {"shift": s}))
    cases.append(("add", {"imm": 1, "reset": True}))
    dump = _Dump(p, cfg, len(cases) * n * (bits // cfg.out_width), uop_slot=1, tlo=2 * n)
    p.load("uop", 0, k.elem_index(4), 1, 2)
    p.load("acc", n, b.elem_index(cfg.elem_bytes("acc")), 1, n)
    for op, kw in cases:
        p.load("acc", 0, a.elem_index(cfg.elem_bytes("acc")), 1, n, pop_next=dump.take())
        p.alu(op, 0, 1, n, 1, dst=(1, 0), src=(1, 0), **kw)
        dump.dump(0, n)
    p.load("acc", 0, 0, 0, 0, pop_next=dump.take())
    p.finish()
    return p.bundle()


def padding(cfg: HardwareConfig) -> Bundle | None:
    """LOAD of ACC, INP and WGT with every padding case; contents observed through STORE
    (ACC) or a GEMM against one fixed element of the other operand (INP, WGT)."""
    rng = _rng(cfg, 2)
    p = ProgramBuilder(cfg)
    eb = {m: cfg.elem_bytes(m) for m in ("inp", "wgt", "acc")}
    src = {m: p.alloc(f"{m}_src", _lanes(cfg, m, 64, rng)) for m in ("inp", "wgt", "acc")}
    limit = min(cfg.depth("acc") // 2, 300)
    cases = []
    for mem in ("acc", "inp", "wgt"):
        for ys, xs, dstride, pads in PAD_CASES:
            h, w = pads[0] + ys + pads[1], pads[2] + xs + pads[3]
            if h * w <= min(limit, cfg.depth(mem) - 1):
                cases.append((mem, ys, xs, max(xs + dstride, 0), pads, h * w))
    if not cases:
        return None
    parts = cfg.acc_width // cfg.out_width
    total = sum(c[-1] for c in cases) * parts + 8
    fixed = {m: cfg.depth(m) - 1 for m in ("inp", "wgt")}
    # micro-ops: 0 GEMM over INP (dst i, src i, wgt fixed); 1 GEMM over WGT (dst i, src fixed,
    # wgt i); 2 the dump's (dst limit, src 0)
    k = p.uops("k", dst=[0, 0, limit], src=[0, fixed["inp"], 0], wgt=[fixed["wgt"], 0, 0])
    dump = _Dump(p, cfg, total, uop_slot=2, tlo=limit)
    p.load("uop", 0, k.elem_index(4), 1, 3)
    p.load("inp", fixed["inp"], src["inp"].elem_index(eb["inp"]), 1, 1)
    p.load("wgt", fixed["wgt"], src["wgt"].elem_index(eb["wgt"]), 1, 1, push_next=True)
    p.load("acc", 0, 0, 0, 0, pop_prev=True)  # no-op: orders the fixed loads before the GEMMs
    load_waits = False  # the LOAD module must wait for the last GEMM (c2l)
    for mem, ys, xs, stride, pads, hw in cases:
        base = src[mem].elem_index(eb[mem])
        if mem == "acc":
            p.load("acc", 0, base, ys, xs, stride, pads, pop_next=dump.take())
        else:
            p.load(mem, 0, base, ys, xs, stride, pads, push_next=True, pop_next=load_waits)
            if hw == 0:
                p.load("acc", 0, 0, 0, 0, pop_prev=True, push_prev=True,
                       pop_next=dump.take())
                load_waits = True
                continue
            u = 0 if mem == "inp" else 1
            p.gemm(u, u + 1, hw, 1, dst=(1, 0), reset=True, pop_prev=True,
                   pop_next=dump.take())
            p.gemm(u, u + 1, hw, 1, dst=(1, 0), src=(1 if mem == "inp" else 0, 0),
                   wgt=(0 if mem == "inp" else 1, 0), push_prev=True)
            load_waits = True
        if hw:
            dump.dump(0, hw)
    p.load("acc", 0, 0, 0, 0, pop_next=dump.take())
    if load_waits:
        p.load("inp", 0, 0, 0, 0, pop_next=True)
    p.finish()
    return p.bundle()


def stores(cfg: HardwareConfig) -> Bundle | None:
    """Strided, single-row (any stride), one-element and zero-size STOREs of values inside,
    at and beyond the saturation limits."""
    n = min(16, cfg.depth("acc"))
    rng = _rng(cfg, 3)
    p = ProgramBuilder(cfg)
    lanes = _lanes(cfg, "acc", n, rng).astype(np.int64)
    lim = 1 << (cfg.out_width - 1)
    edge = rng.choice([-lim - 1, -lim, -lim + 1, -1, 0, lim - 2, lim - 1, lim], lanes.shape)
    lanes = np.where(rng.integers(0, 2, lanes.shape) == 1, lanes, edge)
    lanes = np.clip(lanes, -(1 << (cfg.acc_width - 1)), (1 << (cfg.acc_width - 1)) - 1)
    a = p.alloc("a", lanes.astype(cfg.lane_dtype("acc")))
    out = p.alloc("out", shape=(160, *cfg.elem_shape("out")), dtype=cfg.lane_dtype("out"))
    o = out.elem_index(cfg.elem_bytes("out"))
    p.load("acc", 0, a.elem_index(cfg.elem_bytes("acc")), 1, n, push_next=True)
    shapes = [(3, 2, 5), (1, 7, 0), (2, 1, 1), (0, 3, 3), (2, 0, 9), (1, 1, 123), (4, 4, 4),
              (2, 3, 40), (1, n, n)]
    pos = 0
    first = True
    for ys, xs, stride in shapes:
        if ys * xs > n or pos + max(ys - 1, 0) * stride + xs > 160:
            continue
        p.store(0, o + pos, ys, xs, stride, pop_prev=first)
        first = False
        pos += max(ys - 1, 0) * stride + xs + 1
    p.finish()
    return p.bundle()


def token_traffic(cfg: HardwareConfig) -> Bundle | None:
    """A fast producer and a slow consumer on each token queue: token waits, full token
    queues (pushes stall) and full command queues (FETCH stalls). Each round pushes one token
    and pops it right after in program order, so no depth can deadlock."""
    qt, qc = cfg.token_queue_depth, cfg.cmd_queue_depth
    rounds = min(2 * (qt + qc) + 10, 400)
    p = ProgramBuilder(cfg)
    k = p.uops("k", dst=[0], src=[0])
    out = p.alloc("out", shape=(2, *cfg.elem_shape("out")), dtype=cfg.lane_dtype("out"))
    o = out.elem_index(cfg.elem_bytes("out"))
    p.load("uop", 0, k.elem_index(4), 1, 1)
    for _ in range(rounds):  # l2c: LOAD fast, COMPUTE slow (ACC[0] += 1, 8 times)
        p.load("inp", 0, 0, 0, 0, push_next=True)
        p.alu("add", 0, 1, 8, 1, imm=1, pop_prev=True)
    for _ in range(rounds):  # c2s: COMPUTE fast, STORE slow (a one-element store of ACC[1])
        p.alu("add", 0, 1, 1, 1, imm=1, push_next=True)
        p.store(1, o + 1, 1, 1, pop_prev=True)
    for _ in range(rounds):  # s2c: STORE fast (no data), COMPUTE slow
        p.store(0, o, 0, 0, push_prev=True)
        p.alu("add", 0, 1, 3, 1, imm=1, pop_next=True)
    for _ in range(rounds):  # c2l: COMPUTE fast, LOAD slow (four padding elements)
        p.alu("add", 0, 1, 1, 1, imm=1, push_prev=True)
        p.load("wgt", 0, 0, 0, 0, pad=(1, 1, 1, 1), pop_next=True)
    p.load("acc", 0, 0, 0, 0, push_next=True)  # ACC[0] counted every ALU iteration
    p.store(0, o, 1, 1, pop_prev=True)
    p.finish()
    return p.bundle()


def bus_contention(cfg: HardwareConfig) -> Bundle | None:
    """LOAD, COMPUTE and STORE request the bus in the same cycles (priority, queueing)."""
    rng = _rng(cfg, 4)
    n = min(8, cfg.depth("inp") // 2, cfg.depth("wgt") // 2, cfg.depth("acc") // 2)
    if n < 2:
        return None
    p = ProgramBuilder(cfg)
    inp = p.alloc("inp", _lanes(cfg, "inp", n, rng))
    wgt = p.alloc("wgt", _lanes(cfg, "wgt", n, rng))
    acc = p.alloc("acc", _lanes(cfg, "acc", 2 * n, rng))
    out = p.alloc("out", shape=(4 * n, *cfg.elem_shape("out")), dtype=cfg.lane_dtype("out"))
    eo = cfg.elem_bytes("out")
    p.load("acc", n, acc.elem_index(cfg.elem_bytes("acc")), 1, n, push_next=True)
    for r in range(3):
        p.load("inp", 0, inp.elem_index(cfg.elem_bytes("inp")), 1, n)
        p.load("wgt", 0, wgt.elem_index(cfg.elem_bytes("wgt")), 2, n // 2)
        p.load("acc", 0, acc.elem_index(cfg.elem_bytes("acc")) + n, 1, n)
        p.store(n, out.elem_index(eo) + r * n, 1, n, pop_prev=r == 0)
    p.finish()
    return p.bundle()


def gemm(variant: str) -> Callable[[HardwareConfig], Bundle | None]:
    def build(cfg: HardwareConfig) -> Bundle | None:
        try:
            return build_gemm(cfg, 8 * cfg.batch, 4 * cfg.block_out, 4 * cfg.block_in,
                              variant=variant, tile={"rows": 4 * cfg.batch, "out_blocks": 2,
                                                     "k_blocks": 2}).bundle
        except GemmTilingError:
            return None
    return build


FIXED: dict[str, Callable[[HardwareConfig], Bundle | None]] = {
    "gemm_serial": gemm("serial"),
    "gemm_overlap": gemm("overlap"),
    "alu_ops": alu_ops,
    "padding": padding,
    "stores": stores,
    "token_traffic": token_traffic,
    "bus_contention": bus_contention,
}


def fixed_programs(cfg: HardwareConfig) -> list[tuple[str, Bundle]]:
    out = []
    for name, build in FIXED.items():
        b = build(cfg)
        if b is not None:
            out.append((name, b))
    return out
