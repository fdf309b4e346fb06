"""``build(sched, args, target)``: a schedule to an accelerator program bundle; running it.

The pipeline, in order:

1. ``lower`` (compiler.tir): the schedule to a flattened loop-IR PrimFunc — loops with
   constant extents, pragmas ``dma_copy``/``alu``, tensorized GEMM regions, allocations in the
   target's scopes (each checked against its scope's capacity);
2. ``plan_storage`` (storage.py): SRAM offsets of every allocation, per virtual thread, with
   in-place ALU aliasing; everything live at once must fit (``VdlaCapacityError``);
3. DRAM regions for the function's parameters, in argument order;
4. ``Walker`` (walk.py over emit.py, dma.py, fold.py, alu.py): the function executed at
   compile time into a sequential instruction program, virtual threads interleaved;
5. ``InsnStream.finish`` (stream.py): dependency tokens were inserted along the way; micro-op
   kernels are placed and FINISH ends the program.

``VdlaProgram`` holds the bundle and knows which regions are inputs and outputs;
``program.run(*arrays, backend="sim")`` fills the inputs, runs the bundle on the simulator
(or, through ``runtime.execute.run_bundle`` when it is present, on the RTL) and returns the
outputs and the cycle report. ``program.listing()`` is the assembly text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from accel.isa.bundle import Bundle, Region

from ...tir import ir
from ...tir.pipeline import lower
from .errors import VdlaBackendError, VdlaCodegenError
from .storage import StoragePlan, plan_storage
from .stream import InsnStream
from .target import VdlaTarget, target
from .walk import Walker

BACKENDS = ("sim", "rtl")


@dataclass
class ParamInfo:
    name: str
    region: Region
    dtype: str
    shape: tuple[int, ...]
    is_output: bool


@dataclass
class VdlaProgram:
    """An accelerator program: its bundle, parameters, and how it was made."""

    target: VdlaTarget
    func: ir.PrimFunc
    plan: StoragePlan
    bundle: Bundle
    params: list[ParamInfo]
    uop_loads: int
    bridges: int

    @property
    def inputs(self) -> list[ParamInfo]:
        return [p for p in self.params if not p.is_output]

    @property
    def outputs(self) -> list[ParamInfo]:
        return [p for p in self.params if p.is_output]

    @property
    def instructions(self) -> int:
        return len(self.bundle.insns)

    def listing(self, data: bool = False) -> str:
        """The program in the assembly language (``accel.isa.asm``)."""
        from accel.isa.asm import disassemble

        return disassemble(self.bundle, data=data)

    def bundle_with(self, *arrays: np.ndarray) -> Bundle:
        """The bundle with ``arrays`` (one per input parameter, in order) in DRAM."""
        ins = self.inputs
        if len(arrays) != len(ins):
            raise VdlaCodegenError(f"program takes {len(ins)} input(s) "
                                   f"({', '.join(p.name for p in ins)}), got {len(arrays)}")
        dram = self.bundle.dram.copy()
        for p, a in zip(ins, arrays):
            a = np.asarray(a)
            if a.shape != p.shape:
                raise VdlaCodegenError(f"input '{p.name}' has shape {a.shape}, expected "
                                       f"{p.shape}")
            if a.dtype != np.dtype(p.dtype):
                if not np.can_cast(a.dtype, p.dtype, "same_kind") or a.size and (
                        a.min() < np.iinfo(p.dtype).min or a.max() > np.iinfo(p.dtype).max):
                    raise VdlaCodegenError(f"input '{p.name}' has dtype {a.dtype}, expected "
                                           f"{p.dtype}")
            raw = np.ascontiguousarray(a, dtype=p.region.np_dtype).view(np.uint8).reshape(-1)
            dram[p.region.offset:p.region.offset + p.region.size] = raw
        return Bundle(self.bundle.config, self.bundle.insns, dram, list(self.bundle.regions))

    def run(self, *arrays: np.ndarray, backend: str = "sim") -> tuple[list[np.ndarray], Any]:
        """Run with ``arrays`` as inputs; returns (outputs in parameter order, report)."""
        bundle = self.bundle_with(*arrays)
        dram, report = run_bundle(bundle, backend)
        outs = [bundle.read(p.name, dram) for p in self.outputs]
        return outs, report


def run_bundle(bundle: Bundle, backend: str = "sim") -> tuple[np.ndarray, Any]:
    """(final DRAM image, cycle report) of ``bundle`` on ``backend`` ("sim" or "rtl")."""
    if backend not in BACKENDS:
        raise VdlaBackendError(f"unknown backend {backend!r}; expected one of "
                               f"{', '.join(BACKENDS)}")
    try:
        from runtime.execute import run_bundle as runtime_run
    except ImportError:
        runtime_run = None
    if runtime_run is not None:
        res = runtime_run(bundle, backend=backend)
        return np.asarray(res.dram), getattr(res, "report", None)
    if backend == "rtl":
        raise VdlaBackendError("backend 'rtl' needs runtime.execute.run_bundle (the RTL "
                               "runner), which is not available in this checkout; use "
                               "backend='sim'")
    from accel.sim import simulate

    res = simulate(bundle)
    return res.dram, res.report


def build(sched, args, tgt: VdlaTarget | None = None, name: str = "main") -> VdlaProgram:
    """Compile schedule ``sched`` with parameters ``args`` (tensors, in call order)."""
    t = tgt or target()
    args = list(args)
    func = lower(sched, args, name)
    plan = plan_storage(func, t)
    stream = InsnStream(t.cfg)
    params, regions = [], {}
    for buf, tensor in zip(func.params, args):
        shape = tuple(int(d.value) for d in buf.shape)
        region = stream.alloc(buf.name, shape=shape, dtype=buf.dtype)
        regions[buf] = region
        params.append(ParamInfo(buf.name, region, buf.dtype, shape,
                                sched.stage_of(tensor) is not None))
    Walker(t, func, plan, stream, regions).run()
    bundle = stream.finish()
    return VdlaProgram(t, func, plan, bundle, params, stream.uop_loads, stream.bridges)
