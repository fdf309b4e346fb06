"""Bound inference: the region each stage computes and the extent of every axis.

Stages are visited consumers first (reverse topological order):

* a stage at the root computes its whole tensor: region ``[0, shape[d])`` per dimension;
* a stage ``S`` computed at axis ``x`` of consumer ``T`` computes, per iteration of ``x``,
  the part of ``S`` that its readers use while the loops *inside* ``x`` run over their whole
  ranges: the loops of ``T`` after ``x`` and, for a reader computed inside ``x`` (attach.py),
  every loop of that reader and of the stages between it and ``T``. The loops outside ``x``
  (and ``T``'s own region offsets) stay symbolic, so ``S``'s region minimum is an
  expression of the enclosing loop variables, while its extent must simplify to a constant
  — it sizes the buffer allocated at ``x``. This is interval arithmetic
  (``arith.eval_interval``) on the readers' indices after replacing their root axes by their
  expressions in leaf loop variables. When an index cannot be analysed or the extent is not
  constant, or not smaller than the tensor, the region is the whole dimension.

Axis extents then follow the relations forward from the root extents (``rewrite.py``): a
split by ``factor`` has inner extent ``min(factor, E)`` and outer extent ``ceil(E / factor)``;
by ``nparts`` the inner extent is ``ceil(E / nparts)``; a fuse multiplies. Values go
backwards: each root axis's value is an expression of leaf loop variables (zero-based within
the stage's region). Guards: a split whose loops cover more than ``E`` iterations adds
``value(parent) < E``; a compute_at region that may stick out of its tensor adds
``0 <= min + value < shape``. Guards that the simplifier can prove are removed later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import LowerError
from ..te.tensor import IterVar, ProducerLoad, Reduce
from ..tir import ir
from ..tir.arith import eval_interval, simplify
from ..tir.functor import post_order_visit, substitute
from .attach import chain_inside, describe, effective_readers
from .rewrite import Fuse, Split, index_of


@dataclass
class StageBound:
    """Bound-inference result for one stage."""

    region: list[tuple[ir.Expr, int]]                 # per output dim: (min, extent)
    extent: dict = field(default_factory=dict)         # IterVar -> int
    value: dict = field(default_factory=dict)          # IterVar -> Expr of leaf vars
    conds: list = field(default_factory=list)          # guards: (Expr, uses_reduce: bool)

    def root_index(self, stage) -> dict:
        """Root Var -> absolute index expression (region min / dom min + value)."""
        out = {}
        for d, a in enumerate(stage.op.axis):
            out[a.var] = simplify(ir.BinOp("add", self.region[d][0], self.value[a]))
        for a in stage.op.reduce_axis:
            out[a.var] = simplify(ir.BinOp("add", ir.IntImm(a.dom[0]), self.value[a]))
        return out


def infer_bounds(sched, bodies: dict) -> dict:
    """Stage -> StageBound for every stage that is not inlined."""
    bounds: dict = {}
    for st in reversed(sched.stages):
        if st.attach_type == "inline":
            continue
        if st.attach_type == "at":
            region = _region_at(sched, st, bodies, bounds)
        else:
            region = [(ir.IntImm(0), s) for s in st.op.shape]
        bounds[st] = _derive(st, region)
    return bounds


def _region_at(sched, st, bodies, bounds) -> list:
    t = st.attach_stage
    if t not in bounds:
        raise LowerError(f"stage '{st.name}' is computed at '{t.name}', which is not lowered "
                         f"(inlined?)")
    pos = index_of(t.leaf, st.attach_axis)
    relax = {a.var: (ir.IntImm(0), ir.IntImm(bounds[t].extent[a] - 1))
             for a in t.leaf[pos + 1:]}
    readers = []
    for r in effective_readers(sched, st):
        chain = chain_inside(r, t, pos)
        if chain is None:
            raise LowerError(f"stage '{st.name}': {describe(st, r)}; compute '{r.name}' inside "
                             f"that loop, or '{st.name}' at the root")
        for u in chain:          # every loop of a stage nested inside the loop runs fully
            relax.update({a.var: (ir.IntImm(0), ir.IntImm(bounds[u].extent[a] - 1))
                          for a in u.leaf})
        readers.append(r)
    reads = []
    for r in readers:
        root = bounds[r].root_index(r)

        def fn(n, root=root):
            if isinstance(n, ProducerLoad) and sched.stage_of(n.tensor) is st:
                reads.append([simplify(substitute(i, root)) for i in n.indices])

        post_order_visit(bodies[r], fn)
    region = []
    for d, size in enumerate(st.op.shape):
        lo = hi = None
        for idx in reads:
            iv = eval_interval(idx[d], relax)
            if iv is None:
                lo = None
                break
            lo = iv[0] if lo is None else simplify(ir.BinOp("min", lo, iv[0]))
            hi = iv[1] if hi is None else simplify(ir.BinOp("max", hi, iv[1]))
        ext = None
        if lo is not None:
            e = simplify(ir.BinOp("add", ir.BinOp("sub", hi, lo), ir.IntImm(1)))
            ext = e.value if isinstance(e, ir.IntImm) else None
        if ext is None or ext >= size or ext <= 0:
            region.append((ir.IntImm(0), size))
        else:
            region.append((lo, ext))
    return region


def _derive(st, region: list) -> StageBound:
    b = StageBound(region)
    for d, a in enumerate(st.op.axis):
        b.extent[a] = region[d][1]
    for a in st.op.reduce_axis:
        b.extent[a] = a.dom[1]
    guards: list[tuple[IterVar, int]] = []
    for r in st.relations:
        if isinstance(r, Split):
            e = b.extent[r.parent]
            if r.factor is not None:
                stride, inner = r.factor, min(r.factor, e)
                outer = -(-e // r.factor)
            else:
                inner = -(-e // r.nparts)
                stride, outer = inner, -(-e // inner)
            b.extent[r.outer], b.extent[r.inner] = outer, inner
            if (outer - 1) * stride + inner > e:
                guards.append((r.parent, e))
        else:
            b.extent[r.fused] = b.extent[r.outer] * b.extent[r.inner]
    for a in st.leaf:
        b.value[a] = a.var
    strides = {}
    for r in st.relations:
        if isinstance(r, Split):
            strides[r] = r.factor if r.factor is not None else b.extent[r.inner]
    for r in reversed(st.relations):
        if isinstance(r, Split):
            b.value[r.parent] = simplify(ir.BinOp(
                "add", ir.BinOp("mul", b.value[r.outer], ir.IntImm(strides[r])),
                b.value[r.inner]))
        elif isinstance(r, Fuse):
            ei = ir.IntImm(b.extent[r.inner])
            b.value[r.outer] = simplify(ir.BinOp("floordiv", b.value[r.fused], ei))
            b.value[r.inner] = simplify(ir.BinOp("floormod", b.value[r.fused], ei))
    for iv, e in guards:
        b.conds.append((ir.BinOp("lt", b.value[iv], ir.IntImm(e)), iv.kind == "reduce"))
    for d, a in enumerate(st.op.axis):
        mn, ext = region[d]
        if isinstance(mn, ir.IntImm) and mn.value == 0 and ext == st.op.shape[d]:
            continue
        idx = simplify(ir.BinOp("add", mn, b.value[a]))
        b.conds.append((ir.BinOp("ge", idx, ir.IntImm(0)), False))
        b.conds.append((ir.BinOp("lt", idx, ir.IntImm(st.op.shape[d])), False))
    return b


def is_reduction(st) -> bool:
    return isinstance(st.op.body, Reduce)
