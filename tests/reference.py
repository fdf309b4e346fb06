"""An independent functional reference executor for VDLA programs (a test oracle).

Written from SPEC.md section 5 alone, as plainly as possible: no timing, no import from
``accel.sim``, and not even the ISA layer's enums (the numbers below are SPEC.md section 3's).
Only :class:`HardwareConfig` is used, for the derived sizes (SPEC.md section 2).

Execution order: FETCH dispatches in program order subject to the command-queue depth; every
module runs its own instructions in order; an instruction *starts* (pops its tokens and applies
its whole effect, as the simulator does) once its pops are available, and *ends* (pushes) once
its pushes fit the token queues. Among the steps that can happen next, the first module in the
order LOAD, COMPUTE, STORE is chosen, or a random one when ``rng`` is given. For a race-free
program (SPEC.md section 7) every such interleaving gives the same final DRAM image.

Lane arithmetic is int64 with an explicit wrap. The bounds that make int64 exact: accumulator
lanes are at most 32 bits, so ``a * v`` and ``a << 32`` stay below 2^63 in magnitude, and a GEMM
dot product is at most 64 * 2^15 * 2^15 = 2^36.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from accel.isa.bundle import Bundle
from accel.isa.config import HardwareConfig

# SPEC.md section 3
LOAD_OP, STORE_OP, GEMM_OP, FINISH_OP, ALU_OP = 0, 1, 2, 3, 4
MEM_NAMES = {0: "uop", 1: "wgt", 2: "inp", 3: "acc", 4: "out"}
MIN, MAX, ADD, SHR, MUL, RSHR, MULSHR = range(7)

# SPEC.md sections 5.1 and 5.2
LOAD_MOD, COMPUTE_MOD, STORE_MOD = 0, 1, 2
MODULE_NAMES = ("LOAD", "COMPUTE", "STORE")
POP_QUEUES = {LOAD_MOD: {"pop_next": "c2l"},
              COMPUTE_MOD: {"pop_prev": "l2c", "pop_next": "s2c"},
              STORE_MOD: {"pop_prev": "c2s"}}
PUSH_QUEUES = {LOAD_MOD: {"push_next": "l2c"},
               COMPUTE_MOD: {"push_prev": "c2l", "push_next": "c2s"},
               STORE_MOD: {"push_prev": "s2c"}}


class ReferenceExecutionError(RuntimeError):
    """An illegal program met by the reference (index out of range, deadlock, ...)."""


def module_of(insn: np.void) -> int:
    """The module that executes ``insn`` (SPEC.md section 5.1)."""
    op = int(insn["opcode"])
    if op == LOAD_OP:
        return LOAD_MOD if MEM_NAMES[int(insn["mem_type"])] in ("inp", "wgt") else COMPUTE_MOD
    if op == STORE_OP:
        return STORE_MOD
    return COMPUTE_MOD


def wrap(x, bits: int):
    """Reduce ``x`` modulo ``2^bits`` to the signed range (numpy int64 arrays or ints)."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def _shift(a: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """SHR: ``v >= 0`` arithmetic right shift by min(v, N-1); ``v < 0`` left by min(-v, N)."""
    right = a >> np.clip(v, 0, n - 1)
    left = a << np.clip(-v, 0, n)
    return np.where(v >= 0, right, left)


def alu_lanes(op: int, a: np.ndarray, v: np.ndarray, imm: int, n: int) -> np.ndarray:
    """``wrap(op(a, v))`` lane by lane (SPEC.md section 5.6); ``a``, ``v`` are int64 arrays."""
    if op == MIN:
        r = np.minimum(a, v)
    elif op == MAX:
        r = np.maximum(a, v)
    elif op == ADD:
        r = a + v
    elif op == SHR:
        r = _shift(a, v, n)
    elif op == MUL:
        r = a * v
    elif op == RSHR:
        s = np.clip(v, 1, n)
        rounded = (a + (np.int64(1) << (s - 1))) >> s
        r = np.where(v >= 1, rounded, _shift(a, v, n))
    elif op == MULSHR:
        p = a * v
        r = p if imm == 0 else (p + (1 << (imm - 1))) >> imm
    else:
        raise ReferenceExecutionError(f"unknown ALU operation {op}")
    return wrap(r, n)


class _Machine:
    """SRAMs and DRAM; one method per instruction kind, each straight from SPEC.md section 5."""

    def __init__(self, cfg: HardwareConfig, dram: np.ndarray) -> None:
        self.cfg = cfg
        self.dram = np.array(dram, dtype=np.uint8, copy=True)
        # SPEC.md section 1: every SRAM element is zero at cycle 0.
        self.sram = {m: np.zeros((cfg.depth(m),) + cfg.elem_shape(m), dtype=np.int64)
                     for m in ("uop", "inp", "wgt", "acc")}

    def _lane_dtype(self, mem: str) -> np.dtype:
        return np.dtype(self.cfg.lane_dtype(mem)).newbyteorder("<")

    def load(self, ins: np.void) -> None:
        mem = MEM_NAMES[int(ins["mem_type"])]
        cfg = self.cfg
        e, shape = cfg.elem_bytes(mem), cfg.elem_shape(mem)
        ys, xs, stride = int(ins["y_size"]), int(ins["x_size"]), int(ins["x_stride"])
        yp0, yp1, xp0, xp1 = (int(ins[f]) for f in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"))
        h, w = yp0 + ys + yp1, xp0 + xs + xp1
        block = np.zeros((h, w) + shape, dtype=np.int64)
        for y in range(ys):
            start = (int(ins["dram_base"]) + y * stride) * e
            raw = self.dram[start:start + xs * e]
            if len(raw) != xs * e:
                raise ReferenceExecutionError(f"LOAD reads DRAM bytes [{start}, {start + xs * e}) "
                                      f"outside the image of {len(self.dram)} bytes")
            block[yp0 + y, xp0:xp0 + xs] = raw.view(self._lane_dtype(mem)).reshape((xs,) + shape)
        base = int(ins["sram_base"])
        if base + h * w > cfg.depth(mem):
            raise ReferenceExecutionError(f"LOAD writes {mem}[{base}, {base + h * w}) beyond "
                                          "the depth")
        self.sram[mem][base:base + h * w] = block.reshape((h * w,) + shape)

    def store(self, ins: np.void) -> None:
        cfg = self.cfg
        e = cfg.elem_bytes("out")
        ys, xs, stride = int(ins["y_size"]), int(ins["x_size"]), int(ins["x_stride"])
        base = int(ins["sram_base"])
        if base + ys * xs > cfg.depth("acc"):
            raise ReferenceExecutionError("STORE reads beyond the accumulator")
        half = 1 << (cfg.out_width - 1)  # SPEC.md 5.4: each lane saturates to OUT_WIDTH bits
        for y in range(ys):
            tiles = self.sram["acc"][base + y * xs:base + (y + 1) * xs]
            out = np.clip(tiles, -half, half - 1).astype(self._lane_dtype("out"))
            start = (int(ins["dram_base"]) + y * stride) * e
            if start + xs * e > len(self.dram):
                raise ReferenceExecutionError("STORE writes outside the DRAM image")
            self.dram[start:start + xs * e] = out.reshape(-1).view(np.uint8)

    def _uop(self, u: int) -> tuple[int, int, int]:
        """Decode micro-op ``u`` (SPEC.md section 4): dst, src, wgt from bit 0 upward."""
        cfg = self.cfg
        if not 0 <= u < cfg.depth("uop"):
            raise ReferenceExecutionError(f"micro-op index {u} outside the micro-op buffer")
        word = int(self.sram["uop"][u]) & 0xFFFFFFFF
        wd, ws, ww = cfg.acc_idx_bits, cfg.uop_src_bits, cfg.wgt_idx_bits
        return (word & ((1 << wd) - 1), (word >> wd) & ((1 << ws) - 1),
                (word >> (wd + ws)) & ((1 << ww) - 1))

    def _iterations(self, ins: np.void):
        """Yield (dst, src, wgt) of every iteration in order (SPEC.md section 5.5)."""
        f = {k: int(ins[k]) for k in ("dst_factor_out", "dst_factor_in", "src_factor_out",
                                      "src_factor_in", "wgt_factor_out", "wgt_factor_in")}
        for i0 in range(int(ins["iter_out"])):
            for i1 in range(int(ins["iter_in"])):
                for u in range(int(ins["uop_bgn"]), int(ins["uop_end"])):
                    d, s, w = self._uop(u)
                    yield (d + i0 * f["dst_factor_out"] + i1 * f["dst_factor_in"],
                           s + i0 * f["src_factor_out"] + i1 * f["src_factor_in"],
                           w + i0 * f["wgt_factor_out"] + i1 * f["wgt_factor_in"])

    def _check(self, mem: str, idx: int, what: str) -> None:
        if not 0 <= idx < self.cfg.depth(mem):
            raise ReferenceExecutionError(f"{what} index {idx} outside {mem} (depth "
                                  f"{self.cfg.depth(mem)})")

    def gemm(self, ins: np.void) -> None:
        acc, n = self.sram["acc"], self.cfg.acc_width
        reset = bool(ins["reset"])
        for dst, src, wgt in self._iterations(ins):
            self._check("acc", dst, "dst")
            if reset:
                acc[dst] = 0
                continue
            self._check("inp", src, "src")
            self._check("wgt", wgt, "wgt")
            # [b][k] x [o][k] -> [b][o]; exact in int64, then wrapped into the accumulator
            acc[dst] = wrap(acc[dst] + self.sram["inp"][src] @ self.sram["wgt"][wgt].T, n)

    def alu(self, ins: np.void) -> None:
        acc, n = self.sram["acc"], self.cfg.acc_width
        op, imm, use_imm = int(ins["alu_op"]), int(ins["imm"]), bool(ins["use_imm"])
        for dst, src, _ in self._iterations(ins):
            self._check("acc", dst, "dst")
            if ins["reset"]:
                acc[dst] = 0
                continue
            if use_imm:
                v = np.full(acc[dst].shape, imm, dtype=np.int64)
            else:
                self._check("acc", src, "src")
                v = acc[src].copy()
            acc[dst] = alu_lanes(op, acc[dst].copy(), v, imm, n)

    def execute(self, ins: np.void) -> None:
        op = int(ins["opcode"])
        if op == LOAD_OP:
            self.load(ins)
        elif op == STORE_OP:
            self.store(ins)
        elif op == GEMM_OP:
            self.gemm(ins)
        elif op == ALU_OP:
            self.alu(ins)
        elif op != FINISH_OP:
            raise ReferenceExecutionError(f"unknown opcode {op}")


def run_reference(bundle: Bundle, *, rng: np.random.Generator | None = None,
                  observe: Callable[[int, np.void, dict[str, np.ndarray]], None] | None = None
                  ) -> np.ndarray:
    """Execute ``bundle`` functionally and return the final DRAM image (np.uint8).

    With ``rng``, each step picks a random module among those that can proceed, so that
    repeated runs explore different token-respecting interleavings. ``observe(i, insn, sram)``,
    if given, is called just before instruction ``i`` takes effect, with the SRAMs (int64 lanes
    by memory name; not to be modified).
    """
    cfg, insns = bundle.config, bundle.insns
    machine = _Machine(cfg, bundle.dram)
    n = len(insns)
    mods = [module_of(ins) for ins in insns]
    streams: list[list[int]] = [[i for i in range(n) if mods[i] == m] for m in range(3)]
    qc, qt = cfg.cmd_queue_depth, cfg.token_queue_depth
    tokens = {"l2c": 0, "c2l": 0, "c2s": 0, "s2c": 0}
    fetched, started = [0, 0, 0], [0, 0, 0]
    pending: list[int | None] = [None, None, None]  # started, not yet pushed
    next_fetch, retired = 0, 0

    def pops(i: int) -> list[str]:
        return [q for f, q in POP_QUEUES[mods[i]].items() if insns[i][f]]

    def pushes(i: int) -> list[str]:
        return [q for f, q in PUSH_QUEUES[mods[i]].items() if insns[i][f]]

    while retired < n:
        # FETCH: the k-th instruction of module m needs instruction k-QC of m dequeued.
        while next_fetch < n:
            m = mods[next_fetch]
            waiting = pending[m] is None and started[m] < fetched[m]
            dequeued = started[m] + int(waiting)
            if fetched[m] >= qc and dequeued < fetched[m] - qc + 1:
                break
            fetched[m] += 1
            next_fetch += 1
        steps = []
        for m in range(3):
            if pending[m] is not None:
                if all(tokens[q] < qt for q in pushes(pending[m])):
                    steps.append(m)
            elif started[m] < fetched[m] and all(tokens[q] > 0
                                                 for q in pops(streams[m][started[m]])):
                steps.append(m)
        if not steps:
            blocked = []
            for m in range(3):
                if pending[m] is not None:
                    blocked.append(f"{MODULE_NAMES[m]} pushing {pushes(pending[m])}")
                elif started[m] < len(streams[m]):
                    i = streams[m][started[m]]
                    blocked.append(f"{MODULE_NAMES[m]} instruction {i} popping {pops(i)}")
            raise ReferenceExecutionError("deadlock: " + "; ".join(blocked))
        m = steps[0] if rng is None else steps[int(rng.integers(len(steps)))]
        if pending[m] is not None:
            for q in pushes(pending[m]):
                tokens[q] += 1
            pending[m] = None
            retired += 1
        else:
            i = streams[m][started[m]]
            for q in pops(i):
                tokens[q] -= 1
            if observe is not None:
                observe(i, insns[i], machine.sram)
            machine.execute(insns[i])
            started[m] += 1
            pending[m] = i
    return machine.dram
