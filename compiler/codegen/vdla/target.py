"""The accelerator as a compilation target, derived from one HardwareConfig.

``VdlaTarget(cfg)`` holds everything a schedule needs to say "put this on the accelerator":

* memory scopes ``inp``, ``wgt``, ``acc`` and ``uop`` — ``MemoryScope`` objects whose capacity is
  the SRAM's size in bytes. A buffer's scalars are packed into SRAM elements (``lanes(mem)``
  scalars each: BATCH x BLOCK_IN for inp, BLOCK_OUT x BLOCK_IN for wgt, BATCH x BLOCK_OUT for
  acc), so a buffer in scope ``inp`` must consist of whole input tiles;
* the GEMM tensor intrinsic ``gemm(inp_ndim, wgt_ndim)``: the reference computation
  ``out[b, o] = sum_k acc(inp[.., b, k]) * acc(wgt[.., o, k])`` (BATCH x BLOCK_IN by
  BLOCK_OUT x BLOCK_IN into BATCH x BLOCK_OUT, int8 x int8 -> int32 by default) over
  placeholders of the stage's ranks, plus its emitter, which writes the canonical loop nest the
  code generator turns into micro-ops (``gemm.py``);
* the pragmas: ``dma_copy`` on the outermost loop of a copy stage (cache_read into an SRAM
  scope, or the final copy of an accumulator stage to DRAM) and ``alu`` on the outermost loop of
  an elementwise stage in scope ``acc``.

Nothing here reads the environment or builds anything at import time; ``target(cfg)`` returns a
cached target per configuration.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property

from accel.isa.config import HardwareConfig

from ... import te
from ...schedule.intrin import TensorIntrin, TensorRegion
from ...schedule.scope import MemoryScope
from ...tir import ir
from .errors import VdlaCodegenError

DMA_COPY = "dma_copy"
ALU = "alu"
SRAM_MEMS = ("inp", "wgt", "acc")


@dataclass(frozen=True, eq=False)
class VdlaTarget:
    """Scopes, intrinsic and pragmas of the accelerator with configuration ``cfg``."""

    cfg: HardwareConfig

    # ------------------------------------------------------------------ scopes
    @cached_property
    def scopes(self) -> dict[str, MemoryScope]:
        return {m: MemoryScope(m, self.cfg.buff_bytes(m)) for m in ("inp", "wgt", "acc", "uop")}

    @property
    def inp(self) -> MemoryScope:
        return self.scopes["inp"]

    @property
    def wgt(self) -> MemoryScope:
        return self.scopes["wgt"]

    @property
    def acc(self) -> MemoryScope:
        return self.scopes["acc"]

    @property
    def uop(self) -> MemoryScope:
        return self.scopes["uop"]

    def mem_of(self, scope: str) -> str | None:
        """``"inp" | "wgt" | "acc"`` for a buffer scope name, None for DRAM (``global``)."""
        if scope in SRAM_MEMS:
            return scope
        if scope == "global":
            return None
        raise VdlaCodegenError(
            f"buffer scope '{scope}' is not an accelerator memory; use the target's scopes "
            f"(inp, wgt, acc) or global (DRAM)")

    def lanes(self, mem: str) -> int:
        """Scalars per SRAM/DRAM element of ``mem`` (``out`` elements have ``acc``'s lanes)."""
        n = 1
        for d in self.cfg.elem_shape(mem):
            n *= d
        return n

    def elem_bytes(self, mem: str) -> int:
        return self.cfg.elem_bytes(mem)

    def dtype(self, mem: str) -> str:
        return self.cfg.lane_dtype(mem)

    @property
    def out_range(self) -> tuple[int, int]:
        half = 1 << (self.cfg.out_width - 1)
        return -half, half - 1

    # ------------------------------------------------------------------ GEMM intrinsic
    @property
    def gemm_name(self) -> str:
        c = self.cfg
        return f"vdla_gemm_{c.batch}x{c.block_in}x{c.block_out}"

    def gemm(self, inp_ndim: int = 2, wgt_ndim: int = 2) -> TensorIntrin:
        """The GEMM intrinsic for a stage whose inputs have ``inp_ndim`` and ``wgt_ndim``
        dimensions (the last two are the tile: (BATCH, BLOCK_IN) and (BLOCK_OUT, BLOCK_IN)).
        Tensorize the stage's (BATCH, BLOCK_OUT, BLOCK_IN) loops with it."""
        return _gemm_intrin(self, inp_ndim, wgt_ndim)

    # ------------------------------------------------------------------ schedule helpers
    def set_scope(self, stage, mem: str) -> None:
        """Compute ``stage`` (an intermediate, not an output) into SRAM scope ``mem``:
        ``stage.set_scope(self.<mem>)`` (a recorded schedule primitive, as VTA's
        ``s[op].set_scope(env.acc_scope)``), with the accelerator's memory names checked."""
        if mem not in SRAM_MEMS:
            raise VdlaCodegenError(f"set_scope of stage '{stage.name}': unknown accelerator "
                                   f"memory {mem!r}; use one of {', '.join(SRAM_MEMS)}")
        if stage.is_output:
            raise VdlaCodegenError(f"stage '{stage.name}' is an output of the schedule; it "
                                   f"must stay in DRAM (global)")
        stage.set_scope(self.scopes[mem])


@functools.lru_cache(maxsize=32)
def _gemm_intrin(t: VdlaTarget, inp_ndim: int, wgt_ndim: int) -> TensorIntrin:
    cfg = t.cfg
    if inp_ndim < 2 or wgt_ndim < 2:
        raise VdlaCodegenError("the GEMM intrinsic needs inputs of at least two dimensions")
    acc_dt = t.dtype("acc")
    a = te.placeholder((1,) * (inp_ndim - 2) + (cfg.batch, cfg.block_in), t.dtype("inp"), "inp")
    w = te.placeholder((1,) * (wgt_ndim - 2) + (cfg.block_out, cfg.block_in), t.dtype("wgt"),
                       "wgt")
    k = te.reduce_axis((0, cfg.block_in), "k")
    za, zw = (0,) * (inp_ndim - 2), (0,) * (wgt_ndim - 2)
    c = te.compute((cfg.batch, cfg.block_out),
                   lambda b, o: te.sum(te.cast(acc_dt, a[za + (b, k)])
                                       * te.cast(acc_dt, w[zw + (o, k)]), axis=k),
                   name="out")
    return te.decl_tensor_intrin(c, functools.partial(_emit_gemm, cfg, acc_dt), name=t.gemm_name)


def _emit_gemm(cfg: HardwareConfig, acc_dt: str, ins: list[TensorRegion],
               outs: list[TensorRegion], mode: str) -> ir.Stmt:
    """The canonical statement of one GEMM tile (the code generator's contract)::

        for b in range(BATCH):
          for o in range(BLOCK_OUT):
            out[b, o] = 0                                  (mode "body" only)
            for k in range(BLOCK_IN):
              out[b, o] = out[b, o] + acc(inp[b, k]) * acc(wgt[o, k])

    It is also the reference semantics, so the interpreter can run the lowered function.
    """
    inp, wgt = ins
    (out,) = outs
    b, o, k = ir.Var("gemm.b"), ir.Var("gemm.o"), ir.Var("gemm.k")
    prod = ir.BinOp("mul", ir.Cast(acc_dt, _tile(inp, b, k)), ir.Cast(acc_dt, _tile(wgt, o, k)))
    upd = out.store((b, o), ir.BinOp("add", out.load(b, o), prod))
    body: ir.Stmt = ir.For(k, ir.IntImm(0), ir.IntImm(cfg.block_in), "serial", upd)
    if mode == "body":
        body = ir.Seq((out.store((b, o), ir.IntImm(0, acc_dt)), body))
    body = ir.For(o, ir.IntImm(0), ir.IntImm(cfg.block_out), "serial", body)
    return ir.For(b, ir.IntImm(0), ir.IntImm(cfg.batch), "serial", body)


def _tile(r: TensorRegion, x: ir.Expr, y: ir.Expr) -> ir.BufferLoad:
    """Element ``(x, y)`` of an input tile: the placeholders have the stage's rank, with
    leading dimensions of extent 1 (``_gemm_intrin``)."""
    return r.load(*(0,) * (len(r.shape) - 2), x, y)


@functools.lru_cache(maxsize=32)
def target(cfg: HardwareConfig | None = None) -> VdlaTarget:
    """The (cached) target of configuration ``cfg`` (default: the default configuration)."""
    return VdlaTarget(cfg or HardwareConfig())
