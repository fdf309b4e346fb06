"""Internal schedule rewrites, called by the checked public primitives in ``stage.py``.

These functions assume their arguments were validated; they update a stage's leaf axes and
relations, or the dataflow between stages. The relations record how leaf axes derive from
root axes (root = the compute's own axes):

* ``Split(parent, outer, inner, factor, nparts)``: ``parent = outer * f + inner`` with
  ``f = factor`` (or ``ceil(extent / nparts)``); a non-divisible split gets a guard.
* ``Fuse(outer, inner, fused)``: ``outer = fused // extent(inner)``,
  ``inner = fused % extent(inner)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..te.tensor import ComputeOp, IterVar, ProducerLoad, Reduce, Tensor
from ..tir import ir
from ..tir.functor import IRMutator, substitute


@dataclass(frozen=True, eq=False)
class Split:
    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: int | None
    nparts: int | None


@dataclass(frozen=True, eq=False)
class Fuse:
    outer: IterVar
    inner: IterVar
    fused: IterVar


def index_of(items, x) -> int:
    """Position of ``x`` in ``items`` by identity, or -1."""
    for i, y in enumerate(items):
        if y is x:
            return i
    return -1


def split(stage, axis: IterVar, factor: int | None, nparts: int | None):
    outer = IterVar(axis.name + ".outer", None, axis.kind)
    inner = IterVar(axis.name + ".inner", None, axis.kind)
    stage.relations.append(Split(axis, outer, inner, factor, nparts))
    pos = index_of(stage.leaf, axis)
    stage.leaf[pos:pos + 1] = [outer, inner]
    stage.all_axes += [outer, inner]
    _retarget_attach(stage, axis, inner)
    return outer, inner


def fuse(stage, outer: IterVar, inner: IterVar) -> IterVar:
    fused = IterVar(f"{outer.name}.{inner.name}.fused", None, outer.kind)
    stage.relations.append(Fuse(outer, inner, fused))
    pos = index_of(stage.leaf, outer)
    stage.leaf[pos:pos + 2] = [fused]
    stage.all_axes.append(fused)
    _retarget_attach(stage, outer, fused)
    _retarget_attach(stage, inner, fused)
    return fused


def reorder(stage, axes: list[IterVar]) -> None:
    slots = sorted(index_of(stage.leaf, a) for a in axes)
    for pos, a in zip(slots, axes):
        stage.leaf[pos] = a


def _retarget_attach(stage, old: IterVar, new: IterVar) -> None:
    """Stages computed at a split/fused axis move to the finer axis that replaces it."""
    for st in stage.sched.stages:
        if st.attach_stage is stage and st.attach_axis is old:
            st.attach_axis = new


# ---------------------------------------------------------------------- dataflow
class _ReplaceTensor(IRMutator):
    def __init__(self, mapping: dict) -> None:
        self.mapping = mapping

    def visit_ProducerLoad(self, n: ProducerLoad):
        n = n.map_children(self.visit)
        new = self.mapping.get(n.tensor)
        return n if new is None else ProducerLoad(new, n.indices)


def replace_reads(op: ComputeOp, mapping: dict) -> ComputeOp:
    """A copy of ``op`` (same axes) whose reads of tensors in ``mapping`` read the new ones."""
    body = _ReplaceTensor(mapping).visit(op.body)
    if body is op.body:
        return op
    return ComputeOp(op.name, op.axis, body, op.tag, op.attrs)


def make_copy_op(name: str, src: Tensor, axis_names: list[str]) -> ComputeOp:
    """``name[i...] = src[i...]`` with fresh data axes."""
    axis = tuple(IterVar(n, (0, s), "data") for n, s in zip(axis_names, src.shape))
    body = ProducerLoad(src, tuple(a.var for a in axis))
    return ComputeOp(name, axis, body)


def clone_op(op: ComputeOp, name: str) -> ComputeOp:
    """The same computation as ``op`` under a new name, with fresh axes (for cache_write)."""
    axis = tuple(IterVar(a.name, a.dom, "data") for a in op.axis)
    vmap = {a.var: b.var for a, b in zip(op.axis, axis)}
    body = op.body
    if isinstance(body, Reduce):
        raxes = tuple(IterVar(a.name, a.dom, "reduce") for a in body.axes)
        vmap.update({a.var: b.var for a, b in zip(body.axes, raxes)})
        src = substitute(body.source, vmap)
        where = substitute(body.where, vmap) if body.where is not None else None
        init = substitute(body.init, vmap) if body.init is not None else None
        body = Reduce(body.combiner, src, raxes, where, init)
    else:
        body = substitute(body, vmap)
    return ComputeOp(name, axis, body, op.tag, op.attrs)


def copy_from(op: ComputeOp, src: Tensor) -> ComputeOp:
    """``op``'s own data axes reading ``src`` elementwise (the stage left by cache_write)."""
    body = ProducerLoad(src, tuple(a.var for a in op.axis))
    new = ComputeOp(op.name, op.axis, body, op.tag, op.attrs)
    return new


def reads(op, tensor: Tensor) -> bool:
    return isinstance(op, ComputeOp) and any(t is tensor for t in op.input_tensors())


def const_int(e) -> int | None:
    return e.value if isinstance(e, ir.IntImm) else None
