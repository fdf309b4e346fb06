"""A Python builder for accelerator programs: instructions, micro-ops and a DRAM image.

    p = ProgramBuilder(cfg)
    a = p.alloc("A", a_tiles)                      # numpy array placed in DRAM
    k = p.uops("k0", dst=[0, 1], src=[0, 1], wgt=0)
    p.load("uop", sram=0, dram=k.offset // 4, y=1, x=2)
    p.gemm(0, 2, reset=True)
    ...
    p.finish()
    bundle = p.bundle()

Memory names are ``"uop" | "wgt" | "inp" | "acc" | "out"``; ALU operations are names of
:class:`AluOp` (``"add"``, ``"shr"``, ...). Dependency flags are keyword arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bundle import Bundle, Region
from .config import HardwareConfig
from .encoding import INSN_DTYPE, AluOp, MemType, Opcode, encode_uops

MEMS = ("uop", "wgt", "inp", "acc", "out")


def _deps(pop_prev: bool, pop_next: bool, push_prev: bool, push_next: bool) -> dict[str, int]:
    return {"pop_prev": int(pop_prev), "pop_next": int(pop_next),
            "push_prev": int(push_prev), "push_next": int(push_next)}


def mem_type(mem: str | int) -> int:
    if isinstance(mem, str):
        try:
            return int(MemType[mem.upper()])
        except KeyError:
            raise ValueError(f"unknown memory {mem!r}; expected one of {', '.join(MEMS)}") from None
    return int(mem)


def alu_op(op: str | int) -> int:
    if isinstance(op, str):
        try:
            return int(AluOp[op.upper()])
        except KeyError:
            raise ValueError(f"unknown ALU operation {op!r}; expected one of "
                             + ", ".join(o.name.lower() for o in AluOp)) from None
    return int(op)


class ProgramBuilder:
    def __init__(self, cfg: HardwareConfig | None = None, *, align: int | None = None) -> None:
        self.cfg = cfg or HardwareConfig()
        # Default: every region starts on a boundary of every element size, so any region can
        # be addressed by any memory type's dram_base (see Region.elem_index).
        self.align = align or max(64, *(self.cfg.elem_bytes(m) for m in MEMS))
        self._insns: list[dict[str, int]] = []
        self._chunks: list[tuple[int, bytes]] = []
        self._regions: list[Region] = []
        self._top = 0

    # -------------------------------------------------------------------- DRAM
    def alloc(self, name: str, data: np.ndarray | None = None, *, shape: tuple[int, ...] = (),
              dtype: str = "uint8", nbytes: int | None = None) -> Region:
        """Place ``data`` (or a zero-filled array of ``shape``/``dtype``) in DRAM."""
        if data is not None:
            arr = np.ascontiguousarray(data)
            dtype, shape = arr.dtype.name, arr.shape
            raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        else:
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize if nbytes is None else nbytes
            raw = bytes(n)
        off = -(-self._top // self.align) * self.align
        region = Region(name, off, len(raw), dtype, tuple(int(s) for s in shape))
        self._regions.append(region)
        self._chunks.append((off, raw))
        self._top = off + len(raw)
        return region

    def uops(self, name: str, dst, src, wgt=0) -> Region:
        """Place a list of micro-ops in DRAM (as region dtype ``uop``)."""
        words = encode_uops(self.cfg, dst, src, wgt).ravel()
        region = self.alloc(name, words)
        region = Region(region.name, region.offset, region.size, "uop", (len(words),))
        self._regions[-1] = region
        return region

    # ----------------------------------------------------------- instructions
    def _emit(self, **fields: int) -> int:
        self._insns.append(fields)
        return len(self._insns) - 1

    def load(self, mem: str | int, sram: int, dram: int, y: int, x: int, stride: int | None = None,
             pad: tuple[int, int, int, int] = (0, 0, 0, 0), *, pop_prev: bool = False,
             pop_next: bool = False, push_prev: bool = False, push_next: bool = False) -> int:
        """LOAD ``y`` rows of ``x`` elements; ``pad`` is (top, bottom, left, right)."""
        return self._emit(opcode=Opcode.LOAD, mem_type=mem_type(mem), sram_base=sram,
                          dram_base=dram, y_size=y, x_size=x,
                          x_stride=x if stride is None else stride,
                          y_pad_0=pad[0], y_pad_1=pad[1], x_pad_0=pad[2], x_pad_1=pad[3],
                          **_deps(pop_prev, pop_next, push_prev, push_next))

    def store(self, sram: int, dram: int, y: int, x: int, stride: int | None = None, *,
              pop_prev: bool = False, pop_next: bool = False, push_prev: bool = False,
              push_next: bool = False) -> int:
        return self._emit(opcode=Opcode.STORE, mem_type=MemType.OUT, sram_base=sram,
                          dram_base=dram, y_size=y, x_size=x,
                          x_stride=x if stride is None else stride,
                          **_deps(pop_prev, pop_next, push_prev, push_next))

    def gemm(self, uop_bgn: int, uop_end: int, iter_out: int = 1, iter_in: int = 1, *,
             dst: tuple[int, int] = (0, 0), src: tuple[int, int] = (0, 0),
             wgt: tuple[int, int] = (0, 0), reset: bool = False, pop_prev: bool = False,
             pop_next: bool = False, push_prev: bool = False, push_next: bool = False) -> int:
        """GEMM over micro-ops [uop_bgn, uop_end); factors are (outer, inner)."""
        return self._emit(opcode=Opcode.GEMM, reset=int(reset), uop_bgn=uop_bgn,
                          uop_end=uop_end, iter_out=iter_out, iter_in=iter_in,
                          dst_factor_out=dst[0], dst_factor_in=dst[1],
                          src_factor_out=src[0], src_factor_in=src[1],
                          wgt_factor_out=wgt[0], wgt_factor_in=wgt[1],
                          **_deps(pop_prev, pop_next, push_prev, push_next))

    def alu(self, op: str | int, uop_bgn: int, uop_end: int, iter_out: int = 1,
            iter_in: int = 1, *, dst: tuple[int, int] = (0, 0), src: tuple[int, int] = (0, 0),
            imm: int | None = None, shift: int | None = None, reset: bool = False,
            pop_prev: bool = False, pop_next: bool = False, push_prev: bool = False,
            push_next: bool = False) -> int:
        """ALU over micro-ops [uop_bgn, uop_end). ``imm`` makes it an immediate operation;
        for MULSHR pass the shift as ``shift`` (the multiplier is always the src element)."""
        code = alu_op(op)
        if code == AluOp.MULSHR:
            if imm is not None:
                raise ValueError("MULSHR takes its multiplier from src; pass the shift as shift=")
            use_imm, value = 0, 0 if shift is None else shift
        else:
            if shift is not None:
                raise ValueError("shift= is only for MULSHR; use imm= for other operations")
            use_imm, value = (0, 0) if imm is None else (1, imm)
        return self._emit(opcode=Opcode.ALU, reset=int(reset), uop_bgn=uop_bgn,
                          uop_end=uop_end, iter_out=iter_out, iter_in=iter_in,
                          dst_factor_out=dst[0], dst_factor_in=dst[1],
                          src_factor_out=src[0], src_factor_in=src[1],
                          alu_op=code, use_imm=use_imm, imm=value,
                          **_deps(pop_prev, pop_next, push_prev, push_next))

    def finish(self) -> int:
        return self._emit(opcode=Opcode.FINISH)

    def __len__(self) -> int:
        return len(self._insns)

    # ------------------------------------------------------------------ output
    def insns(self) -> np.ndarray:
        out = np.zeros(len(self._insns), dtype=INSN_DTYPE)
        for name in INSN_DTYPE.names:
            out[name] = [f.get(name, 0) for f in self._insns]
        return out

    def dram(self, size: int | None = None) -> np.ndarray:
        total = self._top if size is None else size
        img = np.zeros(total, dtype=np.uint8)
        for off, raw in self._chunks:
            img[off:off + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        return img

    def bundle(self, dram_size: int | None = None) -> Bundle:
        return Bundle(self.cfg, self.insns(), self.dram(dram_size), list(self._regions))

    def set_field(self, index: int, **fields: Any) -> None:
        """Change fields of an already emitted instruction (for example to add a flag)."""
        self._insns[index].update({k: int(v) for k, v in fields.items()})
