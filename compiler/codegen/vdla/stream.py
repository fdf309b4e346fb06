"""An accelerator instruction stream with automatic dependency tokens and a micro-op cache.

Code generators write a *sequential* program: instructions whose effects, executed one after
the other in program order, give the intended result. The machine runs LOAD, COMPUTE and STORE
concurrently (SPEC.md section 5.2), so :class:`InsnStream` adds exactly the dependency tokens
that make the concurrent execution equal to the sequential one, and no more:

* Every instruction declares its footprint: the SRAM elements (per memory) and DRAM bytes it
  reads and writes, as intervals.
* A vector clock per instruction records, for each module, the last instruction of that module
  known to finish before it (through its own module's order and the tokens it pops).
* When a new instruction B conflicts with an earlier instruction A of another module (overlapping
  footprints, at least one write) that B's clock does not already order before it, A pushes a
  token toward B's module and B pops it. LOAD and STORE have no token queue between them, so a
  conflict between them goes through a one-cycle COMPUTE no-op (a zero-size ACC LOAD) that pops
  from one and pushes to the other.

Pushes are added in increasing order of the producer's instructions and pops in increasing order
of the consumer's, so the FIFO token queues match every pop with the intended push; every pop
matches a push earlier in program order, so the program cannot deadlock as long as no queue holds
more than TOKEN_QUEUE_DEPTH tokens in program order (checked; see SPEC.md section 7).

Virtual threads need nothing more: a generator that interleaves two independent tile streams
over disjoint buffer halves gets the load/compute/store overlap from this analysis.

Micro-op kernels (tuples of (dst, src, wgt)) are de-duplicated, placed once in a DRAM region and
loaded into the UOP buffer only when not resident (a bump allocator that restarts from 0 when the
buffer is full; UOP loads and their users all run on COMPUTE, so reuse needs no tokens).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from accel.isa.bundle import Bundle, Region
from accel.isa.config import HardwareConfig
from accel.isa.encoding import AluOp, encode_uops
from accel.isa.program import ProgramBuilder, alu_op

from ...errors import CompilerError

LOAD, COMPUTE, STORE = 0, 1, 2
_MODULE_OF_MEM = {"inp": LOAD, "wgt": LOAD, "uop": COMPUTE, "acc": COMPUTE}
# flags: (producer, consumer) -> (push flag on producer, pop flag on consumer)
_FLAGS = {(LOAD, COMPUTE): ("push_next", "pop_prev"), (COMPUTE, LOAD): ("push_prev", "pop_next"),
          (COMPUTE, STORE): ("push_next", "pop_prev"), (STORE, COMPUTE): ("push_prev", "pop_next")}
_QUEUE = {(LOAD, COMPUTE): "l2c", (COMPUTE, LOAD): "c2l", (COMPUTE, STORE): "c2s",
          (STORE, COMPUTE): "s2c"}


class StreamError(CompilerError):
    """The instruction stream cannot be built as requested (names what and why)."""


@dataclass(frozen=True)
class UopKernel:
    """A micro-op kernel: parallel tuples of dst, src and wgt indices."""

    dst: tuple[int, ...]
    src: tuple[int, ...]
    wgt: tuple[int, ...]

    @classmethod
    def of(cls, dst, src, wgt=0) -> UopKernel:
        d, s, w = np.broadcast_arrays(np.asarray(dst), np.asarray(src), np.asarray(wgt))
        return cls(tuple(int(v) for v in d.ravel()), tuple(int(v) for v in s.ravel()),
                   tuple(int(v) for v in w.ravel()))

    def __len__(self) -> int:
        return len(self.dst)


@dataclass
class _Access:
    space: str      # "inp" | "wgt" | "acc" | "uop" | "dram"
    lo: int         # first element (SRAM) or byte (DRAM)
    hi: int         # one past the last
    write: bool


@dataclass
class _Insn:
    index: int
    module: int
    accesses: list[_Access]
    clock: list[int] = field(default_factory=lambda: [-1, -1, -1])


def _conflict(a: list[_Access], b: list[_Access]) -> bool:
    for x in a:
        for y in b:
            if x.space == y.space and (x.write or y.write) and x.lo < y.hi and y.lo < x.hi:
                return True
    return False


def _loop_range(base: tuple[int, ...], iters: tuple[int, int], factors: tuple[int, int]
                ) -> tuple[int, int]:
    lo = min(base)
    hi = max(base) + (iters[0] - 1) * factors[0] + (iters[1] - 1) * factors[1]
    return lo, hi + 1


class InsnStream:
    """Build a program bundle from sequential instructions; tokens are added automatically.

    ``auto_deps=False`` adds no tokens at all (for tests that want a racy stream).
    """

    def __init__(self, cfg: HardwareConfig | None = None, *, auto_deps: bool = True,
                 builder: ProgramBuilder | None = None) -> None:
        self.cfg = cfg or HardwareConfig()
        self.p = builder or ProgramBuilder(self.cfg)
        self.auto_deps = auto_deps
        self._insns: list[_Insn] = []
        self._by_module: list[list[int]] = [[], [], []]
        self._pushes: dict[str, list[int]] = {q: [] for q in _QUEUE.values()}
        self._pops: dict[str, list[int]] = {q: [] for q in _QUEUE.values()}
        self.max_tokens = {q: 0 for q in _QUEUE.values()}
        self.bridges = 0
        # micro-op kernels: DRAM placement (in uop words) and UOP-buffer residency
        self._uop_words: list[np.ndarray] = []
        self._uop_dram: dict[UopKernel, int] = {}
        self._resident: dict[UopKernel, int] = {}
        self._uop_top = 0
        self._uop_loads: list[int] = []  # instruction indices whose dram_base needs the region
        self.uop_loads = 0
        self.finished = False

    # -------------------------------------------------------------------- DRAM
    def alloc(self, name: str, data: np.ndarray | None = None, **kw) -> Region:
        return self.p.alloc(name, data, **kw)

    # ------------------------------------------------------------ instructions
    def load(self, mem: str, sram: int, dram: int, y: int, x: int, stride: int | None = None,
             pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> int:
        """LOAD ``y`` x ``x`` elements into ``mem`` (inp, wgt, acc or uop); see SPEC 5.3."""
        if mem not in _MODULE_OF_MEM:
            raise StreamError(f"cannot LOAD into {mem!r}; expected one of inp, wgt, acc, uop")
        stride = x if stride is None else stride
        e = self.cfg.elem_bytes(mem)
        h, w = pad[0] + y + pad[1], pad[2] + x + pad[3]
        acc = [_Access(mem, sram, sram + h * w, True)]
        if y and x:
            acc.append(_Access("dram", dram * e, (dram + (y - 1) * stride + x) * e, False))
        return self._emit(_MODULE_OF_MEM[mem], acc,
                          lambda: self.p.load(mem, sram, dram, y, x, stride, pad))

    def store(self, sram: int, dram: int, y: int, x: int, stride: int | None = None) -> int:
        """STORE ``y`` x ``x`` accumulator elements, narrowed, to DRAM (SPEC 5.4)."""
        stride = x if stride is None else stride
        e = self.cfg.elem_bytes("out")
        acc = [_Access("acc", sram, sram + y * x, False)]
        if y and x:
            acc.append(_Access("dram", dram * e, (dram + (y - 1) * stride + x) * e, True))
        return self._emit(STORE, acc, lambda: self.p.store(sram, dram, y, x, stride))

    def gemm(self, kernel: UopKernel, iter_out: int = 1, iter_in: int = 1, *,
             dst: tuple[int, int] = (0, 0), src: tuple[int, int] = (0, 0),
             wgt: tuple[int, int] = (0, 0), reset: bool = False) -> int:
        """GEMM over ``kernel`` with two loop levels (SPEC 5.5); loads the kernel if needed."""
        bgn = self._ensure_resident(kernel)
        its = (iter_out, iter_in)
        acc = [_Access("uop", bgn, bgn + len(kernel), False),
               _Access("acc", *_loop_range(kernel.dst, its, dst), True)]
        if not reset:
            acc += [_Access("acc", *_loop_range(kernel.dst, its, dst), False),
                    _Access("inp", *_loop_range(kernel.src, its, src), False),
                    _Access("wgt", *_loop_range(kernel.wgt, its, wgt), False)]
        return self._emit(COMPUTE, acc, lambda: self.p.gemm(
            bgn, bgn + len(kernel), iter_out, iter_in, dst=dst, src=src, wgt=wgt, reset=reset))

    def alu(self, op: str | int, kernel: UopKernel, iter_out: int = 1, iter_in: int = 1, *,
            dst: tuple[int, int] = (0, 0), src: tuple[int, int] = (0, 0),
            imm: int | None = None, shift: int | None = None, reset: bool = False) -> int:
        """ALU over ``kernel`` (SPEC 5.6); ``imm`` for immediate forms, ``shift`` for MULSHR."""
        bgn = self._ensure_resident(kernel)
        its = (iter_out, iter_in)
        acc = [_Access("uop", bgn, bgn + len(kernel), False),
               _Access("acc", *_loop_range(kernel.dst, its, dst), True)]
        if not reset and (imm is None or alu_op(op) == AluOp.MULSHR):
            acc.append(_Access("acc", *_loop_range(kernel.src, its, src), False))
        return self._emit(COMPUTE, acc, lambda: self.p.alu(
            op, bgn, bgn + len(kernel), iter_out, iter_in, dst=dst, src=src, imm=imm,
            shift=shift, reset=reset))

    def _emit(self, module: int, accesses: list[_Access], emit) -> int:
        if self.finished:
            raise StreamError("the stream is finished; no more instructions")
        bridge = self._bridge(module, accesses) if self._bridge_needed(module, accesses) else None
        idx = emit()
        self._add(idx, module, accesses)
        if bridge is not None:
            b, c = self._insns[idx], self._insns[bridge]
            if not self.p._insns[idx].get(_FLAGS[(COMPUTE, module)][1]):
                self._token(c, b)
        return idx

    def finish(self) -> Bundle:
        """Place the micro-op kernels, end with FINISH and return the bundle."""
        if self.finished:
            raise StreamError("finish() was already called")
        self.finished = True
        if self._uop_words:
            words = np.concatenate(self._uop_words).astype(np.uint32)
            region = self.p.alloc("uops", words)
            base = region.elem_index(4)
            for i in self._uop_loads:
                self.p.set_field(i, dram_base=self.p._insns[i]["dram_base"] + base)
        self.p.finish()
        return self.p.bundle()

    def __len__(self) -> int:
        return len(self.p)

    # --------------------------------------------------------- micro-op cache
    def _ensure_resident(self, kernel: UopKernel) -> int:
        if not len(kernel):
            raise StreamError("a micro-op kernel needs at least one micro-op")
        if kernel in self._resident:
            return self._resident[kernel]
        depth = self.cfg.depth("uop")
        if len(kernel) > depth:
            raise StreamError(f"micro-op kernel of {len(kernel)} micro-ops does not fit the "
                              f"micro-op buffer (depth {depth})")
        if kernel not in self._uop_dram:
            self._uop_dram[kernel] = sum(len(w) for w in self._uop_words)
            self._uop_words.append(encode_uops(self.cfg, kernel.dst, kernel.src, kernel.wgt))
        if self._uop_top + len(kernel) > depth:  # buffer full: start over (all on COMPUTE)
            self._resident.clear()
            self._uop_top = 0
        bgn = self._uop_top
        self._uop_top += len(kernel)
        n = len(kernel)
        # reading DRAM micro-ops never conflicts (nothing writes them), so no DRAM access
        idx = self._emit(COMPUTE, [_Access("uop", bgn, bgn + n, True)],
                         lambda: self.p.load("uop", bgn, self._uop_dram[kernel], 1, n))
        self._uop_loads.append(idx)
        self._resident = {k: v for k, v in self._resident.items()
                          if v + len(k) <= bgn or v >= bgn + n}
        self._resident[kernel] = bgn
        self.uop_loads += 1
        return bgn

    # ------------------------------------------------------------- dependencies
    def _add(self, index: int, module: int, accesses: list[_Access]) -> None:
        """Record instruction ``index`` (just emitted) and give it the tokens it needs."""
        if index != len(self._insns):
            raise StreamError("instructions were added to the program behind the stream's back")
        ins = _Insn(index, module, accesses, self._predecessor_clock(module))
        self._insns.append(ins)
        self._by_module[module].append(index)
        if not self.auto_deps:
            return
        for other in (m for m in (LOAD, COMPUTE, STORE) if abs(m - module) == 1):
            a = self._last_conflict(accesses, ins.clock, other)
            if a is not None:
                self._token(a, ins)

    def _predecessor_clock(self, module: int) -> list[int]:
        prev = self._by_module[module]
        clock = list(self._insns[prev[-1]].clock) if prev else [-1, -1, -1]
        clock[module] = len(prev)
        return clock

    def _bridge_needed(self, module: int, accesses: list[_Access]) -> bool:
        """Before emitting a LOAD/STORE-module instruction: does it conflict with an
        instruction of the far module (STORE/LOAD) that no token chain orders before it?
        Then a COMPUTE no-op must carry the order (there is no LOAD<->STORE token queue)."""
        if not self.auto_deps or module == COMPUTE:
            return False
        far = STORE if module == LOAD else LOAD
        clock = self._predecessor_clock(module)
        # a token it will pop from COMPUTE anyway may already order the far instruction
        a = self._last_conflict(accesses, clock, COMPUTE)
        if a is not None:
            clock = [max(x, y) for x, y in zip(clock, a.clock)]
        return self._last_conflict(accesses, clock, far) is not None

    def _bridge(self, module: int, accesses: list[_Access]) -> int:
        """Emit a COMPUTE no-op ordered after every far-module instruction that conflicts with
        ``accesses``; returns its index. The caller's instruction then pops the no-op's token."""
        far = STORE if module == LOAD else LOAD
        idx = self.p.load("acc", 0, 0, 0, 0)   # zero-size ACC LOAD: one cycle on COMPUTE
        c = _Insn(idx, COMPUTE, [], self._predecessor_clock(COMPUTE))
        self._insns.append(c)
        self._by_module[COMPUTE].append(idx)
        a = self._last_conflict(accesses, c.clock, far)
        if a is not None:
            self._token(a, c)
        self.bridges += 1
        return idx

    def _last_conflict(self, accesses: list[_Access], clock: list[int], other: int
                       ) -> _Insn | None:
        """The latest instruction of ``other`` after ``clock[other]`` that conflicts."""
        seq = self._by_module[other]
        for k in range(len(seq) - 1, clock[other], -1):
            a = self._insns[seq[k]]
            if _conflict(a.accesses, accesses):
                return a
        return None

    def _token(self, a: _Insn, b: _Insn) -> None:
        """``a`` pushes a token toward ``b``'s module and ``b`` pops it."""
        push, pop = _FLAGS[(a.module, b.module)]
        q = _QUEUE[(a.module, b.module)]
        self.p.set_field(a.index, **{push: 1})
        self.p.set_field(b.index, **{pop: 1})
        for m in range(3):
            b.clock[m] = max(b.clock[m], a.clock[m])
        # Pushes are added at increasing producer positions and pops at increasing consumer
        # positions, so the tokens queued in program order peak right after this push.
        pushes, pops = self._pushes[q], self._pops[q]
        pushes.append(a.index)
        held = len(pushes) - bisect.bisect_right(pops, a.index)
        pops.append(b.index)
        self.max_tokens[q] = max(self.max_tokens[q], held)
        if held > self.cfg.token_queue_depth:
            raise StreamError(
                f"token queue {q} would hold {held} tokens in program order (TOKEN_QUEUE_DEPTH="
                f"{self.cfg.token_queue_depth}), which can deadlock the machine; use fewer "
                "virtual threads or emit consumers sooner")
