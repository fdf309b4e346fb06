"""A stage: how one compute operation is turned into loops. The public, checked primitives.

Each method validates its arguments, raises a ``ScheduleError`` subclass naming the stage and
the axis when they are wrong, applies an internal rewrite (``rewrite.py``) and appends a
``Record`` to the schedule's history.

Axes: ``stage.op.axis`` / ``stage.op.reduce_axis`` are the root axes; ``stage.leaf`` lists the
current loop order, outermost first. ``split`` names its results ``<axis>.outer`` and
``<axis>.inner``; ``fuse`` names its result ``<outer>.<inner>.fused``.

Loop kinds (``unroll``, ``vectorize``, ``parallel``, ``bind(vthread)``) apply to one leaf axis
each; ``vectorize``, ``parallel`` and virtual threads need a data axis, because the
iterations of a reduction axis depend on each other. A leaf axis takes at most one kind.

Memory: ``set_scope(scope)`` puts the stage's own buffer in a memory scope (``scope.py``); a
cache stage (``Schedule.cache_read``/``cache_write``) gets its scope when it is made.

Attachment: a stage is computed at the root of the function (default), inlined into its
readers (``compute_inline``), or inside a loop of a stage that consumes it, directly or
through other stages computed inside that loop (``compute_at``; the rule is in
``attach.py``). After ``compute_at(T, x)``, splitting ``x`` moves the attachment to the
inner axis and fusing it moves it to the fused axis, so the producer is still computed inside
every iteration it needs.
"""

from __future__ import annotations

import re

from ..errors import (
    ScheduleAttachError,
    ScheduleAxisError,
    ScheduleError,
    ScheduleScopeError,
    TensorizeError,
)
from ..te.tensor import ComputeOp, IterVar, Reduce, Tensor
from . import attach, rewrite
from .intrin import TensorIntrin, VThread
from .record import AxisRef, Record, StageRef
from .scope import GLOBAL, MemoryScope, resolve_scope

_KIND_OF = {"unroll": "unrolled", "vectorize": "vectorized", "parallel": "parallel",
            "bind": "vthread"}
_PRAGMA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Stage:
    """Scheduling state of one ``ComputeOp`` (see the module docstring)."""

    def __init__(self, sched, op: ComputeOp, name: str) -> None:
        self.sched = sched
        self.op = op
        self.name = name
        self.leaf: list[IterVar] = list(op.axis) + list(op.reduce_axis)
        self.all_axes: list[IterVar] = list(self.leaf)
        self.relations: list = []
        self.kinds: dict[IterVar, str] = {}
        self.pragmas: dict[IterVar, list[tuple[str, object]]] = {}
        self.tensorized: dict[IterVar, TensorIntrin] = {}
        self.threads: dict[IterVar, VThread] = {}
        self.attach_type = "root"            # "root" | "inline" | "at"
        self.attach_stage: Stage | None = None
        self.attach_axis: IterVar | None = None
        self.scope: MemoryScope = GLOBAL
        self.is_output = False
        self.origin = ""                     # "cache_read(A)" / "cache_write(C)" for printing

    # ------------------------------------------------------------------ helpers
    def __repr__(self) -> str:
        return f"Stage({self.name})"

    @property
    def tensor(self) -> Tensor:
        return self.op.output()

    def axis_by_name(self, name: str) -> IterVar:
        """A leaf or root axis by name (``name#k`` picks the k-th of equally named axes)."""
        base, _, k = name.partition("#")
        hits = [a for a in self.all_axes if a.name == base]
        if not hits:
            raise ScheduleAxisError(f"stage '{self.name}' has no axis named '{base}' (axes: "
                                    f"{', '.join(a.name for a in self.all_axes)})")
        return hits[int(k) if k else 0]

    def axis_ref(self, iv: IterVar) -> AxisRef:
        same = [a for a in self.all_axes if a.name == iv.name]
        k = rewrite.index_of(same, iv)
        return AxisRef(self.name, iv.name if k <= 0 else f"{iv.name}#{k}")

    def _record(self, prim: str, args=(), **kwargs) -> None:
        self.sched._record(Record(prim, self.name, tuple(self._enc(a) for a in args),
                                  tuple((k, self._enc(v)) for k, v in kwargs.items())))

    def _enc(self, a):
        if isinstance(a, IterVar):
            owner = self.sched._axis_owner(a)
            return owner.axis_ref(a) if owner is not None else a
        if isinstance(a, Stage):
            return StageRef(a.name)
        if isinstance(a, (list, tuple)):
            return [self._enc(x) for x in a]
        return a

    def _leaf(self, axis, prim: str) -> IterVar:
        """``axis`` if it is a leaf axis of this stage, else a helpful error."""
        if not isinstance(axis, IterVar):
            raise ScheduleAxisError(f"stage '{self.name}': {prim} expects an axis (IterVar), "
                                    f"got {type(axis).__name__} {axis!r}")
        if rewrite.index_of(self.leaf, axis) >= 0:
            return axis
        leafs = ", ".join(a.name for a in self.leaf)
        why = ""
        for r in self.relations:
            if isinstance(r, rewrite.Split) and r.parent is axis:
                why = f"; it was split into '{r.outer.name}' and '{r.inner.name}'"
            elif isinstance(r, rewrite.Fuse) and (r.outer is axis or r.inner is axis):
                why = f"; it was fused into '{r.fused.name}'"
        if not why:
            owner = self.sched._axis_owner(axis)
            if owner is not None and owner is not self:
                why = f"; it belongs to stage '{owner.name}'"
                same = [a for a in self.leaf if a.name == axis.name]
                if same:
                    why += f" (this stage's own axis of that name is s[{self.name!r}]" \
                           f".op.axis/.op.reduce_axis)"
        raise ScheduleAxisError(f"stage '{self.name}': {prim}: axis '{axis.name}' is not a "
                                f"leaf axis of this stage (leaf axes: {leafs}){why}")

    def _check_unscheduled_kind(self, axis: IterVar, prim: str) -> None:
        kind = self.kinds.get(axis)
        if kind is not None:
            raise ScheduleAxisError(f"stage '{self.name}': {prim}: axis '{axis.name}' is "
                                    f"already {kind}")

    def _check_not_special(self, axis: IterVar, prim: str) -> None:
        if axis in self.kinds or axis in self.tensorized or axis in self.pragmas:
            what = self.kinds.get(axis) or (
                "tensorize" if axis in self.tensorized else "a pragma")
            raise ScheduleAxisError(
                f"stage '{self.name}': {prim}: axis '{axis.name}' already carries {what}; "
                f"apply loop-structure primitives before annotations")

    # ------------------------------------------------------------------ loop structure
    def split(self, axis, factor: int | None = None, nparts: int | None = None):
        """Split ``axis`` into ``(outer, inner)``: ``axis = outer * factor + inner``.

        Give exactly one of ``factor`` (the inner extent) or ``nparts`` (the outer extent).
        A non-divisible split is guarded: iterations past the end are skipped.
        """
        ax = self._leaf(axis, "split")
        if (factor is None) == (nparts is None):
            raise ScheduleError(f"stage '{self.name}': split of '{ax.name}' needs exactly one "
                                f"of factor= or nparts=")
        val = factor if factor is not None else nparts
        if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
            what = "factor" if factor is not None else "nparts"
            raise ScheduleError(f"stage '{self.name}': split of '{ax.name}': {what} must be a "
                                f"positive int, got {val!r}")
        self._check_not_special(ax, "split")
        out = rewrite.split(self, ax, factor, nparts)
        if factor is not None:
            self._record("split", (ax,), factor=factor)
        else:
            self._record("split", (ax,), nparts=nparts)
        return out

    def tile(self, x, y, x_factor: int, y_factor: int):
        """Split ``x`` and ``y`` and order them ``xo, yo, xi, yi``; returns those four."""
        self._leaf(x, "tile")
        self._leaf(y, "tile")
        if x is y:
            raise ScheduleAxisError(f"stage '{self.name}': tile needs two different axes, got "
                                    f"'{x.name}' twice")
        for ax, f in ((x, x_factor), (y, y_factor)):   # validate everything before changing
            if not isinstance(f, int) or isinstance(f, bool) or f <= 0:
                raise ScheduleError(f"stage '{self.name}': tile of '{ax.name}': factor must "
                                    f"be a positive int, got {f!r}")
            self._check_not_special(ax, "tile")
        with self.sched._quiet(), attach.checked(self.sched, f"stage '{self.name}': tile"):
            xo, xi = self.split(x, factor=x_factor)
            yo, yi = self.split(y, factor=y_factor)
            self.reorder(xo, yo, xi, yi)
        self._record("tile", (x, y), x_factor=x_factor, y_factor=y_factor)
        return xo, yo, xi, yi

    def reorder(self, *axes) -> None:
        """Put ``axes`` in this order, in the loop positions they currently occupy."""
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        ivs = [self._leaf(a, "reorder") for a in axes]
        for i, a in enumerate(ivs):
            if rewrite.index_of(ivs[:i], a) >= 0:
                raise ScheduleAxisError(f"stage '{self.name}': reorder: axis '{a.name}' is "
                                        f"given twice")
        with attach.checked(self.sched, f"stage '{self.name}': reorder"):
            rewrite.reorder(self, ivs)
        self._record("reorder", tuple(ivs))

    def fuse(self, *axes) -> IterVar:
        """Fuse consecutive leaf axes (outermost first) into one; returns the fused axis."""
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        if len(axes) < 2:
            raise ScheduleError(f"stage '{self.name}': fuse needs at least two axes")
        ivs = [self._leaf(a, "fuse") for a in axes]
        pos = [rewrite.index_of(self.leaf, a) for a in ivs]
        for a, b, pa, pb in zip(ivs, ivs[1:], pos, pos[1:]):
            if pb != pa + 1:
                raise ScheduleAxisError(
                    f"stage '{self.name}': fuse: axes '{a.name}' and '{b.name}' are not "
                    f"adjacent in the loop order (positions {pa} and {pb}); reorder first")
            if a.kind != b.kind:
                raise ScheduleAxisError(
                    f"stage '{self.name}': fuse: cannot fuse {a.kind} axis '{a.name}' with "
                    f"{b.kind} axis '{b.name}'")
        for a in ivs:
            self._check_not_special(a, "fuse")
        out = ivs[0]
        with self.sched._quiet():
            for b in ivs[1:]:
                out = rewrite.fuse(self, out, b)
        self._record("fuse", tuple(ivs))
        return out

    # ------------------------------------------------------------------ loop kinds
    def _set_kind(self, prim: str, axis) -> IterVar:
        ax = self._leaf(axis, prim)
        kind = _KIND_OF[prim]
        if kind != "unrolled" and ax.kind == "reduce":
            raise ScheduleAxisError(
                f"stage '{self.name}': cannot {prim} reduction axis '{ax.name}': its "
                f"iterations accumulate into the same element; {prim} a data axis")
        self._check_unscheduled_kind(ax, prim)
        if ax in self.tensorized:
            raise ScheduleAxisError(f"stage '{self.name}': {prim}: axis '{ax.name}' is "
                                    f"tensorized")
        self.kinds[ax] = kind
        return ax

    def unroll(self, axis) -> None:
        """Mark ``axis`` for full unrolling (``For(kind="unrolled")``)."""
        ax = self._set_kind("unroll", axis)
        self._record("unroll", (ax,))

    def vectorize(self, axis) -> None:
        """Mark data ``axis`` as ``For(kind="vectorized")`` (its extent becomes the lanes)."""
        ax = self._set_kind("vectorize", axis)
        self._record("vectorize", (ax,))

    def parallel(self, axis) -> None:
        """Mark data ``axis`` as ``For(kind="parallel")`` (a loop nested inside another
        parallel loop is lowered serially)."""
        ax = self._set_kind("parallel", axis)
        self._record("parallel", (ax,))

    def bind(self, axis, thread: VThread) -> None:
        """Bind data ``axis`` to virtual threads: ``For(kind="vthread")`` (module
        ``intrin``). ``thread.extent``, when given, must equal the axis extent."""
        if not isinstance(thread, VThread):
            raise ScheduleError(f"stage '{self.name}': bind expects te.vthread(...), got "
                                f"{thread!r}")
        ax = self._set_kind("bind", axis)
        self.threads[ax] = thread
        self._record("bind", (ax, thread))

    def pragma(self, axis, key: str, value=1) -> None:
        """Annotate ``axis``'s loop with ``AttrStmt("pragma_<key>", loop var, value)``."""
        ax = self._leaf(axis, "pragma")
        if not isinstance(key, str) or not _PRAGMA_KEY.match(key):
            raise ScheduleError(f"stage '{self.name}': pragma on '{ax.name}': key must be an "
                                f"identifier string, got {key!r}")
        if not isinstance(value, (int, float, str)):
            raise ScheduleError(f"stage '{self.name}': pragma '{key}' on '{ax.name}': value "
                                f"must be an int, float or str, got {value!r}")
        self.pragmas.setdefault(ax, []).append((key, value))
        self._record("pragma", (ax, key, value))

    def tensorize(self, axis, intrin: TensorIntrin) -> None:
        """Replace the loops from ``axis`` inward by ``intrin`` (module ``intrin``).

        The leaf axes from ``axis`` inward must match the intrinsic's axes one to one (data
        axes then reduction axes, same extents) and compute the same expression; this is
        checked when lowering, where the extents are known.
        """
        ax = self._leaf(axis, "tensorize")
        if not isinstance(intrin, TensorIntrin):
            raise TensorizeError(f"stage '{self.name}': tensorize on '{ax.name}' expects a "
                                 f"TensorIntrin (te.decl_tensor_intrin), got {intrin!r}")
        if self.tensorized:
            raise TensorizeError(f"stage '{self.name}': already tensorized at "
                                 f"'{next(iter(self.tensorized)).name}'")
        iop = intrin.compute.op
        need = len(iop.axis) + len(iop.reduce_axis)
        have = len(self.leaf) - rewrite.index_of(self.leaf, ax)
        if need != have:
            raise TensorizeError(
                f"stage '{self.name}': tensorize '{intrin.name}' at '{ax.name}': the region "
                f"has {have} loop(s) ({', '.join(a.name for a in self.leaf[-have:])}) but the "
                f"intrinsic has {need} axes")
        self.tensorized[ax] = intrin
        self._record("tensorize", (ax, intrin))

    # ------------------------------------------------------------------ memory
    def set_scope(self, scope: str | MemoryScope) -> None:
        """Compute this stage into memory ``scope`` (a ``MemoryScope``, or the name of a
        built-in scope: ``"global"``, ``"local"``).

        Unlike ``cache_write``, no copy stage is added: the stage's own buffer lives in the
        scope (for an accumulator that its readers consume in place). Outputs of the schedule
        are function arguments and stay ``global``.
        """
        sc = resolve_scope(scope, f"stage '{self.name}': set_scope")
        if self.is_output and sc != GLOBAL:
            raise ScheduleScopeError(
                f"stage '{self.name}': set_scope({sc.name!r}): it is an output of the schedule, "
                f"so it is a function argument in global memory; cache_write it into "
                f"'{sc.name}' instead")
        self.scope = sc
        self._record("set_scope", (sc,))

    # ------------------------------------------------------------------ attachment
    def compute_at(self, parent, axis) -> None:
        """Compute this stage inside loop ``axis`` of ``parent``, a stage that consumes it.

        ``parent`` may read this stage directly or through other stages; every reader must
        then be computed inside that loop too (``attach.py``): e.g. with ``post`` computed at
        ``out.xo``, ``post``'s producer ``conv`` can be computed at ``out.xo``. Only the region
        the readers use in one iteration of ``axis`` is computed there (bound inference),
        into a buffer of that region's size allocated at the loop.
        """
        parent = self.sched._as_stage(parent, f"stage '{self.name}': compute_at")
        ax = parent._leaf(axis, f"compute_at of '{self.name}'")
        if parent is self:
            raise ScheduleAttachError(f"stage '{self.name}': cannot compute_at itself")
        if self.is_output:
            raise ScheduleAttachError(
                f"stage '{self.name}' is an output of the schedule, so it must be computed "
                f"at the root; use cache_write and compute_at the cache stage instead")
        if parent.attach_type == "inline":
            raise ScheduleAttachError(f"stage '{self.name}': compute_at: stage "
                                      f"'{parent.name}' is inlined")
        if not attach.consumes(self.sched, parent, self):
            readers = attach.effective_readers(self.sched, self)
            raise ScheduleAttachError(
                f"stage '{self.name}': compute_at: stage '{parent.name}' does not read "
                f"'{self.name}', directly or through other stages (its readers: "
                f"{', '.join(r.name for r in readers) or 'none'})")
        with attach.checked(self.sched, f"stage '{self.name}': compute_at({parent.name}, "
                                        f"{ax.name})", moved=self):
            self.attach_type, self.attach_stage, self.attach_axis = "at", parent, ax
        self._record("compute_at", (parent, ax))

    def compute_inline(self) -> None:
        """Substitute this stage's expression into its readers (no buffer, no loops)."""
        if self.is_output:
            raise ScheduleAttachError(f"stage '{self.name}' is an output of the schedule and "
                                      f"cannot be inlined")
        if isinstance(self.op.body, Reduce):
            raise ScheduleAttachError(f"stage '{self.name}' is a reduction and cannot be "
                                      f"inlined; compute_at it instead")
        att = self._attached_to()
        if att:
            raise ScheduleAttachError(
                f"stage '{self.name}' cannot be inlined: stage(s) "
                f"{', '.join(s.name for s in att)} are computed at its loops")
        if self.scope is not GLOBAL and self.origin:
            raise ScheduleAttachError(f"stage '{self.name}' is a {self.origin} stage in scope "
                                      f"'{self.scope}'; inlining would drop the cache")
        with attach.checked(self.sched, f"stage '{self.name}': compute_inline"):
            self.attach_type, self.attach_stage, self.attach_axis = "inline", None, None
        self._record("compute_inline")

    def compute_root(self) -> None:
        """Undo compute_at / compute_inline: compute the whole tensor at the root."""
        with attach.checked(self.sched, f"stage '{self.name}': compute_root"):
            self.attach_type, self.attach_stage, self.attach_axis = "root", None, None
        self._record("compute_root")

    def _attached_to(self) -> list[Stage]:
        return [s for s in self.sched.stages if s.attach_stage is self]
