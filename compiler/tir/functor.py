"""Generic traversal of the loop IR: rebuild (mutate) and visit.

``IRMutator`` rebuilds a tree bottom-up; override ``visit_<NodeName>`` for the nodes a pass
cares about and call ``self.generic(node)`` to recurse into the rest. Unchanged subtrees are
returned as the same objects, so passes that change nothing are cheap and identity-preserving.

Nodes defined outside ``ir.py`` (the tensor-expression nodes ``ProducerLoad`` and ``Reduce``)
take part by implementing ``map_children(f) -> node`` and ``children() -> iterable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from . import ir


class IRMutator:
    """Bottom-up rebuild; subclasses override ``visit_<NodeName>``."""

    def __call__(self, node):
        return self.visit(node)

    def visit(self, node):
        meth = getattr(self, "visit_" + type(node).__name__, None)
        if meth is not None:
            return meth(node)
        return self.generic(node)

    # ---------------------------------------------------------------- generic rebuild
    def generic(self, n):  # noqa: C901 - one case per node type
        v = self.visit
        if isinstance(n, (ir.IntImm, ir.FloatImm, ir.Var)):
            return n
        if isinstance(n, ir.BinOp):
            a, b = v(n.a), v(n.b)
            return n if a is n.a and b is n.b else ir.BinOp(n.op, a, b)
        if isinstance(n, ir.Not):
            a = v(n.a)
            return n if a is n.a else ir.Not(a)
        if isinstance(n, ir.Neg):
            a = v(n.a)
            return n if a is n.a else ir.Neg(a)
        if isinstance(n, ir.Cast):
            a = v(n.value)
            return n if a is n.value else ir.Cast(n.dtype, a)
        if isinstance(n, ir.Select):
            c, t, f = v(n.cond), v(n.true_value), v(n.false_value)
            if c is n.cond and t is n.true_value and f is n.false_value:
                return n
            return ir.Select(c, t, f)
        if isinstance(n, ir.Call):
            args = tuple(v(a) for a in n.args)
            return n if _same(args, n.args) else ir.Call(n.name, args, n.dtype)
        if isinstance(n, ir.BufferLoad):
            idx = tuple(v(i) for i in n.indices)
            return n if _same(idx, n.indices) else ir.BufferLoad(n.buffer, idx)
        if isinstance(n, ir.Load):
            i = v(n.index)
            return n if i is n.index else ir.Load(n.buffer, i)
        if isinstance(n, ir.Ramp):
            b, s = v(n.base), v(n.stride)
            return n if b is n.base and s is n.stride else ir.Ramp(b, s, n.lanes)
        if isinstance(n, ir.Broadcast):
            a = v(n.value)
            return n if a is n.value else ir.Broadcast(a, n.lanes)
        if isinstance(n, ir.For):
            mn, ext, body = v(n.min), v(n.extent), v(n.body)
            if mn is n.min and ext is n.extent and body is n.body:
                return n
            return ir.For(n.var, mn, ext, n.kind, body, n.annotations)
        if isinstance(n, ir.Seq):
            stmts = tuple(v(s) for s in n.stmts)
            return n if _same(stmts, n.stmts) else ir.Seq(stmts)
        if isinstance(n, ir.IfThenElse):
            c, t = v(n.cond), v(n.then_case)
            e = v(n.else_case) if n.else_case is not None else None
            if c is n.cond and t is n.then_case and e is n.else_case:
                return n
            return ir.IfThenElse(c, t, e)
        if isinstance(n, ir.BufferStore):
            idx, val = tuple(v(i) for i in n.indices), v(n.value)
            if _same(idx, n.indices) and val is n.value:
                return n
            return ir.BufferStore(n.buffer, idx, val)
        if isinstance(n, ir.Store):
            i, val = v(n.index), v(n.value)
            return n if i is n.index and val is n.value else ir.Store(n.buffer, i, val)
        if isinstance(n, ir.Allocate):
            b = v(n.body)
            return n if b is n.body else ir.Allocate(n.buffer, b)
        if isinstance(n, ir.LetStmt):
            val, b = v(n.value), v(n.body)
            return n if val is n.value and b is n.body else ir.LetStmt(n.var, val, b)
        if isinstance(n, ir.AttrStmt):
            val = v(n.value) if isinstance(n.value, ir.Expr) else n.value
            b = v(n.body)
            if val is n.value and b is n.body:
                return n
            return ir.AttrStmt(n.key, n.node, val, b)
        if isinstance(n, ir.Evaluate):
            a = v(n.value)
            return n if a is n.value else ir.Evaluate(a)
        if isinstance(n, ir.PrimFunc):
            b = v(n.body)
            return n if b is n.body else ir.PrimFunc(n.name, n.params, b, n.attrs)
        if hasattr(n, "map_children"):
            return n.map_children(v)
        raise TypeError(f"IRMutator: unknown node {type(n).__name__}")


def _same(a: tuple, b: tuple) -> bool:
    return all(x is y for x, y in zip(a, b))


def children(n) -> Iterator:
    """The direct sub-nodes (Expr/Stmt) of ``n``, in evaluation order."""
    if isinstance(n, (ir.IntImm, ir.FloatImm, ir.Var)):
        return
    if isinstance(n, ir.BinOp):
        yield n.a
        yield n.b
    elif isinstance(n, (ir.Not, ir.Neg)):
        yield n.a
    elif isinstance(n, ir.Cast):
        yield n.value
    elif isinstance(n, ir.Select):
        yield n.cond
        yield n.true_value
        yield n.false_value
    elif isinstance(n, ir.Call):
        yield from n.args
    elif isinstance(n, (ir.BufferLoad, ir.BufferStore)):
        yield from n.indices
        if isinstance(n, ir.BufferStore):
            yield n.value
    elif isinstance(n, ir.Load):
        yield n.index
    elif isinstance(n, ir.Store):
        yield n.index
        yield n.value
    elif isinstance(n, ir.Ramp):
        yield n.base
        yield n.stride
    elif isinstance(n, ir.Broadcast):
        yield n.value
    elif isinstance(n, ir.For):
        yield n.min
        yield n.extent
        yield n.body
    elif isinstance(n, ir.Seq):
        yield from n.stmts
    elif isinstance(n, ir.IfThenElse):
        yield n.cond
        yield n.then_case
        if n.else_case is not None:
            yield n.else_case
    elif isinstance(n, ir.Allocate):
        yield n.body
    elif isinstance(n, ir.LetStmt):
        yield n.value
        yield n.body
    elif isinstance(n, ir.AttrStmt):
        if isinstance(n.value, ir.Expr):
            yield n.value
        yield n.body
    elif isinstance(n, ir.Evaluate):
        yield n.value
    elif isinstance(n, ir.PrimFunc):
        yield n.body
    elif hasattr(n, "children"):
        yield from n.children()
    else:
        raise TypeError(f"children: unknown node {type(n).__name__}")


def post_order_visit(node, fn: Callable) -> None:
    """Call ``fn`` on every node of the tree, children before parents."""
    stack = [(node, False)]
    while stack:
        n, done = stack.pop()
        if done:
            fn(n)
            continue
        stack.append((n, True))
        for c in reversed(list(children(n))):
            stack.append((c, False))


def substitute(node, vmap: dict):
    """Replace ``Var``s by expressions (``vmap``: Var -> Expr); other nodes are rebuilt."""
    if not vmap:
        return node
    return _Subst(vmap).visit(node)


class _Subst(IRMutator):
    def __init__(self, vmap: dict) -> None:
        self.vmap = vmap

    def visit_Var(self, n):
        return self.vmap.get(n, n)


def free_vars(node) -> list:
    """Vars used in ``node`` (in first-use order) that are not bound inside it."""
    bound: set = set()
    seen: dict = {}

    def fn(n):
        if isinstance(n, ir.Var):
            seen.setdefault(n, None)
        elif isinstance(n, (ir.For, ir.LetStmt)):
            bound.add(n.var)

    post_order_visit(node, fn)
    return [v for v in seen if v not in bound]


def seq(*stmts) -> ir.Stmt:
    """A Seq of the non-None statements, flattened; a single statement stays itself."""
    out: list = []
    for s in stmts:
        if s is None:
            continue
        if isinstance(s, ir.Seq):
            out.extend(s.stmts)
        else:
            out.append(s)
    if len(out) == 1:
        return out[0]
    return ir.Seq(tuple(out))
