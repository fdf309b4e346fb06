"""The schedule: one stage per compute operation, plus schedule-level primitives.

``create_schedule(outputs)`` collects every ``ComputeOp`` reachable from the outputs, in
topological order (producers first), and gives each a ``Stage``; placeholders are inputs and
have no stage. ``s[tensor]`` (or ``s["name"]``) returns a stage.

``cache_read(tensor, scope, readers)`` adds a stage that copies ``tensor`` into ``scope``
and makes ``readers`` read the copy. ``cache_write(tensor, scope)`` moves ``tensor``'s
computation into a new stage in ``scope`` and leaves the original stage as a copy out of it
(so the output buffer is written once, after the computation; typical for accumulators).

``str(s)`` lists the stages with their attachment, scope and loop order, followed by the
primitive history; ``s.records`` is that history as replayable ``Record``s (``record.py``).
"""

from __future__ import annotations

import contextlib

from ..errors import ScheduleAttachError, ScheduleError
from ..te.tensor import ComputeOp, IterVar, PlaceholderOp, Tensor
from . import attach, rewrite
from .record import Record, TensorRef, replay
from .scope import resolve_scope
from .stage import Stage


class Schedule:
    """Stages of a computation and the history of the primitives applied to them."""

    def __init__(self, outputs) -> None:
        if isinstance(outputs, Tensor):
            outputs = [outputs]
        outputs = list(outputs)
        for t in outputs:
            if not isinstance(t, Tensor):
                raise ScheduleError(f"create_schedule: outputs must be te Tensors, got {t!r}")
            if not isinstance(t.op, ComputeOp):
                raise ScheduleError(f"create_schedule: output '{t.name}' is a placeholder; "
                                    f"outputs must be computed tensors")
        self.outputs = outputs
        self.stages: list[Stage] = []
        self.records: list[Record] = []
        self._op2stage: dict[object, Stage] = {}
        self._placeholders: dict[str, Tensor] = {}
        self._quiet_depth = 0
        for op in _topo_ops(outputs):
            if isinstance(op, PlaceholderOp):
                self._placeholders.setdefault(op.name, op.output())
                continue
            self._add_stage(op, len(self.stages))
        for t in outputs:
            self._op2stage[t.op].is_output = True

    # ------------------------------------------------------------------ lookup
    def _unique(self, name: str) -> str:
        names = {s.name for s in self.stages} | set(self._placeholders)
        if name not in names:
            return name
        k = 1
        while f"{name}_{k}" in names:
            k += 1
        return f"{name}_{k}"

    def _add_stage(self, op: ComputeOp, pos: int) -> Stage:
        st = Stage(self, op, self._unique(op.name))
        self.stages.insert(pos, st)
        self._op2stage[op] = st
        return st

    def __getitem__(self, key) -> Stage:
        return self._as_stage(key, "schedule")

    def _as_stage(self, key, where: str) -> Stage:
        if isinstance(key, Stage):
            if key.sched is not self:
                raise ScheduleError(f"{where}: stage '{key.name}' belongs to another schedule")
            return key
        if isinstance(key, Tensor):
            st = self._op2stage.get(key.op)
            if st is not None:
                return st
            if isinstance(key.op, PlaceholderOp):
                raise ScheduleError(f"{where}: '{key.name}' is a placeholder (an input); it "
                                    f"has no stage. Schedule its readers, or cache_read it")
            raise ScheduleError(f"{where}: tensor '{key.name}' is not part of this schedule")
        if isinstance(key, str):
            return self.stage_by_name(key)
        raise ScheduleError(f"{where}: expected a Tensor or Stage, got {key!r}")

    def stage_by_name(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ScheduleError(f"no stage named '{name}' (stages: "
                            f"{', '.join(s.name for s in self.stages)})")

    def tensor_by_name(self, name: str) -> Tensor:
        if name in self._placeholders:
            return self._placeholders[name]
        return self.stage_by_name(name).tensor

    def stage_of(self, tensor: Tensor) -> Stage | None:
        """The stage computing ``tensor`` (None for placeholders)."""
        return self._op2stage.get(tensor.op)

    def tensor_name(self, tensor: Tensor) -> str:
        st = self.stage_of(tensor)
        return st.name if st is not None else tensor.name

    def readers(self, stage: Stage) -> list[Stage]:
        """Stages whose current body reads ``stage``'s tensor (any op version of it)."""
        out = []
        for s in self.stages:
            for t in s.op.input_tensors():
                if self._op2stage.get(t.op) is stage:
                    out.append(s)
                    break
        return out

    def _axis_owner(self, iv: IterVar) -> Stage | None:
        for s in self.stages:
            if rewrite.index_of(s.all_axes, iv) >= 0:
                return s
        return None

    # ------------------------------------------------------------------ history
    def _record(self, rec: Record) -> None:
        if self._quiet_depth == 0:
            self.records.append(rec)

    @contextlib.contextmanager
    def _quiet(self):
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    def replay(self, records) -> Schedule:
        """Apply ``records`` (e.g. another schedule's ``records``) to this schedule."""
        replay(self, records)
        return self

    # ------------------------------------------------------------------ cache stages
    def cache_read(self, tensor: Tensor, scope, readers) -> Tensor:
        """Copy ``tensor`` into ``scope`` for ``readers`` (Tensors or Stages that read it)."""
        where = f"cache_read of '{getattr(tensor, 'name', tensor)}'"
        if not isinstance(tensor, Tensor):
            raise ScheduleError(f"{where}: expected a te Tensor, got {tensor!r}")
        sc = resolve_scope(scope, where)
        if isinstance(readers, (Tensor, Stage)):
            readers = [readers]
        rstages = [self._as_stage(r, where) for r in readers]
        if not rstages:
            raise ScheduleError(f"{where}: readers must name at least one stage")
        src_stage = self.stage_of(tensor)
        if src_stage is None and tensor.op.name not in self._placeholders:
            raise ScheduleError(f"{where}: tensor is not part of this schedule")
        cur = src_stage.tensor if src_stage is not None else tensor
        if src_stage is not None and src_stage.attach_type == "at":
            raise ScheduleAttachError(
                f"{where}: stage '{src_stage.name}' is computed at '{src_stage.attach_stage.name}'"
                f"; cache_read needs it at the root (s[{src_stage.name!r}].compute_root())")
        for r in rstages:
            if not any(self._same_tensor(t, cur) for t in r.op.input_tensors()):
                raise ScheduleAttachError(f"{where}: stage '{r.name}' does not read "
                                          f"'{self.tensor_name(tensor)}'")
            if r.attach_type == "inline":
                raise ScheduleAttachError(f"{where}: reader '{r.name}' is inlined")
        name = self._unique(f"{self.tensor_name(tensor)}.{sc.name}")
        op = rewrite.make_copy_op(name, cur, [f"ax{d}" for d in range(len(cur.shape))])
        pos = min(self.stages.index(r) for r in rstages)
        st = self._add_stage(op, pos)
        st.name = name
        st.scope = sc
        st.origin = f"cache_read({self.tensor_name(tensor)})"
        old_ops = [(r, r.op) for r in rstages]
        for r in rstages:
            mapping = {t: st.tensor for t in r.op.input_tensors() if self._same_tensor(t, cur)}
            new = rewrite.replace_reads(r.op, mapping)
            self._op2stage[new] = r
            r.op = new
        bad = attach.problems(self)
        if bad:     # the copy (at the root) reads through an inlined stage what a loop holds
            for r, op in old_ops:
                r.op = op
            self.stages.remove(st)
            del self._op2stage[st.op]
            raise ScheduleAttachError(f"{where}: {attach.describe(*bad[0])}; cache_read a "
                                      f"tensor that is not inlined, or compute "
                                      f"'{bad[0][0].name}' at the root first")
        self._record(Record("cache_read", None, (TensorRef(self.tensor_name(tensor)), sc),
                            (("readers", [TensorRef(r.name) for r in rstages]),)))
        return st.tensor

    def _same_tensor(self, a: Tensor, b: Tensor) -> bool:
        if a is b:
            return True
        sa, sb = self.stage_of(a), self.stage_of(b)
        return sa is not None and sa is sb

    def cache_write(self, tensor: Tensor, scope) -> Tensor:
        """Compute ``tensor`` into a new stage in ``scope``; the original stage copies it out.

        Must come before any other primitive on ``tensor``'s stage.
        """
        where = f"cache_write of '{getattr(tensor, 'name', tensor)}'"
        sc = resolve_scope(scope, where)
        st = self._as_stage(tensor, where)
        if st.relations or st.kinds or st.pragmas or st.tensorized or st.attach_type != "root" \
                or any(s.attach_stage is st for s in self.stages) \
                or [a for a in st.leaf] != list(st.op.axis) + list(st.op.reduce_axis):
            raise ScheduleAttachError(
                f"{where}: apply cache_write to stage '{st.name}' before any other primitive "
                f"on it (it has already been scheduled)")
        name = self._unique(f"{st.name}.{sc.name}")
        cache_op = rewrite.clone_op(st.op, name)
        cst = self._add_stage(cache_op, self.stages.index(st))
        cst.scope = sc
        cst.origin = f"cache_write({st.name})"
        new = rewrite.copy_from(st.op, cst.tensor)
        self._op2stage[new] = st
        st.op = new
        st.leaf = list(new.axis)
        st.all_axes = list(new.axis)
        self._record(Record("cache_write", None, (TensorRef(st.name), sc)))
        return cst.tensor

    # ------------------------------------------------------------------ printing
    def __str__(self) -> str:
        lines = [f"schedule (outputs: {', '.join(self.tensor_name(t) for t in self.outputs)})"]
        for s in self.stages:
            if s.attach_type == "at":
                att = f"compute_at({s.attach_stage.name}, {s.attach_axis.name})"
            else:
                att = s.attach_type
            extra = f", {s.origin}" if s.origin else ""
            lines.append(f"  stage {s.name}: {att}, scope {s.scope.name}{extra}")
            if s.attach_type != "inline":
                lines.append("    loops: " + ", ".join(self._leaf_str(s, a) for a in s.leaf))
        lines.append("primitives:")
        lines += [f"  {r}" for r in self.records] or ["  (none)"]
        return "\n".join(lines)

    @staticmethod
    def _leaf_str(s: Stage, a: IterVar) -> str:
        tags = []
        if a in s.kinds:
            tags.append(s.kinds[a])
        if a in s.tensorized:
            tags.append(f"tensorize {s.tensorized[a].name}")
        for k, v in s.pragmas.get(a, []):
            tags.append(f"pragma {k}={v!r}")
        return a.name + (f" [{'; '.join(tags)}]" if tags else "")

    __repr__ = __str__


def create_schedule(outputs) -> Schedule:
    """A schedule of the computation producing ``outputs`` (a Tensor or list of Tensors)."""
    return Schedule(outputs)


def _topo_ops(outputs) -> list:
    """Operations reachable from ``outputs``, producers before consumers (stable DFS)."""
    order, seen = [], set()

    def visit(op):
        if id(op) in seen:
            return
        seen.add(id(op))
        for t in op.input_tensors():
            visit(t.op)
        order.append(op)

    for t in outputs:
        visit(t.op)
    return order
