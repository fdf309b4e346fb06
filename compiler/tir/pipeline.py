"""``lower(sched, args)``: a schedule to a flattened loop-IR ``PrimFunc``.

Steps (``lower``):

1. ``effective_bodies`` substitutes inlined stages into their readers (schedule/inline.py);
2. ``infer_bounds`` computes each stage's region and every axis extent (schedule/bound.py);
3. ``ScheduleLowering.build`` makes the loop nests, allocations, guards, pragmas and
   tensorized regions (tir/schedule_ops.py), in multi-dimensional form;
4. ``run_pipeline`` runs the IR-to-IR passes listed there, one per file in ``tir/passes``.

The result, which code generators consume: ``params`` are the ``args`` buffers, in order
(global scope, dense row-major, constant shapes); intermediates are ``Allocate``d in scope
``"global"``, ``"local"`` or a target scope; accesses are flat ``Load``/``Store``; loops have
``min`` 0 and constant extents, kinds ``serial``, ``parallel`` (never nested in another
parallel loop), ``vectorized`` (iterations independent; the body may still contain inner
loops, guards or allocations, which a code generator may scalarise), ``unrolled`` or
``vthread`` (independent virtual threads; may run serially on a CPU).

Debugging: ``lower(..., verify=True)`` or the environment variable ``VDLA_VERIFY_IR=1`` runs
the structural verifier (tir/verify.py) after the schedule is lowered and after every pass.
"""

from __future__ import annotations

import os

from ..schedule.bound import infer_bounds
from ..schedule.inline import effective_bodies
from . import ir
from .passes import (
    legalize_parallel,
    remove_no_op,
    remove_unit_loops,
    safe_select_loads,
    simplify_func,
    storage_flatten,
)
from .schedule_ops import ScheduleLowering
from .verify import verify as verify_ir


def _verify_enabled(verify: bool | None) -> bool:
    if verify is not None:
        return verify
    return os.environ.get("VDLA_VERIFY_IR", "") not in ("", "0")


def lower(sched, args, name: str = "main", verify: bool | None = None) -> ir.PrimFunc:
    """Lower schedule ``sched`` to a PrimFunc whose parameters are the buffers of ``args``."""
    from ..errors import LowerError

    args = list(args)
    if not args:
        raise LowerError("lower: args must list the input and output tensors, in call order")
    bodies = effective_bodies(sched)
    bounds = infer_bounds(sched, bodies)
    low = ScheduleLowering(sched, bodies, bounds, args)
    func = ir.PrimFunc(name, tuple(low.params), low.build())
    return run_pipeline(func, verify=_verify_enabled(verify))


def run_pipeline(func: ir.PrimFunc, verify: bool = False) -> ir.PrimFunc:
    """The pass pipeline, in order. With ``verify``, the IR is checked after each step."""

    def step(f, pass_fn, flattened):
        out = pass_fn(f)
        if verify:
            verify_ir(out, stage=pass_fn.__name__, flattened=flattened)
        return out

    if verify:
        verify_ir(func, stage="schedule lowering", flattened=False)
    # constant folding, canonical index arithmetic, guards proven by the loop ranges vanish
    func = step(func, simplify_func, False)
    # loops of extent 1 (unit splits, compute_at regions of one element) become plain code
    func = step(func, remove_unit_loops, False)
    # BufferLoad/BufferStore -> Load/Store with row-major flat indices
    func = step(func, storage_flatten, True)
    # fold the flat index arithmetic ((i*4 + j)*8 + k ...) and what it exposes
    func = step(func, simplify_func, True)
    # a load in a not-taken select branch (padding) gets an in-bounds index
    func = step(func, safe_select_loads, True)
    # empty loops, ifs and sequences left by the steps above
    func = step(func, remove_no_op, True)
    # parallel loops nested in parallel/vthread loops run serially
    func = step(func, legalize_parallel, True)
    return func
