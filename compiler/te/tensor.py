"""Tensors, operations and iteration axes of the tensor-expression language.

A ``Tensor`` is the output of an ``Operation``: a ``PlaceholderOp`` (an input) or a
``ComputeOp`` (``compute(shape, fcompute)``: element ``[i, j, ...]`` is ``fcompute(i, j, ...)``).
Reading ``A[i, j]`` inside ``fcompute`` builds a ``ProducerLoad`` node; ``te.sum/max/min``
build a ``Reduce`` node. Both are loop-IR ``Expr`` subclasses that exist only until lowering
replaces them by buffer loads and loop nests.

Shapes are tuples of positive Python ints (no symbolic shapes yet). Axes are ``IterVar``s:
``C.op.axis`` (one per output dimension, named after ``fcompute``'s parameters) and
``C.op.reduce_axis`` (from ``reduce_axis``). An ``IterVar`` is also a ``TExpr`` (an int32 loop
variable), so it can be used in index arithmetic. All loop variables and indices are int32;
an int64 value used as an index is cast to int32 (tensors must have fewer than 2**31
elements).

Reductions: the reducer must be the outermost expression of the compute body
(``C = compute(.., lambda i: te.sum(A[i, k] * 2, axis=k))``; to scale a sum, write a second
compute). A reduce axis object may be shared by several computes: the first compute owns it,
later ones get a private copy (use ``C2.op.reduce_axis`` to schedule those).
"""

from __future__ import annotations

import builtins
import inspect
import weakref
from dataclasses import dataclass

from ..errors import TEDtypeError, TEError, TEShapeError
from ..tir import ir
from ..tir.functor import post_order_visit
from .expr import TExpr, as_node, binary

_MAX_ELEMS = 2**31
_REDUCE_VARS: weakref.WeakSet = weakref.WeakSet()   # vars of every reduce_axis (for hints)


class IterVar(TExpr):
    """An iteration axis: a loop variable with a domain ``(min, extent)`` and a kind.

    ``kind`` is ``"data"`` (an output dimension) or ``"reduce"``. Axes made by schedule
    primitives (``split``, ``fuse``) have ``dom=None``: their extent is known after bound
    inference.
    """

    __slots__ = ("var", "dom", "kind", "owner")

    def __init__(self, name: str, dom: tuple[int, int] | None, kind: str) -> None:
        var = ir.Var(name, "int32")
        super().__init__(var)
        self.var = var
        self.dom = dom
        self.kind = kind
        self.owner = None   # the ComputeOp whose axis this is

    @property
    def name(self) -> str:
        return self.var.name

    def __repr__(self) -> str:
        return f"IterVar({self.name}, dom={self.dom}, {self.kind})"


# ---------------------------------------------------------------------- TE-only nodes
@dataclass(frozen=True, eq=False)
class ProducerLoad(ir.Expr):
    """``tensor[indices]`` inside a compute body (becomes a BufferLoad when lowered)."""

    tensor: Tensor
    indices: tuple[ir.Expr, ...]

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.tensor.dtype

    def map_children(self, f) -> ProducerLoad:
        idx = tuple(f(i) for i in self.indices)
        if all(a is b for a, b in zip(idx, self.indices)):
            return self
        return ProducerLoad(self.tensor, idx)

    def children(self):
        return self.indices

    def print_with(self, p) -> str:
        return f"{self.tensor.name}[{', '.join(p.expr(i) for i in self.indices)}]"


_COMBINERS = ("sum", "max", "min")


@dataclass(frozen=True, eq=False)
class Reduce(ir.Expr):
    """``combiner`` of ``source`` over ``axes`` where ``where`` holds (top of a compute),
    starting from ``init`` (an expression of the compute's data axes) or, without one, from
    the combiner's identity."""

    combiner: str
    source: ir.Expr
    axes: tuple[IterVar, ...]
    where: ir.Expr | None = None
    init: ir.Expr | None = None

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.source.dtype

    def identity(self) -> ir.Expr:
        """The combiner's neutral element: 0, the lowest or the highest value of the dtype."""
        dt = self.dtype
        if self.combiner == "sum":
            return ir.FloatImm(0.0, dt) if ir.is_float(dt) else ir.IntImm(0, dt)
        if ir.is_float(dt):
            return ir.FloatImm(float("-inf") if self.combiner == "max" else float("inf"), dt)
        bits = int("".join(c for c in dt if c.isdigit()))
        lo, hi = ((0, 2**bits - 1) if dt.startswith("uint")
                  else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
        return ir.IntImm(lo if self.combiner == "max" else hi, dt)

    def combine(self, acc: ir.Expr, value: ir.Expr) -> ir.Expr:
        op = {"sum": "add", "max": "max", "min": "min"}[self.combiner]
        return ir.BinOp(op, acc, value)

    def map_children(self, f) -> Reduce:
        src = f(self.source)
        w = f(self.where) if self.where is not None else None
        init = f(self.init) if self.init is not None else None
        if src is self.source and w is self.where and init is self.init:
            return self
        return Reduce(self.combiner, src, self.axes, w, init)

    def children(self):
        return tuple(c for c in (self.source, self.where, self.init) if c is not None)

    def print_with(self, p) -> str:
        axes = ", ".join(p.expr(a.var) for a in self.axes)
        w = f", where={p.expr(self.where)}" if self.where is not None else ""
        init = f", init={p.expr(self.init)}" if self.init is not None else ""
        return f"te.{self.combiner}({p.expr(self.source)}, axis=[{axes}]{w}{init})"


# ---------------------------------------------------------------------- operations
class Operation:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def output(self) -> Tensor:
        return self._out

    def input_tensors(self) -> list[Tensor]:
        return []


class PlaceholderOp(Operation):
    """An input tensor; lowering turns it into a buffer parameter."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: str) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype
        self._out = Tensor(self)

    def __repr__(self) -> str:
        return f"placeholder {self.name}: {self.dtype}{list(self.shape)}"


class ComputeOp(Operation):
    """``name[axis...] = body`` where body may be a top-level ``Reduce``."""

    def __init__(self, name: str, axis: tuple[IterVar, ...], body: ir.Expr,
                 tag: str = "", attrs: dict | None = None) -> None:
        self.name = name
        self.axis = axis
        self.body = body
        self.reduce_axis: tuple[IterVar, ...] = body.axes if isinstance(body, Reduce) else ()
        self.shape = tuple(a.dom[1] for a in axis)
        self.dtype = body.dtype
        self.tag = tag
        self.attrs = dict(attrs or {})
        for iv in axis + self.reduce_axis:
            iv.owner = self
        self._out = Tensor(self)

    def input_tensors(self) -> list[Tensor]:
        seen: dict = {}

        def fn(n):
            if isinstance(n, ProducerLoad):
                seen.setdefault(n.tensor, None)

        post_order_visit(self.body, fn)
        return list(seen)

    def __repr__(self) -> str:
        from ..tir.printer import Printer

        p = Printer()
        idx = ", ".join(p.expr(a.var) for a in self.axis)
        return f"compute {self.name}[{idx}] = {p.expr(self.body)}"


class Tensor:
    """The output of an operation. Index it (``A[i, j]`` or ``A(i, j)``) inside fcompute."""

    def __init__(self, op: Operation) -> None:
        self.op = op

    name = property(lambda self: self.op.name)
    shape = property(lambda self: self.op.shape)
    dtype = property(lambda self: self.op.dtype)
    ndim = property(lambda self: len(self.op.shape))

    def __getitem__(self, idx) -> TExpr:
        if not isinstance(idx, tuple):
            idx = (idx,)
        return self(*idx)

    def __call__(self, *idx) -> TExpr:
        shown = f"{self.name}[{', '.join(str(i) for i in idx)}]"
        if len(idx) != self.ndim:
            raise TEShapeError(
                f"tensor '{self.name}' has {self.ndim} dimension(s) {list(self.shape)} but "
                f"is indexed with {len(idx)} index(es) in `{shown}`")
        nodes = []
        for d, i in enumerate(idx):
            if isinstance(i, slice):
                raise TEShapeError(f"slices are not tensor expressions: `{shown}`; index "
                                   f"every dimension with an axis or expression")
            n = as_node(i)
            if not ir.is_int(n.dtype) or n.dtype == "bool":
                raise TEDtypeError(f"index {d} of '{self.name}' is {n.dtype}, not an integer, "
                                   f"in `{shown}`")
            if isinstance(n, ir.IntImm) and not 0 <= n.value < self.shape[d]:
                raise TEShapeError(f"constant index {n.value} is out of range for dimension "
                                   f"{d} of '{self.name}' (extent {self.shape[d]}) in "
                                   f"`{shown}`")
            nodes.append(n if n.dtype == "int32" else ir.Cast("int32", n))
        return TExpr(ProducerLoad(self, tuple(nodes)))

    def __repr__(self) -> str:
        return f"Tensor({self.name}: {self.dtype}{list(self.shape)})"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other


# ---------------------------------------------------------------------- constructors
def _check_shape(shape, what: str) -> tuple[int, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TEShapeError(f"{what}: shape must be a tuple of ints, got {shape!r}") from None
    if not shape or not builtins.all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                     for s in shape):
        raise TEShapeError(f"{what}: shape must be a non-empty tuple of positive ints, "
                           f"got {shape!r}")
    n = 1
    for s in shape:
        n *= s
    if n >= _MAX_ELEMS:
        raise TEShapeError(f"{what}: {n} elements do not fit int32 indexing (max 2**31 - 1)")
    return shape


def _check_dtype(dtype: str, what: str) -> None:
    if dtype not in ir.SCALAR_DTYPES:
        raise TEDtypeError(f"{what}: unknown dtype {dtype!r}; expected one of "
                           f"{', '.join(ir.SCALAR_DTYPES)}")


def placeholder(shape, dtype: str = "float32", name: str = "placeholder") -> Tensor:
    """An input tensor of ``shape`` (tuple of positive ints) and ``dtype``."""
    _check_dtype(dtype, f"placeholder '{name}'")
    return PlaceholderOp(name, _check_shape(shape, f"placeholder '{name}'"), dtype).output()


def reduce_axis(dom, name: str = "k") -> IterVar:
    """A reduction axis over ``dom``: ``(min, max_exclusive)`` or an extent ``n``."""
    if isinstance(dom, int):
        dom = (0, dom)
    try:
        lo, hi = dom
    except (TypeError, ValueError):
        raise TEShapeError(f"reduce_axis '{name}': dom must be (min, end) or an extent, "
                           f"got {dom!r}") from None
    if not (isinstance(lo, int) and isinstance(hi, int)) or hi <= lo:
        raise TEShapeError(f"reduce_axis '{name}': dom must be ints with min < end, "
                           f"got {dom!r}")
    iv = IterVar(name, (lo, hi - lo), "reduce")
    _REDUCE_VARS.add(iv.var)
    return iv


def compute(shape, fcompute, name: str = "compute", tag: str = "",
            attrs: dict | None = None) -> Tensor:
    """A tensor of ``shape`` whose element at ``(i, j, ...)`` is ``fcompute(i, j, ...)``.

    ``fcompute`` receives one ``IterVar`` per dimension (named after its parameters) and
    returns a tensor expression, possibly a top-level reducer ``te.sum/max/min``.
    """
    what = f"compute '{name}'"
    shape = _check_shape(shape, what)
    names = _param_names(fcompute, len(shape), what)
    axis = tuple(IterVar(n, (0, s), "data") for n, s in zip(names, shape))
    try:
        result = fcompute(*axis)
        body = as_node(result)
    except TEError as e:
        raise type(e)(f"{what}: {e}") from None
    body = _own_reduce_axes(body, what)
    _check_body(body, axis, what)
    return ComputeOp(name, axis, body, tag, attrs).output()


def _param_names(f, ndim: int, what: str) -> list[str]:
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return [f"i{d}" for d in range(ndim)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return [f"i{d}" for d in range(ndim)]
    if len(params) != ndim:
        raise TEShapeError(f"{what}: fcompute takes {len(params)} argument(s) but the shape "
                           f"has {ndim} dimension(s)")
    return [p.name for p in params]


def _own_reduce_axes(body: ir.Expr, what: str) -> ir.Expr:
    """Copy reduce axes already owned by another compute (sharing one ``k`` is common)."""
    if not isinstance(body, Reduce):
        return body
    vmap, axes = {}, []
    for iv in body.axes:
        if iv.owner is None:
            axes.append(iv)
            continue
        cp = IterVar(iv.name, iv.dom, "reduce")
        _REDUCE_VARS.add(cp.var)
        vmap[iv.var] = cp.var
        axes.append(cp)
    if not vmap:
        return body
    from ..tir.functor import substitute

    src = substitute(body.source, vmap)
    w = substitute(body.where, vmap) if body.where is not None else None
    return Reduce(body.combiner, src, tuple(axes), w, body.init)


def _check_body(body: ir.Expr, axis: tuple[IterVar, ...], what: str) -> None:
    allowed = {a.var for a in axis}
    raxes = {a.var for a in body.axes} if isinstance(body, Reduce) else set()
    top = body

    def nested(n):
        if isinstance(n, Reduce) and n is not top:
            raise TEError(f"{what}: a reducer must be the outermost expression, got "
                          f"`{_show(body)}`; compute the reduction in its own compute and "
                          f"use it in a second one")

    post_order_visit(body, nested)

    def fn(n):
        if isinstance(n, ir.Var) and n not in allowed and n not in raxes:
            hint = ("a reduction axis used outside te.sum/te.max/te.min"
                    if _is_reduce_var(n, body) else "not an axis of this compute")
            raise TEError(f"{what}: variable '{n.name}' in `{_show(body)}` is {hint}")

    post_order_visit(body, fn)
    if isinstance(body, Reduce) and body.init is not None:
        def no_raxis(n):
            if isinstance(n, ir.Var) and n in raxes:
                raise TEError(f"{what}: the initial value `{_show(body.init)}` of a reduction "
                              f"uses its reduction axis '{n.name}'; it may use only the "
                              f"compute's own axes")

        post_order_visit(body.init, no_raxis)


def _is_reduce_var(v, body) -> bool:
    return v in _REDUCE_VARS


def _show(n) -> str:
    from ..tir.printer import expr_str

    return expr_str(n)


# ---------------------------------------------------------------------- reducers
def _reducer(combiner: str, expr, axis, where, init=None) -> TExpr:
    if isinstance(axis, IterVar):
        axis = [axis]
    axes = tuple(axis or ())
    if not axes:
        raise TEError(f"te.{combiner}: axis= needs at least one te.reduce_axis")
    for a in axes:
        if not isinstance(a, IterVar) or a.kind != "reduce":
            raise TEError(f"te.{combiner}: axis {a!r} is not a te.reduce_axis")
    src = as_node(expr)
    if src.dtype == "bool":
        raise TEDtypeError(f"te.{combiner} over bool values `{_show(src)}`; te.cast them first")
    w = None
    if where is not None:
        w = as_node(where)
        if w.dtype != "bool":
            raise TEDtypeError(f"te.{combiner}: where= must be bool, got {w.dtype} "
                               f"`{_show(w)}`")
    ini = None
    if init is not None:
        ini = as_node(init, src.dtype)
        if ini.dtype != src.dtype:
            raise TEDtypeError(f"te.{combiner}: init= has dtype {ini.dtype} but the reduced "
                               f"values `{_show(src)}` are {src.dtype}; insert te.cast")
    return TExpr(Reduce(combiner, src, axes, w, ini))


def _is_axis_arg(a) -> bool:
    if isinstance(a, IterVar):
        return a.kind == "reduce"
    return isinstance(a, (list, tuple))


def sum(expr, axis, where=None, init=None) -> TExpr:  # noqa: A001 - mirrors TVM's te.sum
    """Sum of ``expr`` over the reduce axis (or list of axes) ``axis`` where ``where``,
    starting from ``init`` (an expression of the compute's axes; default 0)."""
    return _reducer("sum", expr, axis, where, init)


def max(expr, axis=None, where=None, init=None, **kw) -> TExpr:  # noqa: A001
    """Reducer ``te.max(expr, axis=k[, where=c][, init=v])``; elementwise ``te.max(a, b)``
    with two operands. ``init`` is the starting value (default: the dtype's lowest)."""
    if axis is not None and not _is_axis_arg(axis):
        return binary("max", expr, axis)
    return _reducer("max", expr, axis, where, init)


def min(expr, axis=None, where=None, init=None, **kw) -> TExpr:  # noqa: A001
    """Reducer ``te.min(expr, axis=k[, where=c][, init=v])``; elementwise ``te.min(a, b)``
    with two operands. ``init`` is the starting value (default: the dtype's highest)."""
    if axis is not None and not _is_axis_arg(axis):
        return binary("min", expr, axis)
    return _reducer("min", expr, axis, where, init)
