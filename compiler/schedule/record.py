"""Primitive records: the replayable history of a schedule.

Every public schedule primitive appends one ``Record`` to ``Schedule.records``. Records refer
to stages, tensors and axes *by name* (``StageRef("C")``, ``TensorRef("A")``,
``AxisRef("C", "i.outer")``), so they can be re-applied to a fresh schedule of the same
computation::

    s1 = create_schedule(C); ...primitives...
    s2 = create_schedule(C2)           # same computation, built again
    replay(s2, s1.records)

Numbers (split factors, unroll choices) are kept as plain arguments, so a tuner can vary
them: ``rec.with_args(factor=8)`` returns a changed copy, and ``rec.params()`` lists the
tunable integer arguments by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import ScheduleError


@dataclass(frozen=True)
class StageRef:
    name: str

    def __str__(self) -> str:
        return f's["{self.name}"]'


@dataclass(frozen=True)
class TensorRef:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class AxisRef:
    stage: str
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Record:
    """One primitive application: ``s[stage].primitive(*args, **kwargs)``.

    ``stage`` is None for schedule-level primitives (``cache_read``, ``cache_write``).
    """

    primitive: str
    stage: str | None
    args: tuple = ()
    kwargs: tuple[tuple[str, object], ...] = field(default=())

    def __str__(self) -> str:
        parts = [_fmt(a) for a in self.args] + [f"{k}={_fmt(v)}" for k, v in self.kwargs]
        head = f's["{self.stage}"].' if self.stage is not None else "s."
        return f"{head}{self.primitive}({', '.join(parts)})"

    def params(self) -> dict[str, int]:
        """The tunable integer keyword arguments (e.g. ``factor``, ``nparts``)."""
        return {k: v for k, v in self.kwargs if isinstance(v, int) and not isinstance(v, bool)}

    def with_args(self, **changes) -> Record:
        """A copy with some keyword arguments changed (e.g. ``factor=8``)."""
        kw = dict(self.kwargs)
        for k in changes:
            if k not in kw:
                raise ScheduleError(f"record {self}: no keyword argument {k!r} to change")
        kw.update(changes)
        return replace(self, kwargs=tuple(kw.items()))


def _fmt(a) -> str:
    if isinstance(a, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in a) + "]"
    if isinstance(a, str):
        return repr(a)
    if hasattr(a, "name") and not isinstance(a, (StageRef, TensorRef, AxisRef)):
        return a.name
    return str(a)


def replay(sched, records) -> None:
    """Apply ``records`` (from another schedule of the same computation) to ``sched``."""
    for rec in records:
        args = tuple(_resolve(sched, rec, a) for a in rec.args)
        kwargs = {k: _resolve(sched, rec, v) for k, v in rec.kwargs}
        if rec.stage is None:
            target = sched
        else:
            target = sched.stage_by_name(rec.stage)
        getattr(target, rec.primitive)(*args, **kwargs)


def _resolve(sched, rec: Record, a):
    if isinstance(a, (list, tuple)):
        return type(a)(_resolve(sched, rec, x) for x in a)
    if isinstance(a, StageRef):
        return sched.stage_by_name(a.name)
    if isinstance(a, TensorRef):
        return sched.tensor_by_name(a.name)
    if isinstance(a, AxisRef):
        return sched.stage_by_name(a.stage).axis_by_name(a.name)
    return a
