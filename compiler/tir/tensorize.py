"""Tensorize: check a loop region against a tensor intrinsic and call its emitter.

The region is the stage's leaf loops from the tensorized axis inward. It matches intrinsic
``I`` when

1. its data loops and reduction loops correspond, in order, to ``I``'s data and reduction
   axes, with equal extents, and no guard (non-divisible split) depends on them (guards on
   the loops outside the region are returned, to be kept around the emitted statement);
2. every root axis of the stage is ``base + v`` for at most one region loop ``v`` (so the
   region is a dense box: no fused or doubly split loops inside it);
3. the stage's expression, with each root axis replaced by its region loop (or 0 when it
   has none), equals ``I``'s expression with its axes replaced likewise — structurally, after
   simplification, with ``I``'s placeholders mapped one to one onto the stage's inputs;
4. (with an emitter) the data loops run over the stage's last dimensions, in order (``I``'s
   output may have fewer dimensions than the stage: the leading ones are fixed, see
   ``TensorRegion``).

The emitter then gets one ``TensorRegion`` per intrinsic input (buffer, offsets of the
region's first element, the placeholder's shape) and one for the output (the stage's
buffer, offsets in all of its dimensions, ``I``'s output shape).
"""

from __future__ import annotations

from ..errors import TensorizeError
from ..schedule.intrin import TensorRegion
from ..schedule.rewrite import index_of
from ..te.tensor import ProducerLoad, Reduce
from . import ir
from .arith import simplify
from .functor import children, post_order_visit, substitute


def match_and_emit(low, st, pos: int, intrin, mode: str):
    """``(statement, guards)``: the emitter's statement for the region from ``st.leaf[pos]``
    (None: use the default nest) and the guard conditions it must run under."""
    b = low.bounds[st]
    region = st.leaf[pos:]
    rvars = {a.var for a in region}
    for s in low.sched.stages:
        if s.attach_type == "at" and s.attach_stage is st and index_of(region, s.attach_axis) >= 0:
            raise TensorizeError(f"stage '{s.name}' is computed inside the tensorized region; "
                                 f"compute it at an outer axis")
    iop = intrin.compute.op
    data_l = [a for a in region if a.kind == "data"]
    red_l = [a for a in region if a.kind == "reduce"]
    if len(data_l) != len(iop.axis) or len(red_l) != len(iop.reduce_axis):
        raise TensorizeError(
            f"the region has {len(data_l)} data and {len(red_l)} reduction loop(s); "
            f"'{intrin.name}' has {len(iop.axis)} and {len(iop.reduce_axis)}")
    guards = []
    for c, _ in b.conds:
        inside = [a.name for a in region if _uses(c, {a.var})]
        if inside:
            from .printer import expr_str
            raise TensorizeError(
                f"a guard (non-divisible split or compute_at overhang) `{expr_str(c)}` "
                f"depends on the region's loop(s) {', '.join(inside)}; the intrinsic computes "
                f"whole tiles: choose divisible factors")
        guards.append(c)
    common, imap = {}, {}
    for leaf, ia in zip(data_l + red_l, iop.axis + iop.reduce_axis):
        if b.extent[leaf] != ia.dom[1]:
            raise TensorizeError(f"loop '{leaf.name}' has extent {b.extent[leaf]} but "
                                 f"'{intrin.name}' axis '{ia.name}' has {ia.dom[1]}")
        v = ir.Var(ia.name)
        common[leaf.var] = v
        imap[ia.var] = simplify(ir.BinOp("add", v, ir.IntImm(ia.dom[0])))
    root_sub, used = {}, []
    for a in list(st.op.axis) + list(st.op.reduce_axis):
        lv = _unit_leaf(b.value[a], rvars)
        if lv is False:
            raise TensorizeError(f"root axis '{a.name}' is not a plain offset of one region "
                                 f"loop (fused or split inside the region?)")
        used.append(lv)
        root_sub[a.var] = common[lv] if lv is not None else ir.IntImm(0)
    for leaf in region:
        if sum(1 for u in used if u is leaf.var) != 1:
            raise TensorizeError(f"region loop '{leaf.name}' does not map to exactly one "
                                 f"root axis")
    body = low.bodies[st]
    tmap: dict = {}
    lhs = substitute(body, root_sub)
    rhs = substitute(iop.body, imap)
    if not _match(low.sched, lhs, rhs, tmap):
        from .printer import expr_str
        raise TensorizeError(f"the stage computes `{expr_str(body)}` but '{intrin.name}' "
                             f"computes `{expr_str(iop.body)}`")
    if intrin.emit is None:
        return None, guards
    _check_output_dims(st, intrin, data_l, used[:len(st.op.axis)])
    root = b.root_index(st)
    src = body.source if isinstance(body, Reduce) else body
    lowered = low.lower_expr(src, root)
    zero = {v: ir.IntImm(0) for v in rvars}
    ins = []
    for ph in iop.input_tensors():
        buf, _ = low.buffer_of(tmap[ph])
        idx = _first_load(lowered, buf)
        if idx is None:
            raise TensorizeError(f"input '{ph.name}' not found in the lowered region")
        offs = tuple(simplify(substitute(i, zero)) for i in idx)
        ins.append(TensorRegion(buf, offs, ph.shape))
    out_offs = tuple(simplify(substitute(b.value[a], zero)) for a in st.op.axis)
    outs = [TensorRegion(low.stage_buf[st], out_offs, iop.shape)]
    stmt = intrin.emit(ins, outs, mode)
    if stmt is not None and not isinstance(stmt, ir.Stmt):
        raise TensorizeError(f"the emitter of '{intrin.name}' returned {stmt!r}, not a loop-IR "
                             f"statement or None")
    return stmt, guards


def _check_output_dims(st, intrin, data_l, used) -> None:
    """The intrinsic's output dimensions must be the stage's last ones, in order: its output
    ``TensorRegion`` fixes the leading dimensions at their offsets (rank reduction)."""
    dims = [next(d for d, u in enumerate(used) if u is leaf.var) for leaf in data_l]
    rank, n = len(st.op.axis), len(data_l)
    if dims != list(range(rank - n, rank)):
        raise TensorizeError(
            f"'{intrin.name}' writes its {n}-dimensional output into the last {n} dimension(s) "
            f"of '{st.name}' (which has {rank}), in order, but the region's data loops "
            f"{', '.join(a.name for a in data_l)} run over its dimension(s) "
            f"{', '.join(str(d) for d in dims)}; reorder the loops (or lay out '{st.name}') "
            f"so that they follow its last dimensions")


def _uses(e, vars_: set) -> bool:
    hit = []
    post_order_visit(e, lambda n: hit.append(n) if isinstance(n, ir.Var) and n in vars_
                     else None)
    return bool(hit)


def _unit_leaf(value: ir.Expr, rvars: set):
    """``base + v`` with one region var ``v`` -> v; no region var -> None; else False."""
    from .arith import linear

    lin = linear(value)
    found = None
    for t, c in lin.terms.items():
        if not _uses(t, rvars):
            continue
        if isinstance(t, ir.Var) and c == 1 and found is None:
            found = t
            continue
        return False
    return found


def _first_load(e, buf):
    hits = []
    post_order_visit(e, lambda n: hits.append(n) if isinstance(n, ir.BufferLoad)
                     and n.buffer is buf else None)
    return hits[0].indices if hits else None


def _match(sched, a, b, tmap: dict) -> bool:  # noqa: C901 - one case per node
    """Structural equality of stage expression ``a`` and intrinsic expression ``b``."""
    if isinstance(a, ir.Expr) and not isinstance(a, (ProducerLoad, Reduce)):
        a = simplify(a)
    if isinstance(b, ir.Expr) and not isinstance(b, (ProducerLoad, Reduce)):
        b = simplify(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, ProducerLoad):
        key = sched.stage_of(a.tensor) or a.tensor.op
        prev = tmap.get(b.tensor)
        if prev is None:
            if any((sched.stage_of(t) or t.op) is key for t in tmap.values()):
                return False
            if tuple(a.tensor.shape) and len(a.tensor.shape) != len(b.tensor.shape):
                return False
            if a.tensor.dtype != b.tensor.dtype:
                return False
            tmap[b.tensor] = a.tensor
        elif (sched.stage_of(prev) or prev.op) is not key:
            return False
        return all(simplify(x) == simplify(y) for x, y in zip(a.indices, b.indices))
    if isinstance(a, Reduce):
        if a.combiner != b.combiner or (a.where is None) != (b.where is None) \
                or (a.init is None) != (b.init is None):
            return False
        if not _match(sched, a.source, b.source, tmap):
            return False
        if a.init is not None and not _match(sched, a.init, b.init, tmap):
            return False
        return a.where is None or _match(sched, a.where, b.where, tmap)
    if isinstance(a, ir.Var):
        return a is b
    if isinstance(a, (ir.IntImm, ir.FloatImm)):
        return a == b
    for attr in ("op", "name", "dtype"):
        if getattr(a, attr, None) != getattr(b, attr, None):
            return False
    ca, cb = list(children(a)), list(children(b))
    return len(ca) == len(cb) and all(_match(sched, x, y, tmap) for x, y in zip(ca, cb))
