"""The code generator's walk: a lowered PrimFunc executed at compile time into instructions.

Every loop of a lowered accelerator function has a constant extent, so the walker runs the
outer loops concretely (binding each loop variable to an int) and hands every innermost region
(a perfect loop nest around one store or one tensorized GEMM) to ``LeafEmitter``, which turns it
into instructions with the nest's loops folded into them. ``Allocate`` binds a buffer to its
SRAM address from the storage plan; pragmas ``dma_copy`` and ``alu`` set how the stores below
them are read.

Virtual threads. A ``vthread`` loop of extent n runs its body as n generators, one per thread,
each with its own SRAM frame. A thread yields — lets the others emit — right before an
instruction group that would wait for its own earlier work on another module (a LOAD into a
buffer its last GEMM still reads, a GEMM on a tile its LOAD is still bringing in, a reset of an
accumulator its STORE is still reading). The threads are merged round-robin, thread i starting
i steps late, so the sequential program alternates independent work; for tiles of two input
chunks::

    step 1:  t0 [reset, LOAD chunk 0]
    step 2:  t0 [GEMM chunk 0]           t1 [reset, LOAD chunk 0]
    step 3:  t0 [LOAD chunk 1]           t1 [GEMM chunk 0]
    step 4:  t0 [GEMM chunk 1, ALU]      t1 [LOAD chunk 1]
    step 5:  t0 [STORE]                  t1 [GEMM chunk 1, ALU]
    step 6:  t0 [reset, LOAD next tile]  t1 [STORE]          ...

``InsnStream`` then derives the dependency tokens from the buffers each instruction touches,
and the LOAD, COMPUTE and STORE modules overlap: decoupled access-execute with no token
written by hand. Without virtual threads, each hazard stalls the machine until the work it
waits for is done (the serial schedule).
"""

from __future__ import annotations

from collections.abc import Iterator

from ...tir import ir
from .emit import LeafEmitter
from .errors import VdlaCodegenError
from .evaluate import Nest, scalar
from .stream import InsnStream
from .target import ALU, DMA_COPY, VdlaTarget


class _Thread:
    """Footprints (module, reads, writes) a virtual thread emitted since it last yielded."""

    def __init__(self) -> None:
        self.pending: list = []

    def conflicts(self, leaf) -> bool:
        for module, reads, writes in self.pending:
            if module == leaf.module:
                continue
            for a_list, b_list in ((writes, leaf.reads + leaf.writes), (reads, leaf.writes)):
                for ma, la, ha in a_list:
                    for mb, lb, hb in b_list:
                        if ma == mb and la < hb and lb < ha:
                            return True
        return False


class Ctx:
    """Walker state of one (virtual) thread."""

    def __init__(self, walker, env: dict, base: dict, addr: dict, mode: str | None,
                 thread: _Thread) -> None:
        self.walker, self.env, self.base, self.addr = walker, env, base, addr
        self.mode, self.thread = mode, thread

    def with_mode(self, mode: str) -> Ctx:
        return Ctx(self.walker, self.env, self.base, self.addr, mode, self.thread)

    def dram_elem(self, buf: ir.Buffer, mem: str) -> int:
        return self.walker.dram_elem(buf, mem)


def stagger(gens: list[Iterator]) -> Iterator[None]:
    """Round-robin over ``gens``; generator i joins after i rounds. Yields once per step."""
    active: list[Iterator] = []
    waiting = list(gens)
    while active or waiting:
        if waiting:
            active.append(waiting.pop(0))
        for g in list(active):
            try:
                next(g)
            except StopIteration:
                active.remove(g)
                continue
            yield


class Walker:
    """Drives ``LeafEmitter`` over a lowered function (see the module docstring)."""

    def __init__(self, t: VdlaTarget, func: ir.PrimFunc, plan, stream: InsnStream,
                 regions: dict) -> None:
        self.t, self.func, self.plan, self.s = t, func, plan, stream
        self.regions = dict(regions)                 # DRAM buffer -> Region
        params = {p for p in func.params if isinstance(p, ir.Buffer)}
        self.leaves = LeafEmitter(t, stream, plan, params)
        self._scratch = 0

    def dram_elem(self, buf: ir.Buffer, mem: str) -> int:
        r = self.regions.get(buf)
        if r is None:
            raise VdlaCodegenError(f"DRAM buffer '{buf.name}' has no region (used outside its "
                                   f"allocation?)")
        return r.elem_index(self.t.elem_bytes(mem))

    def run(self) -> None:
        root = Ctx(self, {}, {m: 0 for m in ("inp", "wgt", "acc")}, {}, None, _Thread())
        for _ in self.walk(self.func.body, root):
            pass

    # ------------------------------------------------------------------ statements
    def walk(self, s: ir.Stmt, ctx: Ctx) -> Iterator[None]:  # noqa: C901 - one case per node
        if isinstance(s, ir.Seq):
            for c in s.stmts:
                yield from self.walk(c, ctx)
        elif isinstance(s, ir.Allocate):
            yield from self.allocate(s, ctx)
        elif isinstance(s, ir.AttrStmt):
            if s.key == "pragma_" + DMA_COPY:
                yield from self.walk(s.body, ctx.with_mode("dma"))
            elif s.key == "pragma_" + ALU:
                yield from self.walk(s.body, ctx.with_mode("alu"))
            elif s.key == "tensorize":
                yield from self.leaf(Nest([], [], s), ctx)
            else:
                yield from self.walk(s.body, ctx)
        elif isinstance(s, ir.For):
            if s.kind == "vthread":
                yield from self.vthread(s, ctx)
                return
            nest = Nest.of(s)
            if isinstance(nest.body, ir.Store) or (isinstance(nest.body, ir.AttrStmt)
                                                   and nest.body.key == "tensorize"):
                yield from self.leaf(nest, ctx)
                return
            lo = scalar(s.min, ctx.env)
            for v in range(lo, lo + scalar(s.extent, ctx.env)):
                ctx.env[s.var] = v
                yield from self.walk(s.body, ctx)
            del ctx.env[s.var]
        elif isinstance(s, ir.IfThenElse):
            if scalar(s.cond, ctx.env):
                yield from self.walk(s.then_case, ctx)
            elif s.else_case is not None:
                yield from self.walk(s.else_case, ctx)
        elif isinstance(s, ir.Store):
            yield from self.leaf(Nest([], [], s), ctx)
        elif isinstance(s, ir.LetStmt):
            ctx.env[s.var] = scalar(s.value, ctx.env)
            yield from self.walk(s.body, ctx)
            del ctx.env[s.var]
        elif isinstance(s, ir.Evaluate):
            return
        else:
            raise VdlaCodegenError(f"unsupported statement {type(s).__name__}")

    def allocate(self, s: ir.Allocate, ctx: Ctx) -> Iterator[None]:
        buf = s.buffer
        mem = self.t.mem_of(buf.scope)
        if mem is None:                               # a DRAM intermediate
            n = 1
            for d in buf.shape:
                n *= d.value
            self._scratch += 1
            self.regions[buf] = self.s.alloc(f"{buf.name}.scratch{self._scratch}",
                                              shape=tuple(d.value for d in buf.shape),
                                              dtype=buf.dtype)
            yield from self.walk(s.body, ctx)
            return
        st = self.plan.storage[buf]
        ctx.addr[buf] = ctx.base[mem] + st.rel
        yield from self.walk(s.body, ctx)

    def vthread(self, s: ir.For, ctx: Ctx) -> Iterator[None]:
        start, size, n = self.plan.frames[s]
        gens = []
        for t in range(n):
            env = dict(ctx.env)
            env[s.var] = t
            base = {m: ctx.base[m] + start[m] + t * size[m] for m in ctx.base}
            c = Ctx(self, env, base, dict(ctx.addr), ctx.mode, _Thread())
            gens.append(self.walk(s.body, c))
        yield from stagger(gens)

    def leaf(self, nest: Nest, ctx: Ctx) -> Iterator[None]:
        leaf = self.leaves.leaf(nest, ctx)
        if ctx.thread.conflicts(leaf):
            yield
            ctx.thread.pending = []
        ctx.thread.pending.append((leaf.module, leaf.reads, leaf.writes))
        leaf.emit()
