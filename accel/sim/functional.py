"""The functional engine: the effect of each instruction on DRAM and SRAM (SPEC.md section 5).

Each instruction is applied as a handful of numpy operations on whole tiles: DMA through strided
views, GEMM as one einsum over the instruction's whole iteration space (loop axes on which an
operand does not vary are not gathered; axes on which the destination does not vary are summed
inside the einsum), ALU as vectorized lane math over all iterations.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from accel.isa.config import HardwareConfig
from accel.isa.encoding import AluOp, MemType, Opcode, decode_uops
from accel.isa.errors import IllegalInstructionError

#: below this many MACs a GEMM instruction uses einsum's direct loop instead of a BLAS path
_EINSUM_DIRECT_MACS = 1 << 16


class MachineState:
    """DRAM image and the on-chip memories, each element-indexed as SPEC.md section 1 says."""

    def __init__(self, cfg: HardwareConfig, dram: np.ndarray) -> None:
        self.cfg = cfg
        self.dram = np.array(dram, dtype=np.uint8, copy=True)
        self.mem = {
            name: np.zeros((cfg.depth(name), *cfg.elem_shape(name)),
                           dtype=np.dtype(cfg.lane_dtype(name)))
            for name in ("uop", "inp", "wgt", "acc")
        }
        self.macs = 0
        # Decoded micro-op fields of the whole UOP buffer, updated by every UOP LOAD, so a
        # GEMM/ALU instruction slices them instead of decoding its micro-ops again.
        d, s, w = decode_uops(cfg, self.mem["uop"])
        self.uop_fields = {"dst": d, "src": s, "wgt": w}


class FunctionalEngine:
    def __init__(self, cfg: HardwareConfig, state: MachineState) -> None:
        self.cfg = cfg
        self.st = state
        n = cfg.acc_width
        self._acc_bits = n
        self._mem_name = {int(m): m.name.lower() for m in MemType}

    # ---------------------------------------------------------------- dispatch
    def execute(self, index: int, ins: dict[str, int]) -> None:
        """Apply instruction ``index``; ``ins`` maps field names to ints (or is a record)."""
        op = int(ins["opcode"])
        if op == Opcode.LOAD:
            self._load(ins)
        elif op == Opcode.STORE:
            self._store(ins)
        elif op == Opcode.GEMM:
            self._gemm(index, ins)
        elif op == Opcode.ALU:
            self._alu(index, ins)
        # FINISH has no effect on memories

    # -------------------------------------------------------------------- DMA
    def _dram_rows(self, base: int, y: int, row_bytes: int, stride_bytes: int,
                   writeable: bool = False) -> np.ndarray:
        d = self.st.dram
        return as_strided(d[base:], shape=(y, row_bytes), strides=(stride_bytes, 1),
                          writeable=writeable)

    def _load(self, ins: np.void) -> None:
        cfg = self.cfg
        name = self._mem_name[int(ins["mem_type"])]
        e = cfg.elem_bytes(name)
        y, x = int(ins["y_size"]), int(ins["x_size"])
        yp0, yp1, xp0, xp1 = (int(ins[f]) for f in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"))
        h, w = yp0 + y + yp1, xp0 + x + xp1
        sram = self.st.mem[name]
        base = int(ins["sram_base"])
        block = np.zeros((h, w) + sram.shape[1:], dtype=sram.dtype)
        if y and x:
            rows = self._dram_rows(int(ins["dram_base"]) * e, y, x * e, int(ins["x_stride"]) * e)
            data = np.ascontiguousarray(rows).view(sram.dtype.newbyteorder("<"))
            block[yp0:yp0 + y, xp0:xp0 + x] = data.reshape((y, x) + sram.shape[1:])
        sram[base:base + h * w] = block.reshape((h * w,) + sram.shape[1:])
        if name == "uop":
            d, s, g = decode_uops(cfg, sram[base:base + h * w])
            f = self.st.uop_fields
            f["dst"][base:base + h * w], f["src"][base:base + h * w] = d, s
            f["wgt"][base:base + h * w] = g

    def _store(self, ins: np.void) -> None:
        cfg = self.cfg
        e = cfg.elem_bytes("out")
        y, x = int(ins["y_size"]), int(ins["x_size"])
        if not (y and x):
            return
        base = int(ins["sram_base"])
        lim = 1 << (cfg.out_width - 1)
        out = np.clip(self.st.mem["acc"][base:base + y * x], -lim, lim - 1).astype(
            np.dtype(cfg.lane_dtype("out")).newbyteorder("<"))  # saturate, then narrow
        rows = self._dram_rows(int(ins["dram_base"]) * e, y, x * e, int(ins["x_stride"]) * e,
                               writeable=True)
        rows[...] = out.view(np.uint8).reshape(y, x * e)

    # ------------------------------------------------------------ loop indices
    def _indices(self, index: int, ins, field: str, limit: int, what: str, *,
                 full: bool = False) -> tuple[np.ndarray, tuple[bool, bool, bool]]:
        """Index ``base[u] + i0*f_out + i1*f_in`` of micro-op field ``field``, bounds-checked.

        Returns an array of shape (iter_out, iter_in, n_uops), except that an axis along which
        the index does not vary has size 1 (unless ``full``), and the three "varies" flags.
        """
        bgn, end = int(ins["uop_bgn"]), int(ins["uop_end"])
        base = self.st.uop_fields[field][bgn:end]
        io, ii = int(ins["iter_out"]), int(ins["iter_in"])
        fo, fi = int(ins[f"{field}_factor_out"]), int(ins[f"{field}_factor_in"])
        lo, hi = int(base.min()), int(base.max())
        varies = (io > 1 and fo != 0, ii > 1 and fi != 0, lo != hi)
        top = hi + (io - 1) * fo + (ii - 1) * fi
        if top >= limit:
            idx = (base[None, None, :] + (np.arange(io) * fo)[:, None, None]
                   + (np.arange(ii) * fi)[None, :, None])
            flat = int(np.flatnonzero(idx.ravel() >= limit)[0])
            i0, rem = divmod(flat, idx.shape[1] * idx.shape[2])
            i1, u = divmod(rem, idx.shape[2])
            raise IllegalInstructionError(
                index, field,
                f"iteration (i0={i0}, i1={i1}, uop {bgn + u}) computes {what} "
                f"index {int(idx.ravel()[flat])}, outside the buffer (depth {limit})")
        if full:
            varies = (True, True, True)
        n0, n1 = (io if varies[0] else 1), (ii if varies[1] else 1)
        b = base if varies[2] else base[:1]
        idx = b[None, None, :] + (np.arange(n0) * fo)[:, None, None] + (
            np.arange(n1) * fi)[None, :, None]
        return idx, varies

    # ------------------------------------------------------------------- GEMM
    def _gemm(self, index: int, ins) -> None:
        cfg = self.cfg
        acc = self.st.mem["acc"]
        shape = (int(ins["iter_out"]), int(ins["iter_in"]),
                 int(ins["uop_end"]) - int(ins["uop_bgn"]))
        dst, vd = self._indices(index, ins, "dst", cfg.depth("acc"), "accumulator (dst)",
                                full=bool(ins["reset"]))
        if int(ins["reset"]):
            acc[dst.ravel()] = 0
            return
        src, vx = self._indices(index, ins, "src", cfg.depth("inp"), "input (src)")
        wgt, vw = self._indices(index, ins, "wgt", cfg.depth("wgt"), "weight (wgt)")
        self.st.macs += shape[0] * shape[1] * shape[2] * cfg.macs_per_cycle
        axes = "oiu"

        def squeeze(a: np.ndarray, v: tuple[bool, bool, bool]) -> np.ndarray:
            return a.reshape([n for n, keep in zip(a.shape, v) if keep])

        x_g = self.st.mem["inp"][squeeze(src, vx)]
        w_g = self.st.mem["wgt"][squeeze(wgt, vw)]
        lab_x = "".join(a for a, k in zip(axes, vx) if k) + "bk"
        lab_w = "".join(a for a, k in zip(axes, vw) if k) + "ck"
        keep = tuple(vd[j] and (vx[j] or vw[j]) for j in range(3))
        lab_o = "".join(a for a, k in zip(axes, keep) if k) + "bc"
        # Terms summed per output lane: BLOCK_IN times every summed loop axis.
        summed = cfg.block_in
        for j in range(3):
            if (vx[j] or vw[j]) and not vd[j]:
                summed *= shape[j]
        bound = summed * (1 << (cfg.inp_width - 1)) * (1 << (cfg.wgt_width - 1))
        if bound <= 1 << 24:
            ftype = np.float32     # exact: every partial sum is an integer below 2^24
        elif bound <= 1 << 53:
            ftype = np.float64
        else:
            ftype = np.int64
        # Small contractions: numpy's direct loop (planning a BLAS path costs more than the
        # work); large ones go through the planned path, which uses BLAS.
        work = shape[0] * shape[1] * shape[2] * cfg.macs_per_cycle
        prod = np.einsum(f"{lab_x},{lab_w}->{lab_o}", x_g.astype(ftype), w_g.astype(ftype),
                         optimize=work > _EINSUM_DIRECT_MACS)
        prod = prod.astype(np.int64)
        # Axes on which neither operand nor destination varies repeat the same product.
        mult = 1
        for j in range(3):
            if not (vx[j] or vw[j] or vd[j]):
                mult *= shape[j]
        if mult > 1:
            prod *= mult
        # Broadcast to every axis on which the destination varies.
        kept = [shape[j] if keep[j] else 1 for j in range(3)]
        prod = prod.reshape(kept + list(prod.shape[-2:]))
        prod = np.broadcast_to(prod, list(dst.shape) + list(prod.shape[-2:]))
        self._accumulate(dst.reshape(-1), prod.reshape((-1,) + prod.shape[-2:]))

    def _accumulate(self, dsts: np.ndarray, vals: np.ndarray) -> None:
        acc = self.st.mem["acc"]
        if len(dsts) == 1 or np.bincount(dsts).max() <= 1:
            acc[dsts] = self._wrap(acc[dsts].astype(np.int64) + vals)
        else:  # repeated destinations: add all contributions per destination first
            uniq, inv = np.unique(dsts, return_inverse=True)
            total = np.zeros((len(uniq),) + vals.shape[1:], dtype=np.int64)
            np.add.at(total, inv, vals)
            acc[uniq] = self._wrap(acc[uniq].astype(np.int64) + total)

    def _wrap(self, v: np.ndarray) -> np.ndarray:
        """Reduce int64 values modulo 2^ACC_WIDTH into the accumulator's signed type."""
        return v.astype(self.st.mem["acc"].dtype)  # integer narrowing wraps (two's complement)

    # -------------------------------------------------------------------- ALU
    def _alu(self, index: int, ins: np.void) -> None:
        cfg = self.cfg
        acc = self.st.mem["acc"]
        dst = self._indices(index, ins, "dst", cfg.depth("acc"), "accumulator (dst)",
                            full=True)[0].reshape(-1)
        if int(ins["reset"]):
            acc[dst] = 0
            return
        op = AluOp(int(ins["alu_op"]))
        use_imm = bool(ins["use_imm"])
        imm = int(ins["imm"])
        if use_imm:
            v = np.int64(imm)
        else:
            src = self._indices(index, ins, "src", cfg.depth("acc"), "accumulator (src)",
                                full=True)[0].reshape(-1)
            if self._src_hazard(dst, src):
                self._alu_sequential(dst, src, op, imm)
                return
            v = acc[src].astype(np.int64)
        self._alu_apply(dst, v, op, imm)

    @staticmethod
    def _src_hazard(dst: np.ndarray, src: np.ndarray) -> bool:
        """True if some iteration reads (as src) an element an earlier iteration wrote."""
        uniq, first = np.unique(dst, return_index=True)
        pos = np.clip(np.searchsorted(uniq, src), 0, len(uniq) - 1)
        hit = uniq[pos] == src
        return bool((hit & (first[pos] < np.arange(len(src)))).any())

    def _alu_apply(self, dst: np.ndarray, v, op: AluOp, imm: int) -> None:
        acc = self.st.mem["acc"]
        if np.bincount(dst).max() <= 1:
            acc[dst] = self._wrap(self._lane_op(op, acc[dst].astype(np.int64), v, imm))
            return
        # Repeated destinations: apply in rounds; round r holds every destination's r-th update.
        order = np.argsort(dst, kind="stable")
        sd = dst[order]
        starts = np.r_[0, np.flatnonzero(sd[1:] != sd[:-1]) + 1]
        rank_sorted = np.arange(len(sd)) - np.repeat(starts, np.diff(np.r_[starts, len(sd)]))
        rank = np.empty_like(rank_sorted)
        rank[order] = rank_sorted
        vv = np.broadcast_to(v, (len(dst),) + acc.shape[1:]) if np.ndim(v) else v
        for r in range(int(rank.max()) + 1):
            sel = np.flatnonzero(rank == r)
            dd = dst[sel]
            operand = vv[sel] if np.ndim(vv) else vv
            acc[dd] = self._wrap(self._lane_op(op, acc[dd].astype(np.int64), operand, imm))

    def _alu_sequential(self, dst: np.ndarray, src: np.ndarray, op: AluOp, imm: int) -> None:
        """Rare path: an iteration reads what an earlier one wrote; follow program order."""
        acc = self.st.mem["acc"]
        for dd, ss in zip(dst.tolist(), src.tolist()):
            acc[dd] = self._wrap(self._lane_op(op, acc[dd].astype(np.int64),
                                               acc[ss].astype(np.int64), imm))

    def _lane_op(self, op: AluOp, a: np.ndarray, v, imm: int) -> np.ndarray:
        n = self._acc_bits
        if op == AluOp.MIN:
            return np.minimum(a, v)
        if op == AluOp.MAX:
            return np.maximum(a, v)
        if op == AluOp.ADD:
            return a + v
        if op == AluOp.MUL:
            return a * v
        if op == AluOp.SHR:
            return _shr(a, np.asarray(v, dtype=np.int64), n)
        if op == AluOp.RSHR:
            v = np.asarray(v, dtype=np.int64)
            sc = np.clip(v, 1, n)
            rounded = (a + (np.int64(1) << (sc - 1))) >> sc
            return np.where(v >= 1, rounded, _shr(a, v, n))
        if op == AluOp.MULSHR:
            p = a * v
            if imm == 0:
                return p
            return (p + (np.int64(1) << np.int64(imm - 1))) >> np.int64(imm)
        raise AssertionError(op)


def _shr(a: np.ndarray, s: np.ndarray, n: int) -> np.ndarray:
    right = a >> np.clip(s, 0, n - 1)
    left = a << np.clip(-s, 0, n)
    return np.where(s >= 0, right, left)
