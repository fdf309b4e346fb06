"""Tensor intrinsics (for ``tensorize``) and virtual threads (for ``bind``).

A ``TensorIntrin`` pairs *reference semantics* — a ``te.compute`` over placeholders, e.g. a
4x4x4 GEMM ``C[i, j] = sum(A[i, k] * B[j, k], k)`` — with an *emitter* that produces the loop
IR for one tensorized region::

    A = te.placeholder((4, 4), "int8", "A"); B = te.placeholder((4, 4), "int8", "B")
    k = te.reduce_axis((0, 4), "k")
    C = te.compute((4, 4), lambda i, j: te.sum(te.cast("int32", A[i, k] * B[j, k]), k))

    def emit(ins, outs, mode):          # ins/outs: TensorRegion, one per placeholder/output
        ...                             # return a Stmt, or None for the default lowering
    gemm = decl_tensor_intrin(C, emit, name="gemm4x4")
    s[CL].tensorize(ii, gemm)

``emit(ins, outs, mode)`` is called with ``mode``:

* ``"body"``: the region holds every reduction axis of the stage, so the statement must set
  the output region completely (initialise and accumulate);
* ``"update"``: the region sits inside some reduction loops; the statement must *accumulate*
  into the output region (the initialisation is lowered separately, as usual).

An emitter that returns None for a mode (or ``emit=None``) gets the default lowering: the
ordinary loop nest of the region, which is the reference computation — this is what the CPU
flow uses. ``ins`` follow the order in which the intrinsic's placeholders are first read in
its compute body.

A ``TensorRegion`` is a window of a buffer that is still multi-dimensional (storage
flattening runs after tensorize): ``region.load(i, j)`` and ``region.store((i, j), v)`` build
accesses at ``offsets + (i, j)``; ``flat_offset()`` and ``strides()`` give the row-major
element offset and strides for DMA-style emitters. The inputs' regions have the ranks of the
intrinsic's placeholders (which must equal the stage's inputs'); the output's region has the
rank of the intrinsic's output, which may be lower than the stage's: the intrinsic's output
dimensions are then the stage's last ones, in order, and the leading ones are fixed at their
offsets (``conv[n, co, y, x, b, o]`` tensorized over ``(b, o)`` by a 2-D GEMM tile).

Virtual threads: ``stage.bind(axis, vthread())`` marks a data axis whose iterations are
independent "virtual threads". Lowering emits ``For(kind="vthread")``; the CPU backend may run
it as a serial loop, the accelerator back end interleaves the threads to overlap memory
access and compute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ScheduleError, TensorizeError
from ..tir import ir


@dataclass(frozen=True, eq=False)
class TensorRegion:
    """A rectangular window of ``buffer``: ``offsets`` gives its first element (one index per
    buffer dimension) and ``shape`` its extents in the buffer's *last* ``len(shape)``
    dimensions; the leading dimensions are fixed at their offsets (extent 1).

    ``load``/``store`` take one index per dimension of ``shape``. A region of fewer dimensions
    than its buffer is how an intrinsic's output (e.g. a 2-D GEMM tile) sits in a stage of
    higher rank (e.g. ``conv[n, co, y, x, b, o]``, one tile per ``(n, co, y, x)``).
    """

    buffer: ir.Buffer
    offsets: tuple[ir.Expr, ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        rank = len(self.buffer.shape)
        if len(self.offsets) != rank:
            raise TensorizeError(f"region of '{self.buffer.name}': {len(self.offsets)} offsets "
                                 f"for a buffer of {rank} dimensions")
        if len(self.shape) > rank:
            raise TensorizeError(f"region of '{self.buffer.name}': shape {tuple(self.shape)} "
                                 f"has more dimensions than the buffer ({rank})")

    @property
    def lead(self) -> int:
        """The number of leading buffer dimensions fixed at their offsets."""
        return len(self.offsets) - len(self.shape)

    def index(self, *idx) -> tuple[ir.Expr, ...]:
        if len(idx) != len(self.shape):
            raise TensorizeError(f"region of '{self.buffer.name}' has {len(self.shape)} dims, "
                                 f"indexed with {len(idx)}")
        k = self.lead
        return tuple(self.offsets[:k]) + tuple(
            ir.BinOp("add", o, _e(i)) for o, i in zip(self.offsets[k:], idx))

    def load(self, *idx) -> ir.BufferLoad:
        return ir.BufferLoad(self.buffer, self.index(*idx))

    def store(self, idx, value: ir.Expr) -> ir.BufferStore:
        return ir.BufferStore(self.buffer, self.index(*idx), value)

    def strides(self) -> tuple[int, ...]:
        """Row-major element strides of the underlying buffer (all of its dimensions; the
        region's own are the last ``len(shape)``)."""
        out, acc = [], 1
        for s in reversed(self.buffer.shape):
            out.append(acc)
            acc *= s.value if isinstance(s, ir.IntImm) else int(s)
        return tuple(reversed(out))

    def flat_offset(self) -> ir.Expr:
        """Row-major element offset of the window's first element."""
        off: ir.Expr = ir.IntImm(0)
        for o, st in zip(self.offsets, self.strides()):
            off = ir.BinOp("add", off, ir.BinOp("mul", o, ir.IntImm(st)))
        return off


def _e(x) -> ir.Expr:
    if isinstance(x, ir.Expr):
        return x
    if hasattr(x, "node"):
        return x.node
    return ir.IntImm(int(x))


Emitter = Callable[[list[TensorRegion], list[TensorRegion], str], "ir.Stmt | None"]


@dataclass(frozen=True, eq=False)
class TensorIntrin:
    """Reference computation (``compute``, a te Tensor) plus an optional emitter."""

    name: str
    compute: object          # te.Tensor produced by te.compute
    emit: Emitter | None = None

    def __repr__(self) -> str:
        return f"TensorIntrin({self.name})"


def decl_tensor_intrin(compute, emit: Emitter | None = None,
                       name: str | None = None) -> TensorIntrin:
    """Declare a tensor intrinsic from its reference ``te.compute`` and an emitter."""
    from ..te.tensor import ComputeOp, PlaceholderOp, Tensor

    if not isinstance(compute, Tensor) or not isinstance(compute.op, ComputeOp):
        raise TensorizeError(f"decl_tensor_intrin: expected the output of te.compute, got "
                             f"{compute!r}")
    for t in compute.op.input_tensors():
        if not isinstance(t.op, PlaceholderOp):
            raise TensorizeError(f"decl_tensor_intrin '{name or compute.name}': input "
                                 f"'{t.name}' must be a te.placeholder")
    if emit is not None and not callable(emit):
        raise TensorizeError(f"decl_tensor_intrin: emit must be callable, got {emit!r}")
    return TensorIntrin(name or compute.name, compute, emit)


@dataclass(frozen=True)
class VThread:
    """A virtual-thread binding; ``extent`` None means "the extent of the bound axis"."""

    name: str = "vthread"
    extent: int | None = None


def vthread(extent: int | None = None, name: str = "vthread") -> VThread:
    """A virtual-thread binding for ``Stage.bind`` (extent checked against the axis)."""
    if extent is not None and (not isinstance(extent, int) or extent <= 0):
        raise ScheduleError(f"vthread: extent must be a positive int, got {extent!r}")
    return VThread(name, extent)
