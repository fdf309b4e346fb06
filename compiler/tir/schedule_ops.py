"""Schedule -> loop IR: one loop nest per stage, producers placed at their attach points.

Output (before the passes of ``lower.py``) uses multi-dimensional ``BufferStore`` and
``BufferLoad``. For a stage with leaf axes ``l0 .. ln`` (outermost first)::

    for l0 in range(E0):                      kind from unroll/vectorize/parallel/bind
      allocate P: ...                         stages computed at l0 (region-sized buffers)
        <loop nest of P>
        for l1 ...:
          if <guards>:                        non-divisible splits, compute_at overhang
            S[v0, v1] = <body>

Reductions: the loops up to the first reduction leaf axis enclose two nests::

    <outer data loops>
      for <data leaves after it, fresh ".init" vars>: S[..] = init          (init)
      for <remaining leaves>: if <guards> and where: S[..] = S[..] op source (update)

so the initialisation sits just outside the reduction loops and covers exactly the elements
that the update nest accumulates into; ``init`` is the reduction's initial value
(``te.max(.., init=X[i])``, an expression of the data axes) or the combiner's identity.
Stages computed at a loop are placed at the start of that loop's body, inside the update nest
when the loop is one of its loops.

Buffers: placeholders and tensors listed in ``args`` are parameters (global, full shape);
other root stages are allocated around the whole body, compute_at stages at their loop,
with their region's shape; reads subtract the region minimum. A pragma becomes
``AttrStmt("pragma_<key>", loop var, value)`` around its loop; a tensorized region becomes
``AttrStmt("tensorize", output buffer, intrinsic name)`` around the emitted statement, inside
the guards that depend only on loops outside the region (a guard on the region's own loops
is refused, ``tensorize.py``; the default nest keeps its guards at its stores)::

    for i.outer.outer in range(3):            i.outer (extent 5) split by 2: 6 iterations
      for i.outer.inner in range(2):
        if i.outer.outer * 2 + i.outer.inner < 5:
          attr [C] tensorize = "gemm2x2x4":   i.inner (extent 2) and inward
            <emitted statement>
"""

from __future__ import annotations

from ..errors import LowerError, ScopeCapacityError, TensorizeError
from ..schedule.bound import StageBound
from ..te.tensor import PlaceholderOp, ProducerLoad, Reduce
from . import ir
from .arith import simplify
from .functor import IRMutator, seq, substitute


class _LowerReads(IRMutator):
    """ProducerLoad -> BufferLoad with region-relative indices."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def visit_ProducerLoad(self, n: ProducerLoad):
        n = n.map_children(self.visit)
        buf, mins = self.ctx.buffer_of(n.tensor)
        idx = tuple(simplify(ir.BinOp("sub", i, m)) if m is not None else i
                    for i, m in zip(n.indices, mins))
        return ir.BufferLoad(buf, idx)


class ScheduleLowering:
    """Builds the statement for a schedule given bounds and buffers."""

    def __init__(self, sched, bodies: dict, bounds: dict, args: list) -> None:
        self.sched, self.bodies, self.bounds = sched, bodies, bounds
        self.params: list[ir.Buffer] = []
        self.stage_buf: dict = {}
        self.ph_buf: dict = {}
        arg_stages = set()
        for t in args:
            st = sched.stage_of(t)
            if st is None:
                if not isinstance(t.op, PlaceholderOp):
                    raise LowerError(f"argument '{t.name}' is not part of the schedule")
                b = ir.Buffer(t.name, _shape(t.shape), t.dtype, "global")
                self.ph_buf[t.op] = b
            else:
                if st.attach_type != "root":
                    raise LowerError(f"argument '{st.name}' is {st.attach_type}"
                                     f"{' at ' + st.attach_stage.name if st.attach_stage else ''}"
                                     f"; function arguments must be computed at the root")
                if st.scope.name != "global":
                    raise LowerError(f"argument '{st.name}' lives in scope '{st.scope.name}'; "
                                     f"function arguments are global buffers")
                arg_stages.add(st)
                b = ir.Buffer(st.name, _shape(t.shape), t.dtype, "global")
                self.stage_buf[st] = b
            if any(p is b for p in self.params) or b.name in {p.name for p in self.params}:
                raise LowerError(f"argument '{b.name}' is listed twice")
            self.params.append(b)
        for st in sched.stages:
            if st.attach_type == "inline" or st in self.stage_buf:
                continue
            shape = [e for _, e in bounds[st].region]
            self.stage_buf[st] = ir.Buffer(st.name, _shape(shape), st.op.dtype, st.scope.name)
            _check_capacity(st, shape)
        self.arg_stages = arg_stages

    # ------------------------------------------------------------------ helpers
    def buffer_of(self, tensor) -> tuple[ir.Buffer, list]:
        st = self.sched.stage_of(tensor)
        if st is None:
            b = self.ph_buf.get(tensor.op)
            if b is None:
                raise LowerError(f"placeholder '{tensor.name}' is read but not in the argument "
                                 f"list; add it to lower(..., args=[...])")
            return b, [None] * len(tensor.shape)
        if st.attach_type == "inline":
            raise LowerError(f"stage '{st.name}' is inlined but still read")  # pragma: no cover
        return self.stage_buf[st], [m for m, _ in self.bounds[st].region]

    def lower_expr(self, e: ir.Expr, vmap: dict) -> ir.Expr:
        return simplify(_LowerReads(self).visit(substitute(e, vmap)))

    # ------------------------------------------------------------------ whole function
    def build(self) -> ir.Stmt:
        # (bound inference has checked that each compute_at stage's readers run inside its
        # loop: schedule/attach.py)
        roots = [s for s in self.sched.stages if s.attach_type == "root"]
        body = seq(*[self.stage_stmt(s) for s in roots])
        for s in reversed(roots):
            if s not in self.arg_stages:
                body = ir.Allocate(self.stage_buf[s], body)
        return body

    # ------------------------------------------------------------------ one stage
    def stage_stmt(self, st) -> ir.Stmt:
        b: StageBound = self.bounds[st]
        body = self.bodies[st]
        buf = self.stage_buf[st]
        root = b.root_index(st)
        store_idx = tuple(b.value[a] for a in st.op.axis)
        data_conds = [c for c, red in b.conds if not red]
        all_conds = [c for c, _ in b.conds]
        leaves = st.leaf
        tpos = next((i for i, a in enumerate(leaves) if a in st.tensorized), None)
        if isinstance(body, Reduce):
            src = self.lower_expr(body.source, root)
            conds = list(all_conds)
            if body.where is not None:
                conds.append(self.lower_expr(body.where, root))
            update = _guard(conds, ir.BufferStore(
                buf, store_idx, body.combine(ir.BufferLoad(buf, store_idx), src)))
            p = next(i for i, a in enumerate(leaves) if a.kind == "reduce")
            init_leaves = [a for a in leaves[p:] if a.kind == "data"]
            fresh = {a.var: ir.Var(a.var.name + ".init", a.var.dtype) for a in init_leaves}
            init_val = (substitute(self.lower_expr(body.init, root), fresh)
                        if body.init is not None else body.identity())
            init_store = _guard([substitute(c, fresh) for c in data_conds], ir.BufferStore(
                buf, tuple(substitute(i, fresh) for i in store_idx), init_val))

            def init_nest():
                s = init_store
                for a in reversed(init_leaves):
                    kind = st.kinds.get(a, "serial")
                    s = ir.For(fresh[a.var], ir.IntImm(0), ir.IntImm(b.extent[a]),
                               "serial" if kind == "vthread" else kind, s)
                return s

            def inner(t):
                upd = self.nest(st, leaves, p, len(leaves), lambda: update, t, "update")
                return seq(init_nest(), upd)

            if tpos is not None and tpos <= p:
                return self.nest(st, leaves, 0, p, lambda: inner(None), tpos, "body")
            return self.nest(st, leaves, 0, p, lambda: inner(tpos), None, "")
        value = self.lower_expr(body, root)
        store = _guard(all_conds, ir.BufferStore(buf, store_idx, value))
        return self.nest(st, leaves, 0, len(leaves), lambda: store, tpos, "body")

    def nest(self, st, leaves, lo: int, hi: int, inner_fn, tpos, mode: str) -> ir.Stmt:
        """Loops ``leaves[lo:hi]`` around ``inner_fn()``; tensorized from ``tpos``."""
        b = self.bounds[st]

        def plain(pos: int, allow_t: bool) -> ir.Stmt:
            if allow_t and tpos is not None and pos == tpos:
                return self.tensorize(st, pos, mode, lambda: plain(pos, False))
            if pos == hi:
                return inner_fn()
            return self.loop(st, leaves[pos], plain(pos + 1, allow_t), b)

        return plain(lo, True)

    def loop(self, st, leaf, body: ir.Stmt, b: StageBound) -> ir.Stmt:
        attached = [s for s in self.sched.stages
                    if s.attach_type == "at" and s.attach_stage is st and s.attach_axis is leaf]
        if attached:
            inner = seq(*[self.stage_stmt(s) for s in attached], body)
            for s in reversed(attached):
                inner = ir.Allocate(self.stage_buf[s], inner)
            body = inner
        ext = b.extent[leaf]
        kind = st.kinds.get(leaf, "serial")
        ann: tuple = ()
        if kind == "vthread":
            th = st.threads[leaf]
            if th.extent is not None and th.extent != ext:
                raise LowerError(f"stage '{st.name}': axis '{leaf.name}' has extent {ext} but "
                                 f"is bound to {th.name}({th.extent})")
            ann = (("thread", th.name),)
        s: ir.Stmt = ir.For(leaf.var, ir.IntImm(0), ir.IntImm(ext), kind, body, ann)
        for key, val in reversed(st.pragmas.get(leaf, [])):
            s = ir.AttrStmt("pragma_" + key, leaf.var, val, s)
        return s

    # ------------------------------------------------------------------ tensorize
    def tensorize(self, st, pos: int, mode: str, default) -> ir.Stmt:
        from .tensorize import match_and_emit

        leaf = st.leaf[pos]
        intrin = st.tensorized[leaf]
        try:
            stmt, guards = match_and_emit(self, st, pos, intrin, mode)
        except TensorizeError as e:
            raise TensorizeError(f"stage '{st.name}', axis '{leaf.name}': {e}") from None
        if stmt is None:        # the default nest guards its own stores
            return ir.AttrStmt("tensorize", self.stage_buf[st], intrin.name, default())
        # the emitted region runs only where the guards of the loops around it hold
        return _guard(guards, ir.AttrStmt("tensorize", self.stage_buf[st], intrin.name, stmt))


def _check_capacity(st, shape) -> None:
    cap = st.scope.capacity_bytes
    if cap is None:
        return
    n = 1
    for e in shape:
        n *= e
    need = n * max(1, int("".join(c for c in st.op.dtype if c.isdigit()) or 8) // 8)
    if need > cap:
        raise ScopeCapacityError(st.name, st.scope.name, need, cap)


def _guard(conds: list, stmt: ir.Stmt) -> ir.Stmt:
    cond = None
    for c in conds:
        cond = c if cond is None else ir.BinOp("and", cond, c)
    if cond is None:
        return stmt
    cond = simplify(cond)
    if isinstance(cond, ir.IntImm):
        return stmt if cond.value else ir.Seq(())
    return ir.IfThenElse(cond, stmt)


def _shape(shape) -> tuple:
    return tuple(ir.IntImm(int(s)) for s in shape)


__all__ = ["ScheduleLowering"]
