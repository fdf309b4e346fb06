"""Leaf regions of the loop IR become instructions: DMA copies, GEMMs, ALU chains.

The walker (``walk.py``) calls ``LeafEmitter.leaf(nest, ctx)`` for every innermost region: a
perfect loop nest (with its guards) around one ``Store`` or one tensorized GEMM. The
variables of the enclosing loops have concrete values in ``ctx.env``; the nest's own loops
are evaluated as numpy grids (``evaluate.py``). Each handler returns a ``Leaf``: the module
it runs on, the SRAM ranges it reads and writes (for the walker's virtual-thread switching)
and a function that appends its instructions to the ``InsnStream``.

* ``pragma_dma_copy``: ``S[i] = G[f(i)]`` or ``select(pad, G[f(i)], 0)`` into an SRAM scope
  -> LOADs; ``G[i] = int8(min(max(A[f(i)], -128), 127))`` out of ``acc`` -> STOREs (the
  saturating narrowing is what STORE does, SPEC.md 5.4). Planned by ``dma.py``.
* ``attr tensorize`` of the target's GEMM intrinsic -> micro-op kernels + GEMMs, folded by
  ``fold.py``; a ``body``-mode region gets a reset first.
* ``pragma_alu``, and stores of a constant into ``acc`` anywhere (reduction inits) -> the chain
  of ``alu.py``: resets, ALU instructions with immediates or accumulator operands, and GEMMs
  with constant selector weight blocks for int8 ``inp`` tiles added into the accumulator (a
  residual, a pooling sum, a widening copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...tir import ir
from ...tir.functor import post_order_visit
from ...tir.printer import expr_str
from .alu import AluParser, Chain, materialize
from .dma import plan_dma
from .errors import VdlaCapacityError, VdlaCodegenError, VdlaPatternError
from .evaluate import Nest
from .fold import Limits, pieces
from .lanes import elements, lane_axis, to_lanes
from .stream import COMPUTE, LOAD, STORE, InsnStream, UopKernel
from .target import VdlaTarget


@dataclass
class Leaf:
    module: int
    reads: list = field(default_factory=list)      # (mem, lo, hi)
    writes: list = field(default_factory=list)
    emit: Callable[[], None] = lambda: None


def _loads(e: ir.Expr) -> list[ir.Load]:
    out: list[ir.Load] = []
    post_order_visit(e, lambda n: out.append(n) if isinstance(n, ir.Load) else None)
    return out


def _true_branch(e: ir.Expr) -> ir.Expr:
    """The index a guarded load really uses (``safe_select_loads`` wraps it in a select)."""
    while isinstance(e, ir.Select):
        e = e.true_value
    return e


class LeafEmitter:
    """Turns leaf regions into instructions on ``stream`` (see the module docstring)."""

    def __init__(self, t: VdlaTarget, stream: InsnStream, plan, params: set) -> None:
        self.t, self.cfg, self.s, self.plan, self.params = t, t.cfg, stream, plan, params
        cfg = t.cfg
        max_iter = (1 << cfg.loop_iter_width) - 1
        max_uops = max(1, cfg.depth("uop") // 4)
        self.lim_gemm = Limits(max_uops, max_iter, {"dst": cfg.acc_idx_bits,
                                                    "src": cfg.inp_idx_bits,
                                                    "wgt": cfg.wgt_idx_bits})
        self.lim_alu = Limits(max_uops, max_iter, {"dst": cfg.acc_idx_bits,
                                                   "src": cfg.acc_idx_bits})
        self.selectors: dict[bytes, int] = {}
        self.sel_next = plan.peak.get("wgt", 0)

    # ------------------------------------------------------------------ helpers
    def mem(self, buf: ir.Buffer) -> str | None:
        return None if buf in self.params else self.t.mem_of(buf.scope)

    def _range(self, ctx, buf) -> tuple[str, int, int]:
        st = self.plan.storage[buf]
        lo = ctx.addr[buf]
        return st.mem, lo, lo + st.elems

    def leaf(self, nest: Nest, ctx) -> Leaf:
        body = nest.body
        if isinstance(body, ir.AttrStmt) and body.key == "tensorize":
            if body.value != self.t.gemm_name:
                raise VdlaCodegenError(f"tensorized region '{body.value}' is not the "
                                       f"accelerator's GEMM ({self.t.gemm_name})")
            return self.gemm(nest, body, ctx)
        if not isinstance(body, ir.Store):
            raise VdlaCodegenError(f"unexpected statement {type(body).__name__} in a loop nest")
        dst = self.mem(body.buffer)
        if ctx.mode == "dma":
            return self.dma(nest, body, ctx)
        if dst == "acc" and (ctx.mode == "alu" or isinstance(body.value, ir.IntImm)):
            return self.alu(nest, body, ctx)
        raise VdlaPatternError(
            f"the store into '{body.buffer.name}' (`{expr_str(body.value)}`) is not in a DMA "
            f"copy (pragma dma_copy), an ALU stage (pragma alu, scope acc) or a tensorized "
            f"GEMM; the accelerator cannot run it")

    # ------------------------------------------------------------------ DMA
    def dma(self, nest: Nest, st: ir.Store, ctx) -> Leaf:
        where = f"DMA copy into '{st.buffer.name}'"
        env = nest.env(ctx.env)
        dst_mem = self.mem(st.buffer)
        if dst_mem is not None:                          # LOAD
            value, cond = st.value, None
            if isinstance(value, ir.Select):
                zero = value.false_value
                if not (isinstance(zero, ir.IntImm) and zero.value == 0):
                    raise VdlaPatternError(f"{where}: padding value `{expr_str(zero)}` is not "
                                           f"0 (the DMA pads with zeros)")
                cond, value = value.cond, value.true_value
            if not isinstance(value, ir.Load) or self.mem(value.buffer) is not None:
                raise VdlaPatternError(f"{where}: `{expr_str(st.value)}` is not a copy from "
                                       f"DRAM (SRAM-to-SRAM copies are not supported)")
            if value.buffer.dtype != st.buffer.dtype:
                raise VdlaPatternError(f"{where}: copies {value.buffer.dtype} into a "
                                       f"{st.buffer.dtype} buffer; the DMA does not convert")
            mem, sram_idx, dram_buf, dram_idx = dst_mem, st.index, value.buffer, value.index
            sram_base = ctx.addr[st.buffer]
            store = False
        else:                                            # STORE
            load = self._saturating(st, where)
            if self.mem(load.buffer) != "acc":
                raise VdlaPatternError(f"{where}: stores to DRAM come from the accumulator")
            mem, sram_idx, dram_buf, dram_idx = "out", load.index, st.buffer, st.index
            sram_base = ctx.addr[load.buffer]
            cond, store = None, True
        lanes = self.t.lanes(mem)
        k = lane_axis(nest.shape, lanes, where)
        s = elements(to_lanes(nest.grid(sram_idx, env), k, lanes), lanes, where) + sram_base
        d = elements(to_lanes(nest.grid(_true_branch(dram_idx), env), k, lanes), lanes, where)
        d = d + ctx.dram_elem(dram_buf, mem)
        m = nest.mask(env)
        if cond is not None:
            m = m & nest.grid(cond, env).astype(bool)
        m = to_lanes(m, k, lanes)
        if not np.array_equal(m.all(axis=-1), m.any(axis=-1)):
            raise VdlaPatternError(f"{where}: padding splits an element")
        ops = plan_dma(s, d, m[..., 0], store)
        if store:
            rng = self._range(ctx, load.buffer)
            return Leaf(STORE, reads=[rng], emit=lambda: [
                self.s.store(o.sram, o.dram, o.y, o.x, o.stride) for o in ops])
        rng = self._range(ctx, st.buffer)
        return Leaf(LOAD if mem in ("inp", "wgt") else COMPUTE, writes=[rng], emit=lambda: [
            self.s.load(mem, o.sram, o.dram, o.y, o.x, o.stride, o.pad) for o in ops])

    def _saturating(self, st: ir.Store, where: str) -> ir.Load:
        lo, hi = self.t.out_range
        v = st.value
        if isinstance(v, ir.Cast) and v.dtype == self.t.dtype("out"):
            x = v.value
            bounds = []
            while isinstance(x, ir.BinOp) and x.op in ("min", "max") \
                    and isinstance(x.b, ir.IntImm):
                bounds.append((x.op, x.b.value))
                x = x.a
            if isinstance(x, ir.Load) and sorted(bounds) == [("max", lo), ("min", hi)]:
                return x
        raise VdlaPatternError(
            f"{where}: `{expr_str(v)}` is not a saturating copy out of the accumulator; write "
            f"{self.t.dtype('out')}(min(max(x, {lo}), {hi})) (STORE saturates each lane)")

    # ------------------------------------------------------------------ GEMM
    def gemm(self, nest: Nest, attr: ir.AttrStmt, ctx) -> Leaf:
        where = f"GEMM into '{attr.node.name}'"
        stores: list[ir.Store] = []
        inner: list[ir.Var] = []
        post_order_visit(attr.body, lambda n: stores.append(n) if isinstance(n, ir.Store)
                         else inner.append(n.var) if isinstance(n, ir.For) else None)
        upd = [s for s in stores if not isinstance(s.value, ir.IntImm)]
        init = [s for s in stores if isinstance(s.value, ir.IntImm)]
        if len(upd) != 1:
            raise VdlaPatternError(f"{where}: not the GEMM intrinsic's canonical statement")
        upd = upd[0]
        bufs = {self.mem(ld.buffer): ld for ld in _loads(upd.value)}
        if set(bufs) != {"acc", "inp", "wgt"}:
            raise VdlaPatternError(f"{where}: the GEMM must read its input from scope inp and "
                                   f"its weights from scope wgt (cache_read them there)")
        env = nest.env(ctx.env)
        env.update({v: 0 for v in inner})
        arrays = {}
        for field_, mem, ref in (("dst", "acc", upd), ("src", "inp", bufs["inp"]),
                                 ("wgt", "wgt", bufs["wgt"])):
            buf = ref.buffer
            tile = self.cfg.elem_shape(mem)
            if tuple(int(x.value) for x in buf.shape[-2:]) != tile:
                raise VdlaPatternError(f"{where}: buffer '{buf.name}' does not end in the "
                                       f"{mem} tile dimensions {tile}")
            flat = nest.grid(ref.index, env)
            lanes = self.t.lanes(mem)
            if np.any(flat % lanes):
                raise VdlaPatternError(f"{where}: '{buf.name}' is not addressed by whole tiles")
            arrays[field_] = flat // lanes + ctx.addr[buf]
        mask = nest.mask(env)
        reads = [self._range(ctx, bufs[m].buffer) for m in ("inp", "wgt")]
        acc = self._range(ctx, upd.buffer)

        def emit():
            if init:
                self._reset(arrays["dst"], mask)
            self._loop("gemm", arrays, mask)

        return Leaf(COMPUTE, reads=reads + [acc], writes=[acc], emit=emit)

    def _loop(self, kind: str, arrays: dict, mask, op: str = "", imm=None, shift=None,
              reset: bool = False) -> None:
        lim = self.lim_gemm if kind == "gemm" else self.lim_alu
        for f in pieces(arrays, mask, lim):
            n = len(f.uops["dst"])
            zero = np.zeros(n, dtype=np.int64)
            kern = UopKernel.of(f.uops["dst"], f.uops.get("src", zero), f.uops.get("wgt", zero))
            fac = {k: f.factors.get(k, (0, 0)) for k in ("dst", "src", "wgt")}
            if kind == "gemm":
                self.s.gemm(kern, *f.iters, dst=fac["dst"], src=fac["src"], wgt=fac["wgt"],
                            reset=reset)
            else:
                self.s.alu(op, kern, *f.iters, dst=fac["dst"], src=fac["src"], imm=imm,
                           shift=shift)

    def _reset(self, dst: np.ndarray, mask) -> None:
        self._loop("gemm", {"dst": dst}, mask, reset=True)

    # ------------------------------------------------------------------ ALU
    def alu(self, nest: Nest, st: ir.Store, ctx) -> Leaf:
        where = f"ALU stage '{st.buffer.name}'"
        chain = AluParser(self.t.dtype("acc"), self.mem, where).parse(st.value)
        env = nest.env(ctx.env)
        lanes = self.t.lanes("acc")
        k = lane_axis(nest.shape, lanes, where)
        dst = elements(to_lanes(nest.grid(st.index, env), k, lanes), lanes, where)
        dst = dst + ctx.addr[st.buffer]
        m = to_lanes(nest.mask(env), k, lanes)
        if not np.array_equal(m.all(axis=-1), m.any(axis=-1)):
            raise VdlaPatternError(f"{where}: a guard splits an accumulator element")
        mask = m[..., 0]

        def acc_elems(load: ir.Load) -> np.ndarray:
            g = to_lanes(nest.grid(load.index, env), k, lanes)
            return elements(g, lanes, where) + ctx.addr[load.buffer]

        ops: list[tuple] = []                 # (kind, arrays, op, imm, shift, reset)
        reads = []
        base = chain.base
        in_place = False
        if base.kind == "acc":
            src = acc_elems(base.load)
            in_place = bool(np.array_equal(src[mask], dst[mask]))
            if not in_place:
                if self.plan.same(base.load.buffer, st.buffer):
                    raise VdlaPatternError(f"{where}: works in place on its input's storage "
                                           f"but reads other elements than it writes")
                ops.append(("gemm", {"dst": dst}, "", None, None, True))
                ops.append(("alu", {"dst": dst, "src": src}, "add", None, None, False))
            reads.append(self._range(ctx, base.load.buffer))
        else:
            ops.append(("gemm", {"dst": dst}, "", None, None, True))
            if base.kind == "imm":
                for op, imm in materialize(base.value, self.cfg.acc_width):
                    ops.append(("alu", {"dst": dst}, op, imm, None, False))
            else:
                ops.append(self._gemm_add(nest, env, k, base.load, dst, mask, ctx, where))
                reads.append(self._range(ctx, base.load.buffer))
        for step in chain.steps:
            o = step.operand
            if step.op == "gemm_add":
                ops.append(self._gemm_add(nest, env, k, o.load, dst, mask, ctx, where))
                reads.append(self._range(ctx, o.load.buffer))
            elif step.op == "mulshr":
                ops.append(("alu", {"dst": dst, "src": acc_elems(o.load)}, "mulshr", None,
                            step.shift, False))
                reads.append(self._range(ctx, o.load.buffer))
            elif o.kind == "imm":
                ops.append(("alu", {"dst": dst}, step.op, o.value, None, False))
            else:
                src = acc_elems(o.load)
                if self.plan.same(o.load.buffer, st.buffer) and \
                        not np.array_equal(src[mask], dst[mask]):
                    raise VdlaPatternError(f"{where}: an operand overlaps the destination")
                ops.append(("alu", {"dst": dst, "src": src}, step.op, None, None, False))
                reads.append(self._range(ctx, o.load.buffer))
        self._check_order(dst, mask, chain, in_place, where)
        rng = self._range(ctx, st.buffer)

        def emit():
            for kind, arrays, op, imm, shift, reset in ops:
                if kind == "gemm" and not reset:
                    self._ensure_selectors(arrays)
                self._loop(kind, arrays, mask if arrays["dst"].shape == mask.shape
                           else np.broadcast_to(mask[..., None], arrays["dst"].shape),
                           op=op, imm=imm, shift=shift, reset=reset)

        return Leaf(COMPUTE, reads=reads + [rng], writes=[rng], emit=emit)

    def _check_order(self, dst, mask, chain: Chain, in_place: bool, where: str) -> None:
        """Folding reorders iterations: fine unless a destination element is updated at
        several points by a chain that is not one commutative step on itself."""
        sel = dst[mask]
        if len(np.unique(sel)) == len(sel):
            return
        ok = in_place and len(chain.steps) == 1 and \
            chain.steps[0].op in ("add", "min", "max", "mul", "gemm_add")
        if not ok:
            raise VdlaPatternError(f"{where}: updates the same element at several loop points "
                                   f"with a non-commutative chain; split it into stages")

    # ------------------------------------------------------------------ int8 tiles into acc
    def _gemm_add(self, nest, env, k, load: ir.Load, dst, mask, ctx, where) -> tuple:
        """``acc += acc(R)`` for an inp tile R: a GEMM whose weight block selects, for each
        accumulator lane, the input lane it adds (an identity block when BLOCK_IN equals
        BLOCK_OUT). Returns the op tuple with a ``sel`` entry resolved at emission."""
        cfg = self.cfg
        la, li = self.t.lanes("acc"), self.t.lanes("inp")
        flat = to_lanes(nest.grid(load.index, env), k, la)            # (..., la)
        se = flat // li + ctx.addr[load.buffer]
        kk = flat % li
        lane = np.arange(la)
        if np.any(kk // cfg.block_in != lane // cfg.block_out):
            raise VdlaPatternError(f"{where}: input tile '{load.buffer.name}' is added across "
                                   f"batch rows")
        kx = kk % cfg.block_in
        shape = se.shape[:-1]
        se2, kx2 = se.reshape(-1, la), kx.reshape(-1, la)
        valid = np.broadcast_to(mask, shape).reshape(-1)
        if not valid.any():
            return ("gemm", {"dst": dst}, "", None, None, False)
        first = int(np.flatnonzero(valid)[0])
        se2 = np.where(valid[:, None], se2, se2[first])
        kx2 = np.where(valid[:, None], kx2, kx2[first])
        srt = np.sort(se2, axis=1)
        new = np.concatenate([np.ones((len(srt), 1), bool), srt[:, 1:] != srt[:, :-1]], axis=1)
        nterm = new.sum(axis=1)
        if np.any(nterm != nterm[0]):
            raise VdlaPatternError(f"{where}: input tiles map irregularly onto accumulator "
                                   f"tiles")
        T = int(nterm[0])
        terms = srt[new].reshape(-1, T)                                  # (P, T)
        tid = (se2[:, :, None] == terms[:, None, :]).argmax(axis=-1)     # (P, la)
        bo = cfg.block_out
        key = np.where(tid[:, None, :bo] == np.arange(T)[None, :, None], kx2[:, None, :bo], -1)
        for b in range(1, cfg.batch):        # every batch row selects the same lanes
            if not (np.array_equal(tid[:, b * bo:(b + 1) * bo], tid[:, :bo])
                    and np.array_equal(kx2[:, b * bo:(b + 1) * bo], kx2[:, :bo])):
                raise VdlaPatternError(f"{where}: batch rows of '{load.buffer.name}' map "
                                       f"differently")
        uniq, inv = np.unique(key.reshape(-1, bo), axis=0, return_inverse=True)
        arrays = {"dst": np.broadcast_to(dst[..., None], shape + (T,)),
                  "src": terms.reshape(shape + (T,)),
                  "sel": (uniq, inv.reshape(shape + (T,)))}
        return ("gemm", arrays, "", None, None, False)

    def _ensure_selectors(self, arrays: dict) -> None:
        if "sel" not in arrays:
            return
        uniq, inv = arrays.pop("sel")
        slots = np.array([self._selector(row) for row in uniq], dtype=np.int64)
        arrays["wgt"] = slots[inv]

    def _selector(self, row: np.ndarray) -> int:
        keyb = row.astype(np.int64).tobytes()
        slot = self.selectors.get(keyb)
        if slot is not None:
            return slot
        cfg = self.cfg
        slot = self.sel_next
        depth = cfg.depth("wgt")
        if slot >= depth:
            e = cfg.elem_bytes("wgt")
            raise VdlaCapacityError("selector weights", "wgt", (slot + 1) * e, depth * e,
                                    "tiles of the schedule plus constant selector blocks")
        self.sel_next += 1
        w = np.zeros((cfg.block_out, cfg.block_in), dtype=self.t.dtype("wgt"))
        o = np.flatnonzero(row >= 0)
        w[o, row[o]] = 1
        region = self.s.alloc(f"vdla.selector{len(self.selectors)}", w)
        self.s.load("wgt", slot, region.elem_index(cfg.elem_bytes("wgt")), 1, 1)
        self.selectors[keyb] = slot
        return slot
