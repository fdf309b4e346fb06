"""Schedules: how a tensor-expression computation becomes loops (TVM/Halide style).

Public entry points are re-exported by ``compiler.te`` (``te.create_schedule`` etc.); see
``schedule.py`` (the Schedule and cache stages), ``stage.py`` (the per-stage primitives),
``record.py`` (replayable history), ``intrin.py`` (tensor intrinsics, virtual threads),
``scope.py`` (memory scopes) and ``attach.py`` (which loops a ``compute_at`` stage may go in).
"""

from .intrin import TensorIntrin, TensorRegion, VThread, decl_tensor_intrin, vthread
from .record import AxisRef, Record, StageRef, TensorRef, replay
from .schedule import Schedule, create_schedule
from .scope import GLOBAL, LOCAL, MemoryScope
from .stage import Stage

__all__ = ["AxisRef", "GLOBAL", "LOCAL", "MemoryScope", "Record", "Schedule", "Stage",
           "StageRef", "TensorIntrin", "TensorRef", "TensorRegion", "VThread",
           "create_schedule", "decl_tensor_intrin", "replay", "vthread"]
