"""Storage planning: SRAM offsets for every allocation, per virtual thread, with aliasing.

Before (lowered loop IR)::

    vthread for t in range(2):
      allocate relu: int32[4, 4, 8, 16] in acc:
        allocate shr: int32[4, 4, 8, 16] in acc:
          allocate conv: int32[4, 4, 8, 16] in acc:
            ...conv... ; attr pragma_alu: shr[i] = rshr(conv[i])
        attr pragma_alu: relu[i] = max(shr[i], 0)
      ...

After (the plan, consumed by the code generator)::

    vthread t: frame at acc 0, 128 elements per thread (2 threads: 256 elements)
    relu, shr, conv -> acc elements [0, 128) of the thread's frame (one storage: each ALU
                       stage works in place on the tile its only input leaves behind)

Rules:

* an ``Allocate`` in scope ``inp``/``wgt``/``acc`` takes ``scalars / lanes`` SRAM elements at
  the top of its scope's stack; nested allocations stack up, sibling ones reuse the space;
* a ``vthread`` loop of extent n gives each thread its own frame of the body's peak size;
* an ALU stage ``Y[i] = chain(X[i], ...)`` shares X's storage when X is an accumulator
  buffer read nowhere else, with the same index and size, allocated in the same frame — the
  ALU then runs in place (``alu.py``) instead of copying X; so does a reduction whose initial
  value is ``X[i]`` (``te.max(.., init=X[i])``: its initialisation store is that chain);
* every allocation must fit: the offset of the last thread's copy plus its size is at most the
  SRAM's depth, else ``VdlaCapacityError`` names the tensor, the scope, the bytes needed (all
  live buffers, all threads) and the bytes available;
* ``global`` allocations (DRAM intermediates) are listed for the code generator to place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...tir import ir
from ...tir.arith import simplify
from ...tir.functor import post_order_visit
from .alu import AluParser
from .errors import VdlaCapacityError, VdlaCodegenError, VdlaPatternError
from .evaluate import Nest
from .target import ALU, VdlaTarget


@dataclass(eq=False)
class Storage:
    """A block of ``elems`` elements of ``mem`` at ``rel`` within its thread frame."""

    mem: str
    rel: int
    elems: int
    names: list[str]
    frame: tuple = ()           # vthread loops (For nodes) enclosing the allocation


@dataclass
class StoragePlan:
    storage: dict = field(default_factory=dict)      # ir.Buffer -> Storage
    frames: dict = field(default_factory=dict)       # vthread For -> (start, size) per mem
    dram: list = field(default_factory=list)         # global-scope Allocate buffers
    peak: dict = field(default_factory=dict)         # mem -> elements used (all threads)

    def same(self, a: ir.Buffer, b: ir.Buffer) -> bool:
        sa, sb = self.storage.get(a), self.storage.get(b)
        return sa is not None and sa is sb


def _elems(t: VdlaTarget, buf: ir.Buffer, mem: str) -> int:
    n = 1
    for s in buf.shape:
        n *= s.value if isinstance(s, ir.IntImm) else int(s)
    lanes = t.lanes(mem)
    if n % lanes:
        raise VdlaCodegenError(
            f"buffer '{buf.name}' in scope '{mem}' holds {n} scalars, not a whole number of "
            f"{mem} elements of {lanes} lanes; keep the tile dimensions "
            f"{t.cfg.elem_shape(mem)} whole (do not split or compute_at inside them)")
    if buf.dtype != t.dtype(mem):
        raise VdlaCodegenError(f"buffer '{buf.name}' in scope '{mem}' has dtype {buf.dtype}; "
                               f"the {mem} buffer holds {t.dtype(mem)}")
    return n // lanes


def _alias_candidates(func: ir.PrimFunc, t: VdlaTarget, scope_of) -> dict:
    """ALU destination buffer -> the accumulator buffer it may overwrite in place."""
    loads: dict = {}          # buffer -> loads of it in stores to other buffers (readers)

    def count(n):
        if isinstance(n, ir.Store):
            for ld in _loads_of(n.value):
                if ld.buffer is not n.buffer:
                    loads[ld.buffer] = loads.get(ld.buffer, 0) + 1

    post_order_visit(func.body, count)
    out: dict = {}

    def visit(n):
        if not (isinstance(n, ir.AttrStmt) and n.key == "pragma_" + ALU):
            return
        nest = Nest.of(n.body)
        if isinstance(nest.body, ir.Store):
            candidate(nest.body)
            return
        # a reduction: its initialisation ``Y[i] = X[i]`` may run in place on X as well
        stores: list[ir.Store] = []
        post_order_visit(n.body, lambda m: stores.append(m) if isinstance(m, ir.Store)
                         else None)
        for st in stores:
            if not any(ld.buffer is st.buffer for ld in _loads_of(st.value)):
                candidate(st)

    def candidate(st: ir.Store) -> None:
        if scope_of(st.buffer) != "acc":
            return
        try:
            chain = AluParser(t.dtype("acc"), scope_of, "").parse(st.value)
        except VdlaPatternError:
            return
        base = chain.base
        if base.kind != "acc" or base.load.buffer is st.buffer:
            return
        x = base.load.buffer
        inner = [0]
        post_order_visit(st.value, lambda m: inner.__setitem__(0, inner[0] + 1)
                         if isinstance(m, ir.Load) and m.buffer is x else None)
        if loads.get(x, 0) != inner[0] or inner[0] != 1:
            return
        if simplify(base.load.index) != simplify(st.index):
            return
        out[st.buffer] = x

    post_order_visit(func.body, visit)
    return out


class _Planner:
    def __init__(self, t: VdlaTarget, func: ir.PrimFunc) -> None:
        self.t = t
        self.plan = StoragePlan()
        self.params = {p for p in func.params if isinstance(p, ir.Buffer)}
        self.alias = _alias_candidates(func, t, self.scope_of)
        self.live: list[ir.Buffer] = []
        self.frame: tuple = ()
        self.sizes: dict = {}                        # buffer -> elems (for messages)

    def scope_of(self, buf: ir.Buffer) -> str | None:
        if buf in self.params:
            return None
        return self.t.mem_of(buf.scope)

    def run(self, func: ir.PrimFunc) -> StoragePlan:
        peak = self.stmt(func.body, {m: 0 for m in ("inp", "wgt", "acc")})
        self.plan.peak = peak
        self.check()
        return self.plan

    def stmt(self, s: ir.Stmt, top: dict) -> dict:
        if isinstance(s, ir.Allocate):
            return self.allocate(s, top)
        if isinstance(s, ir.For) and s.kind == "vthread":
            n = s.extent.value
            saved = self.frame
            self.frame = saved + (s,)
            size = self.stmt(s.body, {m: 0 for m in top})
            self.frame = saved
            self.plan.frames[s] = (dict(top), size, n)
            return {m: top[m] + n * size[m] for m in top}
        peak = dict(top)
        for c in _children(s):
            sub = self.stmt(c, top)
            peak = {m: max(peak[m], sub[m]) for m in peak}
        return peak

    def allocate(self, s: ir.Allocate, top: dict) -> dict:
        buf = s.buffer
        mem = self.t.mem_of(buf.scope)
        if mem is None:
            self.plan.dram.append(buf)
            return self.stmt(s.body, top)
        elems = _elems(self.t, buf, mem)
        self.sizes[buf] = elems
        share = self._share(buf, elems)
        if share is not None:
            st = self.plan.storage[share]
            st.names.append(buf.name)
            self.plan.storage[buf] = st
            self.live.append(buf)
            out = self.stmt(s.body, top)
            self.live.pop()
            return out
        st = Storage(mem, top[mem], elems, [buf.name], self.frame)
        self.plan.storage[buf] = st
        self.live.append(buf)
        out = self.stmt(s.body, {**top, mem: top[mem] + elems})
        self.live.pop()
        return {m: max(v, top[m] + (elems if m == mem else 0)) for m, v in out.items()}

    def _share(self, buf: ir.Buffer, elems: int):
        """A live buffer of the same frame that ``buf`` may share storage with."""
        for other in reversed(self.live):
            st = self.plan.storage[other]
            if st.frame != self.frame or self.sizes.get(other) != elems:
                continue
            if self.alias.get(buf) is other or self.alias.get(other) is buf:
                return other
            # transitively: buf -> x where x is planned to share other's storage later
            x = self.alias.get(buf)
            if x is not None and self.alias.get(x) is other:
                return other
        return None

    # ------------------------------------------------------------------ capacity
    def check(self) -> None:
        for mem, used in self.plan.peak.items():
            depth = self.t.cfg.depth(mem)
            if used <= depth:
                continue
            worst, worst_end, detail = None, -1, ""
            for buf, st in self.plan.storage.items():
                if st.mem != mem:
                    continue
                end = self.abs_end(st)
                if end > worst_end:
                    worst, worst_end = buf, end
            threads = 1
            for f in self.plan.storage[worst].frame:
                threads *= self.plan.frames[f][2]
            names = sorted({n for b, st in self.plan.storage.items() if st.mem == mem
                            for n in st.names})
            detail = ", ".join(names)
            if threads > 1:
                detail += f"; {threads} virtual-thread copies"
            e = self.t.elem_bytes(mem)
            raise VdlaCapacityError(worst.name, mem, used * e, depth * e, detail)

    def abs_end(self, st: Storage) -> int:
        base = 0
        for f in st.frame:
            start, size, n = self.plan.frames[f]
            base += start[st.mem] + (n - 1) * size[st.mem]
        return base + st.rel + st.elems


def _loads_of(e: ir.Expr) -> list[ir.Load]:
    out: list[ir.Load] = []
    post_order_visit(e, lambda n: out.append(n) if isinstance(n, ir.Load) else None)
    return out


def _children(s: ir.Stmt) -> list[ir.Stmt]:
    if isinstance(s, ir.Seq):
        return list(s.stmts)
    if isinstance(s, (ir.For, ir.AttrStmt, ir.LetStmt)):
        return [s.body]
    if isinstance(s, ir.IfThenElse):
        return [s.then_case] + ([s.else_case] if s.else_case is not None else [])
    return []


def plan_storage(func: ir.PrimFunc, t: VdlaTarget) -> StoragePlan:
    """The storage plan of ``func`` (see the module docstring); raises VdlaCapacityError."""
    return _Planner(t, func).run(func)
